//! Storage outages through a TCP proxy the test controls, in front of the real PostgreSQL and
//! Redis (skipped without `TEST_DATABASE_URL` / `TEST_REDIS_URL`): readiness answers within
//! its deadline with states, Redis down does not take the node out of service, and new callers
//! are still connected.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;
use crate::proxy::{FaultProxy, Mode, proxied_database, socket_of};

async fn readyz(app: &TestApp) -> (u16, Value, Duration) {
    let asked = Instant::now();
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap(), asked.elapsed())
}

async fn until_ready(app: &TestApp, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body, _) = readyz(app).await;
        if status == 200 && body["session_store"]["ok"] == true {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never ready again: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn with_redis_cut_or_frozen_the_node_stays_ready_and_callers_are_connected() {
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("skipped: TEST_REDIS_URL is not set");
        return;
    };
    let proxy = FaultProxy::start(socket_of(&redis)).await;
    let via = format!("redis://{}", proxy.addr);
    let app = spawn_app_with(&[("REDIS_URL", &via)]).await;
    until_ready(&app, "before the outage").await;

    for mode in [Mode::Cut, Mode::Freeze] {
        proxy.set(mode);
        let (status, body, took) = readyz(&app).await;
        assert_eq!(status, 200, "{mode:?}: {body}");
        assert_eq!(body["session_store"]["ok"], false, "{mode:?}: {body}");
        assert!(
            took < Duration::from_secs(3),
            "{mode:?}: readiness took {took:?}"
        );
        let asked = Instant::now();
        let twiml = app.voice_webhook(&unique("CA")).await;
        assert!(twiml.contains("<Connect>"), "{mode:?}: {twiml}");
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "{mode:?}: the webhook waited {:?} on the registry",
            asked.elapsed()
        );
        proxy.set(Mode::Pass);
        until_ready(&app, "after the outage").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn with_postgres_frozen_readiness_answers_in_time_and_comes_back() {
    let Some((proxy, url, _)) = proxied_database().await else {
        return;
    };
    let app = spawn_app_with(&[("DATABASE_URL", &url)]).await;
    until_ready(&app, "before the outage").await;

    proxy.set(Mode::Freeze);
    let (status, body, took) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"]["state"], "timed_out", "{body}");
    assert!(took < Duration::from_secs(3), "readiness took {took:?}");
    assert_eq!(
        body["database"].as_object().map(|o| o.len()),
        Some(2),
        "ok and a state, no error string: {body}"
    );

    proxy.set(Mode::Pass);
    until_ready(&app, "after the freeze").await;
    app.stop().await;
}

#[tokio::test]
#[allow(clippy::disallowed_methods)] // The test reads the clock to stamp its records.
async fn records_written_through_a_database_outage_are_all_stored_once() {
    use callbridge::call::record::{Record, Speaker, Turn};
    use callbridge::driver::records::{CallRecorder, WallClock};

    install_crypto();
    let Some((proxy, via, direct)) = proxied_database().await else {
        return;
    };
    let setup = callbridge::db::connect(&direct).await.unwrap();
    callbridge::db::migrate(&setup).await.unwrap();
    let db = callbridge::db::connect(&via).await.unwrap();
    let log = callbridge::crm::calls::start(&db, &unique("CA"), None, None, chrono::Utc::now())
        .await
        .unwrap();
    let tasks = tokio_util::task::TaskTracker::new();
    let mut recorder = CallRecorder::spawn(
        db.clone(),
        Some(log.id),
        WallClock::now(),
        &tasks,
        callbridge::live::CallFeed::new(&callbridge::live::LiveBus::new("test", None), "CAoutage"),
    );
    let now = std::time::Instant::now();
    recorder.record(Record::Turn(Turn::new(
        Speaker::Agent,
        "Hello, Lone Star Auto.",
        now,
    )));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The database freezes for a while, then is cut, then comes back: nothing is lost.
    proxy.set(Mode::Freeze);
    for i in 0..5 {
        recorder.record(Record::Turn(Turn::new(
            Speaker::Caller,
            format!("turn {i}"),
            now,
        )));
    }
    tokio::time::sleep(Duration::from_secs(6)).await; // past one attempt's deadline
    proxy.set(Mode::Cut);
    recorder.record(Record::Turn(Turn::new(Speaker::Agent, "Booked.", now)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.set(Mode::Pass);
    recorder.finish("booked").await;
    tasks.close();
    tokio::time::timeout(Duration::from_secs(60), tasks.wait())
        .await
        .expect("the writer finished once the database was back");

    let (call, turns) = callbridge::crm::calls::with_turns(&setup, &log.call_sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.outcome.as_deref(), Some("booked"));
    let texts: Vec<&str> = turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Hello, Lone Star Auto.",
            "turn 0",
            "turn 1",
            "turn 2",
            "turn 3",
            "turn 4",
            "Booked."
        ],
        "every record, in order, once"
    );
    let seqs: Vec<i32> = turns.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
}

#[tokio::test]
#[allow(clippy::disallowed_methods)] // The test reads the clock to stamp its records.
async fn a_record_the_database_refuses_does_not_take_the_others_with_it() {
    use callbridge::call::record::{Record, Speaker, Turn};
    use callbridge::driver::records::{CallRecorder, WallClock};

    let Ok(_) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("skipped: TEST_DATABASE_URL is not set (SQLite stores a NUL)");
        return;
    };
    install_crypto();
    let db = callbridge::db::connect(&database_url().await)
        .await
        .unwrap();
    callbridge::db::migrate(&db).await.unwrap();
    let log = callbridge::crm::calls::start(&db, &unique("CA"), None, None, chrono::Utc::now())
        .await
        .unwrap();
    let tasks = tokio_util::task::TaskTracker::new();
    let mut recorder = CallRecorder::spawn(
        db.clone(),
        Some(log.id),
        WallClock::now(),
        &tasks,
        callbridge::live::CallFeed::new(&callbridge::live::LiveBus::new("test", None), "CAoutage"),
    );
    let now = std::time::Instant::now();
    // PostgreSQL refuses a NUL in text; queued together, the others must still land, at once.
    recorder.record(Record::Turn(Turn::new(Speaker::Caller, "before", now)));
    recorder.record(Record::Turn(Turn::new(Speaker::Caller, "bad\0text", now)));
    recorder.record(Record::Turn(Turn::new(Speaker::Agent, "after", now)));
    recorder.finish("completed").await;
    tasks.close();
    tokio::time::timeout(Duration::from_secs(20), tasks.wait())
        .await
        .expect("a refusal is not retried through the outage window");
    let (call, turns) = callbridge::crm::calls::with_turns(&db, &log.call_sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.outcome.as_deref(), Some("completed"));
    let texts: Vec<&str> = turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["before", "after"]);
}
