//! Clients that do not finish: webhooks whose media never comes, and idle or slow connections.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::{Fakes, Server, call_sid};

/// `MAX_CALLS` webhooks whose media never arrives, then a new caller every 250 ms: how long
/// until one is connected rather than told the lines are busy.
pub async fn abandoned(fakes: &Fakes) {
    let max_calls = 10;
    let arrival = crate::common::env_or("MEDIA_ARRIVAL_SECS", 15);
    let arrival_s = arrival.to_string();
    let server = Server::start(
        fakes,
        None,
        &[("MAX_CALLS", "10"), ("MEDIA_ARRIVAL_SECS", &arrival_s)],
    )
    .await;
    let client = reqwest::Client::new();
    for i in 0..max_calls {
        let twiml = server.voice_webhook(&client, &call_sid(i)).await;
        assert!(twiml.contains("<Connect"), "{twiml}");
    }
    let abandoned_at = Instant::now();
    let ready: serde_json::Value = client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or_default();
    let mut busy = 0;
    let back_after = loop {
        let twiml = server.voice_webhook(&client, &call_sid(100 + busy)).await;
        if twiml.contains("<Connect") {
            break Some(abandoned_at.elapsed());
        }
        busy += 1;
        if abandoned_at.elapsed() > Duration::from_secs(arrival + 60) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!(
        "readyz while abandoned         streaming {} reserved {}",
        ready["streaming_calls"], ready["reserved_calls"]
    );
    match back_after {
        Some(t) => println!(
            "capacity back after            {:.1} s  (goal <= MEDIA_ARRIVAL_SECS = {arrival} s; {busy} callers got busy meanwhile)",
            t.as_secs_f64()
        ),
        None => println!(
            "capacity back after            never within {} s",
            arrival + 60
        ),
    }
    server.stop().await;
}

/// A mix of idle and slow clients, a quarter of each kind.
async fn open_clients(port: u16, count: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let mut held = Vec::with_capacity(count);
    for i in 0..count {
        let task = match i % 4 {
            // Silent TCP.
            0 => {
                let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                tokio::spawn(async move {
                    let _s = s;
                    tokio::time::sleep(Duration::from_secs(600)).await;
                })
            }
            // Slow headers: a byte every two seconds.
            1 => {
                let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                tokio::spawn(async move {
                    let _ = s
                        .write_all(b"POST /twilio/voice HTTP/1.1\r\nHost: x\r\n")
                        .await;
                    for _ in 0..300 {
                        if s.write_all(b"X").await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                })
            }
            // Slow body: a byte every two seconds.
            2 => {
                let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                tokio::spawn(async move {
                    let _ = s
                        .write_all(
                            b"POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Type: \
                              application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n",
                        )
                        .await;
                    for _ in 0..300 {
                        if s.write_all(b"C").await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                })
            }
            // A media socket that never sends `start`.
            _ => {
                let url = format!("ws://127.0.0.1:{port}/twilio/media");
                let ws = tokio_tungstenite::connect_async(url).await;
                tokio::spawn(async move {
                    let _ws = ws;
                    tokio::time::sleep(Duration::from_secs(600)).await;
                })
            }
        };
        held.push(task);
    }
    held
}

/// `IDLE_CLIENTS` idle and slow clients: the server's descriptors before, with them, and after
/// the deadlines; then SIGTERM with as many more still connected.
pub async fn idle(fakes: &Fakes) {
    let count = crate::common::env_or("IDLE_CLIENTS", 750) as usize;
    // The per-source rate limit would refuse most of one address's handshakes at once: lifted
    // here (as for every probe) so that the deadlines are what is measured.
    let mut server = Server::start(fakes, None, &[]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.descriptors();
    let opened_at = Instant::now();
    let clients = open_clients(server.port, count).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with = server.descriptors();
    // Deadlines: start 5 s, headers 10 s, request 20 s (408, then the connection closes).
    let settle = Duration::from_secs(25);
    tokio::time::sleep(settle.saturating_sub(opened_at.elapsed())).await;
    let after = server.descriptors();
    println!(
        "server descriptors             {before} idle, {with} with {count} clients, {after} at {} s  (goal: back to ~{before})",
        settle.as_secs()
    );
    for c in clients {
        c.abort();
    }
    let more = open_clients(server.port, count).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.signal("-TERM");
    match server.exited(Duration::from_secs(60)).await {
        Some(t) => println!(
            "SIGTERM with {count} clients held  exit after {:.1} s  (goal: not waiting on clients)",
            t.as_secs_f64()
        ),
        None => println!("SIGTERM with {count} clients held  not gone within 60 s"),
    }
    for c in more {
        c.abort();
    }
    server.stop().await;
}
