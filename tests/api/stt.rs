//! The Deepgram live client against the fake: transcripts, finalize, keep-alive, close, a
//! socket cut mid-utterance (the words still arrive), bad credentials, a dead server, and a
//! push path that never blocks.

use std::time::Duration;

use url::Url;

use callbridge::audio::AudioFormat;
use callbridge::config::Secret;
use callbridge::providers::stt::deepgram::{DeepgramStt, DeepgramSttConfig};
use callbridge::providers::stt::{SpeechToText, SttAudio, SttControl, SttEvent, SttStream};
use callbridge::providers::{ProviderError, ProviderHealth, ProviderKind};

use crate::fakes::deepgram_stt::{ConnScript, FakeDeepgramStt, Utterance};
use crate::helpers::HANG;

const KEY: &str = "dg-test-key";

fn config(url: &str) -> DeepgramSttConfig {
    let mut c = DeepgramSttConfig::new(Url::parse(url).unwrap(), Some(Secret::new(KEY)));
    c.reconnect_backoff = Duration::from_millis(50);
    c.keepalive_every = Duration::from_millis(150);
    c.options.keyterms = vec!["oil change".into()];
    c
}

/// 20 ms mu-law frames of a recognisable pattern: frame `i` of `n`.
fn audio(seconds: f64) -> Vec<Vec<u8>> {
    let frames = (seconds * 50.0) as usize;
    (0..frames)
        .map(|f| (0..160).map(|i| ((f * 160 + i) % 251) as u8).collect())
        .collect()
}

/// Pushes frames at twice real time (the fake does not care; the queue does).
async fn speak(stream: &SttAudio, frames: &[Vec<u8>]) {
    for f in frames {
        assert!(stream.push(f.clone()), "the queue never fills at this pace");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn until(stream: &mut SttStream, mut want: impl FnMut(&SttEvent) -> bool) -> Vec<SttEvent> {
    let mut seen = Vec::new();
    tokio::time::timeout(HANG, async {
        while let Some(e) = stream.next().await {
            let done = want(&e);
            seen.push(e);
            if done {
                return;
            }
        }
        panic!("stream ended first: {seen:?}");
    })
    .await
    .expect("event arrives");
    seen
}

fn finals(events: &[SttEvent]) -> Vec<(String, f64, f64, bool, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            SttEvent::Final {
                text,
                start,
                end,
                speech_final,
                from_finalize,
                ..
            } => Some((text.clone(), *start, *end, *speech_final, *from_finalize)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_caller_is_transcribed_with_interim_final_and_a_clean_close() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramStt::start(KEY, Duration::from_secs(10)).await;
    fake.push(ConnScript {
        utterances: vec![Utterance {
            start: 0.2,
            end: 1.0,
            text: "I need an oil change",
        }],
        ..ConnScript::default()
    });
    let health = ProviderHealth::default();
    let stt = DeepgramStt::new(config(&fake.url), health.clone());
    let mut stream = stt.open(AudioFormat::MULAW_8K);
    let frames = audio(1.6);
    speak(&stream.audio_sender(), &frames).await;
    let events = until(&mut stream, |e| matches!(e, SttEvent::UtteranceEnd { .. })).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SttEvent::SpeechStarted { at } if *at == 0.2))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SttEvent::Interim { text } if text == "I"))
    );
    assert_eq!(
        finals(&events),
        [("I need an oil change".into(), 0.2, 1.0, true, false)]
    );
    stream.control(SttControl::Finish);
    until(&mut stream, |e| *e == SttEvent::Closed).await;

    let conn = &fake.connections()[0];
    assert_eq!(
        conn.audio,
        frames.concat(),
        "mu-law goes to Deepgram untouched"
    );
    assert!(conn.close_stream);
    assert_eq!(conn.query["encoding"], ["mulaw"]);
    assert_eq!(conn.query["sample_rate"], ["8000"]);
    assert_eq!(conn.query["keyterm"], ["oil change"]);
    assert_eq!(health.state(ProviderKind::Stt, "deepgram"), "up");
}

#[tokio::test]
async fn a_socket_cut_mid_utterance_reconnects_replays_and_the_words_still_arrive() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramStt::start(KEY, Duration::from_secs(10)).await;
    // First connection: one finished utterance, then the cut 0.8 s into the next one.
    fake.push(ConnScript {
        utterances: vec![Utterance {
            start: 0.1,
            end: 0.8,
            text: "I need an oil change",
        }],
        cut_at: Some(1.6),
        ..ConnScript::default()
    });
    // Second connection starts where the last final ended (0.8 s): the rest of what the
    // caller said is 0.2-1.0 s into it.
    fake.push(ConnScript {
        utterances: vec![Utterance {
            start: 0.2,
            end: 1.0,
            text: "on Tuesday morning",
        }],
        ..ConnScript::default()
    });
    let health = ProviderHealth::default();
    let stt = DeepgramStt::new(config(&fake.url), health.clone());
    let mut stream = stt.open(AudioFormat::MULAW_8K);
    let frames = audio(2.4);
    let all = frames.concat();
    let sender = stream.audio_sender();
    let speaking = async {
        speak(&sender, &frames).await;
    };
    let mut events = Vec::new();
    let listening = async {
        events = until(
            &mut stream,
            |e| matches!(e, SttEvent::Final { text, .. } if text == "on Tuesday morning"),
        )
        .await;
    };
    tokio::join!(speaking, listening);
    let f = finals(&events);
    assert_eq!(f[0].0, "I need an oil change");
    assert_eq!(f[1].0, "on Tuesday morning");
    // On the stream's clock, continuous across the two connections.
    assert!(
        (f[1].1 - 1.0).abs() < 1e-9 && (f[1].2 - 1.8).abs() < 1e-9,
        "{f:?}"
    );
    assert!(events.contains(&SttEvent::Reconnected { attempt: 1 }));
    // The last chunk goes out a chunk's time after the last frame was pushed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let conns = fake.connections();
    assert_eq!(conns.len(), 2);
    // The second connection heard everything after 0.8 s again, in order.
    let replayed = &conns[1].audio;
    assert!(replayed.len() >= 1600 * 8, "{}", replayed.len());
    assert_eq!(&replayed[..], &all[6400..6400 + replayed.len()]);
    assert_eq!(health.state(ProviderKind::Stt, "deepgram"), "up");
}

#[tokio::test]
async fn finalize_flushes_the_turn_and_keepalives_hold_a_quiet_socket_open() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramStt::start(KEY, Duration::from_millis(600)).await;
    fake.push(ConnScript {
        utterances: vec![Utterance {
            start: 0.2,
            end: 5.0,
            text: "can I come in on Friday",
        }],
        ..ConnScript::default()
    });
    let stt = DeepgramStt::new(config(&fake.url), ProviderHealth::default());
    let mut stream = stt.open(AudioFormat::MULAW_8K);
    speak(&stream.audio_sender(), &audio(1.0)).await;
    until(&mut stream, |e| matches!(e, SttEvent::Interim { .. })).await;
    // Local voice activity says the caller stopped: no waiting for endpointing.
    stream.control(SttControl::Finalize);
    let events = until(&mut stream, |e| matches!(e, SttEvent::Final { .. })).await;
    let f = finals(&events);
    assert_eq!(f[0].0, "can I come in on Friday");
    assert!(f[0].4, "from_finalize");
    // Two idle-timeouts of silence: keep-alives keep the socket (no reconnect).
    tokio::time::sleep(Duration::from_millis(1300)).await;
    stream.control(SttControl::Finish);
    let events = until(&mut stream, |e| *e == SttEvent::Closed).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, SttEvent::Reconnected { .. })),
        "{events:?}"
    );
    let conns = fake.connections();
    assert_eq!(conns.len(), 1);
    assert!(conns[0].keepalives >= 3, "{}", conns[0].keepalives);
    assert_eq!(conns[0].finalizes, 1);
}

#[tokio::test]
async fn bad_credentials_fail_at_once_and_a_dead_server_is_declared_down() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramStt::start(KEY, Duration::from_secs(10)).await;
    let mut c = config(&fake.url);
    c.api_key = Some(Secret::new("wrong"));
    let health = ProviderHealth::default();
    let stt = DeepgramStt::new(c, health.clone());
    let mut stream = stt.open(AudioFormat::MULAW_8K);
    let events = until(&mut stream, |e| matches!(e, SttEvent::Error(_))).await;
    assert_eq!(events, [SttEvent::Error(ProviderError::Auth(401))]);
    assert!(fake.connections().is_empty());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stt = DeepgramStt::new(
        config(&format!("ws://127.0.0.1:{port}/v1/listen")),
        health.clone(),
    );
    let mut stream = stt.open(AudioFormat::MULAW_8K);
    let events = until(&mut stream, |e| matches!(e, SttEvent::Error(_))).await;
    assert!(
        matches!(
            &events[..],
            [SttEvent::Error(ProviderError::Down { attempts: 4, .. })]
        ),
        "{events:?}"
    );
    assert_eq!(health.state(ProviderKind::Stt, "deepgram"), "down");
}

#[tokio::test]
async fn pushing_audio_never_waits_and_every_frame_is_sent_or_counted_as_dropped() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramStt::start(KEY, Duration::from_secs(10)).await;
    let stt = DeepgramStt::new(config(&fake.url), ProviderHealth::default());
    let mut stream = stt.open(AudioFormat::MULAW_8K);
    let frames = audio(20.0); // 1000 frames, pushed in one go
    let mut accepted = 0usize;
    let started = std::time::Instant::now();
    for f in &frames {
        accepted += usize::from(stream.push(f.clone()));
    }
    assert!(started.elapsed() < HANG);
    assert!(accepted < frames.len(), "a burst overflows the queue");
    stream.control(SttControl::Finish);
    until(&mut stream, |e| *e == SttEvent::Closed).await;
    assert_eq!(fake.connections()[0].audio.len(), accepted * 160);
}

#[tokio::test]
async fn a_server_that_never_completes_the_handshake_is_down_at_the_connect_deadline_without_retries()
 {
    crate::helpers::install_crypto();
    let (port, held) = crate::helpers::silent_server().await;
    let mut c = config(&format!("ws://127.0.0.1:{port}/v1/listen"));
    c.connect_timeout = Duration::from_millis(200);
    c.max_reconnects = 1;
    let health = ProviderHealth::default();
    let mut stream = DeepgramStt::new(c, health.clone()).open(AudioFormat::MULAW_8K);
    let events = until(&mut stream, |e| matches!(e, SttEvent::Error(_))).await;
    // One attempt, although a reconnect is allowed: the caller talks meanwhile, and the
    // fallback should hear them rather than wait out a second handshake.
    match &events[..] {
        [SttEvent::Error(ProviderError::Down { attempts: 1, last })] => {
            assert!(last.contains("Connect"), "{last}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !health.admits(ProviderKind::Stt, "deepgram"),
        "the breaker is open: the next call starts on the fallback"
    );
    held.abort();
}

#[tokio::test]
async fn the_app_tells_speech_recognition_the_service_menu() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramStt::start(KEY, Duration::from_secs(10)).await;
    let url = crate::helpers::database_url().await;
    let db = callbridge::db::connect(&url).await.unwrap();
    callbridge::db::migrate(&db).await.unwrap();
    let data = callbridge::crm::seed::parse(callbridge::crm::seed::DEMO_FIXTURE).unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    callbridge::crm::seed::seed(&db, &data, chrono_tz::America::Chicago, today)
        .await
        .unwrap();
    let app = crate::helpers::spawn_app_with(&[
        ("DATABASE_URL", &url),
        ("DEEPGRAM_API_KEY", KEY),
        ("DEEPGRAM_STT_URL", &fake.url),
        ("DEEPGRAM_KEYTERMS", "Lone Star"),
    ])
    .await;
    let stt = app.state.providers.stt.primary.clone().unwrap();
    let mut stream = stt.open(AudioFormat::MULAW_8K);
    assert!(stream.push(vec![0xff; 160]));
    stream.control(SttControl::Finish);
    until(&mut stream, |e| *e == SttEvent::Closed).await;
    let terms = &fake.connections()[0].query["keyterm"];
    assert!(terms.contains(&"Lone Star".to_string()), "{terms:?}");
    assert!(terms.contains(&"Oil change".to_string()), "{terms:?}");
    assert!(terms.contains(&"Wheel alignment".to_string()), "{terms:?}");
    app.stop().await;
}
