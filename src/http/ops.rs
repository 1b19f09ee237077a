//! Health, readiness and metrics.

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

/// Ready to take calls: database and session store answer, and not draining.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = match state.db.ping().await {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    };
    let store = match state.store.ping().await {
        Ok(()) => json!({"ok": true, "backend": state.store.backend()}),
        Err(e) => json!({"ok": false, "backend": state.store.backend(), "error": e.to_string()}),
    };
    let draining = state.is_draining();
    let ready = database["ok"] == true && store["ok"] == true && !draining;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "draining": draining,
        "database": database,
        "session_store": store,
        "active_calls": state.cap.active(),
        "max_calls": state.settings.limits.max_calls,
        "providers": state.providers.describe(),
    });
    (status, Json(body))
}

/// Prometheus text exposition.
pub async fn metrics(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
}
