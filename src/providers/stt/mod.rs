//! Speech to text: one stream per call. Audio is pushed without ever blocking the media path
//! (a bounded queue; when the provider falls behind, frames are dropped and counted, never
//! waited on); transcripts and provider state come back as [`SttEvent`]s.

pub mod deepgram;
pub use callbridge_core::formats::deepgram_listen as deepgram_wire;
pub mod segmenter;
pub mod whisper;
pub mod whisper_engine;
pub mod whisper_text;
pub mod word_error;

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::audio::AudioFormat;
pub use callbridge_core::stt::{SttControl, SttEvent};

/// Control messages waiting for a recognition stream's task: a call sends one per turn, so a
/// full queue means the task is stuck; the message is then dropped and counted.
const CONTROL_QUEUE: usize = 8;

/// Words a call will likely contain beyond the shop's own (the caller's name, their
/// vehicles), set once the caller is known, after the stream opened; a recogniser that can be
/// told reads it at each utterance (the built-in one adds it to Whisper's prompt), the others
/// ignore it.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary(Arc<Mutex<Arc<str>>>);

impl Vocabulary {
    /// Replaces the words.
    pub fn set(&self, words: &str) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Arc::from(words);
    }

    /// The words (empty until set).
    pub fn get(&self) -> Arc<str> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A live transcription stream. Dropping it abandons the stream.
#[derive(Debug)]
pub struct SttStream {
    audio: SttAudio,
    control: mpsc::Sender<SttControl>,
    events: mpsc::Receiver<SttEvent>,
    vocabulary: Vocabulary,
    task: tokio::task::JoinHandle<()>,
}

/// What a stream's task holds: the call's audio and controls in, events out.
#[derive(Debug)]
pub struct SttTaskEnds {
    /// Audio frames the call pushed.
    pub audio: mpsc::Receiver<Vec<u8>>,
    /// Control messages.
    pub control: mpsc::Receiver<SttControl>,
    /// Where events go.
    pub events: mpsc::Sender<SttEvent>,
    /// The call's words, as the call last set them.
    pub vocabulary: Vocabulary,
}

impl SttStream {
    /// A stream served by the task `serve` makes of its ends; up to `audio_queue` frames wait
    /// for it before pushes are dropped.
    pub fn spawn<F, Fut>(provider: &'static str, audio_queue: usize, serve: F) -> Self
    where
        F: FnOnce(SttTaskEnds) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (audio_tx, audio) = mpsc::channel(audio_queue);
        let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let (events_tx, events) = mpsc::channel(64);
        let vocabulary = Vocabulary::default();
        let task = tokio::spawn(serve(SttTaskEnds {
            audio,
            control: control_rx,
            events: events_tx,
            vocabulary: vocabulary.clone(),
        }));
        Self {
            audio: SttAudio {
                tx: audio_tx,
                provider,
            },
            control,
            events,
            vocabulary,
            task,
        }
    }

    /// Queues audio; never waits. Returns false (and counts the frame) when the queue is
    /// full or the stream has ended.
    pub fn push(&self, audio: Vec<u8>) -> bool {
        self.audio.push(audio)
    }

    /// A handle that pushes audio into this stream, for a task other than the one reading
    /// its events.
    pub fn audio_sender(&self) -> SttAudio {
        self.audio.clone()
    }

    /// Tells the recogniser the words this call will likely contain (see [`Vocabulary`]).
    pub fn set_vocabulary(&self, words: &str) {
        self.vocabulary.set(words);
    }

    /// Sends a control message; never waits (a full queue drops it, counted).
    pub fn control(&self, c: SttControl) {
        if self.control.try_send(c).is_err() {
            metrics::counter!(crate::telemetry::STT_DROPPED_FRAMES, "provider" => self.audio.provider)
                .increment(1);
        }
    }

    /// The next event; `None` after the last.
    pub async fn next(&mut self) -> Option<SttEvent> {
        self.events.recv().await
    }

    /// An event that is already waiting, without waiting for one.
    pub fn try_next(&mut self) -> Option<SttEvent> {
        self.events.try_recv().ok()
    }
}

impl Drop for SttStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Pushes audio into an [`SttStream`] without ever waiting.
#[derive(Debug, Clone)]
pub struct SttAudio {
    tx: mpsc::Sender<Vec<u8>>,
    provider: &'static str,
}

impl SttAudio {
    /// See [`SttStream::push`].
    pub fn push(&self, audio: Vec<u8>) -> bool {
        match self.tx.try_send(audio) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!(crate::telemetry::STT_DROPPED_FRAMES, "provider" => self.provider)
                    .increment(1);
                false
            }
        }
    }
}

/// A speech-to-text provider.
pub trait SpeechToText: Send + Sync {
    /// Its name in logs, metrics and `/readyz`.
    fn name(&self) -> &'static str;

    /// Opens a stream for audio in `format`; connection problems arrive as events.
    fn open(&self, format: AudioFormat) -> SttStream;
}
