//! SIGTERM and SIGKILL on the real binary. SIGTERM with a call going: readiness fails at once,
//! webhooks are still answered (new callers get the busy TwiML), the call is wound down before
//! the grace ends, and the process exits 0. After SIGKILL, the next start gives the calls the
//! dead process left without an outcome the outcome `interrupted`. A recorded call survives
//! both: SIGKILL leaves its file playable up to the last page, SIGTERM finishes it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use callbridge::crm;

use crate::helpers::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary serving with `overrides`, once it answers; the database it uses.
async fn serve(overrides: &[(&str, &str)]) -> (Child, ExternalApp, String) {
    install_crypto();
    let port = free_port();
    let metrics_port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let metrics = format!("127.0.0.1:{metrics_port}");
    let mut all = vec![
        ("LISTEN_ADDR", listen.as_str()),
        ("METRICS_ADDR", metrics.as_str()),
    ];
    all.extend_from_slice(overrides);
    let mut env = test_env(&all).await;
    env.retain(|(k, _)| k != "REDIS_URL" && k != "REDIS_KEY_PREFIX");
    let database = env
        .iter()
        .rev()
        .find(|(k, _)| k == "DATABASE_URL")
        .map(|(_, v)| v.clone())
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_callbridge"))
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
    (child, app, database)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn exited(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + HANG;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "process exits");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sigterm_keeps_answering_winds_calls_down_before_the_grace_ends_then_exits() {
    // Real processes with timing to keep: not beside another fleet (see `HEAVY`).
    let _heavy = HEAVY.lock().await;
    let (mut child, app, _) =
        serve(&[("SHUTDOWN_GRACE_SECS", "4"), ("DRAIN_WIND_DOWN_SECS", "2")]).await;
    let sid = unique("CA");
    let token = token_from_twiml(&app.voice_webhook(&sid).await);
    let mut leg = TwilioLeg::connect(&app).await;
    leg.start(&sid, &token).await;
    leg.media(1, &ramp_frame(0, 1)).await;

    signal(&child, "-TERM");
    let signalled = Instant::now();

    // Draining: not ready (as soon as the signal is handled), but a new caller is still
    // answered, with the busy TwiML.
    let deadline = Instant::now() + Duration::from_millis(1500);
    // (A pooled keep-alive connection the node closes as it starts draining fails one
    // request, as it would a load balancer's probe, which simply probes again.)
    while !matches!(
        app.http.get(app.url("/readyz")).send().await,
        Ok(r) if r.status() == 503
    ) {
        assert!(Instant::now() < deadline, "readiness failed at once");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let twiml = app.voice_webhook(&unique("CA")).await;
    assert!(
        !twiml.contains("<Connect>") && twiml.contains("<Say>"),
        "{twiml}"
    );

    // The echo call has nothing to finish: it is wound down (1001) when the wind-down
    // starts, two seconds into the grace, not cut at its end.
    let (code, reason) = leg.until_closed().await;
    assert_eq!(code, Some(1001), "{reason}");
    let closed = signalled.elapsed();
    assert!(
        closed >= Duration::from_millis(1900) && closed < Duration::from_millis(3900),
        "{closed:?}"
    );

    let exit = exited(&mut child).await;
    assert!(exit.success(), "{exit:?}");
}

/// Readiness at SIGTERM fails before anything is refused, so a load balancer that checks it
/// has stopped sending before the node would turn callers away.
#[tokio::test]
async fn sigterm_with_a_drain_delay_fails_readiness_but_takes_calls_until_the_delay_is_over() {
    // Real processes with timing to keep: not beside another fleet (see `HEAVY`).
    let _heavy = HEAVY.lock().await;
    let (mut child, app, _) = serve(&[
        ("DRAIN_DELAY_SECS", "2"),
        ("SHUTDOWN_GRACE_SECS", "2"),
        ("DRAIN_WIND_DOWN_SECS", "1"),
    ])
    .await;
    signal(&child, "-TERM");
    let signalled = Instant::now();
    let deadline = Instant::now() + Duration::from_millis(1500);
    // A pooled keep-alive connection the node closes as it starts draining fails one request
    // (as it would a load balancer's probe, which simply probes again): asked again.
    while !matches!(
        app.http.get(app.url("/readyz")).send().await,
        Ok(r) if r.status() == 503
    ) {
        assert!(Instant::now() < deadline, "readiness failed at once");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Inside the delay: a new call is answered with its stream and its media is taken.
    let sid = unique("CA");
    let twiml = app.voice_webhook(&sid).await;
    assert!(twiml.contains("<Connect"), "{twiml}");
    let mut leg = TwilioLeg::connect(&app).await;
    leg.start(&sid, &token_from_twiml(&twiml)).await;
    leg.media(1, &ramp_frame(0, 1)).await;
    assert!(
        signalled.elapsed() < Duration::from_millis(1800),
        "inside the delay"
    );

    // After it: refused with the busy TwiML.
    tokio::time::sleep(Duration::from_millis(2200).saturating_sub(signalled.elapsed())).await;
    let twiml = app.voice_webhook(&unique("CA")).await;
    assert!(
        !twiml.contains("<Connect") && twiml.contains("<Say>"),
        "{twiml}"
    );
    // The call taken in the delay is wound down with the others, a second into the grace.
    let (code, reason) = leg.until_closed().await;
    assert_eq!(code, Some(1001), "{reason}");
    assert!(exited(&mut child).await.success());
}

#[tokio::test]
async fn calls_a_killed_process_left_open_are_marked_interrupted_at_the_next_start() {
    // Real processes with timing to keep: not beside another fleet (see `HEAVY`).
    let _heavy = HEAVY.lock().await;
    let (mut child, app, database) = serve(&[]).await;
    let db = callbridge::db::connect(&database).await.unwrap();
    // A call the process is running when it is killed: its log has no outcome yet.
    let sid = unique("CA");
    let open = crm::calls::start(&db, &sid, Some("+15550001111"), None, chrono::Utc::now())
        .await
        .unwrap();
    let finished_sid = unique("CA");
    let finished = crm::calls::start(&db, &finished_sid, None, None, chrono::Utc::now())
        .await
        .unwrap();
    crm::calls::finish(&db, finished.id, "completed", None, chrono::Utc::now())
        .await
        .unwrap();
    drop(app);
    signal(&child, "-KILL");
    let exit = exited(&mut child).await;
    assert!(!exit.success());

    let (mut child, _app, _) = serve(&[("DATABASE_URL", &database)]).await;
    let (calls, _) = crm::calls::list(
        &db,
        &Default::default(),
        crm::appointments::Page {
            limit: 50,
            offset: 0,
        },
    )
    .await
    .unwrap();
    let outcome = |id: i32| {
        calls
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.outcome.clone())
    };
    assert_eq!(outcome(open.id).as_deref(), Some(crm::calls::INTERRUPTED));
    assert_eq!(
        outcome(finished.id).as_deref(),
        Some("completed"),
        "left as it was"
    );
    signal(&child, "-TERM");
    assert!(exited(&mut child).await.success());
}

/// A recorded agent call the process is running when it is signalled; what its recording
/// holds afterwards.
async fn recording_after(signal_name: &str) -> callbridge::audio::ogg_opus::DecodedRecording {
    let folder = std::env::temp_dir()
        .join("callbridge-tests")
        .join(unique("killed-recordings"));
    let folder_text = folder.display().to_string();
    let (mut child, app, database) = serve(&[
        ("CALL_MODE", "agent"),
        ("RECORDINGS_DIR", &folder_text),
        ("SHUTDOWN_GRACE_SECS", "6"),
        ("DRAIN_WIND_DOWN_SECS", "1"),
    ])
    .await;
    let db = callbridge::db::connect(&database).await.unwrap();
    let sid = unique("CA");
    let token = token_from_twiml(&app.voice_webhook(&sid).await);
    let mut leg = TwilioLeg::connect(&app).await;
    leg.start(&sid, &token).await;
    // Three seconds of the caller's line, in real time: the file gets its first pages.
    for i in 0..150 {
        leg.media(i + 1, &ramp_frame(i as usize, 150)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let noted = async {
        loop {
            let noted = crm::calls::recordings(&db, &sid).await.unwrap();
            if let Some(row) = noted.into_iter().next() {
                return row.path;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let path = tokio::time::timeout(HANG, noted)
        .await
        .expect("the recording is noted in the call log while the call goes on");
    signal(&child, signal_name);
    exited(&mut child).await;
    let bytes = std::fs::read(folder.join(&path)).unwrap();
    let _ = std::fs::remove_dir_all(&folder);
    callbridge::audio::ogg_opus::decode(&bytes).expect("the file reads back whole")
}

/// SIGKILL mid-call leaves a recording that plays up to its last whole page (a second at
/// most before the kill); SIGTERM winds the call down and finishes the file.
#[tokio::test]
async fn a_recording_survives_sigkill_up_to_its_last_page_and_sigterm_finishes_it() {
    // Real processes with timing to keep: not beside another fleet (see `HEAVY`).
    let _heavy = HEAVY.lock().await;
    let killed = recording_after("-KILL").await;
    assert!(!killed.complete, "a killed process never wrote the end");
    assert!(
        killed.left.len() >= 8000 * 2,
        "{} samples of the caller's three seconds",
        killed.left.len()
    );
    let drained = recording_after("-TERM").await;
    assert!(drained.complete, "the drained call's file is finished");
    assert!(drained.left.len() >= 8000 * 3, "{}", drained.left.len());
}
