//! The retention job on the real database (PostgreSQL when `TEST_DATABASE_URL` is set):
//! calls past `RETENTION_DAYS` removed with their transcripts and recording files, once, with
//! two nodes running the job at once over one shared recordings folder; recent calls kept,
//! and a file no call names removed with its old day.

use callbridge::crm::calls::{self, Speaker, TurnRecord};
use callbridge::crm::retention;
use chrono::{Duration, Utc};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};

use crate::helpers::{
    HANG, Reachable, database_url, install_crypto, scrape_metrics, spawn_app_with, unique,
};

/// Where a call `sid` made `days` ago keeps its recording (relative to the folder).
fn recording_of(sid: &str, days: i64) -> String {
    let day = (Utc::now() - Duration::days(days)).format("%Y-%m-%d");
    format!("{day}/{sid}.ogg")
}

/// A finished call `days` old with `turns` turns, and its recording noted.
async fn old_call(db: &DatabaseConnection, sid: &str, days: i64, turns: usize, finished: bool) {
    let started = Utc::now() - Duration::days(days);
    let log = calls::start(db, sid, Some("+15125550101"), None, started)
        .await
        .unwrap();
    calls::add_recording(db, sid, &recording_of(sid, days), started)
        .await
        .unwrap();
    for i in 0..turns {
        let record = TurnRecord {
            text: format!("turn {i}"),
            heard_text: None,
            started_at: started,
            stt_ms: None,
            llm_first_token_ms: None,
            tts_first_byte_ms: None,
        };
        calls::append_turn(db, log.id, Speaker::Caller, &record)
            .await
            .unwrap();
    }
    if finished {
        calls::finish(db, log.id, "booked", None, started + Duration::minutes(3))
            .await
            .unwrap();
    }
}

/// Recording files a node's retention job removed.
async fn removed_files(app: &impl Reachable) -> f64 {
    scrape_metrics(app)
        .await
        .lines()
        .filter(|l| l.starts_with("callbridge_recording_total{") && l.contains("removed_files"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn counts(db: &DatabaseConnection) -> (u64, u64) {
    (
        entity::call_log::Entity::find().count(db).await.unwrap(),
        entity::call_turn::Entity::find().count(db).await.unwrap(),
    )
}

#[tokio::test]
async fn two_nodes_remove_old_calls_once_and_keep_the_rest() {
    install_crypto();
    let url = database_url().await;
    let db = callbridge::db::connect(&url).await.unwrap();
    callbridge::db::migrate(&db).await.unwrap();
    for i in 0..5 {
        old_call(&db, &format!("CAold{i}"), 40, 3, true).await;
    }
    // Old and never ended (a crash left it): the node's start marks it interrupted, and it
    // goes with the others.
    old_call(&db, "CAopen", 40, 2, false).await;
    for i in 0..2 {
        old_call(&db, &format!("CAnew{i}"), 10, 4, true).await;
    }
    // The recordings folder both nodes share: each call's file, and one no call names (its
    // node died before noting it) on the old calls' day.
    let folder = std::env::temp_dir()
        .join("callbridge-tests")
        .join(unique("shared-recordings"));
    let mut files: Vec<String> = (0..5)
        .map(|i| recording_of(&format!("CAold{i}"), 40))
        .collect();
    files.push(recording_of("CAopen", 40));
    files.push(recording_of("CAorphan", 40));
    let kept: Vec<String> = (0..2)
        .map(|i| recording_of(&format!("CAnew{i}"), 10))
        .collect();
    for f in files.iter().chain(&kept) {
        let path = folder.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"OggS").unwrap();
    }
    let env = |node: &'static str| {
        [
            ("DATABASE_URL", url.clone()),
            ("RETENTION_DAYS", "30".to_string()),
            ("RETENTION_EVERY_SECS", "1".to_string()),
            ("NODE_ID", node.to_string()),
            ("RECORDINGS_DIR", folder.display().to_string()),
        ]
    };
    let a_env = env("node-a");
    let b_env = env("node-b");
    let a_pairs: Vec<(&str, &str)> = a_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let b_pairs: Vec<(&str, &str)> = b_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (a, b) = tokio::join!(spawn_app_with(&a_pairs), spawn_app_with(&b_pairs));
    tokio::time::timeout(HANG, async {
        while counts(&db).await.0 != 2 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the old calls are removed");
    assert_eq!(counts(&db).await, (2, 2 * 4));
    for sid in ["CAnew0", "CAnew1"] {
        assert!(
            calls::with_turns(&db, sid).await.unwrap().is_some(),
            "{sid}"
        );
    }
    for sid in ["CAold0", "CAopen"] {
        assert!(
            calls::with_turns(&db, sid).await.unwrap().is_none(),
            "{sid}"
        );
    }
    // Every old file is gone, counted once between the two nodes (in one test process both
    // count into one metrics registry, which either node's /metrics shows); the recent ones
    // stay.
    let removed = |a, _b| async move { removed_files(a).await };
    tokio::time::timeout(HANG, async {
        while removed(&a, &b).await < files.len() as f64 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the old recordings are removed");
    for f in &files {
        assert!(!folder.join(f).exists(), "{f}");
    }
    assert!(!folder.join(files[0].split('/').next().unwrap()).exists());
    for f in &kept {
        assert!(folder.join(f).exists(), "{f}");
    }
    // Let both nodes run again: nothing more is counted.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(removed(&a, &b).await, files.len() as f64);
    a.stop().await;
    b.stop().await;
    std::fs::remove_dir_all(&folder).unwrap();
}

#[tokio::test]
async fn concurrent_runs_count_each_removal_once() {
    install_crypto();
    let url = database_url().await;
    let db = callbridge::db::connect(&url).await.unwrap();
    callbridge::db::migrate(&db).await.unwrap();
    let calls_made = retention::BATCH + 150;
    for i in 0..calls_made {
        old_call(&db, &format!("CAbulk{i}"), 60, 1, true).await;
    }
    let other = callbridge::db::connect(&url).await.unwrap();
    let cutoff = Utc::now() - Duration::days(30);
    let (one, two) = tokio::join!(
        retention::remove_calls_before(&db, cutoff),
        retention::remove_calls_before(&other, cutoff)
    );
    let (mut one, mut two) = (one.unwrap(), two.unwrap());
    // A run that found the other holding the lock goes again, as the next tick would.
    for r in [&mut one, &mut two] {
        if r.skipped {
            let again = retention::remove_calls_before(&db, cutoff).await.unwrap();
            r.calls += again.calls;
            r.turns += again.turns;
            r.recordings.extend(again.recordings);
        }
    }
    assert_eq!(
        one.calls + two.calls,
        calls_made,
        "{} {}",
        one.calls,
        two.calls
    );
    assert_eq!(one.turns + two.turns, calls_made);
    // Each call's recording is handed to exactly one of the runs, to remove once.
    let mut files: Vec<String> = one.recordings.into_iter().chain(two.recordings).collect();
    files.sort();
    files.dedup();
    assert_eq!(files.len() as u64, calls_made);
    assert_eq!(counts(&db).await, (0, 0));
}
