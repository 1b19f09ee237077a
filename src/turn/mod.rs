//! The end-of-turn model: whether a caller who has paused has finished their turn, heard in
//! their voice (intonation, a trailing "and…", a filler) rather than guessed from silence.
//!
//! Smart Turn v3 (Daily, BSD-2-Clause; a Whisper-tiny encoder with a classifier, int8 ONNX)
//! reads the last 8 s of the turn at 16 kHz and answers a probability that the turn is
//! complete. It runs in tract (pure Rust). Two things are done to the file on load:
//! - Its quantize/dequantize pairs on activations are removed, so tract computes in f32 with
//!   the weights dequantized once (in a first probe 110 ms for the model in f32 against 155 ms
//!   emulating the int8 pairs); the decisions on the fixture clips are the same as ONNX
//!   Runtime's. `cargo bench --bench turns` measures a whole verdict, features included.
//! - Those after a softmax in particular must go: tract 0.23 fuses Softmax with the following
//!   QuantizeLinear into a quantized softmax that saturates (every attention weight 0.99), which
//!   makes the model answer nonsense (0.15 where ONNX Runtime answers 0.94).
//!
//! A verdict takes a core for 150-180 ms on this project's machines; [`TurnJudge`] bounds how
//! many run at once and skips those whose call has stopped waiting.

pub mod features;
mod graph;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tract_onnx::prelude::*;

use crate::audio::SampleRate;
use crate::audio::upsample::Upsampler2x;
use crate::audio::vad::TurnAudio;
use crate::config::{TurnModelChoice, TurnSettings};
use features::{FRAMES, LogMel, MELS};

/// Why the model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TurnModelError {
    /// The file is missing or unreadable.
    #[error("turn model {path}: {why}")]
    Load {
        /// Where.
        path: String,
        /// Why.
        why: String,
    },
    /// A run failed.
    #[error("turn model run: {0}")]
    Run(String),
}

/// The loaded model (shared by every call; a run needs no lock).
pub struct SmartTurn {
    plan: Arc<TypedRunnableModel>,
    mel: LogMel,
}

impl std::fmt::Debug for SmartTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmartTurn")
    }
}

impl SmartTurn {
    /// Loads and optimises the ONNX file at `path` (a fraction of a second).
    pub fn load(path: &Path) -> Result<Self, TurnModelError> {
        let failed = |why: String| TurnModelError::Load {
            path: path.display().to_string(),
            why,
        };
        let onnx = tract_onnx::onnx()
            // The file's recorded shapes name the batch `s6`; the input fact below fixes it.
            .with_ignore_value_info(true)
            .with_ignore_output_shapes(true);
        let mut proto = onnx
            .proto_model_for_path(path)
            .map_err(|e| failed(e.to_string()))?;
        graph::dequantize_activations(&mut proto).map_err(failed)?;
        let plan = onnx
            .model_for_proto_model(&proto)
            .and_then(|m| m.with_input_fact(0, f32::fact([1, MELS, FRAMES]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| failed(format!("{e:#}")))?;
        Ok(Self {
            plan,
            mel: LogMel::new(),
        })
    }

    /// The probability that the turn whose audio this is has finished.
    pub fn probability(&self, audio: &TurnAudio) -> Result<f32, TurnModelError> {
        let wide = to_16k(audio);
        let features = self.mel.compute(&wide);
        let input = tract_ndarray::Array3::from_shape_vec((1, MELS, FRAMES), features)
            .map_err(|e| TurnModelError::Run(e.to_string()))?;
        let out = self
            .plan
            .run(tvec!(input.into_tensor().into()))
            .map_err(|e| TurnModelError::Run(e.to_string()))?;
        let view = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| TurnModelError::Run(e.to_string()))?;
        view.iter()
            .next()
            .copied()
            .ok_or_else(|| TurnModelError::Run("no output".into()))
    }
}

/// The turn's audio as the model hears it: 16 kHz, in [-1, 1].
fn to_16k(audio: &TurnAudio) -> Vec<f32> {
    let wide = match audio.rate {
        SampleRate::Hz8000 => {
            let mut out = Vec::with_capacity(audio.samples.len() * 2);
            Upsampler2x::new().process(&audio.samples, &mut out);
            out
        }
        _ => audio.samples.clone(),
    };
    wide.into_iter().map(|s| f32::from(s) / 32768.0).collect()
}

/// The judge the settings ask for: `None` with `TURN_MODEL=off`, or with `auto` when the
/// model has not been fetched (or cannot be read: said in the log). A process loads a file
/// once, however many applications it builds (tests build many).
pub fn from_settings(t: &TurnSettings) -> Result<Option<TurnJudge>, TurnModelError> {
    static LOADED: Mutex<Vec<(PathBuf, Arc<SmartTurn>)>> = Mutex::new(Vec::new());
    let load = || -> Result<Arc<SmartTurn>, TurnModelError> {
        let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, m)) = loaded.iter().find(|(p, _)| *p == t.model_path) {
            return Ok(m.clone());
        }
        let model = Arc::new(SmartTurn::load(&t.model_path)?);
        loaded.push((t.model_path.clone(), model.clone()));
        Ok(model)
    };
    let model = match t.model {
        TurnModelChoice::Off => return Ok(None),
        TurnModelChoice::On => load()?,
        TurnModelChoice::Auto if !t.model_path.exists() => {
            tracing::info!(
                path = %t.model_path.display(),
                "no end-of-turn model (`callbridge models fetch` gets it): turns end on silence"
            );
            return Ok(None);
        }
        TurnModelChoice::Auto => match load() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "the end-of-turn model cannot be used: turns end on silence");
                return Ok(None);
            }
        },
    };
    Ok(Some(TurnJudge {
        model,
        threshold: t.threshold,
        workers: Arc::new(tokio::sync::Semaphore::new(t.workers.max(1))),
    }))
}

/// The model with its settings and a bound on verdicts computed at once.
#[derive(Debug, Clone)]
pub struct TurnJudge {
    model: Arc<SmartTurn>,
    threshold: f32,
    workers: Arc<tokio::sync::Semaphore>,
}

impl TurnJudge {
    /// Whether the caller finished: `Some(None)` when the model failed, `None` when no worker
    /// was free before `deadline` (the call has stopped waiting by then: nothing to answer).
    pub async fn judge(
        &self,
        audio: TurnAudio,
        deadline: tokio::time::Instant,
    ) -> Option<Option<bool>> {
        let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
        let permit = tokio::time::timeout(wait, self.workers.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        let (model, threshold) = (self.model.clone(), self.threshold);
        let started = tokio::time::Instant::now();
        let verdict = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            model.probability(&audio)
        })
        .await;
        metrics::histogram!(crate::telemetry::TURN_MODEL_SECONDS)
            .record(started.elapsed().as_secs_f64());
        match verdict {
            Ok(Ok(p)) => Some(Some(p >= threshold)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the turn model failed");
                Some(None)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the turn model's task failed");
                Some(None)
            }
        }
    }
}
