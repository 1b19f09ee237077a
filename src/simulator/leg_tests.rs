//! The caller leg's tests, on a virtual clock.

#![allow(clippy::disallowed_methods)] // an arbitrary origin for the virtual clock

use super::*;

fn config() -> LegConfig {
    LegConfig {
        call_sid: "CAsim".into(),
        stream_sid: "MZsim".into(),
        account_sid: "ACsim".into(),
        parameters: vec![("token".into(), "v1.t".into())],
        answer_gap: Duration::from_millis(400),
        patience: Duration::from_secs(5),
    }
}

fn frames(leg: &mut CallerLeg) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(o) = leg.poll_output() {
        match o {
            LegOutput::Send(t) => out.push(serde_json::from_str(&t).unwrap()),
            other => out.push(json!({"event": "_report", "debug": format!("{other:?}")})),
        }
    }
    out
}

fn agent_media(bytes: usize) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode(vec![0x55u8; bytes]);
    json!({"event": "media", "streamSid": "MZsim", "media": {"payload": payload}}).to_string()
}

fn payloads(fs: &[Value]) -> Vec<u8> {
    fs.iter()
        .filter(|f| f["event"] == "media")
        .flat_map(|f| {
            base64::engine::general_purpose::STANDARD
                .decode(f["media"]["payload"].as_str().unwrap())
                .unwrap()
        })
        .collect()
}

#[test]
fn the_leg_starts_like_twilio_and_sends_a_frame_every_20_ms() {
    let t0 = Instant::now();
    let mut leg = CallerLeg::new(config(), Vec::new(), t0);
    let f = frames(&mut leg);
    assert_eq!(f[0]["event"], "connected");
    assert_eq!(f[1]["event"], "start");
    assert_eq!(f[1]["start"]["customParameters"]["token"], "v1.t");
    assert_eq!(f[1]["sequenceNumber"], "1");
    leg.handle_timeout(t0 + Duration::from_millis(390));
    let f = frames(&mut leg);
    assert_eq!(f.len(), 20);
    assert_eq!(f[19]["media"]["chunk"], "20");
    assert_eq!(f[19]["media"]["timestamp"], "380");
    assert!(payloads(&f).iter().all(|&b| b == SILENCE));
    // Nothing to say: after the answer gap the caller hangs up.
    leg.handle_timeout(t0 + Duration::from_millis(400));
    let f = frames(&mut leg);
    assert_eq!(f[0]["event"], "stop");
    assert_eq!(f[1]["debug"], "Done");
}

#[test]
fn the_caller_answers_the_greeting_and_the_latency_of_the_reply_is_measured() {
    let t0 = Instant::now();
    let clip = vec![0x11u8; 1600]; // 200 ms
    let turns = vec![CallerTurn {
        audio: clip.clone(),
        barge_in_after: None,
        dtmf: None,
    }];
    let mut leg = CallerLeg::new(config(), turns, t0);
    frames(&mut leg);
    // A 500 ms greeting arrives at once and plays in real time.
    leg.handle_text(&agent_media(4000));
    leg.handle_timeout(t0 + Duration::from_millis(860));
    assert!(
        payloads(&frames(&mut leg)).iter().all(|&b| b == SILENCE),
        "the caller waits"
    );
    // Answered 400 ms after the greeting ran out: the clip goes out frame by frame.
    leg.handle_timeout(t0 + Duration::from_millis(1200));
    let sent = payloads(&frames(&mut leg));
    let start = sent.iter().position(|&b| b == 0x11).unwrap();
    assert_eq!(&sent[start..start + 1600], &clip[..]);
    // The greeting ran out at 500 ms, so the clip went out from 900 ms; its last frame
    // played until 1100 ms. The agent's answer arrives 300 ms later and is heard (and
    // timed) as it plays.
    let clip_end = t0 + Duration::from_millis(1100);
    leg.handle_timeout(clip_end + Duration::from_millis(299));
    frames(&mut leg);
    leg.handle_text(&agent_media(800));
    leg.handle_timeout(clip_end + Duration::from_millis(300));
    let reports: Vec<Value> = frames(&mut leg)
        .into_iter()
        .filter(|f| f["event"] == "_report")
        .collect();
    assert_eq!(reports.len(), 1);
    assert!(
        reports[0]["debug"]
            .as_str()
            .unwrap()
            .contains("latency: Some(300ms)"),
        "{reports:?}"
    );
    // Then the call ends: stop, Done.
    leg.handle_timeout(clip_end + Duration::from_secs(2));
    let f = frames(&mut leg);
    assert!(f.iter().any(|x| x["event"] == "stop"));
    assert_eq!(f.last().unwrap()["debug"], "Done");
    assert_eq!(leg.played().len(), 4800);
}

#[test]
fn marks_wait_for_playback_and_clear_drops_audio_and_releases_marks() {
    let t0 = Instant::now();
    let mut leg = CallerLeg::new(config(), Vec::new(), t0);
    frames(&mut leg);
    let mark =
        |n: &str| json!({"event": "mark", "streamSid": "MZsim", "mark": {"name": n}}).to_string();
    leg.handle_text(&mark("early"));
    assert_eq!(
        frames(&mut leg)[0]["mark"]["name"],
        "early",
        "nothing queued: at once"
    );
    leg.handle_text(&agent_media(1600));
    leg.handle_text(&mark("m1"));
    leg.handle_text(&agent_media(1600));
    leg.handle_text(&mark("m2"));
    leg.handle_timeout(t0 + Duration::from_millis(100));
    assert!(!frames(&mut leg).iter().any(|f| f["event"] == "mark"));
    leg.handle_timeout(t0 + Duration::from_millis(200));
    let f = frames(&mut leg);
    let marks: Vec<&Value> = f.iter().filter(|x| x["event"] == "mark").collect();
    assert_eq!(marks.len(), 1);
    assert_eq!(marks[0]["mark"]["name"], "m1");
    leg.handle_text(r#"{"event":"clear","streamSid":"MZsim"}"#);
    let f = frames(&mut leg);
    assert_eq!(f[0]["mark"]["name"], "m2");
    leg.handle_timeout(t0 + Duration::from_millis(600));
    assert_eq!(
        leg.played().len(),
        1760,
        "what played before the clear, no more"
    );
}

#[test]
fn a_barge_in_turn_speaks_over_the_agent_and_dtmf_goes_first() {
    let t0 = Instant::now();
    let turns = vec![CallerTurn {
        audio: vec![0x22; 800],
        barge_in_after: Some(Duration::from_millis(300)),
        dtmf: Some('0'),
    }];
    let mut leg = CallerLeg::new(config(), turns, t0);
    frames(&mut leg);
    leg.handle_text(&agent_media(16_000)); // 2 s of agent speech
    leg.handle_timeout(t0 + Duration::from_millis(280));
    assert!(payloads(&frames(&mut leg)).iter().all(|&b| b == SILENCE));
    leg.handle_timeout(t0 + Duration::from_millis(360));
    let f = frames(&mut leg);
    let dtmf = f.iter().position(|x| x["event"] == "dtmf").unwrap();
    assert_eq!(f[dtmf]["dtmf"]["digit"], "0");
    assert!(
        payloads(&f[dtmf..]).contains(&0x22),
        "speaking while the agent still talks"
    );
}

#[test]
fn a_barge_in_counts_from_the_start_of_the_agents_turn_not_from_its_last_pause() {
    let t0 = Instant::now();
    let turns = vec![CallerTurn {
        audio: vec![0x22; 800],
        barge_in_after: Some(Duration::from_millis(700)),
        dtmf: None,
    }];
    let mut leg = CallerLeg::new(config(), turns, t0);
    frames(&mut leg);
    // 200 ms of speech, a 400 ms pause (a comma), then 1.4 s more.
    leg.handle_text(&agent_media(1600));
    let pause = base64::engine::general_purpose::STANDARD.encode(vec![SILENCE; 3200]);
    leg.handle_text(
        &json!({"event": "media", "streamSid": "MZsim", "media": {"payload": pause}}).to_string(),
    );
    leg.handle_text(&agent_media(11_200));
    leg.handle_timeout(t0 + Duration::from_millis(680));
    assert!(
        !payloads(&frames(&mut leg)).contains(&0x22),
        "not before 700 ms"
    );
    leg.handle_timeout(t0 + Duration::from_millis(760));
    assert!(
        payloads(&frames(&mut leg)).contains(&0x22),
        "700 ms after the agent started, though it paused at 200 ms"
    );
}
