//! The built-in agent's evaluation: the calls in `fixtures/agent_eval/calls.txt`, each spoken
//! by Flite voices the agent does not use, placed against a real `callbridge` process on the
//! built-in engines (whisper.cpp hears, the scripted agent decides, Flite speaks) with a
//! database seeded for them; after each call the database is checked (bookings made, moved,
//! cancelled or left alone, customers created, the call's outcome and transcript). Prints
//! each call's verdict, the failures with what went wrong and the conversation as the server
//! recorded it, and the pass rate per voice and overall.
//!
//! Run: `cargo bench --bench agent_eval` (VOICES=slt,awb; CONCURRENCY=3 calls at a time;
//! ONLY=id,id to run some calls). Needs `callbridge models fetch` and Flite and sox (the clip
//! script installs them). Everything is on loopback; one server per voice, ended by PID.

#![allow(clippy::disallowed_methods)] // A benchmark reads the clock and its environment.

mod check;
#[path = "../common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callbridge::simulator::leg::CallerTurn;
use callbridge::simulator::run::{CallPlan, load_clip, place_call};
use common::{env_or, free_port};

use check::{appointments, check, transcript};

/// What must hold after a call.
#[derive(Debug, Clone)]
pub enum Expect {
    Booked {
        service: String,
        day: Option<String>,
        model: Option<String>,
    },
    Moved {
        service: String,
        day: String,
    },
    Cancelled(String),
    Kept(String),
    Unchanged,
    Customer(String),
    Transferred(String),
    Said(String),
}

#[derive(Debug, Clone)]
pub struct Call {
    id: String,
    /// The customer's name; `None` for a number not on file.
    caller: Option<String>,
    /// (year, make, model).
    vehicles: Vec<(i32, String, String)>,
    /// (service, days from seeding, HH:MM).
    bookings: Vec<(String, i64, String)>,
    turns: Vec<String>,
    expects: Vec<Expect>,
}

fn parse_expect(line: &str) -> Expect {
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim().to_string();
    match verb {
        "booked" => {
            let (rest, model) = match rest.split_once(" for ") {
                Some((r, m)) => (r.to_string(), Some(m.trim().to_string())),
                None => (rest, None),
            };
            let (service, day) = match rest.split_once(" on ") {
                Some((s, d)) => (s.to_string(), Some(d.trim().to_lowercase())),
                None => (rest, None),
            };
            Expect::Booked {
                service,
                day,
                model,
            }
        }
        "moved" => {
            let (service, day) = rest.split_once(" to ").expect("moved SERVICE to DAY");
            Expect::Moved {
                service: service.to_string(),
                day: day.trim().to_lowercase(),
            }
        }
        "cancelled" => Expect::Cancelled(rest),
        "kept" => Expect::Kept(rest),
        "unchanged" => Expect::Unchanged,
        "customer" => Expect::Customer(rest),
        "transferred" => Expect::Transferred(rest),
        "said" => Expect::Said(rest),
        other => panic!("calls.txt: unknown expectation {other:?}"),
    }
}

fn parse(text: &str) -> Vec<Call> {
    let mut calls: Vec<Call> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_prefix("== ") {
            let parts: Vec<&str> = head.split('|').map(str::trim).collect();
            let vehicles = parts
                .get(2)
                .into_iter()
                .flat_map(|v| v.split(','))
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    let mut w = v.split_whitespace();
                    let year = w.next().unwrap().parse().unwrap();
                    let make = w.next().unwrap().to_string();
                    (year, make, w.collect::<Vec<_>>().join(" "))
                })
                .collect();
            let bookings = parts
                .get(3)
                .into_iter()
                .flat_map(|b| b.split(';'))
                .filter(|b| !b.trim().is_empty())
                .map(|b| {
                    let (service, when) = b.trim().rsplit_once(" +").unwrap();
                    let (days, time) = when.split_once(' ').unwrap();
                    (service.to_string(), days.parse().unwrap(), time.to_string())
                })
                .collect();
            calls.push(Call {
                id: parts[0].to_string(),
                caller: Some(parts[1]).filter(|c| *c != "new").map(str::to_string),
                vehicles,
                bookings,
                turns: Vec::new(),
                expects: Vec::new(),
            });
        } else if let Some(words) = line.strip_prefix("> ") {
            calls.last_mut().unwrap().turns.push(words.to_string());
        } else if let Some(e) = line.strip_prefix("= ") {
            calls.last_mut().unwrap().expects.push(parse_expect(e));
        } else {
            panic!("calls.txt: cannot read {line:?}");
        }
    }
    calls
}

/// Each call's own number: customers on file at +1512555 7000+i, new callers at 8000+i.
fn phone(i: usize, call: &Call) -> String {
    let base = if call.caller.is_some() { 7000 } else { 8000 };
    format!("+1512555{:04}", base + i)
}

/// The demo CRM's services, bays, hours and closures, with the calls' customers and bookings.
fn fixture(calls: &[Call]) -> serde_json::Value {
    let mut crm: serde_json::Value =
        serde_json::from_str(callbridge::crm::seed::DEMO_FIXTURE).unwrap();
    let mut customers = Vec::new();
    let mut bookings = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let Some(name) = &call.caller else { continue };
        customers.push(serde_json::json!({
            "name": name, "phone": phone(i, call), "email": null,
            "vehicles": call.vehicles.iter().map(|(year, make, model)| serde_json::json!({
                "year": year, "make": make, "model": model, "vin": null, "mileage": null
            })).collect::<Vec<_>>(),
        }));
        for (j, (service, days, time)) in call.bookings.iter().enumerate() {
            bookings.push(serde_json::json!({
                "phone": phone(i, call), "vehicle": 0, "service": service,
                "day_offset": days, "time": time, "bay": format!("Bay {}", 1 + (i + j) % 4),
            }));
        }
    }
    crm["customers"] = customers.into();
    crm["bookings"] = bookings.into();
    crm
}

/// Renders every turn of every call in `voice` into `dir`: clip `c{call}_{turn}.wav`.
fn render(calls: &[Call], voice: &str, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut lines = String::new();
    for (i, call) in calls.iter().enumerate() {
        for (j, turn) in call.turns.iter().enumerate() {
            lines += &format!("c{i}_{j}|{turn}\n");
        }
    }
    let sentences = dir.join("eval-sentences.txt");
    std::fs::write(&sentences, lines).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ok = Command::new(root.join("scripts/make-caller-clips.sh"))
        .env("VOICE", voice)
        .env("OUT", dir)
        .env("SENTENCES", &sentences)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "rendering the clips in {voice} failed");
}

fn server(port: u16, db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_callbridge"));
    c.env_clear()
        .env("CALL_MODE", "agent")
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("METRICS_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("DATABASE_URL", db)
        .env("STREAM_TOKEN_SECRET", "eval")
        .env("NODE_ID", "eval")
        .env("BUSINESS_TIMEZONE", "America/Chicago")
        .env("STT_PROVIDER", "builtin")
        .env("LLM_PROVIDER", "builtin")
        .env("TTS_PROVIDER", "builtin")
        .env("RATE_LIMIT_WEBHOOK_PER_SEC", "1000000")
        .env("RATE_LIMIT_WEBHOOK_BURST", "1000000")
        .env(
            "LOG_LEVEL",
            std::env::var("SERVER_LOG").unwrap_or_else(|_| "error".into()),
        );
    for name in [
        "MODEL_CACHE_DIR",
        "XDG_CACHE_HOME",
        "HOME",
        "WHISPER_EARLY_MS",
    ] {
        c.envs(std::env::var(name).map(|v| (name, v)));
    }
    c
}

/// One voice's run: a fresh database, a server, every call; (call id, failures, transcript).
async fn run_voice(
    voice: &str,
    calls: &[Call],
    clips: &Path,
) -> Vec<(String, Vec<String>, String)> {
    let dir = std::env::temp_dir().join(format!("callbridge-eval-{}-{voice}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_url = format!("sqlite://{}/eval.db?mode=rwc", dir.display());
    let fixture_path = dir.join("crm.json");
    std::fs::write(&fixture_path, fixture(calls).to_string()).unwrap();
    let port = free_port();
    let seeded = server(port, &db_url)
        .arg("seed")
        .arg("--file")
        .arg(&fixture_path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(seeded.success(), "seeding failed");
    let mut child = server(port, &db_url)
        .arg("serve")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let client = reqwest::Client::new();
    let up_by = Instant::now() + Duration::from_secs(60);
    while client
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(Instant::now() < up_by, "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let db = Arc::new(callbridge::db::connect(&db_url).await.unwrap());
    let limit = Arc::new(tokio::sync::Semaphore::new(
        env_or("CONCURRENCY", 3) as usize
    ));
    let only: Vec<String> = std::env::var("ONLY")
        .map(|o| o.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let mut tasks = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        if !only.is_empty() && !only.contains(&call.id) {
            continue;
        }
        let turns: Vec<CallerTurn> = (0..call.turns.len())
            .map(|j| CallerTurn {
                audio: load_clip(&clips.join(format!("c{i}_{j}.wav"))).unwrap(),
                barge_in_after: None,
                dtmf: None,
            })
            .collect();
        let (call, db, limit) = (call.clone(), db.clone(), limit.clone());
        let voice = voice.to_string();
        tasks.push(tokio::spawn(async move {
            let _slot = limit.acquire().await.unwrap();
            let phone = phone(i, &call);
            let sid = format!("CA{:0>32}", format!("{voice}{i}"));
            let before = appointments(&db, &phone).await;
            let plan = CallPlan {
                base_url: url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
                connect_to: None,
                auth_token: None,
                from: phone.clone(),
                to: "+15125550100".into(),
                call_sid: sid.clone(),
                turns,
                answer_gap: Duration::from_millis(600),
                patience: Duration::from_secs(10),
                max_duration: Duration::from_secs(150),
                connect_delay: Duration::from_millis(300),
            };
            let mut failures = match place_call(plan, |_| {}).await {
                Ok(_) => Vec::new(),
                Err(e) => vec![format!("the call failed: {e}")],
            };
            failures.extend(check(&db, &call, &phone, &sid, &before).await);
            let said = transcript(&db, &sid)
                .await
                .iter()
                .map(|(s, t)| format!("      {s}: {t}"))
                .collect::<Vec<_>>()
                .join("\n");
            (call.id.clone(), failures, said)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
    results
}

fn main() {
    // reqwest (rustls without a provider) and the database driver agree on ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let calls =
        parse(&std::fs::read_to_string(root.join("fixtures/agent_eval/calls.txt")).unwrap());
    let voices = std::env::var("VOICES").unwrap_or_else(|_| "slt,awb".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut total = (0, 0);
    let mut by_voice: HashMap<String, (usize, usize)> = HashMap::new();
    println!("agent evaluation: {} calls", calls.len());
    for voice in voices.split(',') {
        let clips: PathBuf = std::env::temp_dir().join(format!("callbridge-eval-clips-{voice}"));
        render(&calls, voice, &clips);
        let t0 = Instant::now();
        let results = runtime.block_on(run_voice(voice, &calls, &clips));
        let passed = results.iter().filter(|(_, f, _)| f.is_empty()).count();
        for (id, failures, said) in &results {
            if failures.is_empty() {
                println!("  [{voice}] pass {id}");
            } else {
                println!("  [{voice}] FAIL {id}: {}", failures.join("; "));
                println!("{said}");
            }
        }
        println!(
            "{voice}: {passed}/{} passed ({:.0} s)",
            results.len(),
            t0.elapsed().as_secs_f64()
        );
        by_voice.insert(voice.to_string(), (passed, results.len()));
        total.0 += passed;
        total.1 += results.len();
    }
    let mut voices: Vec<_> = by_voice.into_iter().collect();
    voices.sort();
    for (voice, (p, n)) in voices {
        println!("  {voice}: {p}/{n}");
    }
    println!(
        "pass rate: {}/{} = {:.1} %",
        total.0,
        total.1,
        100.0 * total.0 as f64 / total.1.max(1) as f64
    );
}
