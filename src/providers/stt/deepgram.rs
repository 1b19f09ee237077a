//! Deepgram live transcription client: one WebSocket per call (`Authorization: Token`), audio
//! sent as binary frames as it arrives (Twilio's mu-law 8 kHz untouched), `KeepAlive` when
//! no audio flows, `Finalize` on request, `CloseStream` at the end.
//!
//! When the socket drops mid-call, the client reconnects with bounded backoff and replays the
//! audio sent since the last final result ([`ReplayBuffer`]), so words spoken across the cut
//! are still transcribed; event times stay on one clock. After `max_reconnects` failed
//! attempts in a row it reports [`ProviderError::Down`] and stops.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use super::deepgram_wire::{
    CLOSE_STREAM, FINALIZE, KEEP_ALIVE, ListenOptions, ReplayBuffer, ServerMessage, listen_url,
    parse,
};
use super::{SpeechToText, SttControl, SttEvent, SttStream};
use crate::audio::AudioFormat;
use crate::config::Secret;
use crate::providers::ws::{Socket, connect};
use crate::providers::{Deadline, ProviderError, ProviderHealth, ProviderKind};

const NAME: &str = "deepgram";

/// Frames queued between the media path and the socket (1 s of 20 ms frames); more are
/// dropped and counted rather than waited for.
const AUDIO_QUEUE: usize = 50;

/// How the client reaches Deepgram and what it asks for.
#[derive(Debug, Clone)]
pub struct DeepgramSttConfig {
    /// `wss://api.deepgram.com/v1/listen` (a fake in tests).
    pub url: Url,
    /// API key.
    pub api_key: Option<Secret>,
    /// Query options.
    pub options: ListenOptions,
    /// Opening the socket.
    pub connect_timeout: Duration,
    /// A `KeepAlive` goes out when no audio was sent for this long (Deepgram closes an idle
    /// socket after about 10 s).
    pub keepalive_every: Duration,
    /// Reconnect attempts in a row before the provider is declared down.
    pub max_reconnects: u32,
    /// First backoff; doubled per attempt, capped at 2 s.
    pub reconnect_backoff: Duration,
    /// How much unfinalised audio is kept for replay. Deepgram finalises continuous speech
    /// every few seconds, so six seconds covers what a reconnect could lose; more would be
    /// silence while the agent talks, held in memory for every call (8 KB a second).
    pub replay_secs: u32,
    /// After `CloseStream`, how long to wait for the last results.
    pub close_timeout: Duration,
    /// Audio is sent in messages of at least this much (carriers deliver 20 ms frames; one
    /// WebSocket message each is most of a bridge's CPU; Deepgram takes 20 to 250 ms per
    /// message). `Finalize` and `Finish` send what is held first, so turn ends are not
    /// delayed.
    pub chunk: Duration,
}

impl DeepgramSttConfig {
    /// Defaults for `url` and `api_key`.
    pub fn new(url: Url, api_key: Option<Secret>) -> Self {
        Self {
            url,
            api_key,
            options: ListenOptions::default(),
            connect_timeout: Duration::from_secs(3),
            keepalive_every: Duration::from_secs(4),
            max_reconnects: 3,
            reconnect_backoff: Duration::from_millis(200),
            replay_secs: 6,
            close_timeout: Duration::from_secs(3),
            chunk: Duration::from_millis(100),
        }
    }
}

/// The client.
#[derive(Debug, Clone)]
pub struct DeepgramStt {
    config: Arc<DeepgramSttConfig>,
    health: ProviderHealth,
}

impl DeepgramStt {
    /// A client for `config`, reporting to `health`.
    pub fn new(config: DeepgramSttConfig, health: ProviderHealth) -> Self {
        health.register(ProviderKind::Stt, NAME);
        Self {
            config: Arc::new(config),
            health,
        }
    }
}

impl SpeechToText for DeepgramStt {
    fn name(&self) -> &'static str {
        NAME
    }

    fn open(&self, format: AudioFormat) -> SttStream {
        let (config, health) = (self.config.clone(), self.health.clone());
        SttStream::spawn(NAME, AUDIO_QUEUE, move |ends| {
            let chunk_bytes =
                format.bytes_per_ms().unwrap_or(0) * config.chunk.as_millis() as usize;
            let session = Session {
                buffer: ReplayBuffer::new(format, config.replay_secs),
                config,
                health,
                audio: ends.audio,
                control: ends.control,
                events: ends.events,
                started: Instant::now(),
                first_result: false,
                finishing: None,
                held: Vec::new(),
                held_since: None,
                chunk_bytes,
            };
            session.run(format)
        })
    }
}

/// How serving one connection ended.
enum Ended {
    /// Closed after `Finish`: the stream is over.
    Finished,
    /// Nobody listens any more.
    Abandoned,
    /// The connection failed; reconnect.
    Dropped(ProviderError),
}

struct Session {
    config: Arc<DeepgramSttConfig>,
    health: ProviderHealth,
    buffer: ReplayBuffer,
    audio: mpsc::Receiver<Vec<u8>>,
    control: mpsc::Receiver<SttControl>,
    events: mpsc::Sender<SttEvent>,
    started: Instant,
    first_result: bool,
    /// Set by `Finish`: when to stop waiting for the last results.
    finishing: Option<Instant>,
    /// Audio waiting to make up a chunk, and when its first byte came: it goes out after a
    /// chunk's time even if no more comes (carriers that suppress silence).
    held: Vec<u8>,
    held_since: Option<Instant>,
    /// A chunk's size in the stream's format.
    chunk_bytes: usize,
}

impl Session {
    async fn run(mut self, format: AudioFormat) {
        self.health.request(ProviderKind::Stt, NAME);
        let url = match listen_url(&self.config.url, &self.config.options, format) {
            Ok(u) => u,
            Err(e) => return self.fail(e).await,
        };
        let mut socket = match self.reconnect(&url, 0).await {
            Some(s) => s,
            None => return,
        };
        let mut attempt = 0;
        loop {
            match self.serve(&mut socket).await {
                Ended::Finished => {
                    let _ = self.events.send(SttEvent::Closed).await;
                    return;
                }
                Ended::Abandoned => return,
                Ended::Dropped(e) => {
                    tracing::warn!(error = %e, "speech-to-text connection dropped; reconnecting");
                    self.health.error(ProviderKind::Stt, NAME, &e);
                    attempt += 1;
                    if attempt > 3 * (self.config.max_reconnects + 1) {
                        // Connects but keeps dropping: as good as down.
                        return self
                            .fail(ProviderError::Down {
                                attempts: attempt,
                                last: e.to_string(),
                            })
                            .await;
                    }
                    socket = match self.reconnect(&url, attempt).await {
                        Some(s) => s,
                        None => return,
                    };
                    self.health.reconnect(ProviderKind::Stt, NAME);
                    let replay = self.buffer.reconnected();
                    for chunk in replay.chunks(3200) {
                        if socket.send(Message::binary(chunk.to_vec())).await.is_err() {
                            break; // the next serve() sees the failure and reconnects again
                        }
                    }
                    if self
                        .events
                        .send(SttEvent::Reconnected { attempt })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    }

    /// Connects, retrying with backoff; `None` (after reporting) when every attempt failed.
    async fn reconnect(&mut self, url: &Url, first_attempt: u32) -> Option<Socket> {
        let mut last = None;
        for n in 0..=self.config.max_reconnects {
            if n > 0 || first_attempt > 0 {
                let shift = (n + first_attempt).saturating_sub(1).min(4);
                let wait =
                    (self.config.reconnect_backoff * (1 << shift)).min(Duration::from_secs(2));
                tokio::time::sleep(wait).await;
            }
            match connect(
                url,
                self.config.api_key.as_ref(),
                self.config.connect_timeout,
            )
            .await
            {
                Ok(s) => return Some(s),
                Err(e @ ProviderError::Auth(_)) => {
                    self.fail(e).await;
                    return None;
                }
                // Not retried: the caller is talking meanwhile, and a handshake that took the
                // whole deadline will not be quicker the next time. The fallback hears them.
                Err(e @ ProviderError::Timeout(Deadline::Connect, _)) => {
                    self.fail(ProviderError::Down {
                        attempts: n + 1,
                        last: e.to_string(),
                    })
                    .await;
                    return None;
                }
                Err(e) => last = Some(e),
            }
        }
        let last = last.map_or_else(|| "unknown".to_string(), |e| e.to_string());
        self.fail(ProviderError::Down {
            attempts: self.config.max_reconnects + 1,
            last,
        })
        .await;
        None
    }

    async fn fail(&mut self, e: ProviderError) {
        tracing::warn!(error = %e, "speech-to-text stream failed");
        self.health.error(ProviderKind::Stt, NAME, &e);
        let _ = self.events.send(SttEvent::Error(e)).await;
    }

    async fn send(socket: &mut Socket, m: Message) -> Result<(), ProviderError> {
        socket
            .send(m)
            .await
            .map_err(|e| ProviderError::Cut(e.to_string()))
    }

    /// Sends the audio held back for a full chunk.
    async fn send_held(&mut self, socket: &mut Socket) -> Result<(), ProviderError> {
        if self.held.is_empty() {
            return Ok(());
        }
        let audio = std::mem::take(&mut self.held);
        self.held_since = None;
        self.buffer.sent(&audio);
        Self::send(socket, Message::binary(audio)).await
    }

    /// Sends everything pushed so far, held or queued.
    async fn send_queued(&mut self, socket: &mut Socket) -> Result<(), ProviderError> {
        while let Ok(more) = self.audio.try_recv() {
            self.held.extend_from_slice(&more);
        }
        self.send_held(socket).await
    }

    async fn serve(&mut self, socket: &mut Socket) -> Ended {
        let mut last_sent = Instant::now();
        let mut keepalive = tokio::time::interval(self.config.keepalive_every / 2);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let finish_at = self.finishing;
            let held_until = self.held_since.map(|t| t + self.config.chunk);
            tokio::select! {
                biased;
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => match parse(&text) {
                        Ok(ServerMessage::Event(e)) => {
                            let e = self.buffer.received(e);
                            if !self.first_result && matches!(e, SttEvent::Interim { .. } | SttEvent::Final { .. }) {
                                self.first_result = true;
                                self.health.first_result(ProviderKind::Stt, NAME, self.started.elapsed());
                            }
                            if self.events.send(e).await.is_err() {
                                return Ended::Abandoned;
                            }
                        }
                        Ok(ServerMessage::Metadata | ServerMessage::Ignored) => {}
                        Err(e @ ProviderError::Upstream(_)) => return Ended::Dropped(e),
                        Err(e) => {
                            tracing::warn!(error = %e, "ignoring a Deepgram message");
                            metrics::counter!(crate::telemetry::PROVIDER_BAD_MESSAGES, "provider" => NAME).increment(1);
                        }
                    },
                    Some(Ok(Message::Close(_))) | None if self.finishing.is_some() => return Ended::Finished,
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame.map_or_else(|| "closed".to_string(), |f| format!("closed {}: {}", f.code, f.reason));
                        return Ended::Dropped(ProviderError::Cut(why));
                    }
                    None => return Ended::Dropped(ProviderError::Cut("the socket ended".into())),
                    Some(Err(_)) if self.finishing.is_some() => return Ended::Finished,
                    Some(Err(e)) => return Ended::Dropped(ProviderError::Cut(e.to_string())),
                    Some(Ok(_)) => {} // binary, ping, pong: nothing for us
                },
                audio = self.audio.recv(), if self.finishing.is_none() => {
                    let Some(audio) = audio else { return Ended::Abandoned };
                    self.held_since.get_or_insert_with(Instant::now);
                    self.held.extend_from_slice(&audio);
                    // Whatever else is queued joins it: a busy bridge sends fewer messages.
                    while let Ok(more) = self.audio.try_recv() {
                        self.held.extend_from_slice(&more);
                    }
                    if self.held.len() >= self.chunk_bytes {
                        if let Err(e) = self.send_held(socket).await {
                            return Ended::Dropped(e);
                        }
                        last_sent = Instant::now();
                    }
                }
                control = self.control.recv(), if self.finishing.is_none() => match control {
                    Some(SttControl::Finalize) => {
                        // Everything the caller said so far goes before the Finalize.
                        if let Err(e) = self.send_queued(socket).await {
                            return Ended::Dropped(e);
                        }
                        if let Err(e) = Self::send(socket, Message::text(FINALIZE)).await {
                            return Ended::Dropped(e);
                        }
                    }
                    Some(SttControl::Finish) | None => {
                        // Audio already queued goes first, then the stream is closed.
                        if let Err(e) = self.send_queued(socket).await {
                            return Ended::Dropped(e);
                        }
                        if let Err(e) = Self::send(socket, Message::text(CLOSE_STREAM)).await {
                            return Ended::Dropped(e);
                        }
                        self.finishing = Some(Instant::now() + self.config.close_timeout);
                    }
                },
                _ = tokio::time::sleep_until(held_until.unwrap_or_else(Instant::now)), if held_until.is_some() => {
                    if let Err(e) = self.send_held(socket).await {
                        return Ended::Dropped(e);
                    }
                    last_sent = Instant::now();
                }
                _ = keepalive.tick(), if self.finishing.is_none() => {
                    if last_sent.elapsed() >= self.config.keepalive_every {
                        if let Err(e) = Self::send(socket, Message::text(KEEP_ALIVE)).await {
                            return Ended::Dropped(e);
                        }
                        last_sent = Instant::now();
                    }
                }
                _ = tokio::time::sleep_until(finish_at.unwrap_or_else(Instant::now)), if finish_at.is_some() => {
                    let _ = socket.close(None).await;
                    return Ended::Finished;
                }
            }
        }
    }
}
