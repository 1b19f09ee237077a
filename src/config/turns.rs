//! How a caller's turn ends: after a fixed silence, or sooner when the end-of-turn model
//! (Smart Turn v3, fetched by `callbridge models fetch`) hears that the caller has finished,
//! and later when it hears a sentence left hanging.

use std::path::PathBuf;
use std::time::Duration;

use super::settings::Reader;

/// Whether the end-of-turn model is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnModelChoice {
    /// When its file is there (fetched); silence alone otherwise.
    Auto,
    /// Always: the service does not start without it.
    On,
    /// Never (the default): turns end after `TURN_SILENCE_MS` of silence. Measured on the
    /// synthetic caller voice of the fixtures, the model is right half the time
    /// (`tests/api/turns`), so it is not turned on until it is measured on people's voices.
    Off,
}

/// Turn-taking.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnSettings {
    /// `TURN_MODEL`: `off` (default), `auto` or `on`.
    pub model: TurnModelChoice,
    /// `TURN_MODEL_PATH`: the ONNX file; default the one `callbridge models fetch` puts in
    /// `MODEL_CACHE_DIR`.
    pub model_path: PathBuf,
    /// `TURN_SILENCE_MS` (300): without the model, silence this long ends a turn.
    pub silence: Duration,
    /// `TURN_PAUSE_MS` (200): with the model, silence this long asks it whether the caller
    /// has finished.
    pub pause: Duration,
    /// `TURN_INCOMPLETE_MS` (1200): with the model, the longest pause a caller judged
    /// mid-sentence may hold before the turn ends anyway.
    pub incomplete: Duration,
    /// `TURN_VERDICT_WAIT_MS` (150): a verdict later than this after the pause is not
    /// waited for; the turn ends as silence alone would end it.
    pub verdict_wait: Duration,
    /// `TURN_COMPLETE_THRESHOLD_PERCENT` (50): the model's probability, in percent, from
    /// which a turn counts as finished.
    pub threshold: f32,
    /// `TURN_MODEL_WORKERS` (1): verdicts computed at once (a core each, for the time a
    /// verdict takes); more wait, and past their wait they are skipped.
    pub workers: usize,
}

impl TurnSettings {
    /// Records whether the model was loaded at start: `auto` becomes `on` or `off`, so what
    /// a call reads is what this instance does.
    pub fn resolve(&mut self, loaded: bool) {
        self.model = if loaded {
            TurnModelChoice::On
        } else {
            TurnModelChoice::Off
        };
    }

    /// Whether pauses are judged by the model (after [`TurnSettings::resolve`]).
    pub fn judged(&self) -> bool {
        self.model != TurnModelChoice::Off
    }
}

pub(super) fn read(r: &mut Reader<'_>) -> TurnSettings {
    let ms = |r: &mut Reader<'_>, name, default, min, max| {
        Duration::from_millis(r.ranged(name, default, min, max))
    };
    let model = match r.string("TURN_MODEL", "off").as_str() {
        "auto" => TurnModelChoice::Auto,
        "on" => TurnModelChoice::On,
        "off" => TurnModelChoice::Off,
        other => {
            r.problem(
                "TURN_MODEL",
                format!("{other:?}: use `auto`, `on` or `off`"),
            );
            TurnModelChoice::Auto
        }
    };
    let threshold = r.ranged("TURN_COMPLETE_THRESHOLD_PERCENT", 50, 1, 99) as f32 / 100.0;
    TurnSettings {
        model,
        // Set from MODEL_CACHE_DIR by the caller unless given.
        model_path: r
            .optional("TURN_MODEL_PATH")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_default(),
        silence: ms(r, "TURN_SILENCE_MS", 300, 100, 5_000),
        pause: ms(r, "TURN_PAUSE_MS", 200, 64, 2_000),
        incomplete: ms(r, "TURN_INCOMPLETE_MS", 1_200, 200, 10_000),
        verdict_wait: ms(r, "TURN_VERDICT_WAIT_MS", 150, 10, 5_000),
        threshold,
        workers: r.ranged("TURN_MODEL_WORKERS", 1, 1, 64) as usize,
    }
}
