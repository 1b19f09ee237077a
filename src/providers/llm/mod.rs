//! Language models: one streamed chat completion with tools per agent turn.
//!
//! A [`LanguageModel`] starts a completion and hands back an [`LlmStream`] at once; the
//! request runs in its own task and everything it learns arrives as [`LlmEvent`]s, errors
//! included, so the call driver selects on one channel and never awaits a provider inline.
//! Dropping the stream cancels the request (barge-in).

pub use callbridge_core::formats::chat_completions as assemble;
pub mod openai;
pub mod scripted;
pub mod tokens;
pub use callbridge_core::formats::sse;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::value::RawValue;
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
    pub tools: OfferedTools,
}

/// Tools offered to a model: their definitions, with the chat-completions JSON of them built
/// once. A dozen schemas cloned and serialised again on every turn of every call was a
/// measurable part of the bridge's CPU; now a turn clones a pointer.
#[derive(Clone, Default)]
pub struct OfferedTools(Arc<Offered>);

#[derive(Default)]
struct Offered {
    definitions: Vec<ToolDefinition>,
    /// The `tools` array, serialised.
    json: Option<Box<RawValue>>,
}

impl From<Vec<ToolDefinition>> for OfferedTools {
    fn from(definitions: Vec<ToolDefinition>) -> Self {
        let json = (!definitions.is_empty())
            .then(|| {
                let array: Vec<_> = definitions.iter().map(ToolDefinition::to_openai).collect();
                serde_json::value::to_raw_value(&array).ok()
            })
            .flatten();
        Self(Arc::new(Offered { definitions, json }))
    }
}

impl OfferedTools {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.definitions.is_empty()
    }

    /// The definitions.
    pub fn definitions(&self) -> &[ToolDefinition] {
        &self.0.definitions
    }

    /// The chat-completions `tools` array, serialised (`None` when there are none).
    pub fn json(&self) -> Option<&RawValue> {
        self.0.json.as_deref()
    }
}

impl std::fmt::Debug for OfferedTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.definitions.iter().map(|d| d.name).collect();
        f.debug_tuple("OfferedTools").field(&names).finish()
    }
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
