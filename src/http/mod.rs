//! HTTP routes: the carriers' webhooks and media sockets, health, and (on its own listener)
//! metrics. Handlers check, translate and hand off; frames are parsed in `carrier` and calls
//! run in `driver`, the per-call executor.

mod api_error;
pub mod clean;
mod console;
mod media;
mod ops;
mod rate_limit;
mod staff;
mod twilio;

pub use api_error::ApiError;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
pub use ops::MetricsSource;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use rate_limit::SourceLimit;

use crate::state::AppState;

/// Largest request body taken (Twilio's webhook forms are a few KiB; the staff API's bodies
/// smaller): more is answered 413 without being read.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The public router: webhooks, media upgrades, the staff API, the staff console, health.
/// Every request has the request deadline (a slow body gets 408); webhooks, the staff API and
/// the console have per-source rate limits (checked before the key, so guesses count too); health has neither limit, so
/// probes are never refused.
pub fn router(state: AppState) -> Router {
    let http = &state.settings.http;
    let staff_limit = SourceLimit::new("staff", http.staff_rate, http.rate_limit_key);
    let webhook_limit = SourceLimit::new("webhook", http.webhook_rate, http.rate_limit_key);
    // The console has its own bucket (sized like the staff API's): a page and its files.
    let console_limit = SourceLimit::new("console", http.staff_rate, http.rate_limit_key);
    let console = console::router().layer(from_fn_with_state(console_limit, rate_limit::limit));
    let staff = staff::router()
        .layer(from_fn_with_state(state.clone(), staff::authorize))
        .layer(CatchPanicLayer::custom(staff::panic_response))
        .layer(from_fn_with_state(staff_limit, rate_limit::limit));
    let carriers = Router::new()
        .route("/twilio/voice", post(twilio::voice))
        .route("/twilio/stream-status", post(twilio::stream_status))
        .route("/twilio/after-stream", post(twilio::after_stream))
        .route("/twilio/whisper", post(twilio::whisper))
        .route("/twilio/dial-result", post(twilio::dial_result))
        .route("/twilio/media", get(media::twilio_media))
        .route("/telnyx/media", get(media::telnyx_media))
        .layer(from_fn_with_state(webhook_limit, rate_limit::limit));
    Router::new()
        .nest("/api/v1", staff)
        .nest("/console", console)
        .merge(carriers)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .layer(from_fn(clean::reject_control_in_uri))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            http.request_timeout,
        ))
        .with_state(state)
}

/// `/metrics` alone, for the metrics listener.
pub fn metrics_router(source: ops::MetricsSource) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .with_state(source)
}
