//! The end-of-turn model's decisions on the caller clips, as a call makes them: each clip
//! (and a second of silence) goes through the call's voice activity with the model's pause
//! (200 ms); at every pause the turn's audio so far is judged. A pause the caller spoke on
//! after should be judged unfinished; the pause after their last word, finished. Shared by
//! the test (which bounds the result) and `cargo bench --bench turns` (which prints it).

use std::time::{Duration, Instant};

use callbridge::audio::vad::{VadConfig, VadEvent, VoiceActivity};
use callbridge::audio::{AudioFormat, wav};
use callbridge::turn::SmartTurn;

/// The clips judged: every caller utterance in `fixtures/calls` (each a finished turn; those
/// named `pause_*` hold a pause of 500-800 ms mid-sentence).
pub const CLIPS: &[&str] = &[
    "book_oil_change",
    "tuesday_morning",
    "yes_nine",
    "yes_correct",
    "reschedule",
    "cancel",
    "hours",
    "price",
    "my_name",
    "correction",
    "barge_in",
    "thanks_bye",
    "pause_book",
    "pause_name",
    "pause_day",
    "pause_brakes",
    "pause_um",
    "yes_short",
    "no_short",
    "that_works",
    "okay_short",
    "yeah_short",
    "right_short",
];

/// One judged pause.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The clip.
    pub clip: &'static str,
    /// Where the pause began in the clip, ms.
    pub at_ms: u64,
    /// Whether the caller had finished (the last pause of the clip).
    pub finished: bool,
    /// The model's probability that they had.
    pub probability: f32,
    /// Time the model took (one core).
    pub took: Duration,
}

impl Decision {
    /// Whether the model was right at `threshold`.
    pub fn right(&self, threshold: f32) -> bool {
        (self.probability >= threshold) == self.finished
    }
}

/// The caller clip `name` (8 kHz mu-law).
pub fn clip(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/calls/{name}.wav", env!("CARGO_MANIFEST_DIR"));
    let w = wav::read(&std::fs::read(&path).expect("clip")).expect("wav");
    assert_eq!(w.format, AudioFormat::MULAW_8K);
    w.data
}

/// Every pause of every clip in [`CLIPS`], judged by `model` with voice activity pausing
/// after `pause_ms`.
pub fn judge_all(model: &SmartTurn, pause_ms: u64) -> Vec<Decision> {
    let mut out = Vec::new();
    for &name in CLIPS {
        let config = VadConfig {
            pause_ms,
            end_ms: 5_000,
            ..VadConfig::default()
        };
        let mut vad = VoiceActivity::new(config, AudioFormat::MULAW_8K).expect("mu-law");
        let mut audio = clip(name);
        audio.extend(vec![0xFF; 8_000]);
        let mut pauses = Vec::new();
        for frame in audio.chunks(160) {
            for e in vad.push(frame) {
                if let VadEvent::Paused { at_ms } = e {
                    #[allow(clippy::disallowed_methods)] // Measuring the model's own time.
                    let started = Instant::now();
                    let probability = model.probability(&vad.turn_audio()).expect("a verdict");
                    pauses.push((at_ms, probability, started.elapsed()));
                }
            }
        }
        let last = pauses.len().saturating_sub(1);
        for (i, (at_ms, probability, took)) in pauses.into_iter().enumerate() {
            out.push(Decision {
                clip: name,
                at_ms,
                finished: i == last,
                probability,
                took,
            });
        }
    }
    out
}

/// A table of the decisions and the accuracy, for the test's output and the benchmark.
pub fn report(decisions: &[Decision], threshold: f32) -> String {
    let mut s = String::new();
    for d in decisions {
        s.push_str(&format!(
            "{:<16} pause at {:>5} ms  {:<10}  p={:.2}  {}  {:>4} ms\n",
            d.clip,
            d.at_ms,
            if d.finished { "finished" } else { "mid-turn" },
            d.probability,
            if d.right(threshold) { "right" } else { "WRONG" },
            d.took.as_millis()
        ));
    }
    let count = |finished: bool| {
        let all: Vec<_> = decisions
            .iter()
            .filter(|d| d.finished == finished)
            .collect();
        let right = all.iter().filter(|d| d.right(threshold)).count();
        (right, all.len())
    };
    let (fr, fa) = count(true);
    let (mr, ma) = count(false);
    let mut took: Vec<Duration> = decisions.iter().map(|d| d.took).collect();
    took.sort();
    let median = took.get(took.len() / 2).copied().unwrap_or_default();
    s.push_str(&format!(
        "finished turns judged finished: {fr}/{fa}; pauses mid-turn judged unfinished: {mr}/{ma}; \
         all: {}/{} at threshold {threshold}; median {} ms a verdict\n",
        fr + mr,
        fa + ma,
        median.as_millis()
    ));
    s
}
