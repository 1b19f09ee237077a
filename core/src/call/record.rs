//! The call's transcript as the call machine writes it: who said what, what the caller heard
//! of an agent turn, and each turn's stage latencies. The executor stamps the wall-clock time
//! and stores it; the machine only knows the `Instant` it was said at.

use std::time::{Duration, Instant};

/// Who spoke a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// The person on the phone.
    Caller,
    /// callbridge.
    Agent,
    /// An event worth a line in the transcript (transfer, tool failure, hang-up).
    System,
}

impl Speaker {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Caller => "caller",
            Speaker::Agent => "agent",
            Speaker::System => "system",
        }
    }
}

/// One turn of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Who.
    pub speaker: Speaker,
    /// What was said (agent: what was generated).
    pub text: String,
    /// Agent turns: what the caller heard before a barge-in, when less than all.
    pub heard: Option<String>,
    /// When it was said.
    pub at: Instant,
    /// Caller turns: speech-to-text final after the end of speech.
    pub stt: Option<Duration>,
    /// Agent turns: LLM time to first token.
    pub llm_first_token: Option<Duration>,
    /// Agent turns: TTS time to first audio.
    pub tts_first_byte: Option<Duration>,
}

impl Turn {
    /// A turn with no latencies.
    pub fn new(speaker: Speaker, text: impl Into<String>, at: Instant) -> Self {
        Self {
            speaker,
            text: text.into(),
            heard: None,
            at,
            stt: None,
            llm_first_token: None,
            tts_first_byte: None,
        }
    }
}

/// Something to persist about the call, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A turn of the transcript.
    Turn(Turn),
    /// The caller interrupted the last agent turn and heard only this of it.
    Heard(String),
}
