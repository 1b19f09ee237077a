//! Whole conversations under load: N concurrent simulated callers talk to a real `callbridge`
//! process in agent mode, whose providers are the protocol-faithful fakes from the tests with
//! fixed latencies (Deepgram endpointing, LLM first token, TTS first audio). Reports the
//! voice-to-voice latency the callers measured (end of their speech to the first agent audio
//! they hear) against the floor a bridge waiting for the provider's endpointing would reach
//! (endpointing + LLM + TTS), and the server's CPU-seconds per call-minute and memory per call.
//!
//! Run: `cargo bench --bench conversation` (CALLS=1,50,200; ENDPOINTING_MS=500 LLM_MS=200
//! TTS_MS=100 by default; the simulated carrier opens the stream CONNECT_DELAY_MS=300 after
//! the webhook, as Twilio takes a moment to). `ENGINES=builtin` runs the server on the
//! built-in engines instead (whisper.cpp, the scripted agent, Flite; the fetched model), with
//! no fixed latencies: what the callers measure is the engines' own speed, e.g.
//! `ENGINES=builtin CALLS=1,4,8`. `PREEMPTIVE_LLM`, `TURN_MODEL` and the `TURN_*` settings are
//! passed to the server to compare; each level also prints the server's own stage means and
//! its early requests used and wasted. `SERVER_WRAPPER` runs the server under a profiler
//! (`SERVER_WRAPPER="valgrind --tool=massif --massif-out-file=/tmp/massif.out" CALLS=4`).
//! Everything is on loopback, bounded in count and time; each level
//! gets a fresh server process, ended by PID.

#![allow(clippy::disallowed_methods)] // A load generator reads the clock and its environment.

mod common;
#[allow(dead_code)] // The benchmark uses only some of what the tests' fakes offer.
#[path = "../tests/api/fakes/mod.rs"]
mod fakes;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use callbridge::simulator::leg::CallerTurn;
use callbridge::simulator::run::{CallPlan, load_clip, place_call};
use common::{cpu_seconds, env_or, free_port, rss_mib};
use fakes::deepgram_stt::{ConnScript, FakeDeepgramStt};
use fakes::deepgram_tts::{FakeDeepgramTts, TtsBehaviour};
use fakes::openai::{FakeOpenAi, Reply, text_reply};

const KEY: &str = "bench-key";
/// What each caller says, and what the fake recognizer hears for it.
const SCRIPT: [(&str, &str); 4] = [
    (
        "book_oil_change",
        "Hi, I'd like to book an oil change for my Honda.",
    ),
    ("tuesday_morning", "Tuesday morning would be great."),
    ("yes_nine", "Yes, nine o'clock works for me."),
    ("hours", "What time do you open on Saturday?"),
];

struct Level {
    /// The server's own stage means.
    stage_means: String,
    calls: usize,
    v2v: Vec<Duration>,
    /// From `start` to the greeting heard.
    greeting: Vec<Duration>,
    unanswered: usize,
    cpu_per_call_minute: f64,
    mib_per_call: f64,
    wall: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// The server runs on the built-in engines (`ENGINES=builtin`) rather than the fakes.
fn builtin() -> bool {
    std::env::var("ENGINES").as_deref() == Ok("builtin")
}

fn server(port: u16, metrics_port: u16, db: &str, fakes: &Fakes, endpointing_ms: u64) -> Command {
    // `SERVER_WRAPPER="valgrind --tool=massif"` (say) runs the server under a profiler.
    let wrapper = std::env::var("SERVER_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut c = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(env!("CARGO_BIN_EXE_callbridge"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_callbridge")),
    };
    c.env_clear()
        .env("CALL_MODE", "agent")
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
        .env("PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("DATABASE_URL", db)
        .env("STREAM_TOKEN_SECRET", "bench")
        .env("MAX_CALLS", "1000")
        .env("NODE_ID", "bench")
        // One load generator is one source: the per-source limits are for the internet.
        .env("RATE_LIMIT_WEBHOOK_PER_SEC", "1000000")
        .env("RATE_LIMIT_WEBHOOK_BURST", "1000000")
        .env("MAX_CONNECTIONS", "1000000");
    if builtin() {
        // Where `callbridge models fetch` left the model.
        for name in ["MODEL_CACHE_DIR", "XDG_CACHE_HOME", "HOME"] {
            c.envs(std::env::var(name).map(|v| (name, v)));
        }
    } else {
        c.env("DEEPGRAM_API_KEY", KEY)
            .env("DEEPGRAM_STT_URL", &fakes.stt.url)
            .env("DEEPGRAM_TTS_URL", &fakes.tts.ws_url)
            .env("DEEPGRAM_TTS_REST_URL", &fakes.tts.rest_url)
            .env("DEEPGRAM_ENDPOINTING_MS", endpointing_ms.to_string())
            .env("OPENAI_API_KEY", KEY)
            .env("OPENAI_BASE_URL", &fakes.llm.base_url);
    }
    c.env(
        "LOG_LEVEL",
        std::env::var("SERVER_LOG").unwrap_or_else(|_| "error".into()),
    )
    .env("LOG_FORMAT", "pretty")
    .envs(std::env::var("TOKIO_WORKER_THREADS").map(|v| ("TOKIO_WORKER_THREADS", v)))
    .envs(std::env::var("FIRST_CLAUSE_MIN_WORDS").map(|v| ("FIRST_CLAUSE_MIN_WORDS", v)));
    // Turn-taking settings to compare (preemptive requests, the end-of-turn model).
    for name in [
        "PREEMPTIVE_LLM",
        "TURN_MODEL",
        "TURN_SILENCE_MS",
        "TURN_PAUSE_MS",
        "TURN_INCOMPLETE_MS",
        "TURN_VERDICT_WAIT_MS",
        "WHISPER_THREADS",
        "WHISPER_WORKERS",
        "MODEL_CACHE_DIR",
        "HOME",
    ] {
        c.envs(std::env::var(name).map(|v| (name, v)));
    }
    c
}

/// The server's stage means (ms) from its histograms, and its early requests used/wasted.
async fn stages(metrics_port: u16) -> String {
    let text = match reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => return String::new(),
    };
    let value = |series: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .fold(0.0, |a, b| a + b)
    };
    let mut out = Vec::new();
    for (label, name) in [
        ("stt final", "callbridge_stt_final_seconds"),
        ("LLM first token", "callbridge_llm_first_token_seconds"),
        ("first sentence", "callbridge_first_sentence_seconds"),
        ("TTS first audio", "callbridge_tts_first_byte_seconds"),
        ("voice-to-voice", "callbridge_voice_to_voice_seconds"),
    ] {
        let (sum, count) = (
            value(&format!("{name}_sum")),
            value(&format!("{name}_count")),
        );
        if count > 0.0 {
            out.push(format!("{label} {:.0} ms", sum / count * 1000.0));
        }
    }
    for outcome in ["used", "wasted"] {
        let n = value(&format!(
            "callbridge_preemptive_llm_total{{node_id=\"bench\",outcome=\"{outcome}\"}}"
        ));
        out.push(format!("early requests {outcome} {n}"));
    }
    out.join(", ")
}

/// One LLM answer. With `LLM_TOKEN_MS` set, streamed a word at a time at that pace (as a
/// cloud model writes: its first sentence takes a while), so `FIRST_CLAUSE_MIN_WORDS` can be
/// compared; otherwise two chunks 10 ms apart.
fn llm_reply(llm_ms: u64) -> Reply {
    let token_ms = env_or("LLM_TOKEN_MS", 0);
    if token_ms == 0 {
        return Reply::Stream {
            chunks: text_reply(&["Sure, I can help with that. ", "What day would suit you?"]),
            first_delay: Duration::from_millis(llm_ms),
            gap: Duration::from_millis(10),
            cut_after: None,
        };
    }
    let text = "I can book your oil change for Tuesday, December 8, at nine in the morning. \
                Shall I book it?";
    let words: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    Reply::Stream {
        chunks: text_reply(&words),
        first_delay: Duration::from_millis(llm_ms),
        gap: Duration::from_millis(token_ms),
        cut_after: None,
    }
}

struct Fakes {
    stt: FakeDeepgramStt,
    tts: FakeDeepgramTts,
    llm: FakeOpenAi,
}

async fn run_level(calls: usize, fakes: &Fakes, llm_ms: u64, endpointing_ms: u64) -> Level {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("callbridge-conv-{}-{calls}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
    let metrics_port = free_port();
    let seeded = server(port, metrics_port, &db, fakes, endpointing_ms)
        .args(["seed", "--if-empty"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(seeded.success(), "seeding failed");
    let mut child = server(port, metrics_port, &db, fakes, endpointing_ms)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let client = reqwest::Client::new();
    let up_by = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < up_by, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every call's recognizer hears the script; every LLM turn answers alike.
    for _ in 0..if builtin() { 0 } else { calls } {
        fakes.stt.push(ConnScript {
            phrases: SCRIPT.iter().map(|(_, p)| *p).collect(),
            ..ConnScript::default()
        });
        // Twice the turns: an early request cancelled for a different final takes one.
        for _ in 0..SCRIPT.len() * 2 {
            fakes.llm.push(llm_reply(llm_ms));
        }
    }
    let dir_calls = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls");
    let turns: Vec<CallerTurn> = SCRIPT
        .iter()
        .map(|(clip, _)| CallerTurn {
            audio: load_clip(&dir_calls.join(format!("{clip}.wav"))).unwrap(),
            barge_in_after: None,
            dtmf: None,
        })
        .collect();
    let idle_rss = rss_mib(pid);
    let cpu0 = cpu_seconds(pid);
    let t0 = Instant::now();
    // Calls arrive over one second, as a burst of real calls would.
    let tasks: Vec<_> = (0..calls)
        .map(|i| {
            let plan = CallPlan {
                base_url: url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
                connect_to: None,
                auth_token: None,
                from: "+15125550101".into(),
                to: "+15125550100".into(),
                call_sid: format!("CA{i:032}"),
                turns: turns.clone(),
                answer_gap: Duration::from_millis(200),
                patience: Duration::from_secs(5),
                max_duration: Duration::from_secs(90),
                connect_delay: Duration::from_millis(env_or("CONNECT_DELAY_MS", 300)),
            };
            let delay = Duration::from_millis((i as u64 * 1000) / calls as u64);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let started = Instant::now();
                let summary = place_call(plan, |_| {}).await;
                (summary, started.elapsed())
            })
        })
        .collect();
    let mut peak_rss = idle_rss;
    let mut pending = tasks;
    let mut results = Vec::new();
    while !pending.is_empty() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak_rss = peak_rss.max(rss_mib(pid));
        let (done, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|t| t.is_finished());
        for t in done {
            results.push(t.await.unwrap());
        }
        pending = rest;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu0;
    let stage_means = stages(metrics_port).await;
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);

    let mut v2v = Vec::new();
    let mut greeting = Vec::new();
    let mut unanswered = 0;
    let mut call_minutes = 0.0;
    for (summary, length) in results {
        call_minutes += length.as_secs_f64() / 60.0;
        match summary {
            Ok(s) => {
                greeting.extend(s.greeted_after);
                for t in &s.turns {
                    if std::env::var("SHOW_TURNS").is_ok() {
                        eprintln!("turn {} latency {:?}", t.index, t.latency);
                    }
                    match t.latency {
                        Some(l) => v2v.push(l),
                        None => unanswered += 1,
                    }
                }
                unanswered += SCRIPT.len().saturating_sub(s.turns.len());
            }
            Err(e) => {
                eprintln!("call failed: {e}");
                unanswered += SCRIPT.len();
            }
        }
    }
    v2v.sort();
    greeting.sort();
    Level {
        stage_means,
        calls,
        v2v,
        greeting,
        unanswered,
        cpu_per_call_minute: cpu / call_minutes,
        mib_per_call: (peak_rss - idle_rss) / calls as f64,
        wall,
    }
}

fn main() {
    let levels: Vec<usize> = std::env::var("CALLS")
        .unwrap_or_else(|_| "1,50,200".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let endpointing_ms = env_or("ENDPOINTING_MS", 500);
    let llm_ms = env_or("LLM_MS", 200);
    let tts_ms = env_or("TTS_MS", 100);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let fakes = Fakes {
            stt: FakeDeepgramStt::start(KEY, Duration::from_secs(10)).await,
            tts: FakeDeepgramTts::start(
                KEY,
                TtsBehaviour {
                    first_audio_delay: Duration::from_millis(tts_ms),
                    ..TtsBehaviour::default()
                },
            )
            .await,
            llm: FakeOpenAi::start(Some(KEY)).await,
        };
        let floor = endpointing_ms + llm_ms + tts_ms;
        if builtin() {
            println!("built-in engines: whisper.cpp, the scripted agent, Flite (\"vs floor\": against {floor} ms)");
        } else {
            println!(
                "fixed provider latencies: endpointing {endpointing_ms} ms, LLM first token {llm_ms} ms, \
                 TTS first audio {tts_ms} ms; floor without local VAD {floor} ms"
            );
        }
        println!(
            "{:>5} {:>8} {:>8} {:>8} {:>10} {:>10} {:>14} {:>10} {:>8}",
            "calls",
            "turns",
            "v2v p50",
            "v2v p99",
            "vs floor",
            "greet p99",
            "CPU-s/call-min",
            "MiB/call",
            "wall s"
        );
        for calls in levels {
            let l = run_level(calls, &fakes, llm_ms, endpointing_ms).await;
            let p50 = percentile(&l.v2v, 0.5);
            println!(
                "{:>5} {:>8} {:>7.0}ms {:>7.0}ms {:>+9.0}ms {:>8.0}ms {:>14.3} {:>10.3} {:>8.1}{}",
                l.calls,
                l.v2v.len(),
                p50,
                percentile(&l.v2v, 0.99),
                p50 - floor as f64,
                percentile(&l.greeting, 0.99),
                l.cpu_per_call_minute,
                l.mib_per_call,
                l.wall,
                if l.unanswered > 0 {
                    format!("  ({} turns unanswered)", l.unanswered)
                } else {
                    String::new()
                }
            );
            println!("      server stage means: {}", l.stage_means);
        }
    });
}
