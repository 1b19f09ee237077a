//! Load generator: N concurrent Twilio calls through the echo line of a real `callbridge`
//! process on 127.0.0.1, measuring the server's CPU per call-minute and memory per call.
//!
//! Run: `cargo bench --bench calls` (CALLS=50 SECONDS=20 ECHO_TRANSCODE=true by default; set
//! any in the environment; ECHO_TRANSCODE=false measures the bridge without DSP). Each call sends a 20 ms mu-law frame every 20 ms, echoes every mark back as
//! Twilio would, and counts the audio it gets back. Traffic stays on loopback, bounded in
//! count and time.

#![allow(clippy::disallowed_methods)] // A load generator reads the clock and its environment.

mod common;

use std::process::{Command, Stdio};

use common::{cpu_seconds, env_or, free_port, rss_mib};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use callbridge::carrier::{CarrierEvent, twilio};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

async fn call(port: u16, index: usize, until: Instant, received: Arc<AtomicU64>) {
    let sid = format!("CA{index:032}");
    let http = reqwest::Client::new();
    let xml = http
        .post(format!("http://127.0.0.1:{port}/twilio/voice"))
        .form(&[("CallSid", sid.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"name="token" value=""#;
    let start = xml.find(marker).expect("a token") + marker.len();
    let token = &xml[start..start + xml[start..].find('"').unwrap()];
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/twilio/media"))
        .await
        .unwrap();
    let (mut tx, mut rx) = ws.split();
    let stream = format!("MZ{index:032}");
    let start = serde_json::json!({"event": "start", "sequenceNumber": "1", "streamSid": stream,
        "start": {"streamSid": stream, "callSid": sid, "tracks": ["inbound"],
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                  "customParameters": {"token": token}}});
    tx.send(Message::Text(start.to_string().into()))
        .await
        .unwrap();
    let payload = base64::engine::general_purpose::STANDARD.encode([0x55u8; 160]);
    let (mark_tx, mut mark_rx) = tokio::sync::mpsc::channel::<String>(64);
    let reader = tokio::spawn(async move {
        while let Some(Ok(Message::Text(text))) = rx.next().await {
            match twilio::decode(&text).map(|f| f.event) {
                Ok(CarrierEvent::Media(m)) => {
                    received.fetch_add(m.payload.len() as u64, Ordering::Relaxed);
                }
                Ok(CarrierEvent::Mark { name }) => {
                    let sent = mark_tx.send(name).await;
                    if sent.is_err() {
                        break;
                    }
                }
                _ => {}
            }
        }
    });
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut seq = 1u64;
    while Instant::now() < until {
        tokio::select! {
            _ = tick.tick() => {
                seq += 1;
                let frame = format!(
                    r#"{{"event":"media","sequenceNumber":"{seq}","streamSid":"{stream}","media":{{"track":"inbound","chunk":"{seq}","timestamp":"{}","payload":"{payload}"}}}}"#,
                    seq * 20
                );
                if tx.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
            Some(name) = mark_rx.recv() => {
                seq += 1;
                let frame = format!(r#"{{"event":"mark","sequenceNumber":"{seq}","streamSid":"{stream}","mark":{{"name":"{name}"}}}}"#);
                if tx.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
        }
    }
    let stop = format!(r#"{{"event":"stop","streamSid":"{stream}","stop":{{"callSid":"{sid}"}}}}"#);
    let _ = tx.send(Message::Text(stop.into())).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
}

fn main() {
    // `cargo bench` passes harness flags such as `--bench`; this target takes none.
    let calls = env_or("CALLS", 50) as usize;
    let seconds = env_or("SECONDS", 20);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("callbridge-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_callbridge"))
        .env_clear()
        .env("CALL_MODE", "echo")
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("METRICS_ADDR", format!("127.0.0.1:{}", free_port()))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/load.db?mode=rwc", dir.display()),
        )
        .env("STREAM_TOKEN_SECRET", "load")
        .env("MAX_CALLS", "100000")
        // One load generator is one source: the per-source limits are for the internet.
        .env("RATE_LIMIT_WEBHOOK_PER_SEC", "1000000")
        .env("RATE_LIMIT_WEBHOOK_BURST", "1000000")
        .env("MAX_CONNECTIONS", "1000000")
        .env("ECHO_DELAY_MS", "200")
        .env(
            "ECHO_TRANSCODE",
            std::env::var("ECHO_TRANSCODE").unwrap_or_else(|_| "true".into()),
        )
        .env("LOG_LEVEL", "warn")
        .envs(std::env::var("TOKIO_WORKER_THREADS").map(|v| ("TOKIO_WORKER_THREADS", v)))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = server.id();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let idle_rss = rss_mib(pid);
        let warmup = Duration::from_secs(3);
        let until = Instant::now() + warmup + Duration::from_secs(seconds) + Duration::from_secs(1);
        let received = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..calls)
            .map(|i| tokio::spawn(call(port, i, until, received.clone())))
            .collect();
        tokio::time::sleep(warmup).await;
        let cpu0 = cpu_seconds(pid);
        let bytes0 = received.load(Ordering::Relaxed);
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let cpu = cpu_seconds(pid) - cpu0;
        let wall = t0.elapsed().as_secs_f64();
        let echoed = received.load(Ordering::Relaxed) - bytes0;
        let loaded_rss = rss_mib(pid);
        for t in tasks {
            let _ = t.await;
        }
        let call_minutes = calls as f64 * wall / 60.0;
        println!(
            "calls: {calls}, echo transcoding: {}, measured: {wall:.1} s after {warmup:?} warm-up",
            std::env::var("ECHO_TRANSCODE").unwrap_or_else(|_| "true".into())
        );
        println!(
            "server CPU: {cpu:.2} s = {:.3} CPU-seconds per call-minute ({:.1} % of one core)",
            cpu / call_minutes,
            100.0 * cpu / wall
        );
        println!(
            "server RSS: idle {idle_rss:.1} MiB, loaded {loaded_rss:.1} MiB = {:.3} MiB per call",
            (loaded_rss - idle_rss) / calls as f64
        );
        println!(
            "echoed audio: {:.1} % of real time per call",
            100.0 * echoed as f64 / 8000.0 / wall / calls as f64
        );
    });
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(dir);
}
