//! Turns the `data:` payloads of a streamed chat completion into [`LlmEvent`]s, sans-IO.
//!
//! Text deltas pass straight through (the caller should hear the first words while the model
//! is still writing). Tool calls arrive as fragments keyed by `index`: the first fragment of
//! an index carries `id` and `function.name`, later ones append to `function.arguments`.
//! Calls are parsed once, when the choice finishes, into typed requests (or a coded refusal
//! handed back to the model as the tool's answer: see `crate::tool`).
//! Some servers (older Ollama) finish a tool-calling turn with `stop`: assembled calls are
//! emitted whatever the finish reason says.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::llm::{FinishReason, LlmEvent, Usage};
use crate::provider::ProviderError;
use crate::tool::ToolCall;

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[derive(Debug, Default)]
struct Partial {
    id: Option<String>,
    name: String,
    arguments: String,
}

/// The assembler for one completion.
#[derive(Debug, Default)]
pub struct CompletionAssembler {
    calls: BTreeMap<u64, Partial>,
    finished: bool,
    done: bool,
    delivered: bool,
}

/// Largest total of tool-call argument text accepted (a runaway model is cut off).
const MAX_ARGUMENTS: usize = 64 * 1024;

impl CompletionAssembler {
    /// Whether `[DONE]` was seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether a finish reason was seen.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether anything (text or a tool-call fragment) has arrived: after that, a failed
    /// request must not be retried, or the caller would hear words twice.
    pub fn has_output(&self) -> bool {
        self.delivered
    }

    /// One SSE `data:` payload.
    pub fn push(&mut self, data: &str) -> Result<Vec<LlmEvent>, ProviderError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            if !self.finished {
                // A server that ends without a finish reason: whatever was assembled stands.
                return Ok(self.finish("stop"));
            }
            return Ok(Vec::new());
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            ProviderError::Protocol(format!("chunk is not a chat.completion.chunk: {e}"))
        })?;
        if let Some(error) = chunk.error {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_string);
            return Err(ProviderError::Upstream(message));
        }
        let mut out = Vec::new();
        if let Some(choice) = chunk.choices.into_iter().next() {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                self.delivered = true;
                out.push(LlmEvent::TextDelta(text));
            }
            for (n, fragment) in choice.delta.tool_calls.into_iter().enumerate() {
                self.delivered = true;
                let index = fragment.index.unwrap_or(n as u64);
                let partial = self.calls.entry(index).or_default();
                if let Some(id) = fragment.id.filter(|i| !i.is_empty()) {
                    partial.id.get_or_insert(id);
                }
                if let Some(f) = fragment.function {
                    if let Some(name) = f.name.filter(|n| !n.is_empty())
                        && partial.name.is_empty()
                    {
                        partial.name = name;
                    }
                    if let Some(args) = f.arguments {
                        partial.arguments.push_str(&args);
                    }
                }
            }
            let total: usize = self.calls.values().map(|c| c.arguments.len()).sum();
            if total > MAX_ARGUMENTS {
                return Err(ProviderError::Protocol(format!(
                    "tool-call arguments exceed {MAX_ARGUMENTS} bytes"
                )));
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                out.extend(self.finish(&reason));
            }
        }
        if let Some(u) = chunk.usage {
            out.push(LlmEvent::Usage(Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
            }));
        }
        Ok(out)
    }

    fn finish(&mut self, reason: &str) -> Vec<LlmEvent> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        let mut out = Vec::new();
        let calls: Vec<ToolCall> = std::mem::take(&mut self.calls)
            .into_iter()
            .map(|(index, p)| {
                let id = p.id.unwrap_or_else(|| format!("call_{index}"));
                ToolCall::parse(id, p.name, p.arguments)
            })
            .collect();
        let reason = match reason {
            "stop" if !calls.is_empty() => FinishReason::ToolCalls,
            "stop" => FinishReason::Stop,
            "tool_calls" | "function_call" => FinishReason::ToolCalls,
            "length" => FinishReason::Length,
            "content_filter" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_string()),
        };
        if !calls.is_empty() {
            out.push(LlmEvent::ToolCalls(calls));
        }
        out.push(LlmEvent::Finished(reason));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::{CrmRequest, ToolCallError, ToolRequest};

    fn chunk(delta: &str, finish: Option<&str>) -> String {
        let finish = finish.map_or("null".to_string(), |f| format!("\"{f}\""));
        format!(
            r#"{{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}]}}"#
        )
    }

    fn run(payloads: &[String]) -> Vec<LlmEvent> {
        let mut a = CompletionAssembler::default();
        payloads.iter().flat_map(|p| a.push(p).unwrap()).collect()
    }

    #[test]
    fn text_streams_as_deltas_and_finishes_with_stop() {
        let events = run(&[
            chunk(r#"{"role":"assistant","content":""}"#, None),
            chunk(r#"{"content":"Hello"}"#, None),
            chunk(r#"{"content":" there."}"#, None),
            chunk("{}", Some("stop")),
            "[DONE]".into(),
        ]);
        assert_eq!(
            events,
            [
                LlmEvent::TextDelta("Hello".into()),
                LlmEvent::TextDelta(" there.".into()),
                LlmEvent::Finished(FinishReason::Stop),
            ]
        );
    }

    #[test]
    fn parallel_tool_calls_assemble_by_index_across_chunks() {
        let events = run(&[
            chunk(
                r#"{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"find_available_slots","arguments":""}}]}"#,
                None,
            ),
            chunk(
                r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"service\":\"Oil"}}]}"#,
                None,
            ),
            chunk(
                r#"{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"business_info","arguments":"{}"}}]}"#,
                None,
            ),
            chunk(
                r#"{"tool_calls":[{"index":0,"function":{"arguments":" change\",\"date\":\"Tuesday\"}"}}]}"#,
                None,
            ),
            chunk("{}", Some("tool_calls")),
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150}}"#.into(),
            "[DONE]".into(),
        ]);
        let LlmEvent::ToolCalls(calls) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].id, "call_a");
        assert_eq!(calls[0].name, "find_available_slots");
        let Ok(ToolRequest::Crm(CrmRequest::FindAvailableSlots(args))) = &calls[0].request else {
            panic!("{calls:?}")
        };
        assert_eq!(
            (args.service.as_str(), args.date.as_str()),
            ("Oil change", "Tuesday")
        );
        assert_eq!(calls[1].name, "business_info");
        assert!(matches!(
            calls[1].request,
            Ok(ToolRequest::Crm(CrmRequest::BusinessInfo))
        ));
        assert_eq!(events[1], LlmEvent::Finished(FinishReason::ToolCalls));
        assert_eq!(
            events[2],
            LlmEvent::Usage(Usage {
                prompt_tokens: 120,
                completion_tokens: 30
            })
        );
    }

    #[test]
    fn invalid_arguments_are_reported_per_call_not_as_a_stream_failure() {
        let events = run(&[
            chunk(
                r#"{"tool_calls":[{"index":0,"id":"c1","function":{"name":"book_appointment","arguments":"{\"start\": 2026-"}}]}"#,
                None,
            ),
            chunk(
                r#"{"tool_calls":[{"index":1,"id":"c2","function":{"name":"list_services","arguments":"[1,2]"}}]}"#,
                None,
            ),
            chunk(
                r#"{"tool_calls":[{"index":2,"function":{"arguments":"{}"}}]}"#,
                None,
            ),
            chunk("{}", Some("tool_calls")),
        ]);
        let LlmEvent::ToolCalls(calls) = &events[0] else {
            panic!("{events:?}")
        };
        let code = |i: usize| calls[i].request.as_ref().map_err(|e| e.code()).unwrap_err();
        assert_eq!(code(0), "invalid_arguments");
        assert_eq!(calls[0].raw_arguments, "{\"start\": 2026-");
        assert_eq!(code(1), "invalid_arguments");
        assert_eq!(
            calls[2].request.as_ref().unwrap_err(),
            &ToolCallError::NoName
        );
        assert_eq!(calls[2].id, "call_2");
    }

    #[test]
    fn servers_that_finish_tool_calls_with_stop_or_never_finish_still_deliver_them() {
        let events = run(&[
            chunk(
                r#"{"tool_calls":[{"id":"x","function":{"name":"business_info","arguments":"{}"}}]}"#,
                None,
            ),
            chunk("{}", Some("stop")),
        ]);
        assert!(matches!(&events[0], LlmEvent::ToolCalls(c) if c[0].name == "business_info"));
        assert_eq!(events[1], LlmEvent::Finished(FinishReason::ToolCalls));

        let events = run(&[chunk(r#"{"content":"Hi"}"#, None), "[DONE]".into()]);
        assert_eq!(events.last(), Some(&LlmEvent::Finished(FinishReason::Stop)));
    }

    #[test]
    fn malformed_chunks_and_in_band_errors_are_errors() {
        let mut a = CompletionAssembler::default();
        assert!(matches!(
            a.push("{not json"),
            Err(ProviderError::Protocol(_))
        ));
        assert!(matches!(
            a.push(r#"{"error":{"message":"model overloaded","type":"server_error"}}"#),
            Err(ProviderError::Upstream(m)) if m == "model overloaded"
        ));
        let huge = format!(
            r#"{{"choices":[{{"delta":{{"tool_calls":[{{"index":0,"id":"c","function":{{"name":"n","arguments":"{}"}}}}]}}}}]}}"#,
            "x".repeat(MAX_ARGUMENTS + 1)
        );
        assert!(matches!(a.push(&huge), Err(ProviderError::Protocol(_))));
    }
}
