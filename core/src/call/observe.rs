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
    /// The turn model judged a pause.
    TurnVerdict(TurnVerdict),
    /// A completion asked for before the caller's final transcript: `used` when the final
    /// said the same, else cancelled (wasted).
    Preemptive {
        /// Whether it answered the turn.
        used: bool,
    },
}

/// What became of a pause the turn model was asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnVerdict {
    /// The caller had finished: the turn ended at the pause.
    Complete,
    /// The caller was only pausing: the turn stayed open.
    Incomplete,
    /// No verdict in time: the turn ended as voice activity alone would end it.
    Late,
    /// The model failed: as `Late`.
    Failed,
}

impl TurnVerdict {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Incomplete => "incomplete",
            Self::Late => "late",
            Self::Failed => "failed",
        }
    }
}
