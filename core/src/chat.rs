//! The conversation as a chat-completions model sees it: who said what, the agent's tool calls
//! and the tools' answers. The call machine keeps its history in these; the LLM clients turn
//! them into their wire shape ([`ChatMessage::to_json`] is the OpenAI-compatible one, which
//! every server callbridge talks to accepts).

use serde_json::{Value, json};

use crate::tool::ToolCall;

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
    /// As the chat-completions API names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// Who.
    pub role: Role,
    /// Text (absent on an assistant message that only calls tools).
    pub content: Option<String>,
    /// Assistant messages: the tool calls it made.
    pub tool_calls: Vec<ToolCall>,
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
    pub fn assistant_tool_calls(text: Option<String>, calls: Vec<ToolCall>) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_serialise_in_the_chat_completions_shape() {
        let call = ToolCall::parse("call_1", "business_info", "{}");
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
