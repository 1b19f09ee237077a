//! `callbridge call`'s engine against the real server on the echo line: the webhook, the
//! stream token, signed requests, turns at real-time pace and what the caller heard.

use std::time::Duration;

use callbridge::simulator::leg::CallerTurn;
use callbridge::simulator::run::{CallPlan, load_clip, place_call};

use crate::helpers::{AUTH_TOKEN, HANG, spawn_app};

#[tokio::test]
async fn a_simulated_caller_talks_to_the_echo_line_and_hears_itself() {
    let app = spawn_app().await;
    // Signed for the public URL, delivered to the test port.
    let base = url::Url::parse(crate::helpers::PUBLIC_URL).unwrap();
    let clip = load_clip(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/calls/yes_correct.wav"
    )))
    .unwrap();
    let plan = CallPlan {
        base_url: base.clone(),
        connect_to: Some(url::Url::parse(&format!("http://127.0.0.1:{}", app.port)).unwrap()),
        auth_token: Some(AUTH_TOKEN.to_string()),
        from: "+15125550101".into(),
        to: "+15125550100".into(),
        call_sid: "CAsimulated0000000000000000000001".into(),
        turns: vec![
            CallerTurn {
                audio: clip.clone(),
                barge_in_after: None,
                dtmf: None,
            },
            CallerTurn {
                audio: Vec::new(),
                barge_in_after: None,
                dtmf: Some('5'),
            },
        ],
        answer_gap: Duration::from_millis(200),
        patience: Duration::from_millis(800),
        max_duration: Duration::from_secs(20),
        connect_delay: Duration::ZERO,
    };
    let mut printed = 0;
    let summary = tokio::time::timeout(HANG, place_call(plan, |_| printed += 1))
        .await
        .expect("the call ends")
        .unwrap();
    assert_eq!(summary.turns.len(), 2);
    assert_eq!(printed, 2);
    assert_eq!(
        summary.turns[0].caller_audio,
        Duration::from_millis(clip.len() as u64 / 8)
    );
    // The echo line played the caller's words back: as much speech as was said.
    let loud = |audio: &[u8]| {
        audio
            .chunks(160)
            .filter(|f| {
                let mut pcm = Vec::new();
                callbridge::audio::g711::decode_mulaw(f, &mut pcm);
                pcm.iter().map(|s| i64::from(*s).abs()).max().unwrap_or(0) > 1000
            })
            .count()
    };
    let (said, heard) = (loud(&clip), loud(&summary.agent_audio));
    assert!(
        heard * 10 >= said * 8 && heard <= said + 5,
        "said {said}, heard {heard}"
    );
    app.stop().await;
}
