//! Speech to text as the call sees it: what a transcription stream reports, and what the call
//! asks of one besides audio. The provider clients (Deepgram, the built-in recogniser) speak
//! this vocabulary; the call machine decides on it.

use crate::provider::ProviderError;

/// What a transcription stream reports. Times are seconds of audio since the stream began
/// (continuous across reconnects).
#[derive(Debug, Clone, PartialEq)]
pub enum SttEvent {
    /// A guess that may still change.
    Interim {
        /// Text so far of the current segment.
        text: String,
    },
    /// A segment that will not change.
    Final {
        /// Its text (may be empty: silence).
        text: String,
        /// The provider's endpointing saw the caller pause: the turn may be over.
        speech_final: bool,
        /// This final answers our `Finalize` (local voice activity ended the turn).
        from_finalize: bool,
        /// Segment start.
        start: f64,
        /// Segment end.
        end: f64,
        /// Confidence, 0 to 1.
        confidence: f64,
    },
    /// The provider saw the end of an utterance by word timing (`utterance_end_ms`).
    UtteranceEnd {
        /// End of the last word.
        last_word_end: f64,
    },
    /// The provider heard speech begin (voice activity).
    SpeechStarted {
        /// When.
        at: f64,
    },
    /// The connection dropped and was re-established; buffered audio was replayed.
    Reconnected {
        /// Which attempt succeeded.
        attempt: u32,
    },
    /// It failed for good; nothing more follows.
    Error(ProviderError),
    /// It ended after `finish` (or the provider closed it cleanly).
    Closed,
}

/// What the call can ask of a stream besides audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SttControl {
    /// Flush: transcribe what was heard so far now (local VAD saw the caller stop).
    Finalize,
    /// No more audio: deliver what is pending, then close.
    Finish,
}
