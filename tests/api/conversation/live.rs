//! The console's live view during a real call: the stream starts with the calls in progress,
//! then shows who is calling, what the recogniser hears as it is said, each turn with its
//! stage latencies, and the end.

use callbridge::staff::Role;

use super::*;
use crate::console::desk::{Desk, PASSWORD, Sse, account};

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Sse>) -> Sse {
    tokio::time::timeout(HANG, rx.recv())
        .await
        .expect("an event in time")
        .expect("the stream goes on")
}

#[tokio::test]
async fn a_call_appears_live_with_its_words_and_latencies_and_goes_when_it_ends() {
    let line = Line::open().await;
    account(&line.app, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&line.app);
    desk.sign_in("Ben Ode", PASSWORD).await;
    let page = desk.get("/console/live").await;
    assert!(page.body.contains("/console/static/console.js"));
    let mut events = desk.watch_live().await;
    let first = next(&mut events).await;
    assert_eq!(first.event, "snapshot");
    assert_eq!(first.data, serde_json::json!([]));

    line.llm
        .push(stream(text_reply(&["Sure, which day suits you?"])));
    line.llm.push(goodbye("Thanks for calling, goodbye!"));
    let sid = "CAconversation000000000000live01";
    let call = line.call(
        MARIA,
        sid,
        &[
            (
                "book_oil_change",
                "Hi, I'd like to book an oil change for my Honda.",
            ),
            ("thanks_bye", "That's all, thank you. Goodbye."),
        ],
    );
    let watch = async {
        let mut seen = Vec::new();
        loop {
            let e = next(&mut events).await;
            assert_eq!(e.event, "live", "{e:?}");
            let done = e.data["type"] == "ended";
            seen.push(e.data);
            if done {
                return seen;
            }
        }
    };
    let (_, seen) = tokio::join!(call, watch);

    let of = |t: &str| seen.iter().filter(|e| e["type"] == t).collect::<Vec<_>>();
    let started = of("started");
    assert_eq!(started.len(), 1, "{seen:#?}");
    assert_eq!(started[0]["sid"], sid);
    assert_eq!(started[0]["caller"], "Maria Gonzalez");
    assert_eq!(started[0]["from"], MARIA);
    assert_eq!(
        started[0]["vehicles"],
        serde_json::json!(["2020 Honda Accord"])
    );
    assert_eq!(started[0]["node"], "test-node");
    // The recogniser's words appear before the caller's turn is taken.
    let hearing_at = seen
        .iter()
        .position(|e| e["type"] == "hearing" && e["text"].as_str().unwrap().contains("oil change"))
        .expect("the words as heard");
    let caller_turn_at = seen
        .iter()
        .position(|e| e["type"] == "turn" && e["speaker"] == "caller")
        .expect("the caller's turn");
    assert!(hearing_at < caller_turn_at, "{seen:#?}");
    assert!(
        seen[caller_turn_at]["stt_ms"].is_number(),
        "{}",
        seen[caller_turn_at]
    );
    let answer = seen
        .iter()
        .find(|e| {
            e["type"] == "turn"
                && e["speaker"] == "agent"
                && e["text"] == "Sure, which day suits you?"
        })
        .expect("the agent's answer");
    assert!(
        answer["llm_ms"].is_number() && answer["tts_ms"].is_number(),
        "{answer}"
    );
    let ended = of("ended");
    assert_eq!(ended[0]["sid"], sid);
    let (outcome, _) = line.record(sid).await;
    assert_eq!(ended[0]["outcome"].as_str(), outcome.as_deref());
    // Every event is about this call; and a new viewer now finds no call in progress.
    assert!(seen.iter().all(|e| e["sid"] == sid));
    let mut late = desk.watch_live().await;
    assert_eq!(next(&mut late).await.data, serde_json::json!([]));
}

#[tokio::test]
async fn the_live_stream_wants_a_session() {
    let line = Line::open().await;
    let r = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/console/live/events",
            line.app.port
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
}

/// Subscribers to the live channel under `prefix`, as Redis counts them.
pub(crate) async fn live_subscribers(redis_url: &str, prefix: &str) -> i64 {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(format!("{prefix}:live"))
        .query_async(&mut conn)
        .await
        .unwrap();
    n
}

/// Waits until exactly `n` nodes listen on the live channel.
pub(crate) async fn until_subscribed(redis_url: &str, prefix: &str, n: i64) {
    tokio::time::timeout(HANG, async {
        while live_subscribers(redis_url, prefix).await != n {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the nodes subscribe to the live channel");
}

#[tokio::test]
async fn a_call_on_one_node_shows_on_the_live_view_another_node_serves() {
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("skipped: the live view crosses nodes through Redis (TEST_REDIS_URL)");
        return;
    };
    let prefix = crate::helpers::unique("cblive");
    let line = Line::open_with(&[("REDIS_KEY_PREFIX", &prefix), ("NODE_ID", "node-a")]).await;
    let database = line
        .app
        .state
        .settings
        .storage
        .database_url
        .expose()
        .to_string();
    let other = crate::helpers::spawn_app_with(&[
        ("REDIS_KEY_PREFIX", &prefix),
        ("NODE_ID", "node-b"),
        ("DATABASE_URL", &database),
    ])
    .await;
    account(&other, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&other);
    desk.sign_in("Ben Ode", PASSWORD).await;
    let mut events = desk.watch_live().await;
    assert_eq!(next(&mut events).await.event, "snapshot");
    until_subscribed(&redis_url, &prefix, 2).await;

    line.llm.push(goodbye("Thanks for calling, goodbye!"));
    let sid = "CAconversation000000000000live02";
    let call = line.call(
        MARIA,
        sid,
        &[("thanks_bye", "That's all, thank you. Goodbye.")],
    );
    let watch = async {
        let mut seen = Vec::new();
        loop {
            let e = next(&mut events).await;
            let done = e.data["type"] == "ended";
            seen.push(e.data);
            if done {
                return seen;
            }
        }
    };
    let (_, seen) = tokio::join!(call, watch);
    let started = seen
        .iter()
        .find(|e| e["type"] == "started")
        .expect("started");
    assert_eq!(started["node"], "node-a");
    assert_eq!(started["caller"], "Maria Gonzalez");
    assert!(
        seen.iter()
            .any(|e| e["type"] == "turn" && e["speaker"] == "agent"),
        "{seen:#?}"
    );
    assert!(seen.iter().all(|e| e["sid"] == sid));
    other.stop().await;
}

#[tokio::test]
async fn live_streams_end_when_the_server_stops_and_do_not_hold_it() {
    let app = crate::helpers::spawn_app().await;
    account(&app, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&app);
    desk.sign_in("Ben Ode", PASSWORD).await;
    let mut events = desk.watch_live().await;
    assert_eq!(next(&mut events).await.event, "snapshot");
    tokio::time::timeout(HANG, app.stop())
        .await
        .expect("the server stops");
    let after = tokio::time::timeout(HANG, events.recv())
        .await
        .expect("the stream ends");
    assert!(after.is_none(), "{after:?}");
}
