//! The end-of-turn model on the caller clips, optimised as it runs in the service: every pause
//! the call's voice activity reports (`PAUSE_MS`, default 200) judged, with the model's
//! accuracy on finished turns and on pauses mid-turn at a few thresholds, and the time a
//! verdict takes on one core (the clips are judged twice; the second pass is timed).
//! Needs the model: `callbridge models fetch`.

#![allow(clippy::disallowed_methods)] // A benchmark reads the clock and its environment.

#[path = "../tests/api/turns/decisions.rs"]
mod decisions;

use callbridge::config::{Settings, Source};
use callbridge::turn::SmartTurn;

fn main() {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for name in ["MODEL_CACHE_DIR", "XDG_CACHE_HOME", "HOME"] {
        if let Ok(v) = std::env::var(name) {
            pairs.push((name.into(), v));
        }
    }
    pairs.push(("STREAM_TOKEN_SECRET".into(), "0".repeat(64)));
    pairs.push(("CALL_MODE".into(), "echo".into()));
    let settings = Settings::from_source(&Source::from_pairs(pairs)).expect("settings");
    let path = &settings.turns.model_path;
    let model = SmartTurn::load(path)
        .unwrap_or_else(|e| panic!("{e}: run `callbridge models fetch` first"));
    let pause_ms = std::env::var("PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    decisions::judge_all(&model, pause_ms); // warm-up
    let judged = decisions::judge_all(&model, pause_ms);
    print!("{}", decisions::report(&judged, 0.5));
    for threshold in [0.3, 0.7] {
        let right = judged.iter().filter(|d| d.right(threshold)).count();
        println!("threshold {threshold}: {right}/{} right", judged.len());
    }
    let total: f64 = judged.iter().map(|d| d.took.as_secs_f64()).sum();
    println!(
        "{} verdicts, mean {:.0} ms each (one core, features included)",
        judged.len(),
        total / judged.len() as f64 * 1000.0
    );
}
