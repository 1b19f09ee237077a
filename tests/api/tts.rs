//! The Deepgram TTS clients against the fake: mu-law straight for the carrier, Clear
//! mid-sentence, the flush budget, PCM through the resampler, the REST fallback, and typed
//! failures.

use std::time::Duration;

use url::Url;

use callbridge::audio::transcode::Transcoder;
use callbridge::audio::{AudioFormat, Encoding, SampleRate};
use callbridge::config::Secret;
use callbridge::providers::tts::deepgram::{DeepgramTts, DeepgramTtsConfig};
use callbridge::providers::tts::deepgram_rest::DeepgramSpeakRest;
use callbridge::providers::tts::{TextToSpeech, TtsCommand, TtsEvent, TtsStream};
use callbridge::providers::{Deadline, ProviderError, ProviderHealth};

use crate::fakes::deepgram_tts::{FakeDeepgramTts, TtsBehaviour};
use crate::helpers::HANG;

const KEY: &str = "dg-tts-key";

fn config(url: &str, format: AudioFormat) -> DeepgramTtsConfig {
    DeepgramTtsConfig::new(Url::parse(url).unwrap(), Some(Secret::new(KEY)), format)
}

async fn until(s: &mut TtsStream, mut want: impl FnMut(&TtsEvent) -> bool) -> Vec<TtsEvent> {
    let mut seen = Vec::new();
    tokio::time::timeout(HANG, async {
        while let Some(e) = s.next().await {
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

fn audio_bytes(events: &[TtsEvent]) -> usize {
    events
        .iter()
        .map(|e| match e {
            TtsEvent::Audio(a) => a.len(),
            _ => 0,
        })
        .sum()
}

fn flushed(e: &TtsEvent) -> bool {
    matches!(e, TtsEvent::Flushed { .. })
}

#[tokio::test]
async fn speech_comes_in_mulaw_for_the_carrier_and_each_flush_is_acknowledged() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramTts::start(KEY, TtsBehaviour::default()).await;
    let tts = DeepgramTts::new(
        config(&fake.ws_url, AudioFormat::MULAW_8K),
        ProviderHealth::default(),
    );
    let mut s = tts.open();
    assert_eq!(s.format(), AudioFormat::MULAW_8K);
    s.speak("Hello there. ");
    s.flush();
    let events = until(&mut s, flushed).await;
    // 13 characters at 10 ms each, 8 bytes a millisecond.
    assert_eq!(audio_bytes(&events), 13 * 80);
    assert_eq!(events.last(), Some(&TtsEvent::Flushed { sequence_id: 0 }));
    s.send(TtsCommand::Close);
    until(&mut s, |e| *e == TtsEvent::Closed).await;
    let r = fake.record();
    assert_eq!(r.spoken, ["Hello there. "]);
    assert_eq!(r.queries[0]["encoding"], "mulaw");
    assert_eq!(r.queries[0]["sample_rate"], "8000");
    assert_eq!(r.queries[0]["model"], "aura-2-thalia-en");
}

#[tokio::test]
async fn clear_mid_sentence_stops_the_audio_and_the_next_answer_plays_whole() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramTts::start(
        KEY,
        TtsBehaviour {
            frame_gap: Duration::from_millis(10),
            ..TtsBehaviour::default()
        },
    )
    .await;
    let tts = DeepgramTts::new(
        config(&fake.ws_url, AudioFormat::MULAW_8K),
        ProviderHealth::default(),
    );
    let mut s = tts.open();
    let long = "We have openings on Tuesday at nine, ten thirty, and noon, and on Wednesday all afternoon. ".repeat(3);
    s.speak(long.clone());
    s.flush();
    until(&mut s, |e| matches!(e, TtsEvent::Audio(_))).await;
    s.clear(); // the caller barged in
    let before = until(&mut s, |e| *e == TtsEvent::Cleared).await;
    assert!(
        audio_bytes(&before) + 160 < long.len() * 80,
        "the sentence was cut"
    );
    assert!(!before.iter().any(flushed));
    s.speak("Sure. ");
    s.flush();
    let after = until(&mut s, flushed).await;
    assert_eq!(audio_bytes(&after), 6 * 80, "only the new answer plays");
    assert_eq!(fake.record().clears, 1);
}

#[tokio::test]
async fn flushes_beyond_the_budget_wait_for_a_slot_so_deepgram_never_warns() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramTts::start(
        KEY,
        TtsBehaviour {
            flush_window: Duration::from_millis(950),
            ..TtsBehaviour::default()
        },
    )
    .await;
    let mut c = config(&fake.ws_url, AudioFormat::MULAW_8K);
    c.flush_window = Duration::from_secs(1);
    let tts = DeepgramTts::new(c, ProviderHealth::default());
    let mut s = tts.open();
    for _ in 0..25 {
        s.speak("a");
        s.flush();
    }
    let mut events = Vec::new();
    for _ in 0..21 {
        events.extend(until(&mut s, flushed).await);
    }
    // The 21st flush waited for the window and carried the text of the last five; its
    // confirmation names the last of our flushes it covers.
    assert_eq!(audio_bytes(&events), 25 * 80);
    let confirmed: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            TtsEvent::Flushed { sequence_id } => Some(*sequence_id),
            _ => None,
        })
        .collect();
    let mut want: Vec<u64> = (0..20).collect();
    want.push(24);
    assert_eq!(confirmed, want);
    let r = fake.record();
    assert_eq!(r.warnings, 0);
    assert_eq!(r.flushes.len(), 21);
    assert!(r.flushes[20].duration_since(r.flushes[0]) >= Duration::from_millis(950));
}

#[tokio::test]
async fn pcm_speech_goes_through_the_resampler_to_the_carrier_format() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramTts::start(KEY, TtsBehaviour::default()).await;
    let pcm24 = AudioFormat::new(Encoding::Linear16, SampleRate::Hz24000);
    let tts = DeepgramTts::new(config(&fake.ws_url, pcm24), ProviderHealth::default());
    let mut s = tts.open();
    assert_eq!(tts.format(), pcm24);
    s.speak("x".repeat(50)); // 500 ms
    s.flush();
    let events = until(&mut s, flushed).await;
    assert_eq!(audio_bytes(&events), 24_000);
    let mut to_carrier = Transcoder::new(pcm24, AudioFormat::MULAW_8K).unwrap();
    let mut mulaw = Vec::new();
    for e in &events {
        if let TtsEvent::Audio(a) = e {
            for frame in a.chunks(960) {
                to_carrier.process(frame, &mut mulaw).unwrap();
            }
        }
    }
    // 500 ms at 8 kHz, less at most one 20 ms frame still in the resampler.
    assert!((3840..=4000).contains(&mulaw.len()), "{}", mulaw.len());
    let mut pcm8 = Vec::new();
    callbridge::audio::g711::decode_mulaw(&mulaw, &mut pcm8);
    let crossings = pcm8.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    // A 440 Hz tone crosses zero ~880 times a second: ~420 in what came through.
    assert!((380..=460).contains(&crossings), "{crossings}");
}

#[tokio::test]
async fn the_rest_fallback_streams_each_flush_in_order_and_clear_drops_the_queue() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramTts::start(
        KEY,
        TtsBehaviour {
            frame_gap: Duration::from_millis(5),
            ..TtsBehaviour::default()
        },
    )
    .await;
    let tts = DeepgramSpeakRest::new(
        config(&fake.rest_url, AudioFormat::MULAW_8K),
        ProviderHealth::default(),
    )
    .unwrap();
    let mut s = tts.open();
    s.speak("Hello. ");
    s.flush();
    s.speak("Bye.");
    s.flush();
    s.flush(); // nothing new: acknowledged at once
    let first = until(&mut s, flushed).await;
    assert_eq!(audio_bytes(&first), 7 * 80);
    assert_eq!(first.last(), Some(&TtsEvent::Flushed { sequence_id: 0 }));
    let second = until(&mut s, flushed).await;
    assert_eq!(audio_bytes(&second), 4 * 80);
    assert_eq!(
        until(&mut s, flushed).await,
        [TtsEvent::Flushed { sequence_id: 2 }]
    );

    s.speak("a long answer that the caller will interrupt ".repeat(4));
    s.flush();
    s.speak("queued behind it");
    s.flush();
    until(&mut s, |e| matches!(e, TtsEvent::Audio(_))).await;
    s.clear();
    until(&mut s, |e| *e == TtsEvent::Cleared).await;
    s.speak("OK.");
    s.flush();
    let after = until(&mut s, flushed).await;
    assert_eq!(audio_bytes(&after), 3 * 80);
    let r = fake.record();
    assert_eq!(r.queries[0]["container"], "none");
    assert!(!r.spoken.iter().any(|t| t == "queued behind it"));
}

#[tokio::test]
async fn bad_credentials_and_a_slow_first_audio_are_typed_errors() {
    crate::helpers::install_crypto();
    let fake = FakeDeepgramTts::start(
        KEY,
        TtsBehaviour {
            first_audio_delay: Duration::from_secs(3),
            ..TtsBehaviour::default()
        },
    )
    .await;
    let mut c = config(&fake.ws_url, AudioFormat::MULAW_8K);
    c.api_key = Some(Secret::new("wrong"));
    let mut s = DeepgramTts::new(c, ProviderHealth::default()).open();
    assert_eq!(
        until(&mut s, |e| matches!(e, TtsEvent::Error(_))).await,
        [TtsEvent::Error(ProviderError::Auth(401))]
    );

    let mut c = config(&fake.ws_url, AudioFormat::MULAW_8K);
    c.first_audio_timeout = Duration::from_millis(300);
    let mut s = DeepgramTts::new(c.clone(), ProviderHealth::default()).open();
    s.speak("Hello.");
    s.flush();
    assert_eq!(
        until(&mut s, |e| matches!(e, TtsEvent::Error(_))).await,
        [TtsEvent::Error(ProviderError::Timeout(
            Deadline::FirstResult,
            Duration::from_millis(300)
        ))]
    );

    c.url = Url::parse(&fake.rest_url).unwrap();
    let mut s = DeepgramSpeakRest::new(c, ProviderHealth::default())
        .unwrap()
        .open();
    s.speak("Hello.");
    s.flush();
    let events = until(&mut s, |e| matches!(e, TtsEvent::Error(_))).await;
    assert!(
        matches!(
            events.last(),
            Some(TtsEvent::Error(ProviderError::Timeout(
                Deadline::FirstResult,
                _
            )))
        ),
        "{events:?}"
    );
}
