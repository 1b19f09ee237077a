//! The live-call registry: which calls are up, on which node, in what state, kept alive by
//! heartbeats with a TTL so a crashed node's calls disappear on their own; and the
//! cluster-wide count of active calls. Redis when `REDIS_URL` is set, in-process otherwise.
//!
//! Conversation logic never lives here.

mod memory;
mod redis_store;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use memory::MemoryStore;
pub use redis_store::RedisStore;

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// The webhook answered; the media socket is not up yet.
    Ringing,
    /// Media is flowing.
    Streaming,
    /// Being ended (drain, hang-up).
    Ending,
}

impl CallState {
    /// Stable text form, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Ringing => "ringing",
            CallState::Streaming => "streaming",
            CallState::Ending => "ending",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ringing" => Some(CallState::Ringing),
            "streaming" => Some(CallState::Streaming),
            "ending" => Some(CallState::Ending),
            _ => None,
        }
    }
}

/// One registry entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCall {
    /// Carrier call id.
    pub call_sid: String,
    /// The node holding the call's socket.
    pub node: String,
    /// Life-cycle state.
    pub state: CallState,
    /// Unix seconds when the call was registered.
    pub started_at: u64,
}

/// A registry operation failed (Redis unreachable, or a reply of the wrong shape).
#[derive(Debug, thiserror::Error)]
#[error("session store {op}: {reason}")]
pub struct StoreError {
    /// Which operation.
    pub op: &'static str,
    /// Why.
    pub reason: String,
}

/// The registry, in one of its two implementations.
#[derive(Debug, Clone)]
pub enum SessionStore {
    /// Single node, in memory.
    Memory(MemoryStore),
    /// Shared across nodes.
    Redis(RedisStore),
}

/// Seconds since the Unix epoch, for `started_at` and expiry scores.
#[allow(clippy::disallowed_methods)] // The IO edge's wall clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The cluster's calls as the registry sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterCounts {
    /// Every call a node holds a lease for: reserved at a webhook or streaming.
    pub live: u64,
    /// Of those, calls admitted at a webhook whose media has not started anywhere yet.
    pub reserved: u64,
}

impl SessionStore {
    /// Which backend, for logs and readiness details.
    pub fn backend(&self) -> &'static str {
        match self {
            SessionStore::Memory(_) => "memory",
            SessionStore::Redis(_) => "redis",
        }
    }

    /// Adds or replaces a call, alive for `ttl` unless refreshed.
    pub async fn register(&self, call: &LiveCall, ttl: Duration) -> Result<(), StoreError> {
        match self {
            SessionStore::Memory(m) => {
                m.register(call, ttl);
                Ok(())
            }
            SessionStore::Redis(r) => r.register(call, ttl).await,
        }
    }

    /// Registers a call the webhook is about to connect, unless the cluster already holds
    /// `limit` live calls (`CLUSTER_MAX_CALLS`): false then. Atomic across nodes with Redis;
    /// a node that dies stops refreshing its calls, which lapse within the call TTL.
    pub async fn admit(
        &self,
        call: &LiveCall,
        ttl: Duration,
        limit: Option<u64>,
    ) -> Result<bool, StoreError> {
        match self {
            SessionStore::Memory(m) => Ok(m.admit(call, ttl, limit)),
            SessionStore::Redis(r) => r.admit(call, ttl, limit).await,
        }
    }

    /// Updates a call's state (and refreshes it).
    pub async fn set_state(
        &self,
        call_sid: &str,
        state: CallState,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            SessionStore::Memory(m) => {
                m.set_state(call_sid, state, ttl);
                Ok(())
            }
            SessionStore::Redis(r) => r.set_state(call_sid, state, ttl).await,
        }
    }

    /// Refreshes the TTL of every listed call in one round trip.
    pub async fn heartbeat(&self, call_sids: &[String], ttl: Duration) -> Result<(), StoreError> {
        match self {
            SessionStore::Memory(m) => {
                m.heartbeat(call_sids, ttl);
                Ok(())
            }
            SessionStore::Redis(r) => r.heartbeat(call_sids, ttl).await,
        }
    }

    /// Removes a call.
    pub async fn remove(&self, call_sid: &str) -> Result<(), StoreError> {
        match self {
            SessionStore::Memory(m) => {
                m.remove(call_sid);
                Ok(())
            }
            SessionStore::Redis(r) => r.remove(call_sid).await,
        }
    }

    /// One call, if live.
    pub async fn get(&self, call_sid: &str) -> Result<Option<LiveCall>, StoreError> {
        match self {
            SessionStore::Memory(m) => Ok(m.get(call_sid)),
            SessionStore::Redis(r) => r.get(call_sid).await,
        }
    }

    /// Keeps a call's after-stream decision (`transfer`, `hang_up`) for `ttl`, so that whichever
    /// node Twilio's `<Connect action>` request reaches can answer it. The in-process store keeps
    /// nothing: on one node the decision never leaves `Handoffs`.
    pub async fn put_decision(
        &self,
        call_sid: &str,
        decision: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            SessionStore::Memory(_) => Ok(()),
            SessionStore::Redis(r) => r.put_decision(call_sid, decision, ttl).await,
        }
    }

    /// Takes (reads and deletes, atomically) a decision another node kept.
    pub async fn take_decision(&self, call_sid: &str) -> Result<Option<String>, StoreError> {
        match self {
            SessionStore::Memory(_) => Ok(None),
            SessionStore::Redis(r) => r.take_decision(call_sid).await,
        }
    }

    /// Keeps the caller's number for `ttl` under the call sid: Twilio's `start` message does not
    /// carry it, and the media socket may reach another node than the webhook did. The
    /// in-process store keeps nothing: one node keeps its prepared calls.
    pub async fn put_caller(
        &self,
        call_sid: &str,
        number: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            SessionStore::Memory(_) => Ok(()),
            SessionStore::Redis(r) => r.put_caller(call_sid, number, ttl).await,
        }
    }

    /// The caller's number the webhook's node kept.
    pub async fn caller(&self, call_sid: &str) -> Result<Option<String>, StoreError> {
        match self {
            SessionStore::Memory(_) => Ok(None),
            SessionStore::Redis(r) => r.caller(call_sid).await,
        }
    }

    /// Live calls across the cluster (expired entries excluded).
    pub async fn active_count(&self) -> Result<u64, StoreError> {
        Ok(self.counts().await?.live)
    }

    /// Live and reserved calls across the cluster, read together (the cluster gauges).
    pub async fn counts(&self) -> Result<ClusterCounts, StoreError> {
        match self {
            SessionStore::Memory(m) => Ok(m.counts()),
            SessionStore::Redis(r) => r.counts().await,
        }
    }

    /// Claims the one media connection a stream token allows (`stream_key`: the call sid and
    /// the token's expiry), for `ttl` (the token's life): false when a socket on any node
    /// already claimed it (a replayed `start`). With
    /// Redis this is one `SET NX`; in-process it always succeeds, the node's own memory of
    /// streamed calls being the whole cluster's.
    pub async fn claim_stream(
        &self,
        stream_key: &str,
        node: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        match self {
            SessionStore::Memory(_) => Ok(true),
            SessionStore::Redis(r) => r.claim_stream(stream_key, node, ttl).await,
        }
    }

    /// Whether the backend answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            SessionStore::Memory(_) => Ok(()),
            SessionStore::Redis(r) => r.ping().await,
        }
    }
}
