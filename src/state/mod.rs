//! What every handler and call task shares: settings, the database, the session store, the
//! providers, the call cap, the calls streaming here, and the shutdown signals. A value built
//! once by `app` and cloned into `http` handlers and call executors; it holds no logic of its
//! own beyond bookkeeping, so `http`, the executor and `app` can all depend on it without
//! depending on each other.

mod cap;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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

/// The sids of calls streaming on this node, for the registry heartbeat.
#[derive(Debug, Clone, Default)]
pub struct LocalCalls(Arc<Mutex<HashSet<String>>>);

impl LocalCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // Inserts and removes cannot be left half-done; a poisoned lock is usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a call; false when it is already streaming here (a replayed or second socket
    /// for the same call).
    pub fn try_insert(&self, sid: &str) -> bool {
        self.lock().insert(sid.to_string())
    }

    /// Removes a call.
    pub fn remove(&self, sid: &str) {
        self.lock().remove(sid);
    }

    /// A snapshot of the sids.
    pub fn snapshot(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
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
    /// Set when shutdown starts: no new calls.
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
}

impl AppState {
    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
