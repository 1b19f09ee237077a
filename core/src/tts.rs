//! Text to speech as the call sees it: the commands a synthesis stream takes (text, flushes,
//! clears) and what it reports (audio, flush confirmations, failures). The provider clients
//! (Deepgram, Flite) speak this vocabulary; the call machine decides on it.

use crate::provider::ProviderError;

/// What the call asks of a stream.
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
