//! Every media connection has a deadline: a socket that never sends `start` is closed (1008)
//! and one whose stream went quiet is over (1001), so idle or replayed handshakes hold no
//! descriptor and no line for long.

use std::time::{Duration, Instant};

use callbridge::carrier::CarrierEvent;

use crate::helpers::*;

#[tokio::test]
async fn a_media_socket_that_never_starts_is_closed_at_the_start_deadline() {
    let app = spawn_app_with(&[("STREAM_START_SECS", "1")]).await;
    let mut leg = TwilioLeg::connect(&app).await;
    let opened = Instant::now();
    let (code, reason) = leg.until_closed().await;
    assert_eq!(code, Some(1008), "{reason}");
    assert!(reason.contains("no start"), "{reason}");
    let waited = opened.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_started_stream_that_goes_quiet_is_over_and_its_line_freed() {
    let app = spawn_app_with(&[("MEDIA_IDLE_SECS", "1"), ("MAX_CALLS", "1")]).await;
    let sid = unique("CA");
    let token = token_from_twiml(&app.voice_webhook(&sid).await);
    let mut leg = TwilioLeg::connect(&app).await;
    leg.start(&sid, &token).await;
    leg.media(1, &ramp_frame(0, 1)).await;
    // Nothing more from the carrier.
    let (code, reason) = leg.until_closed().await;
    assert_eq!(code, Some(1001), "{reason}");
    // The line is free again: the next caller is connected, not told the lines are busy.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let twiml = app.voice_webhook(&unique("CA")).await;
        if twiml.contains("<Connect>") {
            break;
        }
        assert!(Instant::now() < deadline, "the line was not freed: {twiml}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn webhooks_whose_media_never_comes_give_their_lines_back_at_the_arrival_deadline() {
    let app = spawn_app_with(&[("MAX_CALLS", "2"), ("MEDIA_ARRIVAL_SECS", "2")]).await;
    for _ in 0..2 {
        let twiml = app.voice_webhook(&unique("CA")).await;
        assert!(twiml.contains("<Connect>"), "{twiml}");
    }
    let ready: serde_json::Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            ready["reserved_calls"].as_u64(),
            ready["streaming_calls"].as_u64()
        ),
        (Some(2), Some(0))
    );
    let full = Instant::now();
    let busy = app.voice_webhook(&unique("CA")).await;
    assert!(
        !busy.contains("<Connect>"),
        "both lines are reserved: {busy}"
    );
    // Capacity returns once the reservations lapse, and not much later.
    loop {
        let twiml = app.voice_webhook(&unique("CA")).await;
        if twiml.contains("<Connect>") {
            break;
        }
        assert!(
            full.elapsed() < Duration::from_secs(4),
            "lines never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(full.elapsed() >= Duration::from_millis(1500));
    app.stop().await;
}

#[tokio::test]
async fn a_stream_token_replayed_on_a_second_socket_is_refused_and_the_call_goes_on() {
    let app = spawn_app().await;
    let sid = unique("CA");
    let token = token_from_twiml(&app.voice_webhook(&sid).await);
    let mut first = TwilioLeg::connect(&app).await;
    first.start(&sid, &token).await;
    // The first socket is streaming once its audio comes back (the echo line).
    async fn echoed(leg: &mut TwilioLeg, from: u64) -> bool {
        for i in from..from + 60 {
            leg.media(i, &ramp_frame(0, 1)).await;
        }
        for _ in 0..200 {
            match leg.recv().await {
                Received::Event(CarrierEvent::Media(_)) => return true,
                Received::Closed(..) => return false,
                _ => {}
            }
        }
        false
    }
    assert!(echoed(&mut first, 1).await, "the first socket streams");
    // The same signed start again, on another socket.
    let mut replay = TwilioLeg::connect(&app).await;
    replay.start(&sid, &token).await;
    let (code, reason) = replay.until_closed().await;
    assert_eq!(code, Some(1008), "{reason}");
    assert!(reason.contains("already streaming"), "{reason}");
    assert!(
        echoed(&mut first, 100).await,
        "the first socket kept its call"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_stream_token_replayed_after_its_call_ended_does_not_start_it_again() {
    let app = spawn_app().await;
    let sid = unique("CA");
    let token = token_from_twiml(&app.voice_webhook(&sid).await);
    let mut first = TwilioLeg::connect(&app).await;
    first.start(&sid, &token).await;
    first.media(1, &ramp_frame(0, 1)).await;
    first.stop(&sid).await;
    let _ = first.until_closed().await;
    // The call is over; its signed start, replayed on a new socket, is refused.
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&app, "callbridge_active_calls").await > 0.0 {
        assert!(Instant::now() < deadline, "the first call did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut replay = TwilioLeg::connect(&app).await;
    replay.start(&sid, &token).await;
    let (code, reason) = replay.until_closed().await;
    assert_eq!(code, Some(1008), "{reason}");
    assert!(reason.contains("one connection"), "{reason}");
    app.stop().await;
}

/// The node that gets a replayed start need not be the one streaming: the claim is the
/// cluster's (Redis), not only the node's memory.
#[tokio::test]
async fn a_stream_token_replayed_on_another_node_is_refused_there() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        eprintln!("skipped: the cluster's claim lives in Redis (TEST_REDIS_URL)");
        return;
    }
    let prefix = unique("cbtest");
    let shared = [("REDIS_KEY_PREFIX", prefix.as_str())];
    let streaming_node = spawn_app_with(&shared).await;
    let other_node = spawn_app_with(&shared).await;
    let sid = unique("CA");
    let token = token_from_twiml(&streaming_node.voice_webhook(&sid).await);
    let mut first = TwilioLeg::connect(&streaming_node).await;
    first.start(&sid, &token).await;
    // Streaming (and so claimed) once its audio comes back from the echo line.
    let mut echoed = false;
    for i in 1..60 {
        first.media(i, &ramp_frame(0, 1)).await;
    }
    for _ in 0..200 {
        if let Received::Event(CarrierEvent::Media(_)) = first.recv().await {
            echoed = true;
            break;
        }
    }
    assert!(echoed, "the first socket streams");
    let mut replay = TwilioLeg::connect(&other_node).await;
    replay.start(&sid, &token).await;
    let (code, reason) = replay.until_closed().await;
    assert_eq!(code, Some(1008), "{reason}");
    assert!(reason.contains("one connection"), "{reason}");
    streaming_node.stop().await;
    other_node.stop().await;
}
