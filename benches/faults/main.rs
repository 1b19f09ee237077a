//! Fault probes: the outside probes of the unhappy-path issue, reproduced with figures against
//! the real binary (release build, protocol-faithful fake providers, all on loopback, every
//! process started here ended by PID). Each probe prints what it measured beside its goal:
//!
//! - `drain`: SIGTERM with `DRAIN_CALLS` (40) live booking calls: outcomes written, callers
//!   whose call ended with a decided hand-off (wound down: finished turn, drain line, then the
//!   desk) rather than an apology, and the time the node takes to exit.
//! - `providers`: a new caller with each provider dead (refused, black-holed, hung, 500): the
//!   longest silence before the greeting and after the caller's first turn, call by call.
//! - `abandoned`: `MAX_CALLS` webhooks whose media never comes: seconds until a new caller is
//!   connected again.
//! - `idle`: `IDLE_CLIENTS` (750) idle and slow clients (silent TCP, slow headers, slow bodies,
//!   media sockets that never `start`): the server's descriptors before, with them connected,
//!   and after the deadlines; then how long SIGTERM takes with them still there.
//! - `outage`: PostgreSQL cut for `OUTAGE_SECS` (43) through a proxy while calls run: records
//!   written against a run without the outage (needs `TEST_DATABASE_URL`).
//!
//! Run: `cargo bench --bench faults` (all), or `PROBES=drain,idle cargo bench --bench faults`.

#![allow(clippy::disallowed_methods)] // A probe reads the clock and its environment.

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)] // The probes use only some of what the tests' fakes offer.
#[path = "../../tests/api/fakes/mod.rs"]
mod fakes;
#[allow(dead_code)]
#[path = "../../tests/api/proxy.rs"]
mod proxy;

mod clients;
mod drain;
mod outage;
mod providers;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use callbridge::simulator::leg::CallerTurn;
use callbridge::simulator::run::{CallPlan, load_clip};
use common::free_port;
use fakes::deepgram_stt::{ConnScript, FakeDeepgramStt};
use fakes::deepgram_tts::{FakeDeepgramTts, TtsBehaviour};
use fakes::openai::{FakeOpenAi, Reply, text_reply};

/// The fakes' API key.
pub const KEY: &str = "probe-key";

/// The helpers `proxy.rs` expects from the tests.
mod helpers {
    /// A fresh schema on the real PostgreSQL (`TEST_DATABASE_URL`).
    pub async fn database_url() -> String {
        let base = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
        let schema = format!("cbprobe_{}_{}", std::process::id(), super::nonce());
        let admin = callbridge::db::connect(&base).await.unwrap();
        sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}options=-c%20search_path%3D{schema}")
    }
}

/// A number not used before in this process.
pub fn nonce() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The fake providers every probe shares.
pub struct Fakes {
    pub stt: FakeDeepgramStt,
    pub tts: FakeDeepgramTts,
    pub llm: FakeOpenAi,
}

/// A `callbridge serve` process.
pub struct Server {
    child: Child,
    pub port: u16,
    pub metrics_port: u16,
    pub database: String,
    signalled: Option<Instant>,
}

impl Server {
    /// The binary's command with the probes' environment: agent mode on the fakes (their
    /// built-in fallbacks behind them), the desk number set, per-source limits lifted (one load
    /// generator is one source), then `extra`.
    fn command(
        port: u16,
        metrics_port: u16,
        db: &str,
        fakes: &Fakes,
        extra: &[(&str, &str)],
    ) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_callbridge"));
        c.env_clear()
            .env("CALL_MODE", "agent")
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            .env("PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("DATABASE_URL", db)
            .env("STREAM_TOKEN_SECRET", "probe")
            .env("SERVICE_DESK_NUMBER", "+15125550199")
            .env("MAX_CALLS", "1000")
            .env("RATE_LIMIT_WEBHOOK_PER_SEC", "1000000")
            .env("RATE_LIMIT_WEBHOOK_BURST", "1000000")
            .env("DEEPGRAM_API_KEY", KEY)
            .env("DEEPGRAM_STT_URL", &fakes.stt.url)
            .env("DEEPGRAM_TTS_URL", &fakes.tts.ws_url)
            .env("DEEPGRAM_TTS_REST_URL", &fakes.tts.rest_url)
            .env("OPENAI_API_KEY", KEY)
            .env("OPENAI_BASE_URL", &fakes.llm.base_url)
            .env(
                "LOG_LEVEL",
                std::env::var("SERVER_LOG").unwrap_or_else(|_| "error".into()),
            )
            .env("LOG_FORMAT", "pretty");
        // Where `callbridge models fetch` left the built-in recogniser's model.
        for name in ["MODEL_CACHE_DIR", "XDG_CACHE_HOME", "HOME"] {
            c.envs(std::env::var(name).map(|v| (name, v)));
        }
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    }

    /// Seeds `db` (or a fresh SQLite file) and serves on it, once `/healthz` answers.
    pub async fn start(fakes: &Fakes, db: Option<String>, extra: &[(&str, &str)]) -> Server {
        let port = free_port();
        let metrics_port = free_port();
        let database = db.unwrap_or_else(|| {
            let dir = std::env::temp_dir().join("callbridge-probes");
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("{}-{}.db", std::process::id(), nonce()));
            format!("sqlite://{}?mode=rwc", file.display())
        });
        let seeded = Self::command(port, metrics_port, &database, fakes, extra)
            .args(["seed", "--if-empty"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(seeded.success(), "seeding failed");
        let child = Self::command(port, metrics_port, &database, fakes, extra)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            port,
            metrics_port,
            database,
            signalled: None,
        };
        let client = reqwest::Client::new();
        let up_by = Instant::now() + Duration::from_secs(30);
        while client.get(server.url("/healthz")).send().await.is_err() {
            assert!(Instant::now() < up_by, "server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (graceful) or SIGKILL.
    pub fn signal(&mut self, name: &str) {
        let _ = Command::new("kill")
            .args([name, &self.pid().to_string()])
            .status();
        self.signalled.get_or_insert_with(Instant::now);
    }

    /// Waits up to `within` for the process to exit; the time since the first signal.
    pub async fn exited(&mut self, within: Duration) -> Option<Duration> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return Some(self.signalled.map_or(Duration::ZERO, |s| s.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Stops the process: SIGTERM, then SIGKILL if it has not gone in 60 s.
    pub async fn stop(mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        self.signal("-TERM");
        if self.exited(Duration::from_secs(60)).await.is_none() {
            self.signal("-KILL");
            let _ = self.child.wait();
        }
    }

    /// Open file descriptors of the process.
    pub fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// The voice webhook (unsigned: no TWILIO_AUTH_TOKEN on loopback); the TwiML.
    pub async fn voice_webhook(&self, client: &reqwest::Client, call_sid: &str) -> String {
        let form = [
            ("CallSid", call_sid),
            ("From", "+15125550101"),
            ("To", "+15125550100"),
        ];
        match client
            .post(self.url("/twilio/voice"))
            .form(&form)
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => format!("error: {e}"),
        }
    }
}

impl Drop for Server {
    /// A probe that fails leaves no server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a probe's callers say, and what the fake recogniser hears for it.
const CLIPS: [(&str, &str); 4] = [
    (
        "book_oil_change",
        "Hi, I'd like to book an oil change for my Honda.",
    ),
    ("tuesday_morning", "Tuesday morning would be great."),
    ("yes_nine", "Yes, nine o'clock works for me."),
    ("hours", "What time do you open on Saturday?"),
];

/// Scripts the fakes for `calls` conversations of `rounds` times [`CLIPS`] (each utterance
/// heard, each turn answered) and returns the caller's turns.
pub fn conversation(fakes: &Fakes, calls: usize, rounds: usize) -> Vec<CallerTurn> {
    let phrases: Vec<&'static str> = (0..rounds).flat_map(|_| CLIPS.map(|(_, p)| p)).collect();
    let names: Vec<&str> = (0..rounds).flat_map(|_| CLIPS.map(|(c, _)| c)).collect();
    for _ in 0..calls {
        fakes.stt.push(ConnScript {
            phrases: phrases.clone(),
            ..ConnScript::default()
        });
        for _ in 0..phrases.len() {
            fakes.llm.push(Reply::Stream {
                chunks: text_reply(&["Sure, I can help with that. ", "What day would suit you?"]),
                first_delay: Duration::from_millis(200),
                gap: Duration::from_millis(10),
                cut_after: None,
            });
        }
    }
    turns(&names)
}

/// The caller's clips, by name (fixtures/calls).
pub fn turns(names: &[&str]) -> Vec<CallerTurn> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls");
    names
        .iter()
        .map(|clip| CallerTurn {
            audio: load_clip(&dir.join(format!("{clip}.wav"))).unwrap(),
            barge_in_after: None,
            dtmf: None,
        })
        .collect()
}

/// A call to `server` from the simulated carrier.
pub fn plan(
    server: &Server,
    call_sid: String,
    turns: Vec<CallerTurn>,
    patience: Duration,
) -> CallPlan {
    CallPlan {
        base_url: url::Url::parse(&server.url("")).unwrap(),
        connect_to: None,
        auth_token: None,
        from: "+15125550101".into(),
        to: "+15125550100".into(),
        call_sid,
        turns,
        answer_gap: Duration::from_millis(300),
        patience,
        max_duration: Duration::from_secs(120),
        connect_delay: Duration::from_millis(300),
    }
}

/// `CA` and 32 digits, unique in this run.
pub fn call_sid(tag: u64) -> String {
    format!("CA{:016}{:016}", std::process::id(), tag * 1000 + nonce())
}

/// Outcomes of the call logs of `sids` (None: no outcome written, or no log).
pub async fn outcomes(database: &str, sids: &[String]) -> Vec<Option<String>> {
    let found = common::call_outcomes(database).await;
    sids.iter()
        .map(|s| found.get(s).cloned().flatten())
        .collect()
}

fn main() {
    let probes =
        std::env::var("PROBES").unwrap_or_else(|_| "drain,providers,abandoned,idle,outage".into());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let fakes = Fakes {
            stt: FakeDeepgramStt::start(KEY, Duration::from_secs(10)).await,
            tts: FakeDeepgramTts::start(
                KEY,
                TtsBehaviour {
                    first_audio_delay: Duration::from_millis(100),
                    ..TtsBehaviour::default()
                },
            )
            .await,
            llm: FakeOpenAi::start(Some(KEY)).await,
        };
        for probe in probes.split(',').map(str::trim) {
            println!("== {probe}");
            match probe {
                "drain" => drain::run(&fakes).await,
                "providers" => providers::run(&fakes).await,
                "abandoned" => clients::abandoned(&fakes).await,
                "idle" => clients::idle(&fakes).await,
                "outage" => outage::run(&fakes).await,
                other => println!("unknown probe {other:?}"),
            }
        }
    });
}
