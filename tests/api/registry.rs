//! The live-call registry, in memory and (when `TEST_REDIS_URL` is set) on the real Redis.

use std::time::Duration;

use callbridge::session_store::{CallState, LiveCall, MemoryStore, RedisStore, SessionStore};

use crate::helpers::*;

async fn exercise(store: SessionStore) {
    let a = LiveCall {
        call_sid: unique("CA"),
        node: "node-a".into(),
        state: CallState::Ringing,
        started_at: 1_700_000_000,
    };
    let b = LiveCall {
        call_sid: unique("CA"),
        node: "node-b".into(),
        ..a.clone()
    };
    let base = store.active_count().await.unwrap();
    let reserved = |store: &SessionStore| {
        let store = store.clone();
        async move { store.counts().await.unwrap().reserved }
    };
    let base_reserved = reserved(&store).await;
    store.register(&a, Duration::from_secs(30)).await.unwrap();
    store.register(&b, Duration::from_secs(2)).await.unwrap();
    assert_eq!(store.active_count().await.unwrap(), base + 2);
    assert_eq!(reserved(&store).await, base_reserved + 2, "both ringing");
    assert_eq!(store.get(&a.call_sid).await.unwrap(), Some(a.clone()));

    store
        .set_state(&a.call_sid, CallState::Streaming, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        store.get(&a.call_sid).await.unwrap().unwrap().state,
        CallState::Streaming
    );
    assert_eq!(reserved(&store).await, base_reserved + 1, "a streams");

    // b is not refreshed and expires; a is kept alive by heartbeats.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    store
        .heartbeat(std::slice::from_ref(&a.call_sid), Duration::from_secs(30))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(store.get(&b.call_sid).await.unwrap().is_none(), "b expired");
    assert_eq!(store.active_count().await.unwrap(), base + 1);
    assert_eq!(
        reserved(&store).await,
        base_reserved,
        "b's reservation lapsed"
    );

    store.remove(&a.call_sid).await.unwrap();
    assert!(store.get(&a.call_sid).await.unwrap().is_none());
    assert_eq!(store.active_count().await.unwrap(), base);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn the_memory_registry_tracks_calls_and_expires_them() {
    exercise(SessionStore::Memory(MemoryStore::new())).await;
}

#[tokio::test]
async fn the_redis_registry_tracks_calls_and_expires_them() {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!(
            "TEST_REDIS_URL not set: Redis registry test runs against the in-memory store only"
        );
        return;
    };
    let store = RedisStore::connect(&url, &unique("cbtest")).await.unwrap();
    exercise(SessionStore::Redis(store)).await;
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error_not_a_hang() {
    let err = RedisStore::connect("redis://127.0.0.1:1", "x")
        .await
        .unwrap_err();
    assert_eq!(err.op, "connect");
}

/// Twilio's `start` does not say who calls, and the media socket may land on another node than
/// the webhook: the caller's number crosses through Redis, so the node that runs the stream
/// prepares the call for the right customer.
#[tokio::test]
async fn a_media_socket_on_another_node_knows_who_is_calling() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        eprintln!("skipped: the caller's number crosses nodes through Redis (TEST_REDIS_URL)");
        return;
    }
    let prefix = unique("cbtest");
    let shared = [
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("CALL_MODE", "agent"),
    ];
    let webhook_node = spawn_app_with(&shared).await;
    // Its own database, so that what it logs is what it learnt, not the webhook node's row.
    let database = database_url().await;
    let media_node =
        spawn_app_with(&[shared[0], shared[1], ("DATABASE_URL", database.as_str())]).await;
    let sid = unique("CA");
    let token = token_from_twiml(&webhook_node.voice_webhook(&sid).await);
    let mut leg = TwilioLeg::connect(&media_node).await;
    leg.start(&sid, &token).await;
    leg.media(1, &ramp_frame(0, 1)).await;
    let db = callbridge::db::connect(&database).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let from = loop {
        let page = callbridge::crm::appointments::Page {
            limit: 50,
            offset: 0,
        };
        let (calls, _) = callbridge::crm::calls::list(&db, &Default::default(), page)
            .await
            .unwrap();
        if let Some(log) = calls.iter().find(|c| c.call_sid == sid) {
            break log.from_number.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the media node opened no call log"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        from.as_deref(),
        Some("+15550001111"),
        "the media node prepared the call for the caller the webhook saw"
    );
    leg.stop(&sid).await;
    webhook_node.stop().await;
    media_node.stop().await;
}

/// `CLUSTER_MAX_CALLS` holds across nodes (one Redis script admits or refuses), and a lease
/// whose call never streams lapses and gives its place back.
#[tokio::test]
async fn the_cluster_cap_holds_across_nodes_and_lapsed_leases_give_their_places_back() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        eprintln!("skipped: the cluster cap lives in Redis (TEST_REDIS_URL)");
        return;
    }
    let prefix = unique("cbtest");
    let shared = [
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("CLUSTER_MAX_CALLS", "2"),
        ("MAX_CALLS", "5"),
        ("MEDIA_ARRIVAL_SECS", "2"),
    ];
    let a = spawn_app_with(&shared).await;
    let b = spawn_app_with(&shared).await;
    let connected = |twiml: &str| twiml.contains("<Connect");
    assert!(connected(&a.voice_webhook(&unique("CA")).await));
    assert!(connected(&b.voice_webhook(&unique("CA")).await));
    // Each node has room of its own (5); the cluster has none.
    for node in [&a, &b] {
        let twiml = node.voice_webhook(&unique("CA")).await;
        assert!(!connected(&twiml) && twiml.contains("<Say>"), "{twiml}");
    }
    // No media came: the leases lapse after MEDIA_ARRIVAL_SECS and the places come back.
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    while !connected(&b.voice_webhook(&unique("CA")).await) {
        assert!(
            std::time::Instant::now() < deadline,
            "places did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn one_node_without_redis_applies_the_cluster_cap_to_itself() {
    let store = SessionStore::Memory(MemoryStore::new());
    let call = |sid: &str| LiveCall {
        call_sid: sid.into(),
        node: "n1".into(),
        state: CallState::Ringing,
        started_at: 0,
    };
    let ttl = Duration::from_secs(30);
    assert!(store.admit(&call("CA1"), ttl, Some(1)).await.unwrap());
    assert!(!store.admit(&call("CA2"), ttl, Some(1)).await.unwrap());
    // The same call again (the media socket registering it) is not refused.
    assert!(store.admit(&call("CA1"), ttl, Some(1)).await.unwrap());
    assert!(store.admit(&call("CA2"), ttl, None).await.unwrap());
}
