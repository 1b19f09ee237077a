//! Calls in progress for the console's live view. The call executor publishes what happens
//! ([`LiveEvent`]); every node keeps a [`board::Board`] of the calls in progress and passes
//! each event to the console pages watching (a `tokio` broadcast channel). In a cluster
//! (`REDIS_URL`) events also travel through Redis pub/sub (`relay`), so the live view shows
//! every node's calls whichever node serves the page.
//!
//! Publishing never waits: the broadcast drops events for a viewer that fell behind (it is
//! sent a fresh snapshot instead), and the relay's queue is bounded (events beyond it are
//! dropped and counted). A call's audio never waits on a browser or on Redis.

pub mod board;
pub mod event;
mod relay;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

pub use board::LiveCall;
pub use event::LiveEvent;

/// Events a slow viewer may fall behind by before it is sent a snapshot instead.
const VIEWER_BACKLOG: usize = 1024;

/// The live feed of one node.
#[derive(Clone)]
pub struct LiveBus {
    inner: Arc<Inner>,
}

struct Inner {
    node: String,
    board: Mutex<board::Board>,
    viewers: broadcast::Sender<Arc<LiveEvent>>,
    relay: Option<mpsc::Sender<String>>,
    closing: CancellationToken,
}

impl std::fmt::Debug for LiveBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveBus")
            .field("node", &self.inner.node)
            .finish()
    }
}

/// A viewer's start: the calls in progress and the events after them, with no gap between.
pub struct Watch {
    /// The calls in progress when watching began.
    pub calls: Vec<LiveCall>,
    /// What happens next.
    pub events: broadcast::Receiver<Arc<LiveEvent>>,
}

impl LiveBus {
    /// A node's feed; with `redis_url`, shared with the other nodes through Redis (channel
    /// `<prefix>:live`). The relay's tasks reconnect on their own when Redis goes away.
    pub fn new(node: &str, redis: Option<(&str, &str)>) -> Self {
        let (viewers, _) = broadcast::channel(VIEWER_BACKLOG);
        let closing = CancellationToken::new();
        let (relay_tx, relay_rx) = match redis {
            Some(_) => {
                let (tx, rx) = mpsc::channel(relay::QUEUE);
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let bus = LiveBus {
            inner: Arc::new(Inner {
                node: node.to_string(),
                board: Mutex::new(board::Board::default()),
                viewers,
                relay: relay_tx,
                closing,
            }),
        };
        if let (Some((url, prefix)), Some(rx)) = (redis, relay_rx) {
            relay::spawn(bus.clone(), url, &format!("{prefix}:live"), rx);
        }
        bus
    }

    fn board(&self) -> std::sync::MutexGuard<'_, board::Board> {
        // The board is rebuilt by the next events anyway; a poisoned lock is usable.
        self.inner.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Something happened on a call this node runs: shown here and sent to the other nodes.
    pub fn publish(&self, event: LiveEvent) {
        if let Some(relay) = &self.inner.relay {
            relay::queue(relay, &self.inner.node, &event);
        }
        self.show(event);
    }

    /// Shows `event` to this node's viewers (from this node or relayed from another).
    #[allow(clippy::disallowed_methods)] // The feed is IO: the board's expiry reads the clock.
    fn show(&self, event: LiveEvent) {
        let mut board = self.board();
        board.apply(&event, Instant::now());
        // Under the board's lock, so a viewer's snapshot and its events do not overlap.
        let _ = self.inner.viewers.send(Arc::new(event));
    }

    /// Starts watching: the snapshot and the events after it.
    #[allow(clippy::disallowed_methods)] // The feed is IO: the board's expiry reads the clock.
    pub fn watch(&self) -> Watch {
        let mut board = self.board();
        let events = self.inner.viewers.subscribe();
        Watch {
            calls: board.snapshot(Instant::now()),
            events,
        }
    }

    /// The calls in progress now.
    #[allow(clippy::disallowed_methods)] // The feed is IO: the board's expiry reads the clock.
    pub fn snapshot(&self) -> Vec<LiveCall> {
        self.board().snapshot(Instant::now())
    }

    /// Cancelled when the server stops serving: open viewers' streams end, so they do not
    /// hold the HTTP server's graceful close.
    pub fn closing(&self) -> CancellationToken {
        self.inner.closing.clone()
    }

    /// Ends every viewer's stream (and the relay's tasks).
    pub fn close(&self) {
        self.inner.closing.cancel();
    }
}

/// One call's side of the feed: what the executor publishes, under the call's sid.
#[derive(Debug, Clone)]
pub struct CallFeed {
    bus: LiveBus,
    sid: String,
}

impl CallFeed {
    /// The feed of call `sid`.
    pub fn new(bus: &LiveBus, sid: &str) -> Self {
        Self {
            bus: bus.clone(),
            sid: sid.to_string(),
        }
    }

    /// The call's sid.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// The call is answered: who is calling.
    pub fn started(
        &self,
        from: Option<String>,
        caller: Option<String>,
        vehicles: Vec<String>,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        self.bus.publish(LiveEvent::Started {
            sid: self.sid.clone(),
            from,
            caller,
            vehicles,
            node: self.bus.node().to_string(),
            at,
        });
    }

    /// The recogniser's words so far.
    pub fn hearing(&self, text: &str) {
        self.bus.publish(LiveEvent::Hearing {
            sid: self.sid.clone(),
            text: text.to_string(),
        });
    }

    /// Anything else about the call (a turn, a cut reply, the end).
    pub fn send(&self, event: impl FnOnce(String) -> LiveEvent) {
        self.bus.publish(event(self.sid.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_viewer_gets_the_snapshot_then_every_later_event_once() {
        let bus = LiveBus::new("a", None);
        bus.publish(LiveEvent::Hearing {
            sid: "CA1".into(),
            text: "hello".into(),
        });
        let mut watch = bus.watch();
        assert_eq!(watch.calls.len(), 1);
        assert_eq!(watch.calls[0].hearing, "hello");
        bus.publish(LiveEvent::Ended {
            sid: "CA1".into(),
            outcome: "hung_up".into(),
        });
        let next = watch.events.recv().await.unwrap();
        assert!(matches!(&*next, LiveEvent::Ended { sid, .. } if sid == "CA1"));
        assert!(watch.events.try_recv().is_err());
        assert!(bus.snapshot().is_empty());
    }
}
