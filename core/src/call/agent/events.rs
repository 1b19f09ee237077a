//! What the agent is told ([`Input`]) and what it decides ([`Action`]).

use crate::audio::vad::VadEvent;
use crate::call::end::{DrainEnding, GoodbyeReason, TransferReason};
use crate::call::observe::Observation;
use crate::call::record::Speaker;
use crate::chat::ChatMessage;
use crate::llm::LlmEvent;
use crate::provider::ProviderKind;
use crate::stt::SttEvent;
use crate::tool::CrmRequest;

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The media stream started.
    Started,
    /// Local voice activity on the caller's line.
    Voice(VadEvent),
    /// Speech-to-text.
    Transcript(SttEvent),
    /// The LLM stream of turn `turn`.
    Llm {
        /// Which request (stale ones are ignored).
        turn: u64,
        /// What it said.
        event: LlmEvent,
    },
    /// A tool finished (or timed out: `content` says so).
    ToolDone {
        /// The LLM's call id.
        id: String,
        /// The JSON answer for the LLM.
        content: String,
    },
    /// Everything the agent said has played.
    PlaybackIdle,
    /// Playback was cleared after a barge-in: per sentence of the agent's current turn, in
    /// order, ms heard and ms long.
    Interrupted {
        /// (heard, total) per sentence.
        heard: Vec<(u64, u64)>,
    },
    /// A key was pressed.
    Dtmf(char),
    /// A provider is down for this call.
    ProviderDown(ProviderKind),
    /// The instance is draining: finish the turn in progress (its tools and their answer),
    /// take no new one, say the drain line and end as told.
    WindDown(DrainEnding),
    /// The turn model's verdict on the pause it was asked about (`Action::JudgeTurn`):
    /// finished, still speaking, or `None` when the model could not judge.
    TurnJudged {
        /// Which request.
        id: u64,
        /// Whether the caller's turn is complete.
        complete: Option<bool>,
    },
    /// Time passed.
    Tick,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Synthesize and play one sentence.
    Speak(String),
    /// Stop the agent now: clear the carrier's playback and the TTS stream.
    StopSpeaking,
    /// Ask STT to finalise what it has heard.
    FinalizeStt,
    /// Ask the turn model whether the caller, paused now, has finished (the audio is the
    /// turn's so far); the answer comes back as `Input::TurnJudged` with this id.
    JudgeTurn {
        /// Request number.
        id: u64,
    },
    /// The caller's speech ends now, at the pause (voice activity reports its end).
    EndSpeech,
    /// Start a completion.
    StartLlm {
        /// Request number (its events come back with it).
        turn: u64,
        /// The trimmed history.
        messages: Vec<ChatMessage>,
        /// Use the fallback LLM.
        fallback: bool,
    },
    /// Cancel the running completion.
    CancelLlm,
    /// Run a CRM tool.
    RunTool {
        /// The LLM's call id.
        id: String,
        /// What to run.
        request: CrmRequest,
    },
    /// Hand the caller to the service desk once what is queued has played.
    Transfer {
        /// Why.
        reason: TransferReason,
    },
    /// End the call once everything queued has played.
    HangUp {
        /// Why.
        reason: GoodbyeReason,
    },
    /// Something worth counting happened.
    Observe(Observation),
    /// Persist a turn of the transcript.
    Record {
        /// Who.
        speaker: Speaker,
        /// What was said.
        text: String,
        /// Agent turns: what the caller heard, when less than all.
        heard: Option<String>,
    },
    /// The caller interrupted the agent's last recorded turn and heard only this of it.
    RecordHeard(String),
}
