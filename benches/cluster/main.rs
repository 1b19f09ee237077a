//! The cluster benchmark: the full version of the cluster test (`tests/api/cluster/`), with
//! figures. Three release-built callbridge nodes behind HAProxy (round robin, no stickiness)
//! on the real PostgreSQL and Redis, fake Deepgram speech on loopback, the built-in agent;
//! callers placed through the balancer by the caller simulator. Probes:
//!
//! - `capacity`: one call at a time (the turn latency's floor), then `LEVELS` concurrent
//!   calls each held for `LEVEL_SECS`: p50/p99 of the caller's turn latency (end of their
//!   speech to the agent's first audio), failed calls, and the nodes' CPU; calls per core =
//!   the highest level whose p99 stays within one call's p99 + 50 ms, per core the nodes used.
//! - `faults`: `RATE` new calls a second throughout: a node drained (SIGTERM), a node killed
//!   (SIGKILL; seconds until its registry leases lapse), both back, then a rolling restart of
//!   all three: failed new calls, calls cut, outcomes written.
//!
//! Run: `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench --bench cluster` (`PROBES=faults` for one).
//! Needs HAProxy (`scripts/install-test-deps.sh`).

#![allow(clippy::disallowed_methods)] // A benchmark reads the clock and its environment.

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)] // The benchmark uses only some of what the tests' fakes offer.
#[path = "../../tests/api/fakes/mod.rs"]
mod fakes;
#[path = "../../tests/api/cluster/harness.rs"]
mod harness;

mod faults;

use std::time::{Duration, Instant};

use callbridge::simulator::leg::CallerTurn;
use callbridge::simulator::run::{CallPlan, CallSummary, load_clip, place_call};
use fakes::deepgram_stt::{ConnScript, FakeDeepgramStt};
use fakes::deepgram_tts::{FakeDeepgramTts, TtsBehaviour};
use harness::Cluster;

const KEY: &str = "bench-key";
const AUTH_TOKEN: &str = "bench-auth-token";
pub const DESK: &str = "+15125550199";
/// What each caller says: two questions, then goodbye.
pub const PHRASES: [&str; 3] = [
    "What time do you open on Saturday?",
    "What time do you open on Saturday?",
    "That's all, thank you. Goodbye.",
];

/// The cluster and what it runs on.
pub struct Bench {
    pub cluster: Cluster,
    pub stt: FakeDeepgramStt,
    _tts: FakeDeepgramTts,
    pub store: callbridge::session_store::SessionStore,
    pub database: String,
    turns: Vec<CallerTurn>,
}

/// A number not used before in this process.
pub fn nonce() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// `CA` and 32 digits, unique in this run.
pub fn call_sid() -> String {
    format!("CA{:016}{:016}", std::process::id(), nonce())
}

impl Bench {
    async fn start(base: &str, redis: &str) -> Bench {
        let stt = FakeDeepgramStt::start(KEY, Duration::from_secs(30)).await;
        let tts = FakeDeepgramTts::start(
            KEY,
            TtsBehaviour {
                first_audio_delay: Duration::from_millis(100),
                ..TtsBehaviour::default()
            },
        )
        .await;
        let schema = format!("cbcluster_{}_{}", std::process::id(), nonce());
        let admin = callbridge::db::connect(base).await.unwrap();
        sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let database = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let prefix = format!("cbbench-{}-{}", std::process::id(), nonce());
        let log = std::env::var("SERVER_LOG").unwrap_or_else(|_| "error".into());
        let env: Vec<(String, String)> = [
            ("CALL_MODE", "agent"),
            ("DATABASE_URL", database.as_str()),
            ("REDIS_URL", redis),
            ("REDIS_KEY_PREFIX", prefix.as_str()),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("STREAM_TOKEN_SECRET", "bench"),
            ("SERVICE_DESK_NUMBER", DESK),
            ("DEEPGRAM_API_KEY", KEY),
            ("DEEPGRAM_STT_URL", stt.url.as_str()),
            ("DEEPGRAM_TTS_URL", tts.ws_url.as_str()),
            ("DEEPGRAM_TTS_REST_URL", tts.rest_url.as_str()),
            ("STT_FALLBACK", "none"),
            ("TTS_FALLBACK", "none"),
            ("MAX_CALLS", "1000"),
            ("RATE_LIMIT_WEBHOOK_PER_SEC", "1000000"),
            ("RATE_LIMIT_WEBHOOK_BURST", "1000000"),
            ("DRAIN_DELAY_SECS", "2"),
            ("SHUTDOWN_GRACE_SECS", "10"),
            ("DRAIN_WIND_DOWN_SECS", "8"),
            ("HEARTBEAT_SECS", "2"),
            ("CALL_TTL_SECS", "6"),
            ("LOG_LEVEL", log.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_callbridge"));
        let haproxy = harness::haproxy_binary().expect("HAProxy: scripts/install-test-deps.sh");
        let cluster = Cluster::start(binary, &haproxy, env, 3).await;
        let store = callbridge::session_store::SessionStore::Redis(
            callbridge::session_store::RedisStore::connect(redis, &prefix)
                .await
                .unwrap(),
        );
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls");
        let clip = load_clip(&dir.join("hours.wav")).unwrap();
        let turns = PHRASES
            .iter()
            .map(|_| CallerTurn {
                audio: clip.clone(),
                barge_in_after: None,
                dtmf: None,
            })
            .collect();
        Bench {
            cluster,
            stt,
            _tts: tts,
            store,
            database,
            turns,
        }
    }

    /// Scripts for `calls` calls (two recogniser connections each at most).
    pub fn script(&self, calls: usize) {
        for _ in 0..calls * 2 {
            self.stt.push(ConnScript {
                phrases: PHRASES.to_vec(),
                ..ConnScript::default()
            });
        }
    }

    /// A plan for one call through the balancer.
    pub fn plan(&self, sid: String) -> CallPlan {
        CallPlan {
            base_url: url::Url::parse(&self.cluster.public_url()).unwrap(),
            connect_to: None,
            auth_token: Some(AUTH_TOKEN.into()),
            from: "+15125550101".into(),
            to: "+15125550100".into(),
            call_sid: sid,
            turns: self.turns.clone(),
            answer_gap: Duration::from_millis(300),
            patience: Duration::from_secs(15),
            max_duration: Duration::from_secs(90),
            connect_delay: Duration::from_millis(200),
        }
    }

    /// CPU seconds of the nodes and the balancer so far.
    pub fn cpu(&self) -> (f64, f64) {
        let nodes = self
            .cluster
            .nodes
            .iter()
            .filter_map(|n| n.pid())
            .map(|pid| std::panic::catch_unwind(|| common::cpu_seconds(pid)).unwrap_or(0.0))
            .sum();
        (nodes, common::cpu_seconds(self.cluster.balancer.pid()))
    }
}

/// Whether a call went as it should: greeted, and a node decided how it ended.
pub fn succeeded(result: &Result<CallSummary, String>) -> bool {
    matches!(result, Ok(s) if s.greeted_after.is_some()
        && s.after_stream.as_deref().is_some_and(|t| !t.contains("went wrong")))
}

/// Why a call did not succeed, short enough to group.
fn failure(result: &Result<CallSummary, String>) -> String {
    match result {
        Err(e) => e.chars().take(90).collect(),
        Ok(s) if s.greeted_after.is_none() => "not greeted".into(),
        Ok(s) => match s.after_stream.as_deref() {
            None => format!("no after-stream answer (closed: {:?})", s.close_reason),
            Some(t) => format!(
                "after the stream: {}",
                t.chars().take(90).collect::<String>()
            ),
        },
    }
}

/// The `q` quantile of `values` (sorted in place), in ms.
pub fn quantile(values: &mut [Duration], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort();
    let i = ((values.len() as f64 - 1.0) * q).round() as usize;
    values[i].as_secs_f64() * 1000.0
}

/// One call to its end: its turn latencies and result.
async fn one_call(plan: CallPlan) -> (Vec<Duration>, Result<CallSummary, String>) {
    let mut latencies = Vec::new();
    let result = place_call(plan, |t| latencies.extend(t.latency))
        .await
        .map_err(|e| e.to_string());
    (latencies, result)
}

/// The floor (one call at a time), then each concurrency level held for a while.
async fn capacity(bench: &Bench) {
    let levels: Vec<usize> = std::env::var("LEVELS")
        .unwrap_or_else(|_| "5,15,30,60".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let hold = Duration::from_secs(common::env_or("LEVEL_SECS", 30));
    bench.script(5);
    let mut floor = Vec::new();
    for _ in 0..5 {
        let (l, r) = one_call(bench.plan(call_sid())).await;
        assert!(succeeded(&r), "a lone call failed: {r:?}");
        floor.extend(l);
    }
    let floor_p99 = quantile(&mut floor, 0.99);
    println!(
        "one call at a time               turn latency p50 {:.0} ms p99 {floor_p99:.0} ms ({} turns)",
        quantile(&mut floor, 0.5),
        floor.len()
    );
    let mut best: Option<(usize, f64)> = None;
    for level in levels {
        let expected = level * (hold.as_secs() as usize / 6 + 2);
        bench.script(expected);
        let (cpu0, lb0) = bench.cpu();
        let generator0 = common::cpu_seconds(std::process::id());
        let started = Instant::now();
        let tasks: Vec<_> = (0..level)
            .map(|i| {
                let plans: Vec<CallPlan> = (0..expected / level + 1)
                    .map(|_| bench.plan(call_sid()))
                    .collect();
                tokio::spawn(async move {
                    // Spread the first calls over two seconds, then back to back.
                    tokio::time::sleep(Duration::from_millis((i * 2000 / level) as u64)).await;
                    let mut out = Vec::new();
                    for plan in plans {
                        if started.elapsed() >= hold {
                            break;
                        }
                        out.push(one_call(plan).await);
                    }
                    out
                })
            })
            .collect();
        let mut latencies = Vec::new();
        let (mut calls, mut failed) = (0, 0);
        let mut why = std::collections::BTreeMap::<String, usize>::new();
        for t in tasks {
            for (l, r) in t.await.unwrap() {
                calls += 1;
                if !succeeded(&r) {
                    failed += 1;
                    *why.entry(failure(&r)).or_default() += 1;
                }
                latencies.extend(l);
            }
        }
        let window = started.elapsed().as_secs_f64();
        let (cpu1, lb1) = bench.cpu();
        let generator = (common::cpu_seconds(std::process::id()) - generator0) / window;
        let node_cores = (cpu1 - cpu0) / window;
        let p99 = quantile(&mut latencies, 0.99);
        let within = p99 <= floor_p99 + 50.0;
        println!(
            "{level:>3} concurrent calls for {window:.0} s   {calls} calls, {failed} failed; turn p50 {:.0} ms p99 {p99:.0} ms ({}); nodes {node_cores:.2} cores, HAProxy {:.2}, callers and fakes {generator:.2}",
            quantile(&mut latencies, 0.5),
            if within {
                "within one call's p99 + 50 ms"
            } else {
                "over budget"
            },
            (lb1 - lb0) / window,
        );
        for (reason, n) in &why {
            println!("      {n} failed: {reason}");
        }
        if within && failed == 0 {
            best = Some((level, level as f64 / node_cores.max(0.01)));
        }
    }
    match best {
        Some((level, per_core)) => println!(
            "calls per core at p99 <= one call's p99 + 50 ms: {per_core:.0} (at {level} concurrent calls; the load generator and fakes share the same 2 cores)"
        ),
        None => println!("calls per core: no level met the latency budget"),
    }
}

fn main() {
    let (Ok(base), Ok(redis)) = (
        std::env::var("TEST_DATABASE_URL"),
        std::env::var("TEST_REDIS_URL"),
    ) else {
        println!("the cluster benchmark needs TEST_DATABASE_URL and TEST_REDIS_URL");
        return;
    };
    let probes = std::env::var("PROBES").unwrap_or_else(|_| "capacity,faults".into());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for probe in probes.split(',').map(str::trim) {
            println!("== {probe}");
            let mut bench = Bench::start(&base, &redis).await;
            match probe {
                "capacity" => capacity(&bench).await,
                "faults" => faults::run(&mut bench).await,
                other => println!("unknown probe {other:?}"),
            }
        }
    });
}
