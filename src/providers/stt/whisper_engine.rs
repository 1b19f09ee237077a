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
//! The encoder's cost grows with its window (`audio_ctx`), so the window is cut to the
//! utterance and [`WINDOW_PAD_SECS`] after it rather than Whisper's 30 s: a caller's sentence
//! costs 0.3-0.38 s of a core (median, second passes included) instead of 0.42-0.45 s over a
//! fixed 10 s window and 1.7 s over 30 s, for about the same words (44 sentences in 4 synthetic
//! voices: word error 11.3 % against 10.7 % at 10 s; `cargo bench --bench builtin_stt` prints
//! the word error of any rendering of the clips). A cut window makes Whisper loop now and then, reading the utterance again
//! until its tokens run out; so the pass may write only as many tokens as the audio's length
//! could hold, a loop is cut back to its first copy ([`whisper_text::unlooped`]), and a
//! transcript that still says something twice, or fills its tokens without looping, is
//! decoded again over a window of at least 10 s: the slower pass is paid only where the
//! quick one went wrong.
//!
//! A transcription uses every core no other is using, up to `threads`: one call at a time
//! is answered about twice as fast on two cores, and under load each worker keeps its one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use super::whisper_text::{clean, repeats, unlooped};
use std::sync::atomic::{AtomicIsize, Ordering};
use tokio::sync::oneshot;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

/// Encoder frames per second of audio (10 ms mel hop, stride-2 convolution).
const FRAMES_PER_SEC: usize = 50;
/// Silence the window holds after the audio, s: with less tiny.en loops on most utterances
/// (measured at 1-3 s), with more it is slower for the same words.
const WINDOW_PAD_SECS: usize = 4;
/// The smallest window of a second pass, frames (10.24 s, where tiny.en no longer loops on
/// short utterances).
const MIN_AUDIO_CTX: usize = 512;
/// Tokens a second of audio may produce in the quick pass (speech runs at up to about 4).
const TOKENS_PER_SEC: u32 = 6;
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
    /// Cores one transcription may use when no other transcription is using them.
    pub threads: usize,
    /// Words the calls will likely contain (the shop's name, its services, the weekdays),
    /// given to Whisper as the text before the audio (its initial prompt), which biases it
    /// towards them; empty for none.
    pub prompt: String,
}

/// The initial prompt that tells Whisper the shop's words: its name, the services on its menu
/// and the weekdays, as a sentence like those callers say (Whisper continues the prompt's
/// style, so a list of words would bias it towards lists).
pub fn shop_prompt(business: &str, services: &[String]) -> String {
    let services: Vec<String> = services.iter().map(|s| s.to_lowercase()).collect();
    let name = if business.is_empty() {
        String::new()
    } else {
        format!("{business}. ")
    };
    format!(
        "{name}I'd like to book {} on Monday, Tuesday, Wednesday, Thursday, Friday or Saturday.",
        services.join(", ")
    )
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
    /// The call's own words, after the shop's prompt.
    words: Arc<str>,
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
        let workers = config.workers.max(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(queue),
            // Each worker's own core, and any more a transcription may borrow.
            cores: Cores {
                free: AtomicIsize::new(workers.max(config.threads) as isize),
            },
            first_special: context.token_eot(),
            config: config.clone(),
        });
        for i in 0..workers {
            let state = context.create_state().map_err(|e| load_error(path, e))?;
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("whisper-{i}"))
                .spawn(move || work(state, &shared))
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
        self.submit(samples)?.heard().await
    }

    /// Queues 16 kHz samples for transcription and returns at once: the work goes on while
    /// the caller holds the [`Transcription`], and is skipped if it is dropped before a worker
    /// reaches it.
    pub fn submit(&self, samples: Vec<f32>) -> Result<Transcription, WhisperEngineError> {
        self.submit_with(samples, "")
    }

    /// [`submit`](Self::submit) with the call's own `words` (the caller's name, their
    /// vehicles) added to the shop's prompt.
    pub fn submit_with(
        &self,
        samples: Vec<f32>,
        words: &str,
    ) -> Result<Transcription, WhisperEngineError> {
        let (reply, heard) = oneshot::channel();
        let words = Arc::from(words);
        self.jobs
            .try_send(Job {
                samples,
                words,
                reply,
            })
            .map_err(|e| match e {
                mpsc::TrySendError::Full(_) => WhisperEngineError::Busy(self.queue),
                mpsc::TrySendError::Disconnected(_) => WhisperEngineError::Stopped,
            })?;
        Ok(Transcription { heard })
    }
}

/// A transcription under way.
#[derive(Debug)]
pub struct Transcription {
    heard: oneshot::Receiver<Result<Heard, WhisperEngineError>>,
}

impl Transcription {
    /// What was heard, when the worker is done.
    pub async fn heard(self) -> Result<Heard, WhisperEngineError> {
        self.heard.await.map_err(|_| WhisperEngineError::Stopped)?
    }
}

/// Cores not in use by a transcription, shared by the workers. It goes below zero while a
/// worker runs on the core another transcription borrowed, so that one gets none back
/// until the count is even again: under load each worker keeps one core.
#[derive(Debug)]
struct Cores {
    free: AtomicIsize,
}

/// Cores one transcription holds until it is dropped.
struct Held<'a> {
    cores: &'a Cores,
    taken: isize,
}

impl Cores {
    /// Up to `wanted` of the free cores, and always one to run on.
    fn take(&self, wanted: usize) -> (Held<'_>, usize) {
        let wanted = wanted.max(1) as isize;
        let mut taken = 1;
        let _ = self
            .free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |free| {
                taken = free.min(wanted).max(1);
                Some(free - taken)
            });
        (Held { cores: self, taken }, taken as usize)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.cores.free.fetch_add(self.taken, Ordering::AcqRel);
    }
}

/// What every worker shares.
struct Shared {
    queue: Mutex<mpsc::Receiver<Job>>,
    cores: Cores,
    config: WhisperEngineConfig,
    /// Ids from end-of-text on are special (timestamps, task markers), not words.
    first_special: i32,
}

/// A worker: takes jobs until the engine is dropped.
fn work(mut state: WhisperState, shared: &Shared) {
    loop {
        let job = {
            let Ok(queue) = shared.queue.lock() else {
                return;
            };
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if job.reply.is_closed() {
            continue; // the call is gone
        }
        let (held, threads) = shared.cores.take(shared.config.threads.max(1));
        let heard = decode(&mut state, job.samples, &job.words, shared, threads);
        drop(held);
        let _ = job.reply.send(heard);
    }
}

fn decode(
    state: &mut WhisperState,
    mut samples: Vec<f32>,
    words: &str,
    shared: &Shared,
    threads: usize,
) -> Result<Heard, WhisperEngineError> {
    if samples.len() < MIN_SAMPLES {
        samples.resize(MIN_SAMPLES, 0.0);
    }
    let max_tokens = shared.config.max_tokens;
    let quick = Window {
        audio_ctx: audio_ctx(samples.len()),
        max_tokens: token_cap(samples.len(), max_tokens),
        threads,
    };
    let prompt = match (shared.config.prompt.as_str(), words) {
        (shop, "") => shop.to_string(),
        ("", call) => call.to_string(),
        (shop, call) => format!("{shop} {call}"),
    };
    let prompt = prompt.as_str();
    let mut pass = decode_once(state, &samples, shared.first_special, prompt, quick)?;
    let looped = unlooped(&pass.heard.text);
    if let Some(once) = &looped {
        tracing::debug!(text = %pass.heard.text, "the quick pass looped; kept its first copy");
        pass.heard.text.clone_from(once);
    }
    let suspect =
        repeats(&pass.heard.text) || (looped.is_none() && pass.tokens >= quick.max_tokens as usize);
    if quick.audio_ctx == FULL_AUDIO_CTX || !suspect {
        return Ok(pass.heard);
    }
    metrics::counter!(crate::telemetry::STT_REDECODES).increment(1);
    tracing::debug!(text = %pass.heard.text, "the quick pass repeated itself; decoding over a wider window");
    let wider = Window {
        audio_ctx: (2 * quick.audio_ctx).clamp(MIN_AUDIO_CTX, FULL_AUDIO_CTX),
        max_tokens,
        threads,
    };
    Ok(decode_once(state, &samples, shared.first_special, prompt, wider)?.heard)
}

/// How one pass runs.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Encoder frames.
    audio_ctx: usize,
    /// Text tokens at most.
    max_tokens: u32,
    /// Cores.
    threads: usize,
}

/// One decoding pass.
struct Pass {
    heard: Heard,
    /// Text tokens produced.
    tokens: usize,
}

fn decode_once(
    state: &mut WhisperState,
    samples: &[f32],
    first_special: i32,
    prompt: &str,
    window: Window,
) -> Result<Pass, WhisperEngineError> {
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_n_threads(window.threads as i32);
    params.set_language(Some("en"));
    params.set_translate(false);
    params.set_temperature(0.0);
    params.set_temperature_inc(0.0);
    params.set_no_context(true);
    params.set_single_segment(true);
    params.set_no_timestamps(true);
    params.set_suppress_blank(true);
    params.set_max_tokens(window.max_tokens as i32);
    params.set_audio_ctx(window.audio_ctx as i32);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
    if !prompt.is_empty() {
        params.set_initial_prompt(prompt);
    }
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

/// The encoder window for `samples` of 16 kHz audio, frames: the audio and [`WINDOW_PAD_SECS`]
/// after it, within Whisper's 30 s.
fn audio_ctx(samples: usize) -> usize {
    ((samples * FRAMES_PER_SEC).div_ceil(16_000) + WINDOW_PAD_SECS * FRAMES_PER_SEC)
        .min(FULL_AUDIO_CTX)
}

/// Tokens the quick pass may write for `samples` of audio: enough for fast speech, so that a
/// pass that loops stops soon instead of filling the window with copies.
fn token_cap(samples: usize, max_tokens: u32) -> u32 {
    let secs = samples.div_ceil(16_000) as u32;
    (TOKENS_PER_SEC * secs + 8).min(max_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_the_audio_and_some_silence_within_thirty_seconds() {
        assert_eq!(audio_ctx(16_000), 250);
        assert_eq!(audio_ctx(16_000 * 3 / 2), 275);
        assert_eq!(audio_ctx(16_000 * 25), 1450);
        assert_eq!(audio_ctx(16_000 * 26), FULL_AUDIO_CTX);
        for secs in 1..30 {
            let window = audio_ctx(16_000 * secs) * 16_000 / FRAMES_PER_SEC;
            assert!(window >= (16_000 * (secs + WINDOW_PAD_SECS)).min(16_000 * 30));
        }
    }

    #[test]
    fn the_quick_pass_writes_what_the_audio_could_hold() {
        assert_eq!(token_cap(16_000 * 2, 64), 20);
        assert_eq!(token_cap(16_000 * 2 + 1, 64), 26);
        assert_eq!(token_cap(16_000 * 20, 64), 64);
    }

    #[test]
    fn a_transcription_borrows_free_cores_and_gives_them_back() {
        let cores = Cores {
            free: AtomicIsize::new(2),
        };
        let (first, threads) = cores.take(2);
        assert_eq!(threads, 2);
        // Another worker still runs, on its own core.
        let (second, threads) = cores.take(2);
        assert_eq!(threads, 1);
        drop(first);
        // While the second runs, the next transcription gets one core, not two.
        let (third, threads) = cores.take(2);
        assert_eq!(threads, 1);
        drop((second, third));
        assert_eq!(cores.free.load(Ordering::Acquire), 2);
        let (_fourth, threads) = cores.take(2);
        assert_eq!(threads, 2);
    }

    #[test]
    fn a_missing_model_is_a_clear_error() {
        let err = WhisperEngine::load(WhisperEngineConfig {
            model: PathBuf::from("/nonexistent/ggml-model.bin"),
            workers: 1,
            queue: 4,
            max_tokens: 64,
            threads: 1,
            prompt: String::new(),
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/ggml-model.bin"), "{text}");
        assert!(text.contains("callbridge models fetch"), "{text}");
    }
}
