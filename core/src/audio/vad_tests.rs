//! Voice activity on the caller clips and on noise.
use super::*;
use crate::audio::{g711, wav};

fn clip(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../fixtures/calls/{name}.wav",
        env!("CARGO_MANIFEST_DIR")
    );
    wav::read(&std::fs::read(path).unwrap()).unwrap().data
}

fn run(audio: &[u8]) -> Vec<VadEvent> {
    let mut v = VoiceActivity::new(VadConfig::default(), AudioFormat::MULAW_8K).unwrap();
    audio.chunks(160).flat_map(|f| v.push(f)).collect()
}

fn noise(amplitude: f64, seconds: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let pcm: Vec<i16> = (0..8000 * seconds)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (((x % 65536) as f64 - 32768.0) / 32768.0 * amplitude) as i16
        })
        .collect();
    let mut out = Vec::new();
    g711::encode_mulaw(&pcm, &mut out);
    out
}

#[test]
fn an_utterance_is_one_turn_despite_the_pauses_between_words() {
    let audio = clip("yes_correct"); // "Yes, that's right." with silence around
    let events = run(&audio);
    assert_eq!(events.len(), 2, "{events:?}");
    let VadEvent::SpeechStarted { at_ms: start } = events[0] else {
        panic!("{events:?}")
    };
    let VadEvent::SpeechEnded {
        at_ms: end,
        speech_ms,
    } = events[1]
    else {
        panic!("{events:?}")
    };
    let total_ms = audio.len() as u64 / 8;
    // Where the clip first gets loud (past the synthesizer's lead-in and the padding).
    let mut pcm = Vec::new();
    g711::decode_mulaw(&audio, &mut pcm);
    let onset_ms = pcm.iter().position(|s| s.unsigned_abs() > 1000).unwrap() as u64 / 8;
    assert!(
        start + 50 >= onset_ms && start <= onset_ms + 100,
        "{start} vs {onset_ms}"
    );
    assert!(end > start + 800 && end <= total_ms, "{end} of {total_ms}");
    assert!(speech_ms >= 600, "{speech_ms}");
}

#[test]
fn noise_and_silence_are_not_speech() {
    assert_eq!(run(&noise(3000.0, 3)), []);
    assert_eq!(run(&noise(10_000.0, 3)), []);
    assert!(run(&vec![0xff; 24_000]).is_empty()); // mu-law silence
    // Noise that sets in after a quiet start.
    let mut late = vec![0xff; 8000];
    late.extend(noise(10_000.0, 3));
    assert_eq!(run(&late), []);
    // Speech after a noisy stretch is still found.
    let mut audio = noise(2000.0, 1);
    audio.extend(clip("yes_nine"));
    assert!(matches!(run(&audio)[0], VadEvent::SpeechStarted { at_ms } if at_ms >= 1000));
}

#[test]
fn speech_ms_grows_while_the_caller_talks_and_resets_after() {
    let audio = clip("book_oil_change");
    let mut v = VoiceActivity::new(VadConfig::default(), AudioFormat::MULAW_8K).unwrap();
    let mut most = 0;
    for f in audio.chunks(160) {
        v.push(f);
        most = most.max(v.speech_ms());
    }
    assert!(most > 1000, "{most}");
    assert!(!v.is_speaking());
    assert_eq!(v.speech_ms(), 0);
    assert_eq!(v.position_ms() / 100, audio.len() as u64 / 8 / 100);
}

#[test]
fn a_pause_is_reported_with_the_turn_audio_and_speech_that_follows_resumes_the_turn() {
    let config = VadConfig {
        pause_ms: 200,
        end_ms: 1000,
        ..VadConfig::default()
    };
    let mut v = VoiceActivity::new(config, AudioFormat::MULAW_8K).unwrap();
    // About 820 ms of silence between them (the clips' own).
    let mut audio = clip("yes_correct");
    audio.extend(clip("hours"));
    audio.extend(vec![0xff; 8 * 1000]);
    let mut events = Vec::new();
    let mut judged = Vec::new();
    for f in audio.chunks(160) {
        for e in v.push(f) {
            if matches!(e, VadEvent::Paused { .. }) {
                judged.push(v.turn_audio());
            }
            events.push(e);
        }
    }
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            VadEvent::SpeechStarted { .. } => "started",
            VadEvent::Paused { .. } => "paused",
            VadEvent::Resumed { .. } => "resumed",
            VadEvent::SpeechEnded { .. } => "ended",
        })
        .collect();
    // One turn: every pause is judged, speech resumes after all but the last.
    assert_eq!(kinds.first(), Some(&"started"));
    assert_eq!(kinds.last(), Some(&"ended"));
    assert_eq!(kinds.iter().filter(|k| **k == "started").count(), 1);
    let pauses = kinds.iter().filter(|k| **k == "paused").count();
    assert!(pauses >= 2, "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "resumed").count(),
        pauses - 1
    );
    // The audio judged is the turn so far, 8 kHz as it came: at the first pause "Yes,",
    // at the last both sentences.
    assert!(judged.iter().all(|j| j.rate == SampleRate::Hz8000));
    let secs: Vec<f64> = judged
        .iter()
        .map(|j| j.samples.len() as f64 / 8000.0)
        .collect();
    assert!(secs[0] > 0.2 && secs[0] < 0.8, "{secs:?}");
    assert!(secs.windows(2).all(|w| w[1] > w[0]), "{secs:?}");
    assert!(*secs.last().unwrap() > 3.0, "{secs:?}");
    assert!(!v.is_speaking());
    assert!(v.turn_audio().samples.is_empty(), "freed at the turn's end");
}

#[test]
fn a_turn_model_can_end_the_speech_at_the_pause() {
    let config = VadConfig {
        pause_ms: 200,
        end_ms: 1000,
        ..VadConfig::default()
    };
    let mut v = VoiceActivity::new(config, AudioFormat::MULAW_8K).unwrap();
    let mut ended = None;
    for f in clip("yes_correct").chunks(160) {
        for e in v.push(f) {
            if let VadEvent::Paused { at_ms } = e
                && ended.is_none()
            {
                ended = Some((at_ms, v.end_speech()));
            }
        }
    }
    let (paused_at, ended) = ended.expect("a pause");
    assert!(
        matches!(ended, Some(VadEvent::SpeechEnded { at_ms, speech_ms }) if at_ms == paused_at && speech_ms > 100)
    );
    // What follows ("that's right") is a turn of its own, which ends as usual.
    let after: Vec<VadEvent> = v.push(&[0xff; 8000]);
    assert!(
        matches!(after.last(), Some(VadEvent::SpeechEnded { .. })),
        "{after:?}"
    );
    assert!(!v.is_speaking());
    assert_eq!(v.end_speech(), None);
}

#[test]
fn the_turn_audio_is_bounded() {
    // A caller who talks for 12 s without a pause: the last 8 s are kept.
    let mut turn = Vec::new();
    for i in 0..12 * 50 {
        keep_turn_audio(&mut turn, &[i as i16; 160], true);
        assert!(turn.len() <= 8000 * 10 + 160);
    }
    assert!(turn.len() >= 8000 * 8);
    assert_eq!(*turn.last().unwrap(), 12 * 50 - 1);
}
