//! SIGTERM with calls active: the real binary stops admitting calls, lets active calls run for
//! the grace period, then ends them cleanly and exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn sigterm_drains_active_calls_then_exits_cleanly() {
    install_crypto();
    let port = free_port();
    let metrics_port = free_port();
    let mut env = test_env(&[
        ("LISTEN_ADDR", &format!("127.0.0.1:{port}")),
        ("METRICS_ADDR", &format!("127.0.0.1:{metrics_port}")),
        ("SHUTDOWN_GRACE_SECS", "1"),
    ])
    .await;
    env.retain(|(k, _)| k != "REDIS_URL" && k != "REDIS_KEY_PREFIX");
    let mut child = Command::new(env!("CARGO_BIN_EXE_callbridge"))
        .env_clear()
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let app = TestApp::external(port, metrics_port);
    let deadline = Instant::now() + HANG;
    while app.http.get(app.url("/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let sid = unique("CA");
    let token = token_from_twiml(&app.voice_webhook(&sid).await);
    let mut leg = TwilioLeg::connect(&app).await;
    leg.start(&sid, &token).await;
    leg.media(1, &ramp_frame(0, 1)).await;

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = Instant::now();

    // The call goes on through the grace period, then is ended with "going away".
    let (code, reason) = leg.until_closed().await;
    assert_eq!(code, Some(1001), "{reason}");
    assert!(
        signalled.elapsed() >= Duration::from_millis(900),
        "grace period honoured"
    );

    // No new calls are taken once draining.
    assert!(
        app.http
            .post(app.url("/twilio/voice"))
            .send()
            .await
            .is_err()
    );

    let deadline = Instant::now() + HANG;
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "process exits");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
}
