//! Text to speech: a stream per call. Text goes in as the LLM writes it (`speak`), `flush`
//! asks for the audio of everything spoken so far, `clear` drops what has not played
//! (barge-in). Audio comes back in the format the stream declares, which the caller
//! transcodes to the carrier's when they differ.

pub mod deepgram;
pub mod deepgram_rest;
pub mod deepgram_wire;
pub mod flite;

use tokio::sync::mpsc;

use super::ProviderError;
use crate::audio::AudioFormat;

/// What the driver asks of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TtsCommand {
    /// More text to say.
    Speak(String),
    /// Produce the audio of all text so far now.
    Flush,
    /// Drop text and audio not yet delivered.
    Clear,
    /// End the stream after what is pending.
    Close,
}

/// What a stream reports.
#[derive(Debug, Clone, PartialEq)]
pub enum TtsEvent {
    /// Audio in the stream's format.
    Audio(Vec<u8>),
    /// All audio for the text before the `n`th `Flush` of the stream (counted from 0) has
    /// been delivered. A provider that merges flushes (Deepgram's flush budget) confirms only
    /// the last of those it merged: a confirmation covers every flush up to `n`.
    Flushed {
        /// Which flush.
        sequence_id: u64,
    },
    /// A `Clear` took effect: no audio of earlier text follows.
    Cleared,
    /// The provider warned about something (logged; the stream goes on).
    Warning(String),
    /// It failed; nothing more follows.
    Error(ProviderError),
    /// It ended after `Close`.
    Closed,
}

/// A live synthesis stream. Dropping it abandons the stream.
#[derive(Debug)]
pub struct TtsStream {
    commands: mpsc::UnboundedSender<TtsCommand>,
    events: mpsc::Receiver<TtsEvent>,
    format: AudioFormat,
    task: tokio::task::JoinHandle<()>,
}

impl TtsStream {
    /// A stream served by `task` through these channels.
    pub fn new(
        format: AudioFormat,
        commands: mpsc::UnboundedSender<TtsCommand>,
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

    /// Sends a command (never waits).
    pub fn send(&self, c: TtsCommand) {
        let _ = self.commands.send(c);
    }

    /// More text.
    pub fn speak(&self, text: impl Into<String>) {
        self.send(TtsCommand::Speak(text.into()));
    }

    /// Audio for everything so far, now.
    pub fn flush(&self) {
        self.send(TtsCommand::Flush);
    }

    /// Barge-in.
    pub fn clear(&self) {
        self.send(TtsCommand::Clear);
    }

    /// The next event; `None` after the last.
    pub async fn next(&mut self) -> Option<TtsEvent> {
        self.events.recv().await
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
