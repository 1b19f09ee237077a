//! A language model's streamed answer as the call sees it: text as it is written, the tool
//! calls (parsed at the client, see [`crate::tool`]), why it stopped, and failures.

use crate::provider::ProviderError;
use crate::tool::ToolCall;

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// It finished its answer.
    Stop,
    /// It wants tools run.
    ToolCalls,
    /// It ran out of tokens.
    Length,
    /// Its output was filtered.
    ContentFilter,
    /// Something else the server said.
    Other(String),
}

/// Token counts the server reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
}

/// What a completion stream reports.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmEvent {
    /// More of the answer's text.
    TextDelta(String),
    /// Complete tool calls (all of the turn's, in index order), just before `Finished`.
    ToolCalls(Vec<ToolCall>),
    /// The completion is over.
    Finished(FinishReason),
    /// Token counts (usually after `Finished`).
    Usage(Usage),
    /// It failed; nothing more follows.
    Error(ProviderError),
}
