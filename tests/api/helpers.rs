//! `spawn_app` and a fake Twilio media leg.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use callbridge::Application;
use callbridge::app::AppError;
use callbridge::carrier::{CarrierEvent, signature, twilio};
use callbridge::config::{Settings, Source};
use callbridge::state::AppState;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The public URL the test app believes it has; Twilio would sign requests to it.
pub const PUBLIC_URL: &str = "https://bridge.test";
/// The Twilio auth token the test app checks signatures with.
pub const AUTH_TOKEN: &str = "test-auth-token";
/// The shared stream token secret.
pub const TOKEN_SECRET: &str = "test-stream-token-secret";
/// Generous ceiling that only catches hangs.
pub const HANG: Duration = Duration::from_secs(60);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Held by the tests that run whole fleets of processes (the three-node cluster behind
/// HAProxy, headless Chromium, the binary drained or killed): on two cores, two of them at once starve each other's timing
/// (drain deadlines, keep-alive races) into failures that are not the code's.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A name unique in this test run (and across concurrent runs on one machine).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A fresh database for one test: a new schema on the real PostgreSQL when
/// `TEST_DATABASE_URL` is set (selected through the connection's `search_path`), else a new
/// SQLite file.
pub async fn database_url() -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) => {
            install_crypto();
            let schema = unique("cbtest").replace('-', "_");
            let admin = callbridge::db::connect(&base).await.unwrap();
            sea_orm::ConnectionTrait::execute_unprepared(
                &admin,
                &format!("CREATE SCHEMA {schema}"),
            )
            .await
            .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-c%20search_path%3D{schema}")
        }
        Err(_) => {
            let dir = std::env::temp_dir().join("callbridge-tests");
            std::fs::create_dir_all(&dir).unwrap();
            format!("sqlite://{}/{}.db?mode=rwc", dir.display(), unique("db"))
        }
    }
}

/// The environment a test app starts from; `overrides` win.
pub async fn test_env(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("LISTEN_ADDR".into(), "127.0.0.1:0".into()),
        ("METRICS_ADDR".into(), "127.0.0.1:0".into()),
        ("PUBLIC_URL".into(), PUBLIC_URL.into()),
        ("TWILIO_AUTH_TOKEN".into(), AUTH_TOKEN.into()),
        ("STREAM_TOKEN_SECRET".into(), TOKEN_SECRET.into()),
        ("DATABASE_URL".into(), database_url().await),
        ("LOG_LEVEL".into(), "warn".into()),
        // Every series carries it (`node_id`); the metrics assertions name it.
        ("NODE_ID".into(), "test-node".into()),
        // Most tests exercise the line itself; the conversation's tests ask for the agent.
        ("CALL_MODE".into(), "echo".into()),
        // Each scripted model reply answers one request: the tests that exercise early
        // requests (which may be cancelled) turn them on.
        ("PREEMPTIVE_LLM".into(), "false".into()),
        // Calls are recorded (the default) into a folder of the test's own.
        (
            "RECORDINGS_DIR".into(),
            std::env::temp_dir()
                .join("callbridge-tests")
                .join(unique("recordings"))
                .display()
                .to_string(),
        ),
    ];
    // The model cache `callbridge models fetch` filled (scripts/test.sh runs it first).
    for name in ["MODEL_CACHE_DIR", "XDG_CACHE_HOME", "HOME"] {
        if let Ok(v) = std::env::var(name) {
            env.push((name.into(), v));
        }
    }
    if let Ok(redis) = std::env::var("TEST_REDIS_URL") {
        env.push(("REDIS_URL".into(), redis));
        env.push(("REDIS_KEY_PREFIX".into(), unique("cbtest")));
    }
    for (k, v) in overrides {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// reqwest and sqlx both use rustls; one crypto provider must be installed first.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A running application.
pub struct TestApp {
    /// Webhook/media port.
    pub port: u16,
    /// Metrics port.
    pub metrics_port: u16,
    /// Shared state.
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), AppError>>>,
    /// An HTTP client.
    pub http: reqwest::Client,
}

impl TestApp {
    /// A handle on an app running in another process (no state, no shutdown control).
    pub fn external(port: u16, metrics_port: u16) -> ExternalApp {
        ExternalApp {
            port,
            metrics_port,
            http: reqwest::Client::new(),
        }
    }

    /// Stops the app and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(HANG, server)
                .await
                .expect("app stops")
                .unwrap()
                .unwrap();
        }
    }
}

/// An app in another process, reached only over the network.
pub struct ExternalApp {
    /// Webhook/media port.
    pub port: u16,
    /// Metrics port.
    pub metrics_port: u16,
    /// An HTTP client.
    pub http: reqwest::Client,
}

/// What tests need to reach an app, in-process or not.
pub trait Reachable {
    /// Webhook/media port.
    fn port(&self) -> u16;
    /// Metrics port.
    fn metrics_port(&self) -> u16;
    /// An HTTP client.
    fn http(&self) -> &reqwest::Client;

    /// `http://127.0.0.1:<port><path>`.
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    /// Posts a form to `path`, signed as Twilio would sign it (or with `signature` if given).
    async fn post_form(
        &self,
        path: &str,
        params: &[(&str, &str)],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sig = signature.map(str::to_string).unwrap_or_else(|| {
            signature::compute(AUTH_TOKEN, &format!("{PUBLIC_URL}{path}"), &owned)
        });
        self.http()
            .post(self.url(path))
            .header("X-Twilio-Signature", sig)
            .form(&owned)
            .send()
            .await
            .unwrap()
    }

    /// The voice webhook for `call_sid`; returns the TwiML.
    async fn voice_webhook(&self, call_sid: &str) -> String {
        let resp = self
            .post_form(
                "/twilio/voice",
                &[
                    ("CallSid", call_sid),
                    ("From", "+15550001111"),
                    ("To", "+15552223333"),
                ],
                None,
            )
            .await;
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap()
    }
}

impl Reachable for TestApp {
    fn port(&self) -> u16 {
        self.port
    }
    fn metrics_port(&self) -> u16 {
        self.metrics_port
    }
    fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

impl Reachable for ExternalApp {
    fn port(&self) -> u16 {
        self.port
    }
    fn metrics_port(&self) -> u16 {
        self.metrics_port
    }
    fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// Starts the app with the test environment plus `overrides`.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    install_crypto();
    let settings = Settings::from_source(&Source::from_pairs(test_env(overrides).await)).unwrap();
    let app = Application::build(settings).await.unwrap();
    let (tx, rx) = oneshot::channel();
    let port = app.port();
    let metrics_port = app.metrics_port();
    let state = app.state().clone();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        port,
        metrics_port,
        state,
        shutdown: Some(tx),
        server: Some(server),
        http: reqwest::Client::new(),
    }
}

/// Starts the app with the test environment.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Pulls the stream token out of `<Parameter name="token" value="...">`.
pub fn token_from_twiml(xml: &str) -> String {
    let marker = r#"<Parameter name="token" value=""#;
    let start = xml.find(marker).expect("TwiML carries a token") + marker.len();
    let end = start + xml[start..].find('"').unwrap();
    xml[start..end].to_string()
}

/// A Twilio-speaking client of the media socket.
pub struct TwilioLeg {
    /// The socket.
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The stream sid it announces.
    pub stream_sid: String,
    seq: u64,
}

/// What came back on the socket.
#[derive(Debug)]
pub enum Received {
    /// A decoded Twilio frame.
    Event(CarrierEvent),
    /// `clear`.
    Clear,
    /// The socket closed, with its code.
    Closed(Option<u16>, String),
}

impl TwilioLeg {
    /// Opens the socket, signed over our `wss://` URL.
    pub async fn connect(app: &impl Reachable) -> Self {
        let url = format!("{PUBLIC_URL}/twilio/media").replace("https://", "wss://");
        let sig = signature::compute(AUTH_TOKEN, &url, &[]);
        Self::connect_with_signature(app, &sig).await.unwrap()
    }

    /// Opens the socket with a given signature header.
    pub async fn connect_with_signature(
        app: &impl Reachable,
        sig: &str,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let mut req = format!("ws://127.0.0.1:{}/twilio/media", app.port())
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("x-twilio-signature", sig.parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(TwilioLeg {
            ws,
            stream_sid: unique("MZ"),
            seq: 0,
        })
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// `connected` then `start` for `call_sid` with `token`.
    pub async fn start(&mut self, call_sid: &str, token: &str) {
        self.send_text(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#.into())
            .await;
        let seq = self.next_seq();
        let frame = serde_json::json!({
            "event": "start", "sequenceNumber": seq.to_string(), "streamSid": self.stream_sid,
            "start": {"streamSid": self.stream_sid, "accountSid": "AC00000000000000000000000000000000",
                      "callSid": call_sid, "tracks": ["inbound"],
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                      "customParameters": {"token": token}}
        });
        self.send_text(frame.to_string()).await;
    }

    /// Sends a Twilio event with its envelope (sequence number, stream sid) and `body` under
    /// the key named after the event.
    async fn send_event(&mut self, event: &str, body: serde_json::Value) {
        let seq = self.next_seq();
        let mut frame = serde_json::json!({
            "event": event, "sequenceNumber": seq.to_string(), "streamSid": self.stream_sid,
        });
        frame[event] = body;
        self.send_text(frame.to_string()).await;
    }

    /// One media frame.
    pub async fn media(&mut self, chunk: u64, payload: &[u8]) {
        use base64::Engine;
        let body = serde_json::json!({
            "track": "inbound", "chunk": chunk.to_string(), "timestamp": (chunk * 20).to_string(),
            "payload": base64::engine::general_purpose::STANDARD.encode(payload)
        });
        self.send_event("media", body).await;
    }

    /// Echoes a mark back, as Twilio does when playback reaches it.
    pub async fn mark(&mut self, name: &str) {
        self.send_event("mark", serde_json::json!({"name": name}))
            .await;
    }

    /// A keypad digit.
    pub async fn dtmf(&mut self, digit: &str) {
        let body = serde_json::json!({"track": "inbound_track", "digit": digit});
        self.send_event("dtmf", body).await;
    }

    /// `stop`.
    pub async fn stop(&mut self, call_sid: &str) {
        let body = serde_json::json!({"accountSid": "AC00000000000000000000000000000000", "callSid": call_sid});
        self.send_event("stop", body).await;
    }

    /// The next thing from the server (bounded by [`HANG`]).
    pub async fn recv(&mut self) -> Received {
        loop {
            let msg = tokio::time::timeout(HANG, self.ws.next())
                .await
                .expect("server answers");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    if t.contains(r#""event":"clear""#) {
                        assert!(t.contains(&self.stream_sid), "clear names our stream: {t}");
                        return Received::Clear;
                    }
                    assert!(t.contains(&self.stream_sid), "frame names our stream: {t}");
                    return Received::Event(
                        twilio::decode(&t).expect("server speaks Twilio").event,
                    );
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|CloseFrame { code, reason }| {
                            (Some(u16::from(code)), reason.to_string())
                        })
                        .unwrap_or((None, String::new()));
                    return Received::Closed(code, reason);
                }
                Some(Ok(Message::Binary(_))) => panic!("Twilio rejects binary frames (31950)"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Received::Closed(None, String::new()),
            }
        }
    }

    /// Receives until the socket closes; returns its close code.
    pub async fn until_closed(&mut self) -> (Option<u16>, String) {
        loop {
            if let Received::Closed(code, reason) = self.recv().await {
                return (code, reason);
            }
        }
    }
}

/// Frame `i` of `total` of a 440 Hz tone whose loudness rises through the call, so order
/// survives transcoding as rising loudness.
pub fn ramp_frame(i: usize, total: usize) -> Vec<u8> {
    let amplitude = 1000.0 + 20000.0 * i as f32 / total as f32;
    let pcm: Vec<i16> = (0..160)
        .map(|n| {
            let t = (i * 160 + n) as f32 / 8000.0;
            ((t * 440.0 * std::f32::consts::TAU).sin() * amplitude) as i16
        })
        .collect();
    let mut out = Vec::new();
    callbridge::audio::g711::encode_mulaw(&pcm, &mut out);
    out
}

/// Root-mean-square loudness of mu-law audio.
pub fn rms(bytes: &[u8]) -> f64 {
    let mut pcm = Vec::new();
    callbridge::audio::g711::decode_mulaw(bytes, &mut pcm);
    (pcm.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
}

/// The `/metrics` exposition text.
pub async fn scrape_metrics(app: &impl Reachable) -> String {
    app.http()
        .get(format!("http://127.0.0.1:{}/metrics", app.metrics_port()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Scrapes `/metrics` and returns the value of the first sample line starting with `prefix`.
pub async fn metric(app: &impl Reachable, prefix: &str) -> f64 {
    scrape_metrics(app)
        .await
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A port that accepts TCP connections and never says anything (a hung server), held until
/// the returned task is aborted.
pub async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            sockets.push(s);
        }
    });
    (port, held)
}
