//! Health, readiness and metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::state::AppState;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// How long readiness waits for the database and the session store: a frozen database must
/// not make the load balancer's probe hang.
const PING_DEADLINE: Duration = Duration::from_secs(1);

/// What one dependency's ping says, as a state (never an error string: this endpoint is
/// unauthenticated; the errors go to the log).
fn ping_state<E: std::fmt::Display>(
    what: &str,
    result: Result<Result<(), E>, tokio::time::error::Elapsed>,
) -> (bool, &'static str) {
    match result {
        Ok(Ok(())) => (true, "ok"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the {what} does not answer");
            (false, "unreachable")
        }
        Err(_) => {
            tracing::warn!("readiness: the {what} did not answer within {PING_DEADLINE:?}");
            (false, "timed_out")
        }
    }
}

/// Ready to take calls: the database answers (within a second) and shutdown has not begun
/// (readiness fails from SIGTERM on, before calls are refused, see `DRAIN_DELAY_SECS`). The session
/// store is reported but does not decide: with Redis down the registry degrades (logged,
/// metered) and calls go on, and failing readiness would take every node of a cluster out of
/// its load balancer at once.
#[allow(clippy::disallowed_methods)] // A handler is IO: reservations are counted as of now.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (db, store) = tokio::join!(
        tokio::time::timeout(PING_DEADLINE, state.db.ping()),
        tokio::time::timeout(PING_DEADLINE, state.store.ping()),
    );
    let (db_ok, db_state) = ping_state("database", db);
    let (store_ok, store_state) = ping_state("session store", store);
    let draining = state.is_leaving();
    let ready = db_ok && !draining;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "draining": draining,
        "database": {"ok": db_ok, "state": db_state},
        "session_store": {"ok": store_ok, "state": store_state, "backend": state.store.backend()},
        "active_calls": state.cap.active(),
        "streaming_calls": state.cap.active(),
        "reserved_calls": state.cap.reserved(std::time::Instant::now()),
        "max_calls": state.settings.limits.max_calls,
        "providers": state.providers.describe(),
    });
    (status, Json(body))
}

/// What `/metrics` renders: the recorder, and the gauges read from the node's state at
/// scrape time rather than kept up to date on every change.
#[derive(Clone)]
pub struct MetricsSource {
    /// The process's recorder.
    pub handle: PrometheusHandle,
    /// Sets the scrape-time gauges just before rendering.
    pub refresh: std::sync::Arc<dyn Fn() + Send + Sync>,
}

/// Prometheus text exposition.
pub async fn metrics(State(source): State<MetricsSource>) -> impl IntoResponse {
    (source.refresh)();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        source.handle.render(),
    )
}
