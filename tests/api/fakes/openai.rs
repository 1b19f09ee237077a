//! A fake OpenAI chat-completions server: `POST /v1/chat/completions` with `stream: true`
//! answers `text/event-stream` chunks shaped like OpenAI's (`chat.completion.chunk`, one
//! choice, `delta`, `finish_reason`, a final usage chunk, `data: [DONE]`); scripted failures
//! (status codes with OpenAI's error body, slow first token, a connection cut mid-stream).
//! Requests are validated as OpenAI validates them: auth, JSON body, roles, a `tool` message
//! only in answer to a preceding assistant `tool_calls` id.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What the next request gets.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An SSE stream of these `data:` payloads (then `[DONE]` unless `cut`).
    Stream {
        /// Chunk payloads (JSON text).
        chunks: Vec<String>,
        /// Wait before the first chunk.
        first_delay: Duration,
        /// Wait between chunks.
        gap: Duration,
        /// Abort the connection after this many chunks.
        cut_after: Option<usize>,
    },
    /// An error status with OpenAI's error body.
    Status {
        /// Status code.
        code: u16,
        /// `Retry-After`, if any.
        retry_after: Option<&'static str>,
    },
}

impl Reply {
    /// A prompt stream of `chunks`.
    pub fn stream(chunks: Vec<String>) -> Self {
        Reply::Stream {
            chunks,
            first_delay: Duration::ZERO,
            gap: Duration::ZERO,
            cut_after: None,
        }
    }
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Headers.
    pub headers: HeaderMap,
    /// JSON body.
    pub body: Value,
}

#[derive(Clone, Default)]
struct Shared {
    script: Arc<Mutex<VecDeque<Reply>>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    key: Option<String>,
    /// Streams whose client went away before the end.
    abandoned: Arc<Mutex<u32>>,
}

/// The running fake.
pub struct FakeOpenAi {
    /// Base URL (no `/v1`).
    pub base_url: String,
    shared: Shared,
}

impl FakeOpenAi {
    /// Starts a fake that wants `Authorization: Bearer <key>` when `key` is set.
    pub async fn start(key: Option<&str>) -> Self {
        let shared = Shared {
            key: key.map(str::to_string),
            ..Shared::default()
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(shared.clone());
        let port = super::serve(app).await;
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            shared,
        }
    }

    /// Queues replies, answered in order.
    pub fn push(&self, reply: Reply) {
        self.shared.script.lock().unwrap().push_back(reply);
    }

    /// Forgets the replies not yet given.
    #[allow(dead_code)] // For the fault probes (benches/faults), between cases.
    pub fn clear(&self) {
        self.shared.script.lock().unwrap().clear();
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many streams lost their client before finishing.
    pub fn abandoned(&self) -> u32 {
        *self.shared.abandoned.lock().unwrap()
    }
}

fn error(code: u16, message: &str, kind: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(code).unwrap(),
        axum::Json(json!({
            "error": { "message": message, "type": kind, "param": null, "code": null }
        })),
    )
        .into_response();
    r.headers_mut()
        .insert("x-request-id", "req_fake".parse().unwrap());
    r
}

/// What OpenAI refuses with 400.
fn validate(body: &Value) -> Result<(), String> {
    if !body["model"].is_string() {
        return Err("you must provide a model parameter".into());
    }
    let messages = body["messages"]
        .as_array()
        .ok_or("messages must be an array")?;
    if messages.is_empty() {
        return Err("messages must not be empty".into());
    }
    let mut open_calls: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        match m["role"].as_str() {
            Some("system" | "user") if m["content"].is_string() => open_calls.clear(),
            Some("assistant") => {
                open_calls = m["tool_calls"]
                    .as_array()
                    .map(|calls| {
                        calls
                            .iter()
                            .filter_map(|c| {
                                let ok = c["type"] == "function"
                                    && c["function"]["name"].is_string()
                                    && c["function"]["arguments"].is_string();
                                ok.then(|| c["id"].as_str().map(str::to_string)).flatten()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if !m["content"].is_string() && open_calls.is_empty() {
                    return Err(format!(
                        "messages[{i}]: assistant needs content or tool_calls"
                    ));
                }
            }
            Some("tool") => {
                let id = m["tool_call_id"].as_str().unwrap_or_default();
                if !open_calls.iter().any(|c| c == id) {
                    return Err(format!(
                        "messages[{i}]: messages with role 'tool' must be a response to a preceding message with 'tool_calls'"
                    ));
                }
            }
            _ => return Err(format!("messages[{i}]: invalid role or content")),
        }
    }
    if let Some(tools) = body.get("tools") {
        for t in tools.as_array().ok_or("tools must be an array")? {
            if t["type"] != "function" || !t["function"]["name"].is_string() {
                return Err("tools[].function.name is required".into());
            }
            if !t["function"]["parameters"].is_object() {
                return Err("tools[].function.parameters must be an object".into());
            }
        }
    }
    Ok(())
}

async fn completions(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(key) = &shared.key {
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if presented != format!("Bearer {key}") {
            return error(401, "Incorrect API key provided", "invalid_request_error");
        }
    }
    let Ok(json_body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            400,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
        );
    };
    shared.requests.lock().unwrap().push(Recorded {
        headers: headers.clone(),
        body: json_body.clone(),
    });
    if let Err(m) = validate(&json_body) {
        return error(400, &m, "invalid_request_error");
    }
    if json_body["stream"] != true {
        return error(
            400,
            "this fake serves streaming completions only",
            "invalid_request_error",
        );
    }
    let reply = shared
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Reply::Status {
            code: 500,
            retry_after: None,
        });
    match reply {
        Reply::Status { code, retry_after } => {
            let mut r = error(
                code,
                "The server had an error while processing your request.",
                "server_error",
            );
            if let Some(ra) = retry_after {
                r.headers_mut().insert("retry-after", ra.parse().unwrap());
            }
            r
        }
        Reply::Stream {
            chunks,
            first_delay,
            gap,
            cut_after,
        } => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
            let abandoned = shared.abandoned.clone();
            tokio::spawn(async move {
                tokio::time::sleep(first_delay).await;
                for (i, c) in chunks.iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(gap).await;
                    }
                    if cut_after == Some(i) {
                        // What was sent has been flushed by now; then the connection dies.
                        let _ = tx
                            .send(Err(std::io::Error::other("connection reset")))
                            .await;
                        return;
                    }
                    if tx
                        .send(Ok(Bytes::from(format!("data: {c}\n\n"))))
                        .await
                        .is_err()
                    {
                        *abandoned.lock().unwrap() += 1;
                        return;
                    }
                }
                let _ = tx.send(Ok(Bytes::from_static(b"data: [DONE]\n\n"))).await;
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            Response::builder()
                .header("content-type", "text/event-stream; charset=utf-8")
                .header("cache-control", "no-cache")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

/// `chat.completion.chunk` with one choice.
pub fn chunk(delta: Value, finish_reason: Option<&str>) -> String {
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_763_800_000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_fake",
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
    })
    .to_string()
}

/// The usage chunk sent last with `stream_options.include_usage`.
pub fn usage_chunk(prompt: u64, completion: u64) -> String {
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_763_800_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [],
        "usage": { "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion },
    })
    .to_string()
}

/// A spoken answer in a few deltas.
pub fn text_reply(parts: &[&str]) -> Vec<String> {
    let mut out = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    out.extend(parts.iter().map(|p| chunk(json!({ "content": p }), None)));
    out.push(chunk(json!({}), Some("stop")));
    out.push(usage_chunk(50, parts.len() as u64));
    out
}

/// One tool call whose arguments arrive in `pieces`.
pub fn tool_call_reply(id: &str, name: &str, pieces: &[&str]) -> Vec<String> {
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}
        ]}),
        None,
    )];
    out.extend(pieces.iter().map(|p| {
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
            None,
        )
    }));
    out.push(chunk(json!({}), Some("tool_calls")));
    out.push(usage_chunk(80, 20));
    out
}

/// Spoken text followed by one tool call in the same answer (a goodbye and `end_call`).
pub fn text_then_tool_reply(text: &str, id: &str, name: &str, arguments: &str) -> Vec<String> {
    let mut out = vec![
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({ "content": text }), None),
    ];
    out.push(chunk(
        json!({"tool_calls": [
            {"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": arguments}}
        ]}),
        None,
    ));
    out.push(chunk(json!({}), Some("tool_calls")));
    out.push(usage_chunk(90, 12));
    out
}
