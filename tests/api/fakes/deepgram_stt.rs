//! A fake Deepgram live-transcription server (`/v1/listen` WebSocket). It checks the
//! handshake as Deepgram does (`Authorization: Token <key>`, `encoding`/`sample_rate`/`model`
//! in the query), "recognises" scripted utterances by how much audio has arrived (a final
//! `endpointing` ms, from the query, after an utterance's end), answers `Finalize` with a `from_finalize` final,
//! `CloseStream` with the last results, `Metadata` and a close, counts `KeepAlive`s, closes
//! an idle socket as Deepgram does, and can cut the connection at a point in the audio.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// Something said, in seconds of the connection's audio.
#[derive(Debug, Clone)]
pub struct Utterance {
    /// Speech starts.
    pub start: f64,
    /// Speech ends.
    pub end: f64,
    /// What was said.
    pub text: &'static str,
}

/// What one connection hears and does.
#[derive(Debug, Clone, Default)]
pub struct ConnScript {
    /// Utterances in order.
    pub utterances: Vec<Utterance>,
    /// Drop the TCP connection (no close frame) once this much audio has arrived.
    pub cut_at: Option<f64>,
    /// Instead of timed utterances: each stretch of loud audio (mu-law) is heard as the
    /// next of these phrases, however long the caller waited before it.
    pub phrases: Vec<&'static str>,
}

/// How long after the end of speech the interim result with all of a phrase's words goes
/// out (Deepgram sends interims as words are recognised, a fraction of a second behind).
const INTERIM_LAG_SECS: f64 = 0.15;

/// Recognition by loudness: a burst of loud frames is the next phrase.
#[derive(Debug, Default)]
struct Bursts {
    next: usize,
    /// The current burst's full interim went out.
    whole_interim_sent: bool,
    /// The current burst: where it began and whether its final went out.
    current: Option<(f64, bool)>,
    quiet_secs: f64,
}

fn is_loud(mulaw: &[u8]) -> bool {
    let mut pcm = Vec::new();
    callbridge::audio::g711::decode_mulaw(mulaw, &mut pcm);
    pcm.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0) > 1000
}

/// An interim `Results` message saying `text` for speech from `start` to `end`.
fn interim(text: &str, start: f64, end: f64, heard: f64) -> String {
    saying(text, start, end, [false, false, false], heard)
}

fn phrase_final(
    text: &str,
    start: f64,
    end: f64,
    speech_final: bool,
    from_finalize: bool,
) -> String {
    saying(text, start, end, [true, speech_final, from_finalize], end)
}

/// A `Results` message saying `text` for speech from `start` to `end`, with its `is_final`,
/// `speech_final` and `from_finalize` flags, for audio heard up to `heard`.
fn saying(
    text: &str,
    start: f64,
    end: f64,
    [is_final, speech_final, from_finalize]: [bool; 3],
    heard: f64,
) -> String {
    let u = Utterance {
        start,
        end,
        text: "",
    };
    let mut m: serde_json::Value =
        serde_json::from_str(&results(&u, is_final, speech_final, from_finalize, heard)).unwrap();
    m["channel"]["alternatives"][0]["transcript"] = json!(text);
    m.to_string()
}

/// What a connection received.
#[derive(Debug, Clone, Default)]
pub struct ConnRecord {
    /// Query parameters of the handshake.
    pub query: HashMap<String, Vec<String>>,
    /// Audio bytes, in order.
    pub audio: Vec<u8>,
    /// KeepAlive messages.
    pub keepalives: u32,
    /// Finalize messages.
    pub finalizes: u32,
    /// Whether CloseStream arrived.
    pub close_stream: bool,
}

#[derive(Default)]
struct State {
    scripts: VecDeque<ConnScript>,
    connections: Vec<Arc<Mutex<ConnRecord>>>,
}

/// The running fake.
pub struct FakeDeepgramStt {
    /// `ws://127.0.0.1:port/v1/listen`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

/// Endpointing when the client does not ask (`endpointing` in the query, ms).
const ENDPOINTING: f64 = 0.3;

impl FakeDeepgramStt {
    /// Starts a fake that wants `key` and closes sockets idle for `idle_timeout`.
    pub async fn start(key: &'static str, idle_timeout: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(tcp, key, idle_timeout, shared).await;
                });
            }
        });
        Self {
            url: format!("ws://127.0.0.1:{port}/v1/listen"),
            state,
        }
    }

    /// Queues the script of the next connection (default: hears nothing).
    pub fn push(&self, script: ConnScript) {
        self.state.lock().unwrap().scripts.push_back(script);
    }

    /// Forgets the scripts not yet used.
    #[allow(dead_code)] // For the fault probes (benches/faults), between cases.
    pub fn clear(&self) {
        self.state.lock().unwrap().scripts.clear();
    }

    /// Every accepted connection's record.
    pub fn connections(&self) -> Vec<ConnRecord> {
        self.state
            .lock()
            .unwrap()
            .connections
            .iter()
            .map(|c| c.lock().unwrap().clone())
            .collect()
    }
}

fn results(
    u: &Utterance,
    is_final: bool,
    speech_final: bool,
    from_finalize: bool,
    upto: f64,
) -> String {
    let end = if is_final {
        u.end.min(upto.max(u.start))
    } else {
        upto
    };
    let text = if is_final {
        u.text.to_string()
    } else {
        u.text.split(' ').next().unwrap_or_default().to_string()
    };
    let mut m = json!({
        "type": "Results",
        "channel_index": [0, 1],
        "duration": end - u.start,
        "start": u.start,
        "is_final": is_final,
        "speech_final": speech_final,
        "channel": { "alternatives": [ { "transcript": text, "confidence": 0.98, "words": [] } ] },
        "metadata": { "request_id": "fake", "model_info": { "name": "general-nova-3" } },
    });
    if from_finalize {
        m["from_finalize"] = json!(true);
    }
    m.to_string()
}

async fn serve(
    tcp: tokio::net::TcpStream,
    key: &'static str,
    idle_timeout: Duration,
    shared: Arc<Mutex<State>>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let record = Arc::new(Mutex::new(ConnRecord::default()));
    let rec = record.clone();
    #[allow(clippy::result_large_err)] // the signature tungstenite's handshake callback takes
    let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let refuse = |code: u16, why: &str| {
            let mut r = ErrorResponse::new(Some(why.to_string()));
            *r.status_mut() = code.try_into().unwrap();
            r
        };
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if auth != format!("Token {key}") {
            return Err(refuse(
                401,
                r#"{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials."}"#,
            ));
        }
        let url = url::Url::parse(&format!("ws://x{}", req.uri())).unwrap();
        let mut query: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url.query_pairs() {
            query
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
        for needed in ["model", "encoding", "sample_rate"] {
            if !query.contains_key(needed) {
                return Err(refuse(400, "missing query parameter"));
            }
        }
        rec.lock().unwrap().query = query;
        Ok(resp)
    };
    let mut ws = tokio_tungstenite::accept_hdr_async(tcp, check).await?;
    let script = {
        let mut s = shared.lock().unwrap();
        s.connections.push(record.clone());
        s.scripts.pop_front().unwrap_or_default()
    };
    let (encoding, rate) = {
        let r = record.lock().unwrap();
        (
            r.query["encoding"][0].clone(),
            r.query["sample_rate"][0].parse::<f64>()?,
        )
    };
    let bytes_per_sec = rate * if encoding == "linear16" { 2.0 } else { 1.0 };
    let endpointing = record
        .lock()
        .unwrap()
        .query
        .get("endpointing")
        .and_then(|v| v[0].parse::<f64>().ok())
        .map_or(ENDPOINTING, |ms| ms / 1000.0);
    let mut bursts = Bursts::default();
    let mut started = vec![false; script.utterances.len()];
    let mut finalised = vec![false; script.utterances.len()];
    loop {
        let frame = match tokio::time::timeout(idle_timeout, ws.next()).await {
            Err(_) => {
                let _ = ws
                    .close(Some(CloseFrame {
                        code: 1011u16.into(),
                        reason: "Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001".into(),
                    }))
                    .await;
                return Ok(());
            }
            Ok(None) | Ok(Some(Err(_))) => return Ok(()),
            Ok(Some(Ok(f))) => f,
        };
        let heard = {
            let r = record.lock().unwrap();
            r.audio.len() as f64 / bytes_per_sec
        };
        match frame {
            Message::Binary(audio) => {
                let heard = {
                    let mut r = record.lock().unwrap();
                    r.audio.extend_from_slice(&audio);
                    r.audio.len() as f64 / bytes_per_sec
                };
                if script.cut_at.is_some_and(|c| heard >= c) {
                    return Ok(()); // dropped on the floor: no close frame
                }
                if !script.phrases.is_empty() {
                    let frame_secs = audio.len() as f64 / bytes_per_sec;
                    let phrase = script.phrases.get(bursts.next).copied().unwrap_or("");
                    if is_loud(&audio) {
                        bursts.quiet_secs = 0.0;
                        if bursts.current.is_none() {
                            bursts.current = Some((heard - frame_secs, false));
                            bursts.whole_interim_sent = false;
                            ws.send(Message::text(json!({"type": "SpeechStarted", "channel": [0, 1], "timestamp": heard - frame_secs}).to_string())).await?;
                            let first = phrase.split(' ').next().unwrap_or_default();
                            let m = interim(first, heard - frame_secs, heard, heard);
                            ws.send(Message::text(m)).await?;
                        }
                    } else if let Some((start, finalised)) = bursts.current {
                        bursts.quiet_secs += frame_secs;
                        if !finalised
                            && !bursts.whole_interim_sent
                            && bursts.quiet_secs >= INTERIM_LAG_SECS
                        {
                            bursts.whole_interim_sent = true;
                            let m = interim(phrase, start, heard - bursts.quiet_secs, heard);
                            ws.send(Message::text(m)).await?;
                        }
                        if bursts.quiet_secs >= endpointing {
                            bursts.current = None;
                            if !finalised {
                                bursts.next += 1;
                                let end = heard - bursts.quiet_secs;
                                ws.send(Message::text(phrase_final(
                                    phrase, start, end, true, false,
                                )))
                                .await?;
                                ws.send(Message::text(json!({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": end}).to_string())).await?;
                            }
                        }
                    }
                    continue;
                }
                for (i, u) in script.utterances.iter().enumerate() {
                    if !started[i] && heard >= u.start + 0.1 {
                        started[i] = true;
                        let vad = record
                            .lock()
                            .unwrap()
                            .query
                            .get("vad_events")
                            .is_some_and(|v| v[0] == "true");
                        if vad {
                            ws.send(Message::text(json!({"type": "SpeechStarted", "channel": [0, 1], "timestamp": u.start}).to_string())).await?;
                        }
                        ws.send(Message::text(results(u, false, false, false, heard)))
                            .await?;
                    }
                    if started[i] && !finalised[i] && heard >= u.end + endpointing {
                        finalised[i] = true;
                        ws.send(Message::text(results(u, true, true, false, heard)))
                            .await?;
                        ws.send(Message::text(json!({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": u.end}).to_string())).await?;
                    }
                }
            }
            Message::Text(text) => {
                let v: serde_json::Value = serde_json::from_str(&text)?;
                match v["type"].as_str() {
                    Some("KeepAlive") => record.lock().unwrap().keepalives += 1,
                    Some("Finalize") => {
                        record.lock().unwrap().finalizes += 1;
                        if let Some((start, false)) = bursts.current {
                            let phrase = script.phrases.get(bursts.next).copied().unwrap_or("");
                            bursts.next += 1;
                            bursts.current = Some((start, true));
                            ws.send(Message::text(phrase_final(
                                phrase, start, heard, false, true,
                            )))
                            .await?;
                        } else if !script.phrases.is_empty() {
                            // Nothing pending: Deepgram still answers with an empty final.
                            ws.send(Message::text(phrase_final("", heard, heard, false, true)))
                                .await?;
                        }
                        for (i, u) in script.utterances.iter().enumerate() {
                            if started[i] && !finalised[i] {
                                finalised[i] = true;
                                ws.send(Message::text(results(u, true, false, true, heard)))
                                    .await?;
                            }
                        }
                    }
                    Some("CloseStream") => {
                        record.lock().unwrap().close_stream = true;
                        for (i, u) in script.utterances.iter().enumerate() {
                            if started[i] && !finalised[i] {
                                finalised[i] = true;
                                ws.send(Message::text(results(u, true, true, false, heard)))
                                    .await?;
                            }
                        }
                        ws.send(Message::text(json!({"type": "Metadata", "transaction_key": "deprecated", "request_id": "fake", "sha256": "0", "created": "2026-11-22T10:00:00.000Z", "duration": heard, "channels": 1}).to_string())).await?;
                        ws.close(None).await?;
                        return Ok(());
                    }
                    _ => {
                        // Deepgram answers an unknown message with an error and closes.
                        ws.close(Some(CloseFrame {
                            code: 1008u16.into(),
                            reason: "unknown message".into(),
                        }))
                        .await?;
                        return Ok(());
                    }
                }
            }
            Message::Close(_) => return Ok(()),
            _ => {}
        }
    }
}
