//! What every handler and call task shares: settings, the database, the session store, the
//! providers, the call cap, the calls streaming here, and the shutdown signals. A value built
//! once by `app` and cloned into `http` handlers and call executors; it holds no logic of its
//! own beyond bookkeeping, so `http`, the executor and `app` can all depend on it without
//! depending on each other.

mod cap;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use cap::{CallCap, CallSlot};

use crate::config::Settings;
use crate::handoff::Handoffs;
use crate::preparation::PreparedCalls;
use crate::providers::Providers;
use crate::session_store::SessionStore;
use crate::tools::Tools;

/// The sids of calls streaming on this node (for the registry heartbeat), and the streams
/// (call sid and token) that have run here while their token could still be valid: a token is
/// good for one media connection, so a second socket with the same `start`, during the call or
/// after it, is refused rather than run as a new call. A call brought back to the agent
/// streams again under a new token.
#[derive(Debug, Clone)]
pub struct LocalCalls(Arc<Mutex<Streams>>);

#[derive(Debug)]
struct Streams {
    streaming: HashSet<String>,
    /// Stream key (call sid and token) → until when the token counts as used.
    used: HashMap<String, Instant>,
    token_ttl: Duration,
}

impl LocalCalls {
    /// Remembers used tokens for `token_ttl` (`STREAM_TOKEN_TTL_SECS`: no token lives longer).
    pub fn new(token_ttl: Duration) -> Self {
        Self(Arc::new(Mutex::new(Streams {
            streaming: HashSet::new(),
            used: HashMap::new(),
            token_ttl,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        // Inserts and removes cannot be left half-done; a poisoned lock is usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a call's stream `stream_key` at `now`; false when its token was already used here
    /// (a replayed socket, while it streams or after) or the call is streaming now.
    pub fn try_insert(&self, sid: &str, stream_key: &str, now: Instant) -> bool {
        let mut streams = self.lock();
        streams.used.retain(|_, until| *until > now);
        if streams.used.contains_key(stream_key) || streams.streaming.contains(sid) {
            return false;
        }
        let until = now + streams.token_ttl;
        streams.used.insert(stream_key.to_string(), until);
        streams.streaming.insert(sid.to_string());
        true
    }

    /// The call stopped streaming (its token stays used).
    pub fn remove(&self, sid: &str) {
        self.lock().streaming.remove(sid);
    }

    /// A snapshot of the sids streaming.
    pub fn snapshot(&self) -> Vec<String> {
        self.lock().streaming.iter().cloned().collect()
    }
}

/// What every handler and call task shares.
#[derive(Clone)]
pub struct AppState {
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// The database.
    pub db: DatabaseConnection,
    /// The live-call registry.
    pub store: SessionStore,
    /// The per-instance cap.
    pub cap: CallCap,
    /// Calls streaming here.
    pub local_calls: LocalCalls,
    /// Set at SIGTERM: `/readyz` fails, so load balancers stop sending calls here.
    pub leaving: Arc<AtomicBool>,
    /// Set once `DRAIN_DELAY_SECS` after SIGTERM are over: no new calls.
    pub draining: Arc<AtomicBool>,
    /// Cancelled `DRAIN_WIND_DOWN_SECS` before the grace ends: calls wind themselves down.
    pub wind_down: CancellationToken,
    /// Cancelled when the grace period is over: calls end now.
    pub hard_stop: CancellationToken,
    /// Every call task.
    pub calls: TaskTracker,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Speech and language providers.
    pub providers: Arc<Providers>,
    /// Agent calls prepared at the webhook, waiting for their media.
    pub prepared: PreparedCalls,
    /// Where agent calls go once their stream closes (TwiML call control).
    pub handoffs: Handoffs,
    /// The CRM tools the agent calls.
    pub tools: Tools,
    /// The end-of-turn model (`None`: turns end on silence alone).
    pub turn_judge: Option<crate::turn::TurnJudge>,
    /// Calls in progress for the console's live view (every node's, through Redis).
    pub live: crate::live::LiveBus,
}

impl AppState {
    /// Whether shutdown has begun (readiness fails; calls may still be taken for
    /// `DRAIN_DELAY_SECS`).
    pub fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::SeqCst)
    }

    /// Whether new calls are refused.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
