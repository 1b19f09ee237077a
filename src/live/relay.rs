//! Live events between nodes over Redis pub/sub: a publisher task drains a bounded queue into
//! `PUBLISH`, a subscriber task passes the other nodes' events to this node's viewers. Both
//! reconnect with backoff when Redis goes away; events published meanwhile are lost (the live
//! view is a view: the records are in the database), and counted.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::LiveBus;
use super::event::{Envelope, LiveEvent};
use crate::telemetry;

/// Events waiting to be published, at most.
pub const QUEUE: usize = 4096;
/// One `PUBLISH`'s deadline.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(2);
/// Connecting's deadline.
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

fn lost(why: &'static str) {
    metrics::counter!(telemetry::LIVE_EVENTS_DROPPED, "why" => why).increment(1);
}

/// Queues `event` for the other nodes, without waiting.
pub fn queue(relay: &mpsc::Sender<String>, node: &str, event: &LiveEvent) {
    let envelope = Envelope {
        node: node.to_string(),
        event: event.clone(),
    };
    let Ok(json) = serde_json::to_string(&envelope) else {
        return;
    };
    if relay.try_send(json).is_err() {
        lost("relay_queue_full");
    }
}

/// Starts the publisher and the subscriber.
pub fn spawn(bus: LiveBus, url: &str, channel: &str, rx: mpsc::Receiver<String>) {
    let client = match redis::Client::open(url) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "live view: the Redis URL does not parse; other nodes' calls will not show");
            return;
        }
    };
    tokio::spawn(publish(
        client.clone(),
        channel.to_string(),
        rx,
        bus.closing(),
    ));
    tokio::spawn(subscribe(client, channel.to_string(), bus));
}

async fn publish(
    client: redis::Client,
    channel: String,
    mut rx: mpsc::Receiver<String>,
    closing: tokio_util::sync::CancellationToken,
) {
    let mut conn = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        let message = tokio::select! {
            m = rx.recv() => m,
            () = closing.cancelled() => None,
        };
        let Some(message) = message else { return };
        if conn.is_none() {
            match tokio::time::timeout(CONNECT_DEADLINE, client.get_multiplexed_async_connection())
                .await
            {
                Ok(Ok(c)) => {
                    conn = Some(c);
                    backoff = Duration::from_millis(100);
                }
                _ => {
                    lost("redis_down");
                    // Not a busy loop while Redis is away: events meanwhile are dropped.
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let sent = tokio::time::timeout(
            PUBLISH_DEADLINE,
            redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(&message)
                .query_async::<i64>(c),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            lost("redis_down");
            conn = None;
        }
    }
}

async fn subscribe(client: redis::Client, channel: String, bus: LiveBus) {
    let closing = bus.closing();
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    while !closing.is_cancelled() {
        let connected = tokio::time::timeout(CONNECT_DEADLINE, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let mut pubsub = match connected {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "live view: cannot subscribe to other nodes' calls; retrying");
                wait(&closing, &mut backoff).await;
                continue;
            }
            Err(_) => {
                tracing::warn!(
                    "live view: Redis did not answer the subscription in time; retrying"
                );
                wait(&closing, &mut backoff).await;
                continue;
            }
        };
        if !first {
            tracing::info!("live view: subscribed to other nodes' calls again");
        }
        first = false;
        backoff = Duration::from_millis(100);
        let mut messages = pubsub.on_message();
        loop {
            let message = tokio::select! {
                m = messages.next() => m,
                () = closing.cancelled() => return,
            };
            let Some(message) = message else { break };
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            match serde_json::from_str::<Envelope>(&payload) {
                Ok(e) if e.node != bus.node() => bus.show(e.event),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "live view: an event from Redis does not parse")
                }
            }
        }
        tracing::warn!("live view: the subscription to other nodes' calls was lost; reconnecting");
    }
}

async fn wait(closing: &tokio_util::sync::CancellationToken, backoff: &mut Duration) {
    tokio::select! {
        () = tokio::time::sleep(*backoff) => {}
        () = closing.cancelled() => {}
    }
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
}
