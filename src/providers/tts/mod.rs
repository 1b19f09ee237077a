//! Text to speech: a stream per call. Text goes in as the LLM writes it (`speak`), `flush`
//! asks for the audio of everything spoken so far, `clear` drops what has not played
//! (barge-in). Audio comes back in the format the stream declares, which the caller
//! transcodes to the carrier's when they differ.

pub mod deepgram;
pub mod deepgram_rest;
pub use callbridge_core::formats::deepgram_speak as deepgram_wire;
pub mod flite;

use tokio::sync::mpsc;

use crate::audio::AudioFormat;
pub use callbridge_core::tts::{TtsCommand, TtsEvent};

/// Commands waiting for a synthesis stream's task. A call sends two per sentence and the
/// task takes them as they come; a full queue means the task is stuck, and the call treats
/// the stream as failed (refused, not waited on).
pub const COMMAND_QUEUE: usize = 64;

/// A live synthesis stream. Dropping it abandons the stream.
#[derive(Debug)]
pub struct TtsStream {
    commands: mpsc::Sender<TtsCommand>,
    events: mpsc::Receiver<TtsEvent>,
    format: AudioFormat,
    task: tokio::task::JoinHandle<()>,
}

impl TtsStream {
    /// A stream served by `task` through these channels.
    pub fn new(
        format: AudioFormat,
        commands: mpsc::Sender<TtsCommand>,
        events: mpsc::Receiver<TtsEvent>,
        task: tokio::task::JoinHandle<()>,
    ) -> Self {
        Self {
            commands,
            events,
            format,
            task,
        }
    }

    /// The format of its audio.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Sends a command; never waits. False when the stream's queue is full or its task has
    /// ended (the stream is no longer usable).
    pub fn send(&self, c: TtsCommand) -> bool {
        self.commands.try_send(c).is_ok()
    }

    /// More text.
    pub fn speak(&self, text: impl Into<String>) -> bool {
        self.send(TtsCommand::Speak(text.into()))
    }

    /// Audio for everything so far, now.
    pub fn flush(&self) -> bool {
        self.send(TtsCommand::Flush)
    }

    /// Barge-in.
    pub fn clear(&self) -> bool {
        self.send(TtsCommand::Clear)
    }

    /// The next event; `None` after the last.
    pub async fn next(&mut self) -> Option<TtsEvent> {
        self.events.recv().await
    }

    /// An event that is already waiting, without waiting for one (synthesis delivers audio
    /// in bursts: taking them together saves a wakeup each).
    pub fn try_next(&mut self) -> Option<TtsEvent> {
        self.events.try_recv().ok()
    }
}

impl Drop for TtsStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A text-to-speech provider.
pub trait TextToSpeech: Send + Sync {
    /// Its name in logs, metrics and `/readyz`.
    fn name(&self) -> &'static str;

    /// The format its audio comes in.
    fn format(&self) -> AudioFormat;

    /// Opens a stream; connection problems arrive as events.
    fn open(&self) -> TtsStream;
}
