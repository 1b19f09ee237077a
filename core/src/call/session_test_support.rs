//! A started session for tests of what sits on top of it.

use super::*;

/// A Twilio session with an external far end, started at `t0`.
pub(crate) fn started_external(t0: Instant) -> MediaSession {
    let secret = "test-secret";
    let config = SessionConfig {
        carrier: CarrierKind::Twilio,
        max_frame_bytes: 65_536,
        token_secret: secret.into(),
        require_stream_token: true,
        outbound_format: None,
        lead: Duration::from_millis(200),
        mark_interval: Duration::from_millis(100),
        echo_delay: Duration::from_millis(300),
        far_end_format: None,
        max_call_duration: Duration::from_secs(600),
        start_limit: Duration::from_secs(5),
        idle_limit: Duration::from_secs(10),
        clear_digit: '#',
        far_end: FarEnd::External,
        record: false,
    };
    let mut s = MediaSession::new(config, t0);
    let unix = 1_700_000_000;
    let token = crate::carrier::stream_token::issue(secret, "CA1", unix + 60);
    let start = serde_json::json!({
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"streamSid": "MZ1", "accountSid": "AC1", "callSid": "CA1", "tracks": ["inbound"],
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                  "customParameters": {"token": token}}
    });
    s.handle_text(t0, unix, &start.to_string());
    drain_sent(&mut s);
    s
}

/// Drops what the session has to send.
pub(crate) fn drain_sent(s: &mut MediaSession) {
    while s.poll_output().is_some() {}
}
