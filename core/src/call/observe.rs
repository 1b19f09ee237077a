//! What the call machine measures, handed out as values: the executor records them as
//! metrics (the core never touches a recorder). Stage latencies are measured here, where the
//! events meet `now`.

use std::time::Duration;

use crate::tool::ToolName;

/// A stage of a turn whose latency is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// End of the caller's speech to the final transcript.
    SttFinal,
    /// Request to the language model's first token.
    LlmFirstToken,
    /// Request to the first complete sentence.
    FirstSentence,
    /// A sentence sent to speech synthesis to its first audio.
    TtsFirstByte,
    /// End of the caller's speech to the agent's first audio (the turn's latency).
    VoiceToVoice,
    /// The caller starting to speak over the agent to the agent falling silent.
    BargeInToSilence,
}

/// One observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// A stage took this long.
    Latency(Stage, Duration),
    /// A caller turn went to the language model.
    TurnAnswered,
    /// The caller interrupted the agent.
    BargeIn,
    /// A tool did not answer in time (the model was told so; the tool goes on).
    ToolTimedOut(ToolName),
    /// An interruption turned out to be noise: the agent said again what was not heard.
    FalseInterruption,
    /// A booking, move or cancel the caller had not confirmed was not run (the booking gate).
    NeedsConfirmation(ToolName),
}
