//! Language models: one streamed chat completion with tools per agent turn.
//!
//! A [`LanguageModel`] starts a completion and hands back an [`LlmStream`] at once; the
//! request runs in its own task and everything it learns arrives as [`LlmEvent`]s, errors
//! included, so the call driver selects on one channel and never awaits a provider inline.
//! Dropping the stream cancels the request (barge-in).

pub mod assemble;
pub mod openai;
pub mod scripted;
pub mod sse;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use super::ProviderError;
use crate::tools::ToolDefinition;
pub use callbridge_core::chat::{ChatMessage, Role};
pub use callbridge_core::llm::{FinishReason, LlmEvent, Usage};
pub use callbridge_core::tool::ToolCall;

/// One completion to run.
#[derive(Debug, Clone, Default)]
pub struct CompletionRequest {
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call.
    pub tools: Vec<ToolDefinition>,
}

/// A running completion. Dropping it cancels the request.
#[derive(Debug)]
pub struct LlmStream {
    events: mpsc::Receiver<LlmEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl LlmStream {
    /// A stream fed by `task` through `events`.
    pub fn new(events: mpsc::Receiver<LlmEvent>, task: tokio::task::JoinHandle<()>) -> Self {
        Self { events, task }
    }

    /// The next event; `None` after the last.
    pub async fn next(&mut self) -> Option<LlmEvent> {
        self.events.recv().await
    }
}

impl Drop for LlmStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A chat-completions provider.
pub trait LanguageModel: Send + Sync {
    /// Its name in logs, metrics and `/readyz`.
    fn name(&self) -> &'static str;

    /// Starts a completion.
    fn stream(&self, request: CompletionRequest) -> LlmStream;

    /// Checks the provider answers at all (used at start-up and by health checks).
    fn probe(&self) -> BoxFuture<'_, Result<(), ProviderError>>;
}
