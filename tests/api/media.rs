//! A Twilio media stream end to end, through the echo line.

use std::time::Duration;

use callbridge::carrier::CarrierEvent;
use futures_util::SinkExt;

use crate::helpers::*;

/// Places a call: webhook, socket, connected + start.
async fn place_call(app: &TestApp) -> (String, TwilioLeg) {
    let sid = unique("CA");
    let token = token_from_twiml(&app.voice_webhook(&sid).await);
    let mut leg = TwilioLeg::connect(app).await;
    leg.start(&sid, &token).await;
    (sid, leg)
}

/// Receives echoed audio until `want_bytes` arrived, echoing marks back like Twilio.
async fn collect_echo(leg: &mut TwilioLeg, want_bytes: usize) -> (Vec<u8>, usize) {
    let mut audio = Vec::new();
    let mut marks = 0;
    while audio.len() < want_bytes {
        match leg.recv().await {
            Received::Event(CarrierEvent::Media(m)) => audio.extend(m.payload),
            Received::Event(CarrierEvent::Mark { name }) => {
                marks += 1;
                leg.mark(&name).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    (audio, marks)
}

#[tokio::test]
async fn a_thousand_frames_come_back_through_the_echo_in_order() {
    let app = spawn_app_with(&[("ECHO_DELAY_MS", "0"), ("PLAYBACK_LEAD_MS", "1000")]).await;
    let (sid, mut leg) = place_call(&app).await;
    const FRAMES: usize = 1000;
    for i in 0..FRAMES {
        leg.media(i as u64 + 1, &ramp_frame(i, FRAMES)).await;
    }
    // Everything but the resampler's last partial chunk each way comes back.
    let (audio, marks) = collect_echo(&mut leg, (FRAMES - 2) * 160).await;
    assert!(marks >= 150, "marks every 100 ms: {marks}");
    let windows: Vec<f64> = audio.chunks(8000).map(rms).collect();
    for pair in windows[..windows.len() - 1].windows(2) {
        assert!(pair[1] > pair[0], "echo out of order: {windows:?}");
    }
    let entry = app.state.store.get(&sid).await.unwrap().unwrap();
    assert_eq!(entry.state, callbridge::session_store::CallState::Streaming);
    leg.stop(&sid).await;
    let (code, _) = leg.until_closed().await;
    assert_eq!(code, Some(1000));
    // The call is gone from the registry once it ends.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(app.state.store.get(&sid).await.unwrap().is_none());
    app.stop().await;
}

#[tokio::test]
async fn garbage_mid_call_is_counted_and_the_call_survives() {
    let app = spawn_app_with(&[("ECHO_DELAY_MS", "0"), ("MAX_FRAME_BYTES", "4096")]).await;
    let before = metric(
        &app,
        r#"callbridge_malformed_frames_total{node_id="test-node",carrier="twilio",reason="malformed_json"}"#,
    )
    .await;
    let (sid, mut leg) = place_call(&app).await;
    leg.media(1, &ramp_frame(0, 10)).await;
    leg.send_text("this is not json".into()).await;
    leg.send_text(r#"{"event":"wobble","streamSid":"x"}"#.into())
        .await;
    leg.send_text(format!(
        r#"{{"event":"media","pad":"{}"}}"#,
        "x".repeat(5000)
    ))
    .await;
    leg.send_text(r#"{"event":"media","streamSid":"MZ-other","media":{"payload":""}}"#.into())
        .await;
    leg.ws
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            vec![1u8, 2, 3].into(),
        ))
        .await
        .unwrap();
    for i in 1..20 {
        leg.media(i + 1, &ramp_frame(i as usize, 20)).await;
    }
    let (audio, _) = collect_echo(&mut leg, 18 * 160).await;
    assert!(audio.len() >= 18 * 160);
    let after = metric(
        &app,
        r#"callbridge_malformed_frames_total{node_id="test-node",carrier="twilio",reason="malformed_json"}"#,
    )
    .await;
    assert!(after >= before + 1.0);
    for reason in ["unknown_event", "oversized", "wrong_stream", "binary"] {
        let n = metric(
            &app,
            &format!(r#"callbridge_malformed_frames_total{{node_id="test-node",carrier="twilio",reason="{reason}"}}"#),
        )
        .await;
        assert!(n >= 1.0, "{reason} counted");
    }
    leg.stop(&sid).await;
    assert_eq!(leg.until_closed().await.0, Some(1000));
    app.stop().await;
}

#[tokio::test]
async fn a_bad_token_closes_the_socket_with_the_reason() {
    let app = spawn_app().await;
    let sid = unique("CA");
    let other = unique("CA");
    let token_for_other = token_from_twiml(&app.voice_webhook(&other).await);
    let mut leg = TwilioLeg::connect(&app).await;
    leg.start(&sid, &token_for_other).await;
    let (code, reason) = leg.until_closed().await;
    assert_eq!(code, Some(1008));
    assert!(reason.contains("token_bad_signature"), "{reason}");

    let mut leg = TwilioLeg::connect(&app).await;
    leg.start(&sid, "").await;
    let (code, reason) = leg.until_closed().await;
    assert_eq!(code, Some(1008));
    assert!(reason.contains("token_malformed"), "{reason}");
    app.stop().await;
}

#[tokio::test]
async fn an_unsigned_media_handshake_is_refused() {
    let app = spawn_app().await;
    let err = TwilioLeg::connect_with_signature(&app, "forged")
        .await
        .err()
        .expect("refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 403),
        other => panic!("expected a 403, got {other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn the_clear_key_sends_clear_and_a_dtmf_is_not_an_error() {
    let app = spawn_app_with(&[("ECHO_DELAY_MS", "0"), ("PLAYBACK_LEAD_MS", "400")]).await;
    let (sid, mut leg) = place_call(&app).await;
    for i in 0..100 {
        leg.media(i + 1, &ramp_frame(i as usize, 100)).await;
    }
    // Wait for playback to begin, then press '#'.
    loop {
        if let Received::Event(CarrierEvent::Media(_)) = leg.recv().await {
            break;
        }
    }
    leg.dtmf("1").await;
    leg.dtmf("#").await;
    loop {
        match leg.recv().await {
            Received::Clear => break,
            Received::Event(_) => continue,
            other => panic!("expected clear, got {other:?}"),
        }
    }
    leg.stop(&sid).await;
    assert_eq!(leg.until_closed().await.0, Some(1000));
    app.stop().await;
}

#[tokio::test]
async fn a_socket_closed_without_stop_ends_the_call() {
    let app = spawn_app().await;
    let before = metric(
        &app,
        r#"callbridge_calls_total{node_id="test-node",outcome="disconnected"}"#,
    )
    .await;
    let (sid, mut leg) = place_call(&app).await;
    leg.media(1, &ramp_frame(0, 1)).await;
    // Wait until the call is streaming in the registry.
    for _ in 0..100 {
        if app
            .state
            .store
            .get(&sid)
            .await
            .unwrap()
            .is_some_and(|c| c.state == callbridge::session_store::CallState::Streaming)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(leg);
    for _ in 0..250 {
        if metric(
            &app,
            r#"callbridge_calls_total{node_id="test-node",outcome="disconnected"}"#,
        )
        .await
            > before
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        metric(
            &app,
            r#"callbridge_calls_total{node_id="test-node",outcome="disconnected"}"#
        )
        .await
            > before
    );
    assert!(app.state.store.get(&sid).await.unwrap().is_none());
    app.stop().await;
}
