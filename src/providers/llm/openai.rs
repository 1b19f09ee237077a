//! OpenAI-compatible chat completions over SSE (OpenAI, Groq, vLLM, llama.cpp server, Ollama:
//! base URL, model and key are settings).
//!
//! Written on reqwest with our own SSE decoder and chunk assembler rather than async-openai:
//! that crate pins its own reqwest and type tree (a second HTTP stack to build on a 2-core
//! machine), and its strict types reject the small deviations of local servers that
//! [`super::assemble`] tolerates on purpose. What we need of the API is one streamed endpoint.
//!
//! Deadlines: connect (`PROVIDER_CONNECT_TIMEOUT_MS`), first token
//! (`LLM_FIRST_TOKEN_TIMEOUT_MS`, per attempt) and total (`PROVIDER_TIMEOUT_MS`). Failures
//! before the first token (429, 5xx, connection errors, first-token timeout) are retried with
//! backoff up to `LLM_MAX_RETRIES` times; after it, never.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use reqwest::header;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use url::Url;

use super::assemble::CompletionAssembler;
use super::sse::SseDecoder;
use super::{CompletionRequest, LanguageModel, LlmEvent, LlmStream};
use crate::config::{ProviderSettings, Secret};
use crate::providers::{Deadline, ProviderError, ProviderHealth, ProviderKind};

/// How the client reaches its server.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Its name in logs, metrics and `/readyz` (`openai`, `openai-fallback`).
    pub name: &'static str,
    /// Origin (and optional path prefix) of the API, without `/v1`.
    pub base_url: Url,
    /// Bearer key; local servers need none.
    pub api_key: Option<Secret>,
    /// Model name.
    pub model: String,
    /// Opening a connection.
    pub connect_timeout: Duration,
    /// From request to first token, per attempt.
    pub first_token_timeout: Duration,
    /// The whole completion, retries included.
    pub total_timeout: Duration,
    /// Retries before the first token.
    pub max_retries: u32,
    /// Cap on answer tokens.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
}

impl OpenAiConfig {
    /// From the provider settings.
    pub fn from_settings(p: &ProviderSettings) -> Self {
        Self {
            name: NAME,
            base_url: p.openai_base_url.clone(),
            api_key: p.openai_api_key.clone(),
            model: p.openai_model.clone(),
            connect_timeout: p.connect_timeout,
            first_token_timeout: p.llm_first_token_timeout,
            total_timeout: p.request_timeout,
            max_retries: p.llm_max_retries,
            max_tokens: p.llm_max_tokens,
            temperature: p.llm_temperature,
        }
    }

    /// The fallback server's config: the primary's deadlines and limits, its own endpoint.
    pub fn fallback(p: &ProviderSettings) -> Option<Self> {
        let f = p.llm_fallback.as_ref()?;
        Some(Self {
            name: "openai-fallback",
            base_url: f.base_url.clone(),
            api_key: f.api_key.clone(),
            model: f.model.clone(),
            ..Self::from_settings(p)
        })
    }

    /// `{base}/v1/{path}`; a base already ending in `/v1` is not doubled.
    pub fn endpoint(&self, path: &str) -> Url {
        let mut base = self.base_url.as_str().trim_end_matches('/').to_string();
        if !base.ends_with("/v1") {
            base.push_str("/v1");
        }
        Url::parse(&format!("{base}/{path}")).unwrap_or_else(|_| self.base_url.clone())
    }

    /// The request body for `request`, serialised (the tools' JSON is spliced in as built
    /// once, see [`super::OfferedTools`]).
    pub fn body_bytes(&self, request: &CompletionRequest) -> Result<Vec<u8>, serde_json::Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            model: &'a str,
            messages: Vec<Value>,
            stream: bool,
            stream_options: Value,
            max_tokens: u32,
            temperature: f32,
            #[serde(skip_serializing_if = "Option::is_none")]
            tools: Option<&'a RawValue>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tool_choice: Option<&'static str>,
        }
        let tools = request.tools.json();
        serde_json::to_vec(&Body {
            model: &self.model,
            messages: request
                .messages
                .iter()
                .map(super::ChatMessage::to_json)
                .collect(),
            stream: true,
            stream_options: json!({ "include_usage": true }),
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            tools,
            tool_choice: tools.map(|_| "auto"),
        })
    }

    /// The request body for `request`, as JSON (for inspection; requests send
    /// [`OpenAiConfig::body_bytes`]).
    pub fn body(&self, request: &CompletionRequest) -> Value {
        self.body_bytes(request)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    }
}

/// The client. Cheap to clone; one connection pool per process.
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    http: reqwest::Client,
    config: Arc<OpenAiConfig>,
    health: ProviderHealth,
}

const NAME: &str = "openai";

impl OpenAiChat {
    /// A client for `config`, reporting to `health`.
    pub fn new(config: OpenAiConfig, health: ProviderHealth) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ProviderError::Connect(e.to_string()))?;
        health.register(ProviderKind::Llm, config.name);
        Ok(Self {
            http,
            config: Arc::new(config),
            health,
        })
    }

    fn authorised(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.config.api_key {
            Some(key) => r.bearer_auth(key.expose()),
            None => r,
        }
    }
}

impl LanguageModel for OpenAiChat {
    fn name(&self) -> &'static str {
        self.config.name
    }

    fn stream(&self, request: CompletionRequest) -> LlmStream {
        let (tx, rx) = mpsc::channel(64);
        let client = self.clone();
        let task = tokio::spawn(async move { client.run(request, tx).await });
        LlmStream::new(rx, task)
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async move {
            let r = self
                .authorised(self.http.get(self.config.endpoint("models")))
                .timeout(self.config.connect_timeout + self.config.first_token_timeout)
                .send()
                .await
                .map_err(|e| ProviderError::Connect(e.to_string()))?;
            if r.status().is_success() {
                Ok(())
            } else {
                let status = r.status().as_u16();
                Err(ProviderError::from_status(
                    status,
                    &r.text().await.unwrap_or_default(),
                ))
            }
        })
    }
}

/// How one attempt ended.
enum Attempt {
    /// Completed, or the listener went away.
    Done,
    /// Failed; `delivered` says whether any output reached the listener.
    Failed {
        error: ProviderError,
        delivered: bool,
        retry_after: Option<Duration>,
    },
}

fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

impl OpenAiChat {
    async fn run(self, request: CompletionRequest, tx: mpsc::Sender<LlmEvent>) {
        // Serialised once, compact, for every attempt: the JSON tree of a whole conversation
        // and the tool schemas is several times larger and would be held for the stream.
        let body: Vec<u8> = match self.config.body_bytes(&request) {
            Ok(b) => b,
            Err(e) => {
                let _ = tx
                    .send(LlmEvent::Error(ProviderError::Protocol(e.to_string())))
                    .await;
                return;
            }
        };
        drop(request);
        let started = Instant::now();
        let total_deadline = started + self.config.total_timeout;
        self.health.request(ProviderKind::Llm, self.config.name);
        let mut attempt = 0u32;
        loop {
            let outcome = self.attempt(&body, &tx, started, total_deadline).await;
            let Attempt::Failed {
                error,
                delivered,
                retry_after,
            } = outcome
            else {
                return;
            };
            // 250 ms, 500 ms, 1 s ... capped at 2 s; a server's Retry-After is honoured when
            // it fits in that cap (a longer wait is as good as a failure on a phone call).
            let backoff = Duration::from_millis(250 << attempt.min(3)).min(Duration::from_secs(2));
            let wait = retry_after
                .filter(|r| *r <= Duration::from_secs(2))
                .map_or(backoff, |r| r.max(backoff));
            let retry = !delivered
                && error.is_retryable()
                && attempt < self.config.max_retries
                && Instant::now() + wait < total_deadline;
            self.health
                .error(ProviderKind::Llm, self.config.name, &error);
            if !retry {
                tracing::warn!(error = %error, attempts = attempt + 1, "LLM completion failed");
                let _ = tx.send(LlmEvent::Error(error)).await;
                return;
            }
            attempt += 1;
            tracing::info!(error = %error, attempt, "retrying LLM completion");
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        body: &[u8],
        tx: &mpsc::Sender<LlmEvent>,
        started: Instant,
        total_deadline: Instant,
    ) -> Attempt {
        let first_deadline = (Instant::now() + self.config.first_token_timeout).min(total_deadline);
        let failed = |error, delivered| Attempt::Failed {
            error,
            delivered,
            retry_after: None,
        };
        let timeout_error = |delivered: bool| {
            if delivered || first_deadline == total_deadline {
                ProviderError::Timeout(Deadline::Total, self.config.total_timeout)
            } else {
                ProviderError::Timeout(Deadline::FirstResult, self.config.first_token_timeout)
            }
        };
        let send = self
            .authorised(self.http.post(self.config.endpoint("chat/completions")))
            .header(header::ACCEPT, "text/event-stream")
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send();
        let response = match tokio::time::timeout_at(first_deadline, send).await {
            Err(_) => return failed(timeout_error(false), false),
            Ok(Err(e)) if e.is_connect() => {
                return failed(ProviderError::Connect(e.to_string()), false);
            }
            Ok(Err(e)) if e.is_timeout() => {
                return failed(
                    ProviderError::Timeout(Deadline::Connect, self.config.connect_timeout),
                    false,
                );
            }
            Ok(Err(e)) => return failed(ProviderError::Connect(e.to_string()), false),
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let text = tokio::time::timeout_at(first_deadline, response.text())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            return Attempt::Failed {
                error: ProviderError::from_status(status.as_u16(), &text),
                delivered: false,
                retry_after,
            };
        }
        let mut bytes = response.bytes_stream();
        let mut decoder = SseDecoder::new(1 << 20);
        let mut assembler = CompletionAssembler::default();
        loop {
            let delivered = assembler.has_output();
            let deadline = if delivered {
                total_deadline
            } else {
                first_deadline
            };
            let chunk = match tokio::time::timeout_at(deadline, bytes.next()).await {
                Err(_) => return failed(timeout_error(delivered), delivered),
                Ok(None) if assembler.is_finished() => return Attempt::Done,
                Ok(None) => {
                    return failed(
                        ProviderError::Cut("the connection closed mid-completion".into()),
                        delivered,
                    );
                }
                Ok(Some(Err(e))) => return failed(ProviderError::Cut(e.to_string()), delivered),
                Ok(Some(Ok(chunk))) => chunk,
            };
            let events = match decoder.feed(&chunk) {
                Ok(events) => events,
                Err(e) => return failed(ProviderError::Protocol(e.to_string()), delivered),
            };
            for event in events {
                let produced = match assembler.push(&event.data) {
                    Ok(p) => p,
                    Err(e) => return failed(e, assembler.has_output()),
                };
                if !delivered && assembler.has_output() {
                    self.health.first_result(
                        ProviderKind::Llm,
                        self.config.name,
                        started.elapsed(),
                    );
                }
                for e in produced {
                    if tx.send(e).await.is_err() {
                        return Attempt::Done; // nobody listens: the turn was cancelled
                    }
                }
            }
            if assembler.is_done() {
                return Attempt::Done;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::llm::ChatMessage;

    fn config(base: &str) -> OpenAiConfig {
        OpenAiConfig {
            base_url: Url::parse(base).unwrap(),
            api_key: None,
            name: "openai",
            model: "gpt-4o-mini".into(),
            connect_timeout: Duration::from_secs(1),
            first_token_timeout: Duration::from_secs(1),
            total_timeout: Duration::from_secs(5),
            max_retries: 2,
            max_tokens: 300,
            temperature: 0.3,
        }
    }

    #[test]
    fn endpoints_work_with_and_without_v1_and_path_prefixes() {
        for (base, want) in [
            (
                "https://api.openai.com",
                "https://api.openai.com/v1/chat/completions",
            ),
            (
                "https://api.openai.com/",
                "https://api.openai.com/v1/chat/completions",
            ),
            (
                "http://127.0.0.1:11434/v1",
                "http://127.0.0.1:11434/v1/chat/completions",
            ),
            (
                "https://api.groq.com/openai",
                "https://api.groq.com/openai/v1/chat/completions",
            ),
        ] {
            assert_eq!(config(base).endpoint("chat/completions").as_str(), want);
        }
    }

    #[test]
    fn the_body_streams_with_usage_and_offers_tools_only_when_there_are_some() {
        let c = config("https://api.openai.com");
        let mut req = CompletionRequest {
            messages: vec![ChatMessage::system("be brief"), ChatMessage::user("hi")],
            tools: Default::default(),
        };
        let body = c.body(&req);
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["messages"][1]["content"], "hi");
        assert!(body.get("tools").is_none());
        req.tools = crate::tools::definitions().into();
        let body = c.body(&req);
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tool_choice"], "auto");
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut h = header::HeaderMap::new();
        h.insert(header::RETRY_AFTER, "1.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert(
            header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
