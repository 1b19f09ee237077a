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
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::ProviderError;
use crate::tools::ToolDefinition;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Instructions.
    System,
    /// The caller (their transcript).
    User,
    /// The agent.
    Assistant,
    /// A tool's result.
    Tool,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallRequest {
    /// The model's id for it (echoed back with the result).
    pub id: String,
    /// The tool.
    pub name: String,
    /// The arguments as a JSON object, or why they are not one.
    pub arguments: Result<Map<String, Value>, String>,
    /// The arguments as the model wrote them.
    pub raw_arguments: String,
}

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// Who.
    pub role: Role,
    /// Text (absent on an assistant message that only calls tools).
    pub content: Option<String>,
    /// Assistant messages: the tool calls it made.
    pub tool_calls: Vec<ToolCallRequest>,
    /// Tool messages: which call this answers.
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    fn plain(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// Instructions.
    pub fn system(text: impl Into<String>) -> Self {
        Self::plain(Role::System, text)
    }

    /// What the caller said.
    pub fn user(text: impl Into<String>) -> Self {
        Self::plain(Role::User, text)
    }

    /// What the agent said (cut to what the caller heard after a barge-in).
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::plain(Role::Assistant, text)
    }

    /// The agent's tool calls, with any text it said first.
    pub fn assistant_tool_calls(text: Option<String>, calls: Vec<ToolCallRequest>) -> Self {
        Self {
            role: Role::Assistant,
            content: text,
            tool_calls: calls,
            tool_call_id: None,
        }
    }

    /// A tool's result.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }

    /// The chat-completions JSON of this message.
    pub fn to_json(&self) -> Value {
        let mut m = json!({ "role": self.role.as_str() });
        m["content"] = self.content.as_ref().map_or(Value::Null, |c| json!(c));
        if !self.tool_calls.is_empty() {
            m["tool_calls"] = Value::Array(
                self.tool_calls
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id,
                            "type": "function",
                            "function": { "name": c.name, "arguments": c.raw_arguments },
                        })
                    })
                    .collect(),
            );
        }
        if let Some(id) = &self.tool_call_id {
            m["tool_call_id"] = json!(id);
        }
        m
    }
}

/// One completion to run.
#[derive(Debug, Clone, Default)]
pub struct CompletionRequest {
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call.
    pub tools: Vec<ToolDefinition>,
}

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
    ToolCalls(Vec<ToolCallRequest>),
    /// The completion is over.
    Finished(FinishReason),
    /// Token counts (usually after `Finished`).
    Usage(Usage),
    /// It failed; nothing more follows.
    Error(ProviderError),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_serialise_in_the_chat_completions_shape() {
        let call = ToolCallRequest {
            id: "call_1".into(),
            name: "business_info".into(),
            arguments: Ok(Map::new()),
            raw_arguments: "{}".into(),
        };
        assert_eq!(
            ChatMessage::assistant_tool_calls(None, vec![call]).to_json(),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "business_info", "arguments": "{}"}}
            ]})
        );
        assert_eq!(
            ChatMessage::tool_result("call_1", "{\"ok\":true}").to_json(),
            json!({"role": "tool", "content": "{\"ok\":true}", "tool_call_id": "call_1"})
        );
        assert_eq!(
            ChatMessage::user("hi").to_json(),
            json!({"role": "user", "content": "hi"})
        );
    }
}
