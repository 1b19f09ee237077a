//! Clients that are slow, silent or greedy: a connection that never sends its request head is
//! closed at the header deadline, a body that never finishes is answered 408, the listener holds
//! at most `MAX_CONNECTIONS` sockets, one source over its rate gets 429 while others and the
//! health probes are served, and stopping the server waits on none of them.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Reads until the server closes the connection (or `within` passes); returns what was read
/// and whether the server closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn silent_and_slow_header_clients_are_closed_at_the_header_deadline() {
    let app = spawn_app_with(&[("HTTP_HEADER_SECS", "1")]).await;
    let mut silent = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let mut slow = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    slow.write_all(b"POST /twilio/voice HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let opened = Instant::now();
    // The slow client keeps dripping header bytes; it still has to finish within the deadline.
    let drip = tokio::spawn(async move {
        for _ in 0..40 {
            if slow.write_all(b"X-A: b\r\n").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
        closed
    });
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed, "a silent connection outlived the header deadline");
    assert!(
        opened.elapsed() >= Duration::from_millis(900),
        "closed before its deadline"
    );
    assert!(drip.await.unwrap(), "a slow-header connection was kept");
    // A client that keeps a connection open after its request is closed the same way.
    let mut kept = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut kept, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle keep-alive connection was kept");
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_never_finishes_is_answered_408() {
    let app = spawn_app_with(&[("HTTP_REQUEST_SECS", "1")]).await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    stream
        .write_all(
            b"POST /twilio/voice HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 400\r\n\r\nCallSid=CA",
        )
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_listener_holds_at_most_max_connections_and_serves_the_next_when_one_frees() {
    let app = spawn_app_with(&[("MAX_CONNECTIONS", "16"), ("HTTP_HEADER_SECS", "2")]).await;
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(TcpStream::connect(("127.0.0.1", app.port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The seventeenth waits for a place (it is accepted by the kernel, not by the server)...
    let mut next = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    next.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (early, _) = read_until_closed(&mut next, Duration::from_millis(500)).await;
    assert_eq!(early, "", "answered while every place was held");
    // ...and is served once the idle ones reach their header deadline.
    let (answer, _) = read_until_closed(&mut next, Duration::from_secs(6)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    for mut stream in idle {
        let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(1)).await;
        assert!(closed, "an idle connection was kept past its deadline");
    }
    app.stop().await;
}

#[tokio::test]
async fn one_source_over_its_rate_gets_429_while_health_is_still_served() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_WEBHOOK_PER_SEC", "1"),
        ("RATE_LIMIT_WEBHOOK_BURST", "3"),
        ("RATE_LIMIT_STAFF_PER_SEC", "1"),
        ("RATE_LIMIT_STAFF_BURST", "2"),
    ])
    .await;
    for _ in 0..3 {
        app.voice_webhook(&unique("CA")).await;
    }
    let refused = app
        .post_form(
            "/twilio/voice",
            &[("CallSid", &unique("CA")), ("From", "+15550001111")],
            None,
        )
        .await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // Media handshakes count against the same source.
    let upgrade = app.http.get(app.url("/twilio/media")).send().await.unwrap();
    assert_eq!(upgrade.status(), 429);
    // Guessing the staff key is limited too, wrong keys included.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = app
            .http
            .get(app.url("/api/v1/appointments"))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[2], 429, "{statuses:?}");
    assert_ne!(statuses[0], 429, "{statuses:?}");
    // Probes are never limited.
    for _ in 0..10 {
        let r = app.http.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let metrics = scrape_metrics(&app).await;
    assert!(
        metrics.contains(
            r#"callbridge_http_rate_limited_total{node_id="test-node",scope="webhook"} 2"#
        ),
        "{metrics}"
    );
    // The bucket refills: a second later the source is served again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.voice_webhook(&unique("CA")).await;
    app.stop().await;
}

#[tokio::test]
async fn stopping_the_server_waits_on_no_slow_client() {
    let app = spawn_app_with(&[("HTTP_HEADER_SECS", "60"), ("HTTP_REQUEST_SECS", "60")]).await;
    let _silent = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let mut slow_body = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    slow_body
        .write_all(b"POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\nCa")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = Instant::now();
    app.stop().await;
    // The HTTP close waits 2 s at most for requests in flight; nothing waits for 60 s.
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "{:?}",
        stopping.elapsed()
    );
}
