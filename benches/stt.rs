//! The speech-to-text push path under load: `CALLS` (default 50) concurrent Deepgram streams,
//! each pushed a 20 ms mu-law frame every 20 ms for `SECONDS` (default 10), into a sink that
//! speaks Deepgram's protocol far enough (accepts the socket, reads audio, answers
//! `CloseStream` with `Metadata` and a close). The sink runs in a child process (this same
//! binary, re-executed), so the CPU measured is the client's alone.
//!
//! Prints CPU-seconds per call-minute of the push path, frames per second sustained (as
//! counted by the sink) and frames dropped. Run: `cargo bench --bench stt`. Loopback only,
//! bounded in count and time.

#![allow(clippy::disallowed_methods)] // A benchmark reads the clock and its environment.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use callbridge::audio::AudioFormat;
use callbridge::providers::ProviderHealth;
use callbridge::providers::stt::deepgram::{DeepgramStt, DeepgramSttConfig};
use callbridge::providers::stt::{SpeechToText, SttControl, SttEvent};
use common::{cpu_seconds, env_or};

/// The sink: prints its port, then serves until stdin closes; prints frames received.
fn sink() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        let frames = Arc::new(AtomicU64::new(0));
        let counted = frames.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let frames = counted.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    while let Some(Ok(m)) = ws.next().await {
                        match m {
                            Message::Binary(_) => {
                                frames.fetch_add(1, Ordering::Relaxed);
                            }
                            Message::Text(t) if t.contains("CloseStream") => {
                                let _ = ws
                                    .send(Message::text(
                                        r#"{"type":"Metadata","request_id":"bench"}"#,
                                    ))
                                    .await;
                                let _ = ws.close(None).await;
                                return;
                            }
                            _ => {}
                        }
                    }
                });
            }
        });
        // Wait for the parent to close our stdin, then report.
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await
        .unwrap();
        println!("{}", frames.load(Ordering::Relaxed));
    });
}

fn main() {
    if std::env::var("STT_BENCH_SINK").is_ok() {
        return sink();
    }
    let calls = env_or("CALLS", 50) as usize;
    let seconds = env_or("SECONDS", 10);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("STT_BENCH_SINK", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut port = String::new();
    out.read_line(&mut port).unwrap();
    let url = Url::parse(&format!("ws://127.0.0.1:{}/v1/listen", port.trim())).unwrap();

    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let pushed = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let (cpu, elapsed) = rt.block_on(async {
        let stt = DeepgramStt::new(
            DeepgramSttConfig::new(url, Some(callbridge::config::Secret::new("bench"))),
            ProviderHealth::default(),
        );
        let cpu0 = cpu_seconds(std::process::id());
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..calls {
            let mut stream = stt.open(AudioFormat::MULAW_8K);
            let (pushed, dropped) = (pushed.clone(), dropped.clone());
            tasks.push(tokio::spawn(async move {
                let frame = vec![0xffu8; 160];
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                for _ in 0..seconds * 50 {
                    tick.tick().await;
                    if stream.push(frame.clone()) {
                        pushed.fetch_add(1, Ordering::Relaxed);
                    } else {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                stream.control(SttControl::Finish);
                while let Some(e) = stream.next().await {
                    if matches!(e, SttEvent::Closed | SttEvent::Error(_)) {
                        break;
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        (cpu_seconds(std::process::id()) - cpu0, t0.elapsed())
    });
    drop(child.stdin.take()); // tells the sink to report
    let mut received = String::new();
    out.read_line(&mut received).unwrap();
    let _ = child.wait();
    let received: f64 = received.trim().parse().unwrap_or(0.0);
    let call_minutes = calls as f64 * seconds as f64 / 60.0;
    println!(
        "{calls} streams x {seconds} s: {:.4} CPU-s per call-minute (client push path), {:.0} frames/s sustained (sink), {} pushed, {} dropped, wall {:.1} s",
        cpu / call_minutes,
        received / elapsed.as_secs_f64(),
        pushed.load(Ordering::Relaxed),
        dropped.load(Ordering::Relaxed),
        elapsed.as_secs_f64()
    );
}
