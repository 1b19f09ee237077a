//! Deepgram's REST `/v1/speak` behind the same streaming interface, as the fallback when the
//! WebSocket will not open: text spoken before a flush becomes one request whose audio is
//! streamed back as it arrives (raw, `container=none`); requests run one after another, so
//! audio stays in order; `Clear` drops the request in flight and the queue.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use reqwest::header;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::deepgram::DeepgramTtsConfig;
use super::deepgram_wire::rest_url;
use super::{TextToSpeech, TtsCommand, TtsEvent, TtsStream};
use crate::audio::AudioFormat;
use crate::providers::{Deadline, ProviderError, ProviderHealth, ProviderKind};

const NAME: &str = "deepgram-rest";

/// The REST client.
#[derive(Debug, Clone)]
pub struct DeepgramSpeakRest {
    http: reqwest::Client,
    config: Arc<DeepgramTtsConfig>,
    health: ProviderHealth,
}

impl DeepgramSpeakRest {
    /// A client for `config` (its `url` is the REST endpoint), reporting to `health`.
    pub fn new(config: DeepgramTtsConfig, health: ProviderHealth) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ProviderError::Connect(e.to_string()))?;
        health.register(ProviderKind::Tts, NAME);
        Ok(Self {
            http,
            config: Arc::new(config),
            health,
        })
    }
}

type AudioBody = Pin<Box<dyn Stream<Item = Result<Vec<u8>, ProviderError>> + Send>>;

impl DeepgramSpeakRest {
    /// One request's audio as a stream; the first item is bounded by the first-audio deadline.
    fn fetch(&self, text: String) -> AudioBody {
        let config = self.config.clone();
        let http = self.http.clone();
        let start = async move {
            let url = rest_url(&config.url, &config.model, config.format)?;
            let mut request = http
                .post(url)
                .header(header::CONTENT_TYPE, "application/json")
                .body(json!({ "text": text }).to_string());
            if let Some(key) = &config.api_key {
                request = request.header(header::AUTHORIZATION, format!("Token {}", key.expose()));
            }
            // The deadline covers the first audio byte, not just the response headers.
            let deadline = Instant::now() + config.first_audio_timeout;
            let late = || ProviderError::Timeout(Deadline::FirstResult, config.first_audio_timeout);
            let response = tokio::time::timeout_at(deadline, request.send())
                .await
                .map_err(|_| late())?
                .map_err(|e| ProviderError::Connect(e.to_string()))?;
            if !response.status().is_success() {
                let status = response.status().as_u16();
                return Err(ProviderError::from_status(
                    status,
                    &response.text().await.unwrap_or_default(),
                ));
            }
            let mut body = response.bytes_stream();
            let first = tokio::time::timeout_at(deadline, body.next())
                .await
                .map_err(|_| late())?;
            Ok((first, body))
        };
        let cut = |e: reqwest::Error| ProviderError::Cut(e.to_string());
        Box::pin(
            futures_util::stream::once(start)
                .map(move |started| match started {
                    Ok((first, body)) => futures_util::stream::iter(first)
                        .chain(body)
                        .map(move |chunk| chunk.map(|b| b.to_vec()).map_err(cut))
                        .left_stream(),
                    Err(e) => futures_util::stream::once(async move { Err(e) }).right_stream(),
                })
                .flatten(),
        )
    }
}

impl TextToSpeech for DeepgramSpeakRest {
    fn name(&self) -> &'static str {
        NAME
    }

    fn format(&self) -> AudioFormat {
        self.config.format
    }

    fn open(&self) -> TtsStream {
        let (cmd_tx, cmd_rx) = mpsc::channel(super::COMMAND_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(256);
        let client = self.clone();
        let task = tokio::spawn(client.run(cmd_rx, ev_tx));
        TtsStream::new(self.config.format, cmd_tx, ev_rx, task)
    }
}

impl DeepgramSpeakRest {
    async fn run(self, mut commands: mpsc::Receiver<TtsCommand>, events: mpsc::Sender<TtsEvent>) {
        self.health.request(ProviderKind::Tts, NAME);
        let mut text = String::new();
        let mut queue: VecDeque<(u64, String)> = VecDeque::new();
        let mut current: Option<(u64, AudioBody, Instant, bool)> = None;
        let mut next_seq = 0u64;
        let mut closing = false;
        loop {
            if current.is_none()
                && let Some((seq, t)) = queue.pop_front()
            {
                if t.trim().is_empty() {
                    // Nothing to say: flushed at once (Deepgram refuses empty text).
                    if events
                        .send(TtsEvent::Flushed { sequence_id: seq })
                        .await
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
                current = Some((seq, self.fetch(t), Instant::now(), false));
            }
            if closing && current.is_none() && queue.is_empty() {
                let _ = events.send(TtsEvent::Closed).await;
                return;
            }
            tokio::select! {
                command = commands.recv(), if !closing => match command {
                    Some(TtsCommand::Speak(t)) => text.push_str(&t),
                    Some(TtsCommand::Flush) => {
                        queue.push_back((next_seq, std::mem::take(&mut text)));
                        next_seq += 1;
                    }
                    Some(TtsCommand::Clear) => {
                        text.clear();
                        queue.clear();
                        current = None; // drops the request in flight
                        if events.send(TtsEvent::Cleared).await.is_err() {
                            return;
                        }
                    }
                    Some(TtsCommand::Close) | None => {
                        if !text.trim().is_empty() {
                            queue.push_back((next_seq, std::mem::take(&mut text)));
                            next_seq += 1;
                        }
                        closing = true;
                    }
                },
                chunk = async {
                    match current.as_mut() {
                        Some((_, body, _, _)) => body.next().await,
                        None => std::future::pending().await,
                    }
                }, if current.is_some() => {
                    let Some((seq, _, started, got_audio)) = current.as_mut() else { continue };
                    let event = match chunk {
                        Some(Ok(audio)) => {
                            if !*got_audio {
                                *got_audio = true;
                                self.health.first_result(ProviderKind::Tts, NAME, started.elapsed());
                            }
                            TtsEvent::Audio(audio)
                        }
                        Some(Err(e)) => {
                            self.health.error(ProviderKind::Tts, NAME, &e);
                            let _ = events.send(TtsEvent::Error(e)).await;
                            return;
                        }
                        None => {
                            let done = TtsEvent::Flushed { sequence_id: *seq };
                            current = None;
                            done
                        }
                    };
                    if events.send(event).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
