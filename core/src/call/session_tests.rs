//! A whole echo call on a virtual clock: carrier frames in, carrier frames out.

#![allow(clippy::disallowed_methods)] // Tests pick an arbitrary origin for the virtual clock.

use std::time::{Duration, Instant};

use super::*;
use crate::audio::g711;
use crate::carrier::twilio;

const SECRET: &str = "test-secret";
const UNIX_NOW: u64 = 1_700_000_000;

fn config() -> SessionConfig {
    SessionConfig {
        carrier: CarrierKind::Twilio,
        max_frame_bytes: 65_536,
        token_secret: SECRET.into(),
        require_stream_token: true,
        outbound_format: None,
        lead: Duration::from_millis(200),
        mark_interval: Duration::from_millis(100),
        echo_delay: Duration::from_millis(300),
        far_end_format: Some(FAR_END_FORMAT),
        max_call_duration: Duration::from_secs(600),
        start_limit: Duration::from_secs(5),
        idle_limit: Duration::from_secs(10),
        clear_digit: '#',
        far_end: FarEnd::Echo,
        record: false,
    }
}

fn start_frame(token: &str) -> String {
    serde_json::json!({
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"streamSid": "MZ1", "accountSid": "AC1", "callSid": "CA1", "tracks": ["inbound"],
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                  "customParameters": {"token": token}}
    })
    .to_string()
}

/// Frame `i` of a tone whose loudness rises through the call, so order survives transcoding
/// as rising loudness.
fn ramp_frame(i: usize, total: usize) -> Vec<u8> {
    let amplitude = 1000.0 + 20000.0 * i as f32 / total as f32;
    let pcm: Vec<i16> = (0..160)
        .map(|n| {
            let t = (i * 160 + n) as f32 / 8000.0;
            ((t * 440.0 * std::f32::consts::TAU).sin() * amplitude) as i16
        })
        .collect();
    let mut out = Vec::new();
    g711::encode_mulaw(&pcm, &mut out);
    out
}

fn media_frame(seq: usize, payload: &[u8]) -> String {
    twilio::encode("MZ1", &crate::carrier::CarrierCommand::Media(payload)).replace(
        "\"event\":\"media\"",
        &format!("\"event\":\"media\",\"sequenceNumber\":\"{seq}\""),
    )
}

/// A fake carrier: records what the session sends, plays it out in real (virtual) time and
/// echoes marks when playback reaches them.
#[derive(Default)]
struct Carrier {
    audio: Vec<u8>,
    playout_ms: u64,
    marks_due: Vec<(u64, String)>,
    clears: usize,
    rejected: Vec<&'static str>,
    ended: Option<EndCause>,
    started: bool,
}

impl Carrier {
    fn collect(&mut self, s: &mut MediaSession, now_ms: u64) {
        while let Some(o) = s.poll_output() {
            match o {
                SessionOutput::Send(text) => match twilio::decode(&text).unwrap().event {
                    CarrierEvent::Media(m) => {
                        self.playout_ms = self.playout_ms.max(now_ms) + m.payload.len() as u64 / 8;
                        self.audio.extend(m.payload);
                    }
                    CarrierEvent::Mark { name } => self.marks_due.push((self.playout_ms, name)),
                    other => panic!("unexpected outbound {other:?}"),
                },
                SessionOutput::Rejected(e) => self.rejected.push(e.reason()),
                SessionOutput::Started(_) => self.started = true,
                SessionOutput::End(cause) => self.ended = Some(cause),
                SessionOutput::Cleared(_) => self.clears += 1,
                _ => {}
            }
        }
    }

    fn echo_marks(&mut self, s: &mut MediaSession, t0: Instant, now_ms: u64) {
        let (due, later): (Vec<_>, Vec<_>) =
            self.marks_due.drain(..).partition(|(at, _)| *at <= now_ms);
        self.marks_due = later;
        for (_, name) in due {
            let frame =
                format!(r#"{{"event":"mark","streamSid":"MZ1","mark":{{"name":"{name}"}}}}"#);
            s.handle_text(t0 + Duration::from_millis(now_ms), UNIX_NOW, &frame);
        }
    }
}

fn rms(bytes: &[u8]) -> f64 {
    let mut pcm = Vec::new();
    g711::decode_mulaw(bytes, &mut pcm);
    (pcm.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
}

/// Runs a call of `frames` media frames, then `tail_ms` of silence from the caller side.
fn run_call(frames: usize, garbage_every: Option<usize>) -> (Carrier, MediaSession) {
    let t0 = Instant::now();
    let mut s = MediaSession::new(config(), t0);
    let mut c = Carrier::default();
    let token = stream_token::issue(SECRET, "CA1", UNIX_NOW + 60);
    s.handle_text(
        t0,
        UNIX_NOW,
        r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
    );
    s.handle_text(t0, UNIX_NOW, &start_frame(&token));
    c.collect(&mut s, 0);
    assert!(c.started);
    let total_ms = frames as u64 * 20 + 1500;
    let mut now_ms = 0;
    while now_ms <= total_ms {
        let now = t0 + Duration::from_millis(now_ms);
        if now_ms % 20 == 0 && ((now_ms / 20) as usize) < frames {
            let i = (now_ms / 20) as usize;
            if let Some(every) = garbage_every
                && i.is_multiple_of(every)
            {
                s.handle_text(now, UNIX_NOW, "{not json");
                s.handle_binary(12);
            }
            s.handle_text(now, UNIX_NOW, &media_frame(i + 2, &ramp_frame(i, frames)));
        }
        if s.next_timeout(now).is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        c.collect(&mut s, now_ms);
        c.echo_marks(&mut s, t0, now_ms);
        c.collect(&mut s, now_ms);
        now_ms += 5;
    }
    (c, s)
}

#[test]
fn an_echo_call_returns_the_audio_in_order_paced_with_marks() {
    let (c, _) = run_call(250, None);
    // 5 s in, 5 s back, less up to one resampler chunk each way.
    let ms = c.audio.len() / 8;
    assert!((4900..=5000).contains(&ms), "{ms} ms echoed");
    // Rising loudness survives: each 500 ms window is louder than the one before.
    let windows: Vec<f64> = c.audio.chunks(4000).map(rms).collect();
    for pair in windows[1..windows.len() - 1].windows(2) {
        assert!(pair[1] > pair[0], "order lost: {windows:?}");
    }
    assert!(c.rejected.is_empty(), "{:?}", c.rejected);
    assert!(c.marks_due.is_empty(), "every mark was echoed");
}

#[test]
fn without_transcoding_the_echo_returns_the_callers_bytes_exactly() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(
        SessionConfig {
            far_end_format: None,
            ..config()
        },
        t0,
    );
    let mut c = Carrier::default();
    let token = stream_token::issue(SECRET, "CA1", UNIX_NOW + 60);
    s.handle_text(t0, UNIX_NOW, &start_frame(&token));
    let sent: Vec<u8> = (0..25).flat_map(|i| ramp_frame(i, 25)).collect();
    for (i, frame) in sent.chunks(160).enumerate() {
        s.handle_text(t0, UNIX_NOW, &media_frame(i + 2, frame));
    }
    for step in 0..400u64 {
        let now = t0 + Duration::from_millis(step * 5);
        if s.next_timeout(now).is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        c.collect(&mut s, step * 5);
    }
    assert_eq!(c.audio, sent);
    assert_eq!(s.take_transcoded_bytes(), 0);
}

#[test]
fn the_carrier_is_never_more_than_the_lead_ahead() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(config(), t0);
    let mut c = Carrier::default();
    let token = stream_token::issue(SECRET, "CA1", UNIX_NOW + 60);
    s.handle_text(t0, UNIX_NOW, &start_frame(&token));
    // The caller talks for 2 s in one burst (a jittery network delivering late).
    for i in 0..100 {
        s.handle_text(t0, UNIX_NOW, &media_frame(i + 2, &ramp_frame(i, 100)));
    }
    for step in 0..600u64 {
        let now_ms = step * 5;
        let now = t0 + Duration::from_millis(now_ms);
        if s.next_timeout(now).is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        c.collect(&mut s, now_ms);
        let ahead = c.playout_ms.saturating_sub(now_ms);
        assert!(ahead <= 220, "{ahead} ms buffered at {now_ms} ms");
    }
}

#[test]
fn garbage_frames_are_counted_and_the_call_goes_on() {
    let (c, s) = run_call(100, Some(10));
    assert_eq!(
        c.rejected
            .iter()
            .filter(|r| **r == "malformed_json")
            .count(),
        10
    );
    assert_eq!(c.rejected.iter().filter(|r| **r == "binary").count(), 10);
    assert!(c.audio.len() / 8 >= 1900);
    assert!(!s.is_ended());
}

#[test]
fn a_bad_or_missing_token_ends_the_call_as_rejected() {
    for token in [
        "",
        "v1.1.AAAA",
        &stream_token::issue(SECRET, "CA-other", UNIX_NOW + 60),
    ] {
        let t0 = Instant::now();
        let mut s = MediaSession::new(config(), t0);
        let mut c = Carrier::default();
        s.handle_text(t0, UNIX_NOW, &start_frame(token));
        c.collect(&mut s, 0);
        assert!(
            matches!(c.ended, Some(EndCause::Rejected(_))),
            "token {token:?}"
        );
        assert!(!c.started);
    }
}

#[test]
fn an_expired_token_is_rejected() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(config(), t0);
    let mut c = Carrier::default();
    let token = stream_token::issue(SECRET, "CA1", UNIX_NOW - 1);
    s.handle_text(t0, UNIX_NOW, &start_frame(&token));
    c.collect(&mut s, 0);
    assert!(matches!(c.ended, Some(EndCause::Rejected(_))));
}

#[test]
fn the_clear_key_empties_playback_and_marks_do_not_count_as_heard() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(config(), t0);
    let mut c = Carrier::default();
    let token = stream_token::issue(SECRET, "CA1", UNIX_NOW + 60);
    s.handle_text(t0, UNIX_NOW, &start_frame(&token));
    for i in 0..50 {
        s.handle_text(t0, UNIX_NOW, &media_frame(i + 2, &ramp_frame(i, 50)));
    }
    let at = t0 + Duration::from_millis(400);
    s.handle_timeout(at);
    c.collect(&mut s, 400);
    assert!(!c.audio.is_empty());
    s.handle_text(
        at,
        UNIX_NOW,
        r##"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"60","dtmf":{"track":"inbound_track","digit":"#"}}"##,
    );
    let mut sent_clear = false;
    while let Some(o) = s.poll_output() {
        match o {
            SessionOutput::Send(t) if t.contains("\"clear\"") => sent_clear = true,
            SessionOutput::Cleared(report) => {
                assert_eq!(report.len(), 1);
                assert_eq!(report[0].heard_ms, 0);
            }
            _ => {}
        }
    }
    assert!(sent_clear);
    // Nothing more of the cleared echo is sent.
    let before = c.audio.len();
    s.handle_timeout(t0 + Duration::from_secs(3));
    c.collect(&mut s, 3000);
    assert_eq!(c.audio.len(), before);
}

#[test]
fn stop_completes_and_the_call_length_is_capped() {
    let (_, mut s) = run_call(10, None);
    s.handle_text(
        Instant::now(),
        UNIX_NOW,
        r#"{"event":"stop","streamSid":"MZ1","stop":{}}"#,
    );
    let mut c = Carrier::default();
    c.collect(&mut s, 0);
    assert_eq!(c.ended, Some(EndCause::CallerHungUp));

    let t0 = Instant::now();
    let mut cfg = config();
    cfg.start_limit = Duration::from_secs(3600);
    let mut s = MediaSession::new(cfg, t0);
    let limit = s.next_timeout(t0).unwrap();
    assert_eq!(limit, t0 + Duration::from_secs(600));
    s.handle_timeout(limit);
    let mut c = Carrier::default();
    c.collect(&mut s, 0);
    assert_eq!(c.ended, Some(EndCause::MaxDuration));
}

#[test]
fn a_socket_that_never_starts_is_refused_and_a_started_one_gone_quiet_is_over() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(config(), t0);
    let deadline = s.next_timeout(t0).unwrap();
    assert_eq!(deadline, t0 + Duration::from_secs(5), "the start deadline");
    s.handle_timeout(deadline);
    let mut c = Carrier::default();
    c.collect(&mut s, 0);
    assert!(
        matches!(&c.ended, Some(EndCause::Rejected(why)) if why.contains("no start")),
        "{:?}",
        c.ended
    );

    let mut s = MediaSession::new(config(), t0);
    let token = stream_token::issue(SECRET, "CA1", UNIX_NOW + 60);
    s.handle_text(t0, UNIX_NOW, &start_frame(&token));
    let one = t0 + Duration::from_secs(1);
    s.handle_text(one, UNIX_NOW, &media_frame(2, &ramp_frame(0, 1)));
    let mut c = Carrier::default();
    c.collect(&mut s, 0);
    // The idle check comes ten seconds after the start and finds a frame newer than the
    // limit: not over; the next check is ten seconds after that frame, and it is.
    let first_check = t0 + Duration::from_secs(10);
    assert!(s.next_timeout(one).unwrap() <= first_check);
    s.handle_timeout(first_check);
    c.collect(&mut s, 0);
    assert_eq!(c.ended, None);
    let quiet_since = one + Duration::from_secs(10);
    assert!(s.next_timeout(first_check).unwrap() <= quiet_since);
    s.handle_timeout(quiet_since - Duration::from_millis(1));
    c.collect(&mut s, 0);
    assert_eq!(c.ended, None);
    s.handle_timeout(quiet_since);
    c.collect(&mut s, 0);
    assert_eq!(c.ended, Some(EndCause::CarrierSilent));
}

#[test]
fn an_external_far_end_gets_the_callers_bytes_and_its_answers_are_paced_heard_and_clearable() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.far_end = FarEnd::External;
    cfg.far_end_format = None; // the caller's mu-law, untouched, for speech recognition
    let mut s = MediaSession::new(cfg, t0);
    assert!(s.begin_utterance().is_none(), "nothing before start");
    let token = stream_token::issue(SECRET, "CA1", UNIX_NOW + 60);
    s.handle_text(t0, UNIX_NOW, &start_frame(&token));
    let frame = ramp_frame(3, 10);
    s.handle_text(t0, UNIX_NOW, &media_frame(2, &frame));
    let mut caller = Vec::new();
    while let Some(o) = s.poll_output() {
        if let SessionOutput::CallerAudio(a) = o {
            caller.extend(a);
        }
    }
    assert_eq!(
        caller, frame,
        "no echo, no transcoding: the carrier's bytes"
    );

    // A one-second answer in 24 kHz PCM, as a TTS provider sends it.
    let pcm24 = AudioFormat::new(Encoding::Linear16, crate::audio::SampleRate::Hz24000);
    let tone: Vec<i16> = (0..24_000)
        .map(|n| ((n as f32 / 24_000.0 * 440.0 * std::f32::consts::TAU).sin() * 8000.0) as i16)
        .collect();
    let mut bytes = Vec::new();
    crate::audio::pcm::encode_le(&tone, &mut bytes);
    let u = s.begin_utterance().unwrap();
    for chunk in bytes.chunks(960) {
        s.push_utterance_audio(t0, u, chunk, pcm24).unwrap();
    }
    s.finish_utterance(t0, u);
    let mut c = Carrier::default();
    let mut now_ms = 0;
    while now_ms <= 500 {
        let now = t0 + Duration::from_millis(now_ms);
        if s.next_timeout(now).is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        c.collect(&mut s, now_ms);
        c.echo_marks(&mut s, t0, now_ms);
        c.collect(&mut s, now_ms);
        now_ms += 5;
    }
    // Paced: never more than the lead ahead of real time; mu-law for the carrier.
    assert!(c.audio.len() <= (500 + 200 + 20) * 8, "{}", c.audio.len());
    assert!(rms(&c.audio) > 3000.0);
    let progress = s.utterance_progress(u).unwrap();
    assert!(
        progress.heard_ms >= 300 && progress.heard_ms <= 500,
        "{progress:?}"
    );
    assert!(!s.is_playback_idle(t0 + Duration::from_millis(500)));

    // Barge-in: cleared, with what was heard.
    let report = s.clear_playback(t0 + Duration::from_millis(500));
    assert_eq!(report.len(), 1);
    assert!(report[0].estimated_heard_ms >= progress.heard_ms);
    assert!(report[0].total_ms >= 980, "{:?}", report[0]);
    let mut cleared = false;
    while let Some(o) = s.poll_output() {
        if let SessionOutput::Send(t) = o {
            cleared |= t.contains("\"clear\"");
        }
    }
    assert!(cleared);
    // Twilio answers a clear by echoing every pending mark; then playback is idle.
    assert!(!s.is_playback_idle(t0 + Duration::from_millis(510)));
    for (_, name) in std::mem::take(&mut c.marks_due) {
        let frame = format!(r#"{{"event":"mark","streamSid":"MZ1","mark":{{"name":"{name}"}}}}"#);
        s.handle_text(t0 + Duration::from_millis(510), UNIX_NOW, &frame);
    }
    assert!(s.is_playback_idle(t0 + Duration::from_millis(510)));
}
