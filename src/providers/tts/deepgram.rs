//! Deepgram Aura streaming text-to-speech over a WebSocket: `Speak` as text arrives, `Flush`
//! within the 20-a-minute budget (a flush over budget waits for a slot and absorbs later
//! ones), `Clear` on barge-in, `Close` at the end. Asking for mu-law 8 kHz gives audio the
//! carrier takes untouched; asking for linear16 (24 kHz is Deepgram's default) gives PCM that
//! the caller resamples.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use super::deepgram_wire::{
    CLEAR, CLOSE, FLUSH, FLUSH_WINDOW, FLUSHES_PER_WINDOW, FlushBudget, parse, speak_messages,
    stream_url,
};
use super::{TextToSpeech, TtsCommand, TtsEvent, TtsStream};
use crate::audio::AudioFormat;
use crate::config::Secret;
use crate::providers::ws::{Socket, connect};
use crate::providers::{Deadline, ProviderError, ProviderHealth, ProviderKind};

/// How the clients reach Deepgram's speech endpoints and what they ask for.
#[derive(Debug, Clone)]
pub struct DeepgramTtsConfig {
    /// `wss://api.deepgram.com/v1/speak` (streaming) or `https://...` (REST).
    pub url: Url,
    /// API key.
    pub api_key: Option<Secret>,
    /// Voice, e.g. `aura-2-thalia-en`.
    pub model: String,
    /// Audio wanted.
    pub format: AudioFormat,
    /// Opening the connection.
    pub connect_timeout: Duration,
    /// From a flush (or request) to its first audio.
    pub first_audio_timeout: Duration,
    /// Flush budget (Deepgram's: 20 per 60 s).
    pub flushes_per_window: usize,
    /// Flush budget window.
    pub flush_window: Duration,
    /// After `Close`, how long to wait for the server to finish.
    pub close_timeout: Duration,
}

impl DeepgramTtsConfig {
    /// Defaults for `url`, `api_key` and `format`.
    pub fn new(url: Url, api_key: Option<Secret>, format: AudioFormat) -> Self {
        Self {
            url,
            api_key,
            model: "aura-2-thalia-en".into(),
            format,
            connect_timeout: Duration::from_secs(3),
            first_audio_timeout: Duration::from_secs(3),
            flushes_per_window: FLUSHES_PER_WINDOW,
            flush_window: FLUSH_WINDOW,
            close_timeout: Duration::from_secs(2),
        }
    }
}

const NAME: &str = "deepgram";

/// The streaming client.
#[derive(Debug, Clone)]
pub struct DeepgramTts {
    config: Arc<DeepgramTtsConfig>,
    health: ProviderHealth,
}

impl DeepgramTts {
    /// A client for `config`, reporting to `health`.
    pub fn new(config: DeepgramTtsConfig, health: ProviderHealth) -> Self {
        health.register(ProviderKind::Tts, NAME);
        Self {
            config: Arc::new(config),
            health,
        }
    }
}

impl TextToSpeech for DeepgramTts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn format(&self) -> AudioFormat {
        self.config.format
    }

    fn open(&self) -> TtsStream {
        let (cmd_tx, cmd_rx) = mpsc::channel(super::COMMAND_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(256);
        let session = Session {
            budget: FlushBudget::new(self.config.flushes_per_window, self.config.flush_window),
            config: self.config.clone(),
            health: self.health.clone(),
            commands: cmd_rx,
            events: ev_tx,
            pending_flush: None,
            awaiting_audio: None,
            closing: None,
            first_audio: false,
            flushes_asked: 0,
            flushes_sent: VecDeque::new(),
            clearing: false,
        };
        let task = tokio::spawn(session.run());
        TtsStream::new(self.config.format, cmd_tx, ev_rx, task)
    }
}

struct Session {
    config: Arc<DeepgramTtsConfig>,
    health: ProviderHealth,
    commands: mpsc::Receiver<TtsCommand>,
    events: mpsc::Sender<TtsEvent>,
    budget: FlushBudget,
    /// A flush waiting for budget.
    pending_flush: Option<Instant>,
    /// Since when a flush waits for its first audio.
    awaiting_audio: Option<Instant>,
    /// After `Close`: until when to wait.
    closing: Option<Instant>,
    first_audio: bool,
    /// `Flush` commands received.
    flushes_asked: u64,
    /// Per flush sent and not yet confirmed: the last asked flush it covers. Deepgram's own
    /// `sequence_id` counts the flushes it got, which differ from ours once flushes merge.
    flushes_sent: VecDeque<u64>,
    /// A Clear was sent and its Cleared has not come back.
    clearing: bool,
}

/// Nothing more to do: the stream ended (reported) or nobody listens.
struct Stop;

impl Session {
    async fn run(mut self) {
        self.health.request(ProviderKind::Tts, NAME);
        let url = match stream_url(&self.config.url, &self.config.model, self.config.format) {
            Ok(u) => u,
            Err(e) => return self.fail(e).await,
        };
        let mut socket = match connect(
            &url,
            self.config.api_key.as_ref(),
            self.config.connect_timeout,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => return self.fail(e).await,
        };
        while self.step(&mut socket).await.is_ok() {}
    }

    async fn fail(&mut self, e: ProviderError) {
        tracing::warn!(error = %e, "text-to-speech stream failed");
        self.health.error(ProviderKind::Tts, NAME, &e);
        let _ = self.events.send(TtsEvent::Error(e)).await;
    }

    async fn emit(&mut self, e: TtsEvent) -> Result<(), Stop> {
        self.events.send(e).await.map_err(|_| Stop)
    }

    async fn send(&mut self, socket: &mut Socket, text: &str) -> Result<(), Stop> {
        if let Err(e) = socket.send(Message::text(text)).await {
            self.fail(ProviderError::Cut(e.to_string())).await;
            return Err(Stop);
        }
        Ok(())
    }

    async fn flush_now(&mut self, socket: &mut Socket) -> Result<(), Stop> {
        let now = Instant::now();
        self.send(socket, FLUSH).await?;
        self.flushes_sent
            .push_back(self.flushes_asked.saturating_sub(1));
        self.budget.record(now.into_std());
        self.pending_flush = None;
        self.awaiting_audio.get_or_insert(now);
        Ok(())
    }

    async fn step(&mut self, socket: &mut Socket) -> Result<(), Stop> {
        let pending = self.pending_flush;
        let awaiting = self
            .awaiting_audio
            .map(|t| t + self.config.first_audio_timeout);
        let closing = self.closing;
        tokio::select! {
            biased;
            frame = socket.next() => match frame {
                Some(Ok(Message::Binary(audio))) => {
                    if let Some(since) = self.awaiting_audio.take()
                        && !self.first_audio
                    {
                        self.first_audio = true;
                        self.health.first_result(ProviderKind::Tts, NAME, since.elapsed());
                    }
                    self.emit(TtsEvent::Audio(audio.to_vec())).await
                }
                Some(Ok(Message::Text(text))) => match parse(&text) {
                    Ok(Some(mut e)) => {
                        match e {
                            TtsEvent::Flushed { .. } => {
                                self.awaiting_audio = None;
                                // Reported in our numbering. Deepgram answers in order, so
                                // one arriving between our Clear and its Cleared confirms a
                                // flush the Clear dropped.
                                if self.clearing {
                                    return Ok(());
                                }
                                match self.flushes_sent.pop_front() {
                                    Some(sequence_id) => e = TtsEvent::Flushed { sequence_id },
                                    None => return Ok(()),
                                }
                            }
                            TtsEvent::Cleared => self.clearing = false,
                            _ => {}
                        }
                        if let TtsEvent::Warning(w) = &e {
                            tracing::warn!(warning = %w, "Deepgram TTS warning");
                        }
                        self.emit(e).await
                    }
                    Ok(None) => Ok(()),
                    Err(e @ ProviderError::Upstream(_)) => {
                        self.fail(e).await;
                        Err(Stop)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "ignoring a Deepgram TTS message");
                        Ok(())
                    }
                },
                Some(Ok(Message::Close(_))) | None if self.closing.is_some() => {
                    let _ = self.emit(TtsEvent::Closed).await;
                    Err(Stop)
                }
                Some(Ok(Message::Close(_))) | None => {
                    self.fail(ProviderError::Cut("the speech socket closed".into())).await;
                    Err(Stop)
                }
                Some(Err(e)) => {
                    self.fail(ProviderError::Cut(e.to_string())).await;
                    Err(Stop)
                }
                Some(Ok(_)) => Ok(()),
            },
            command = self.commands.recv(), if self.closing.is_none() => match command {
                Some(TtsCommand::Speak(text)) => {
                    for m in speak_messages(&text) {
                        self.send(socket, &m).await?;
                    }
                    Ok(())
                }
                Some(TtsCommand::Flush) => {
                    self.flushes_asked += 1;
                    if self.pending_flush.is_some() {
                        return Ok(()); // the waiting flush will cover this text too
                    }
                    let now = Instant::now();
                    let slot = Instant::from_std(self.budget.next_slot(now.into_std()));
                    if slot <= now {
                        self.flush_now(socket).await
                    } else {
                        metrics::counter!(crate::telemetry::TTS_FLUSHES_DEFERRED, "provider" => NAME).increment(1);
                        self.pending_flush = Some(slot);
                        Ok(())
                    }
                }
                Some(TtsCommand::Clear) => {
                    self.pending_flush = None;
                    self.flushes_sent.clear();
                    self.clearing = true;
                    self.awaiting_audio = None;
                    self.send(socket, CLEAR).await
                }
                Some(TtsCommand::Close) | None => {
                    if self.pending_flush.is_some() {
                        self.flush_now(socket).await?;
                    }
                    self.send(socket, CLOSE).await?;
                    self.closing = Some(Instant::now() + self.config.close_timeout);
                    Ok(())
                }
            },
            _ = tokio::time::sleep_until(pending.unwrap_or_else(Instant::now)), if pending.is_some() => {
                self.flush_now(socket).await
            }
            _ = tokio::time::sleep_until(awaiting.unwrap_or_else(Instant::now)), if awaiting.is_some() => {
                self.fail(ProviderError::Timeout(Deadline::FirstResult, self.config.first_audio_timeout)).await;
                Err(Stop)
            }
            _ = tokio::time::sleep_until(closing.unwrap_or_else(Instant::now)), if closing.is_some() => {
                let _ = self.emit(TtsEvent::Closed).await;
                Err(Stop)
            }
        }
    }
}
