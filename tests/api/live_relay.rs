//! The live view's relay between nodes through the real Redis, with a proxy the test cuts in
//! front of one node's connections: events cross while Redis answers, are dropped (not
//! queued without end, not blocking the publisher) while it is cut, and cross again both ways
//! once it is back, without a restart.

use std::time::Duration;

use callbridge::live::{LiveBus, LiveEvent};

use crate::conversation::live::until_subscribed;
use crate::helpers::{HANG, unique};
use crate::proxy::{FaultProxy, Mode, socket_of};

fn hearing(text: &str) -> LiveEvent {
    LiveEvent::Hearing {
        sid: "CArelay".into(),
        text: text.into(),
    }
}

/// Publishes `text` from `from` until `to` shows it (a reconnecting publisher may lose the
/// first tries), within `HANG`.
async fn crosses(from: &LiveBus, to: &LiveBus, text: &str) {
    let mut watch = to.watch();
    tokio::time::timeout(HANG, async {
        loop {
            from.publish(hearing(text));
            let wait = tokio::time::sleep(Duration::from_millis(200));
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    got = watch.events.recv() => {
                        if matches!(&*got.unwrap(), LiveEvent::Hearing { text: t, .. } if t == text) {
                            return;
                        }
                    }
                    () = &mut wait => break,
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{text:?} never crossed"));
}

#[tokio::test]
async fn events_cross_nodes_and_cross_again_after_redis_is_cut() {
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("skipped: the relay runs through Redis (TEST_REDIS_URL)");
        return;
    };
    let proxy = FaultProxy::start(socket_of(&redis_url)).await;
    let proxied = format!("redis://{}", proxy.addr);
    let prefix = unique("cbrelay");
    let a = LiveBus::new("a", Some((&proxied, &prefix)));
    let b = LiveBus::new("b", Some((&redis_url, &prefix)));
    until_subscribed(&redis_url, &prefix, 2).await;
    crosses(&a, &b, "one").await;
    crosses(&b, &a, "two").await;
    // A node's own events are not shown twice.
    let mut mine = a.watch();
    a.publish(hearing("own"));
    assert!(
        matches!(&*mine.events.recv().await.unwrap(), LiveEvent::Hearing { text, .. } if text == "own")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(mine.events.try_recv().is_err());

    // Cut: node a's link to Redis is gone. Publishing still returns at once and a's own view
    // still shows its calls.
    proxy.set(Mode::Cut);
    until_subscribed(&redis_url, &prefix, 1).await;
    let started = std::time::Instant::now();
    for i in 0..10_000 {
        a.publish(hearing(&format!("during {i}")));
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(a.snapshot()[0].hearing, "during 9999");

    // Back: both directions work again.
    proxy.set(Mode::Pass);
    until_subscribed(&redis_url, &prefix, 2).await;
    crosses(&a, &b, "three").await;
    crosses(&b, &a, "four").await;
    a.close();
    b.close();
}
