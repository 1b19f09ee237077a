//! whisper.cpp on this machine: one model in memory shared by a few worker threads, each with
//! its own decoding state, taking utterances from one bounded queue. Transcription is CPU work
//! of a few hundred milliseconds, so it runs on these threads, never on the async runtime, and
//! the queue bound turns overload into a clear error instead of ever-growing latency.
//!
//! Decoding is set for short telephone utterances: greedy, one thread per worker, English,
//! no temperature fallback (a retry at a higher temperature costs another decode and invents
//! words on a phone line), no context carried between utterances, one segment, and a cap on
//! tokens (Whisper can repeat a phrase until its window fills).
//!
//! The encoder window is cut to the utterance (`audio_ctx`): with 10 s instead of 30 s a
//! caller clip decodes in 0.43 s instead of 1.7 s with the same words (tiny.en, one core of
//! this machine, the clips in `fixtures/calls/`). A cut window sometimes makes Whisper say a
//! sentence again after the audio ends ("My name is Sam Rivera. Actually, wait a second. My
//! name is Sam Rivera.": 3 of 30 two-sentence utterances of 4-7 s at 10 s; none at 15 s or
//! the full 30 s), and windows under 8 s make it loop outright. So a transcript that repeats
//! itself, or fills the token cap, is decoded again over a window twice as wide (20 s: 1.0 s
//! instead of the full window's 1.7 s, and as clean on those utterances): the slower pass is
//! paid only where the quick one went wrong.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

/// Encoder frames per second of audio (10 ms mel hop, stride-2 convolution).
const FRAMES_PER_SEC: usize = 50;
/// The smallest encoder window used, frames (10.24 s).
const MIN_AUDIO_CTX: usize = 512;
/// Whisper's full window, frames (30 s).
const FULL_AUDIO_CTX: usize = 1500;
/// whisper.cpp transcribes nothing shorter than a second; shorter cuts are padded with silence.
const MIN_SAMPLES: usize = 16_000 * 11 / 10;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct WhisperEngineConfig {
    /// A whisper.cpp (ggml) model file.
    pub model: PathBuf,
    /// Worker threads (utterances transcribed at once).
    pub workers: usize,
    /// Utterances waiting at most; more are refused.
    pub queue: usize,
    /// Tokens one utterance may produce.
    pub max_tokens: u32,
}

/// Why the engine did not transcribe.
#[derive(Debug, thiserror::Error)]
pub enum WhisperEngineError {
    /// The model file is missing or not a Whisper model.
    #[error("cannot load the Whisper model {path}: {why}")]
    Load {
        /// The file.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// More utterances wait than the queue holds.
    #[error("the speech recogniser is busy ({0} utterances waiting)")]
    Busy(usize),
    /// whisper.cpp failed on this audio.
    #[error("whisper.cpp failed: {0}")]
    Decode(String),
    /// The workers are gone (shutting down).
    #[error("the speech recogniser stopped")]
    Stopped,
}

/// What was heard in one utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// The words, trimmed, without Whisper's non-speech annotations (`[BLANK_AUDIO]`, `(music)`).
    pub text: String,
    /// Mean probability of the text tokens, 0 to 1 (1 when there are none).
    pub confidence: f64,
}

struct Job {
    samples: Vec<f32>,
    reply: oneshot::Sender<Result<Heard, WhisperEngineError>>,
}

/// The loaded model and its workers. Dropping it lets the workers finish their current job
/// and exit.
pub struct WhisperEngine {
    jobs: mpsc::SyncSender<Job>,
    queue: usize,
}

impl std::fmt::Debug for WhisperEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperEngine")
            .field("queue", &self.queue)
            .finish()
    }
}

fn load_error(path: &Path, why: impl std::fmt::Display) -> WhisperEngineError {
    WhisperEngineError::Load {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

impl WhisperEngine {
    /// Loads the model and starts the workers. Blocking (reads ~80 MB): call it off the
    /// async runtime.
    pub fn load(config: WhisperEngineConfig) -> Result<Self, WhisperEngineError> {
        static LOG_HOOKS: std::sync::Once = std::sync::Once::new();
        // whisper.cpp's own messages go to `tracing` rather than straight to stderr.
        LOG_HOOKS.call_once(whisper_rs::install_logging_hooks);
        let path = config.model.as_path();
        if !path.is_file() {
            return Err(load_error(
                path,
                "no such file; run `callbridge models fetch` or set WHISPER_MODEL_PATH",
            ));
        }
        let path_str = path.to_str().ok_or_else(|| load_error(path, "not UTF-8"))?;
        let mut params = WhisperContextParameters::default();
        params.use_gpu(false);
        let context =
            WhisperContext::new_with_params(path_str, params).map_err(|e| load_error(path, e))?;
        let (jobs, queue) = mpsc::sync_channel::<Job>(config.queue.max(1));
        let queue = Arc::new(Mutex::new(queue));
        let workers = config.workers.max(1);
        // Ids from end-of-text on are special (timestamps, task markers), not words.
        let first_special = context.token_eot();
        for i in 0..workers {
            let state = context.create_state().map_err(|e| load_error(path, e))?;
            let (queue, config) = (queue.clone(), config.clone());
            std::thread::Builder::new()
                .name(format!("whisper-{i}"))
                .spawn(move || work(state, &queue, &config, first_special))
                .map_err(|e| load_error(path, e))?;
        }
        tracing::info!(model = %path.display(), workers, "built-in speech recogniser loaded");
        Ok(Self {
            jobs,
            queue: config.queue.max(1),
        })
    }

    /// Transcribes 16 kHz samples.
    pub async fn transcribe(&self, samples: Vec<f32>) -> Result<Heard, WhisperEngineError> {
        let (reply, heard) = oneshot::channel();
        self.jobs
            .try_send(Job { samples, reply })
            .map_err(|e| match e {
                mpsc::TrySendError::Full(_) => WhisperEngineError::Busy(self.queue),
                mpsc::TrySendError::Disconnected(_) => WhisperEngineError::Stopped,
            })?;
        heard.await.map_err(|_| WhisperEngineError::Stopped)?
    }
}

/// A worker: takes jobs until the engine is dropped.
fn work(
    mut state: WhisperState,
    queue: &Mutex<mpsc::Receiver<Job>>,
    config: &WhisperEngineConfig,
    first_special: i32,
) {
    loop {
        let job = {
            let Ok(queue) = queue.lock() else { return };
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if job.reply.is_closed() {
            continue; // the call is gone
        }
        let heard = decode(&mut state, job.samples, config, first_special);
        let _ = job.reply.send(heard);
    }
}

fn decode(
    state: &mut WhisperState,
    mut samples: Vec<f32>,
    config: &WhisperEngineConfig,
    first_special: i32,
) -> Result<Heard, WhisperEngineError> {
    if samples.len() < MIN_SAMPLES {
        samples.resize(MIN_SAMPLES, 0.0);
    }
    let quick = audio_ctx(samples.len());
    let heard = decode_once(state, &samples, config, first_special, quick)?;
    if quick == FULL_AUDIO_CTX || !(heard.repeats || heard.tokens >= config.max_tokens as usize) {
        return Ok(heard.heard);
    }
    metrics::counter!(crate::telemetry::STT_REDECODES).increment(1);
    tracing::debug!(text = %heard.heard.text, "the quick pass repeated itself; decoding over a wider window");
    let wider = (2 * quick).min(FULL_AUDIO_CTX);
    Ok(decode_once(state, &samples, config, first_special, wider)?.heard)
}

/// One decoding pass and what it suggests about itself.
struct Pass {
    heard: Heard,
    /// Text tokens produced.
    tokens: usize,
    /// The text says something twice.
    repeats: bool,
}

fn decode_once(
    state: &mut WhisperState,
    samples: &[f32],
    config: &WhisperEngineConfig,
    first_special: i32,
    audio_ctx: usize,
) -> Result<Pass, WhisperEngineError> {
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_n_threads(1);
    params.set_language(Some("en"));
    params.set_translate(false);
    params.set_temperature(0.0);
    params.set_temperature_inc(0.0);
    params.set_no_context(true);
    params.set_single_segment(true);
    params.set_no_timestamps(true);
    params.set_suppress_blank(true);
    params.set_max_tokens(config.max_tokens as i32);
    params.set_audio_ctx(audio_ctx as i32);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
    state
        .full(params, samples)
        .map_err(|e| WhisperEngineError::Decode(e.to_string()))?;
    let mut text = String::new();
    let (mut probability, mut tokens) = (0.0f64, 0usize);
    for segment in state.as_iter() {
        text.push_str(&segment.to_str_lossy().unwrap_or_default());
        for i in 0..segment.n_tokens() {
            if let Some(token) = segment.get_token(i)
                && token.token_id() < first_special
            {
                probability += f64::from(token.token_probability());
                tokens += 1;
            }
        }
    }
    let text = clean(&text);
    Ok(Pass {
        repeats: repeats(&text),
        heard: Heard {
            text,
            confidence: if tokens == 0 {
                1.0
            } else {
                probability / tokens as f64
            },
        },
        tokens,
    })
}

/// Whether `text` says the same thing twice: a sentence again, or any four words in a row
/// again. A caller seldom does within one utterance; a cut-window decode often does.
fn repeats(text: &str) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(char::to_lowercase)
                .collect()
        })
        .filter(|w: &String| !w.is_empty())
        .collect();
    let mut seen = std::collections::HashSet::new();
    if words.windows(4).any(|w| !seen.insert(w)) {
        return true;
    }
    let mut sentences = std::collections::HashSet::new();
    text.split(['.', '?', '!'])
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .any(|s| !sentences.insert(s))
}

/// The encoder window for `samples` of 16 kHz audio, frames.
fn audio_ctx(samples: usize) -> usize {
    let needed = samples * FRAMES_PER_SEC / 16_000 + FRAMES_PER_SEC / 2;
    if needed <= MIN_AUDIO_CTX {
        MIN_AUDIO_CTX
    } else if needed <= 2 * MIN_AUDIO_CTX {
        2 * MIN_AUDIO_CTX
    } else {
        FULL_AUDIO_CTX
    }
}

/// Whisper's words without its annotations of non-speech (`[BLANK_AUDIO]`, `(upbeat music)`,
/// `*coughs*`), spaces collapsed.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut closing: Option<char> = None;
    for c in text.chars() {
        match (closing, c) {
            (Some(end), c) if c == end => closing = None,
            (Some(_), _) => {}
            (None, '[') => closing = Some(']'),
            (None, '(') => closing = Some(')'),
            (None, '*') => closing = Some('*'),
            (None, c) => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_of_non_speech_are_not_words() {
        assert_eq!(clean(" [BLANK_AUDIO]"), "");
        assert_eq!(
            clean(" (upbeat music) Hello  there. *coughs*"),
            "Hello there."
        );
        assert_eq!(
            clean(" Yes, nine o'clock works for me."),
            "Yes, nine o'clock works for me."
        );
    }

    #[test]
    fn a_transcript_that_says_something_twice_is_suspect() {
        assert!(repeats(
            "My name is Sam Rivera. Actually, wait a second. My name is Sam Rivera."
        ));
        assert!(repeats(
            "I'd like to cancel my appointment, to cancel my appointment, to cancel my"
        ));
        assert!(repeats("Yes, that's right. Yes, that's right."));
        assert!(!repeats("Yes. Yes, nine o'clock works for me."));
        assert!(!repeats(
            "I need to move my appointment to Thursday afternoon. I'd like to cancel my appointment, please."
        ));
        assert!(!repeats(""));
    }

    #[test]
    fn the_window_covers_the_audio_and_never_shrinks_below_ten_seconds() {
        assert_eq!(audio_ctx(16_000), MIN_AUDIO_CTX);
        assert_eq!(audio_ctx(16_000 * 9), MIN_AUDIO_CTX);
        assert_eq!(audio_ctx(16_000 * 12), 2 * MIN_AUDIO_CTX);
        assert_eq!(audio_ctx(16_000 * 25), FULL_AUDIO_CTX);
        for secs in 1..30 {
            assert!(audio_ctx(16_000 * secs) * 16_000 / FRAMES_PER_SEC >= 16_000 * secs);
        }
    }

    #[test]
    fn a_missing_model_is_a_clear_error() {
        let err = WhisperEngine::load(WhisperEngineConfig {
            model: PathBuf::from("/nonexistent/ggml-model.bin"),
            workers: 1,
            queue: 4,
            max_tokens: 64,
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/ggml-model.bin"), "{text}");
        assert!(text.contains("callbridge models fetch"), "{text}");
    }
}
