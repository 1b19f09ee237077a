//! A fake Deepgram Aura text-to-speech server: the streaming WebSocket (`GET /v1/speak`) and
//! the REST form (`POST /v1/speak`). It checks `Authorization: Token <key>` and the query
//! (`model`, `encoding`, `sample_rate`; `container=none` for raw REST audio), "synthesises"
//! 10 ms of a 440 Hz tone per character in the encoding asked for, streams it in 20 ms
//! frames, answers `Flush` with `Flushed` (sequence ids from 0), honours `Clear` between
//! frames with `Cleared`, enforces the 20-flushes-per-window budget with a `Warning` as
//! Deepgram does, and closes on `Close`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct TtsBehaviour {
    /// Wait before a flush's first audio.
    pub first_audio_delay: Duration,
    /// Wait between 20 ms frames.
    pub frame_gap: Duration,
    /// Flush budget window (Deepgram: 60 s).
    pub flush_window: Duration,
}

impl Default for TtsBehaviour {
    fn default() -> Self {
        Self {
            first_audio_delay: Duration::ZERO,
            frame_gap: Duration::ZERO,
            flush_window: Duration::from_secs(60),
        }
    }
}

/// What the fake saw.
#[derive(Debug, Clone, Default)]
pub struct TtsRecord {
    /// Query of each connection or request.
    pub queries: Vec<HashMap<String, String>>,
    /// Text of every Speak (or REST body).
    pub spoken: Vec<String>,
    /// When each Flush arrived.
    pub flushes: Vec<Instant>,
    /// Warnings sent.
    pub warnings: u32,
    /// Clears received.
    pub clears: u32,
}

#[derive(Clone)]
struct Shared {
    key: &'static str,
    behaviour: Arc<Mutex<TtsBehaviour>>,
    record: Arc<Mutex<TtsRecord>>,
}

/// The running fake.
pub struct FakeDeepgramTts {
    /// `ws://127.0.0.1:port/v1/speak`.
    pub ws_url: String,
    /// `http://127.0.0.1:port/v1/speak`.
    pub rest_url: String,
    shared: Shared,
}

impl FakeDeepgramTts {
    /// Starts a fake wanting `key`.
    pub async fn start(key: &'static str, behaviour: TtsBehaviour) -> Self {
        let shared = Shared {
            key,
            behaviour: Arc::new(Mutex::new(behaviour)),
            record: Arc::new(Mutex::new(TtsRecord::default())),
        };
        let app = Router::new()
            .route("/v1/speak", get(upgrade).post(rest))
            .with_state(shared.clone());
        let port = super::serve(app).await;
        Self {
            ws_url: format!("ws://127.0.0.1:{port}/v1/speak"),
            rest_url: format!("http://127.0.0.1:{port}/v1/speak"),
            shared,
        }
    }

    /// What it saw.
    pub fn record(&self) -> TtsRecord {
        self.shared.record.lock().unwrap().clone()
    }
}

/// Bytes of one millisecond, or why the format is refused.
fn bytes_per_ms(q: &HashMap<String, String>) -> Result<usize, String> {
    let rate: usize = q
        .get("sample_rate")
        .and_then(|r| r.parse().ok())
        .ok_or("sample_rate is required")?;
    if ![8000, 16000, 24000, 32000, 48000].contains(&rate) {
        return Err(format!("unsupported sample_rate {rate}"));
    }
    match q.get("encoding").map(String::as_str) {
        Some("mulaw" | "alaw") => Ok(rate / 1000),
        Some("linear16") => Ok(rate / 1000 * 2),
        _ => Err("unsupported encoding".into()),
    }
}

/// 10 ms of a 440 Hz tone per character, in the query's encoding.
fn synthesise(q: &HashMap<String, String>, text: &str) -> Vec<u8> {
    let rate: f64 = q["sample_rate"].parse().unwrap();
    let samples = (text.chars().count() as f64 * rate / 100.0) as usize;
    let pcm: Vec<i16> = (0..samples)
        .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / rate).sin() * 8000.0) as i16)
        .collect();
    let mut out = Vec::new();
    match q["encoding"].as_str() {
        "mulaw" => callbridge::audio::g711::encode_mulaw(&pcm, &mut out),
        "alaw" => callbridge::audio::g711::encode_alaw(&pcm, &mut out),
        _ => callbridge::audio::pcm::encode_le(&pcm, &mut out),
    }
    out
}

fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Token {}", shared.key))
}

fn refuse(code: StatusCode, message: &str) -> Response {
    (
        code,
        axum::Json(json!({"err_code": "REQUEST_ERROR", "err_msg": message})),
    )
        .into_response()
}

/// The refusal Deepgram would give, if any.
fn check(shared: &Shared, headers: &HeaderMap, q: &HashMap<String, String>) -> Option<Response> {
    if !authorised(shared, headers) {
        return Some(refuse(StatusCode::UNAUTHORIZED, "Invalid credentials."));
    }
    if !q.contains_key("model") {
        return Some(refuse(StatusCode::BAD_REQUEST, "model is required"));
    }
    bytes_per_ms(q)
        .err()
        .map(|m| refuse(StatusCode::BAD_REQUEST, &m))
}

async fn upgrade(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(r) = check(&shared, &headers, &q) {
        return r;
    }
    shared.record.lock().unwrap().queries.push(q.clone());
    ws.on_upgrade(move |socket| session(socket, shared, q))
}

async fn session(socket: WebSocket, shared: Shared, q: HashMap<String, String>) {
    let (mut tx, mut rx) = socket.split();
    let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        while let Some(Ok(Message::Text(t))) = rx.next().await {
            if let Ok(v) = serde_json::from_str::<Value>(&t)
                && cmd_tx.send(v).is_err()
            {
                return;
            }
        }
    });
    let frame = bytes_per_ms(&q).unwrap() * 20;
    let mut text = String::new();
    let mut backlog: VecDeque<Value> = VecDeque::new();
    let mut flushed = 0u64;
    let mut cleared = 0u64;
    // Deepgram's flush budget is per connection.
    let mut connection_flushes: Vec<Instant> = Vec::new();
    loop {
        let cmd = match backlog.pop_front() {
            Some(c) => c,
            None => match cmd_rx.recv().await {
                Some(c) => c,
                None => return,
            },
        };
        match cmd["type"].as_str() {
            Some("Speak") => {
                let t = cmd["text"].as_str().unwrap_or_default().to_string();
                shared.record.lock().unwrap().spoken.push(t.clone());
                text.push_str(&t);
            }
            Some("Flush") => {
                let behaviour = shared.behaviour.lock().unwrap().clone();
                let over_budget = {
                    let mut r = shared.record.lock().unwrap();
                    let now = Instant::now();
                    let recent = connection_flushes
                        .iter()
                        .filter(|t| now.duration_since(**t) < behaviour.flush_window)
                        .count();
                    connection_flushes.push(now);
                    r.flushes.push(now);
                    if recent >= 20 {
                        r.warnings += 1;
                    }
                    recent >= 20
                };
                if over_budget {
                    let w = json!({"type": "Warning", "description": "Exceeded the maximum number of Flush messages allowed in a 60 second window", "code": "FLUSH_LIMIT"});
                    let _ = tx.send(Message::text(w.to_string())).await;
                    continue;
                }
                tokio::time::sleep(behaviour.first_audio_delay).await;
                let audio = synthesise(&q, &std::mem::take(&mut text));
                let mut interrupted = false;
                for chunk in audio.chunks(frame) {
                    // A Clear that arrived meanwhile stops the audio between frames.
                    while let Ok(c) = cmd_rx.try_recv() {
                        if c["type"] == "Clear" {
                            interrupted = true;
                        }
                        backlog.push_back(c);
                    }
                    if interrupted {
                        break;
                    }
                    if tx.send(Message::binary(chunk.to_vec())).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(behaviour.frame_gap).await;
                }
                if !interrupted {
                    let m = json!({"type": "Flushed", "sequence_id": flushed});
                    flushed += 1;
                    if tx.send(Message::text(m.to_string())).await.is_err() {
                        return;
                    }
                }
            }
            Some("Clear") => {
                shared.record.lock().unwrap().clears += 1;
                text.clear();
                let m = json!({"type": "Cleared", "sequence_id": cleared});
                cleared += 1;
                if tx.send(Message::text(m.to_string())).await.is_err() {
                    return;
                }
            }
            Some("Close") => {
                let _ = tx.send(Message::Close(None)).await;
                return;
            }
            _ => {
                let e = json!({"type": "Error", "err_code": "INVALID_MESSAGE", "description": "unknown message type"});
                let _ = tx.send(Message::text(e.to_string())).await;
                return;
            }
        }
    }
}

async fn rest(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(r) = check(&shared, &headers, &q) {
        return r;
    }
    if q.get("container").map(String::as_str) != Some("none") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "this fake serves raw audio only (container=none)",
        );
    }
    let Some(text) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["text"].as_str().map(str::to_string))
        .filter(|t| !t.trim().is_empty())
    else {
        return refuse(StatusCode::BAD_REQUEST, "text is required");
    };
    {
        let mut r = shared.record.lock().unwrap();
        r.queries.push(q.clone());
        r.spoken.push(text.clone());
    }
    let behaviour = shared.behaviour.lock().unwrap().clone();
    let frame = bytes_per_ms(&q).unwrap() * 20;
    let audio = synthesise(&q, &text);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        tokio::time::sleep(behaviour.first_audio_delay).await;
        for chunk in audio.chunks(frame) {
            if tx.send(Ok(Bytes::copy_from_slice(chunk))).await.is_err() {
                return;
            }
            tokio::time::sleep(behaviour.frame_gap).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .header("content-type", "audio/basic")
        .header("dg-request-id", "fake")
        .body(Body::from_stream(stream))
        .unwrap()
}
