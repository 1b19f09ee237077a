//! The staff API under `/api/v1`: the appointment book and the call records, for the service
//! desk's tools. Behind `Authorization: Bearer <STAFF_API_KEY>` (compared in constant time);
//! off, with one clear error, when no key is configured. Every answer is JSON; every error
//! is an [`ApiError`] with a stable code; listings are paginated with `limit` and `offset`.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::api_error::ApiError;
use crate::crm::appointments::{self, AppointmentFilter, Page, STATUSES};
use crate::crm::{Schedule, booking, calls};
use crate::staff::audit::Actor;
use crate::state::AppState;

/// Largest page a listing returns.
const MAX_LIMIT: u64 = 200;
/// Page size when none is asked for.
const DEFAULT_LIMIT: u64 = 50;

/// The routes, to be nested under `/api/v1` and wrapped in [`authorize`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/appointments", get(list_appointments))
        .route("/appointments/{id}", get(get_appointment))
        .route("/appointments/{id}/cancel", post(cancel_appointment))
        .route(
            "/repair-orders",
            get(list_repair_orders).post(open_repair_order),
        )
        .route("/repair-orders/{id}/status", post(set_repair_status))
        .route("/calls", get(list_calls))
        .route("/calls/{call_sid}", get(get_call))
        .fallback(|| async { ApiError::not_found("no such staff API route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
}

/// Lets a request through only with the configured bearer key.
pub async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(key) = &state.settings.staff_api_key else {
        return ApiError::not_found(
            "the staff API is disabled: set STAFF_API_KEY on the server to enable it",
        )
        .with_code("staff_api_disabled")
        .into_response();
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let valid = presented.is_some_and(|t| bool::from(t.as_bytes().ct_eq(key.expose().as_bytes())));
    if !valid {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer <STAFF_API_KEY>",
        )
        .into_response();
    }
    next.run(request).await
}

impl ApiError {
    fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}

fn page(limit: Option<u64>, offset: Option<u64>) -> Result<Page, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_query",
            format!("limit must be 1..={MAX_LIMIT}"),
        ));
    }
    Ok(Page {
        limit,
        offset: offset.unwrap_or(0),
    })
}

fn listing<T: Serialize>(items: Vec<T>, total: u64, page: Page) -> Json<Value> {
    let next = page.offset + page.limit;
    Json(json!({
        "items": items,
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
        "next_offset": (next < total).then_some(next),
    }))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::invalid("invalid_query", e.body_text()))
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::invalid("invalid_path", e.body_text()))
}

fn schedule(state: &AppState) -> Schedule {
    Schedule::for_business(&state.settings.business)
}

/// `GET /appointments` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppointmentQuery {
    /// Day in the business time zone, YYYY-MM-DD.
    day: Option<String>,
    status: Option<String>,
    customer_id: Option<i32>,
    limit: Option<u64>,
    offset: Option<u64>,
}

async fn list_appointments(
    State(state): State<AppState>,
    q: Result<Query<AppointmentQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let day = q
        .day
        .as_deref()
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                ApiError::invalid("invalid_query", format!("day {d:?} is not YYYY-MM-DD"))
            })
        })
        .transpose()?;
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::invalid(
            "invalid_query",
            format!("status {s:?} is not one of {}", STATUSES.join(", ")),
        ));
    }
    let page = page(q.limit, q.offset)?;
    let filter = AppointmentFilter {
        day,
        status: q.status,
        customer_id: q.customer_id,
    };
    let (items, total) = appointments::list(&state.db, &schedule(&state), &filter, page).await?;
    Ok(listing(items, total, page))
}

async fn get_appointment(
    State(state): State<AppState>,
    id: Result<Path<i32>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path(id)?;
    let row = booking::owned(&state.db, id, None).await?;
    let view = appointments::view(&state.db, &schedule(&state), row).await?;
    Ok(Json(json!(view)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: Option<String>,
}

#[allow(clippy::disallowed_methods)] // A handler is IO: the cancellation is stamped with the clock.
async fn cancel_appointment(
    State(state): State<AppState>,
    id: Result<Path<i32>, PathRejection>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = path(id)?;
    let body: CancelBody = if body.iter().all(u8::is_ascii_whitespace) {
        CancelBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::invalid(
                "invalid_body",
                format!("expected {{\"reason\": \"...\"}} or no body: {e}"),
            )
        })?
    };
    if body
        .reason
        .as_deref()
        .is_some_and(|r| !super::clean::is_clean(r))
    {
        return Err(ApiError::invalid(
            "invalid_body",
            "the reason holds control characters".to_string(),
        ));
    }
    let cancelled = crate::staff::bookings::cancel(
        &state.db,
        &schedule(&state),
        Actor::ApiKey,
        (id, None),
        body.reason.as_deref(),
        Utc::now(),
    )
    .await?;
    let view = appointments::view(&state.db, &schedule(&state), cancelled.appointment).await?;
    Ok(Json(
        json!({ "appointment": view, "already_cancelled": cancelled.replayed }),
    ))
}

async fn list_repair_orders(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let orders = crate::crm::repair_orders::open_orders(&state.db).await?;
    Ok(Json(json!({ "items": orders })))
}

fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes, shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid("invalid_body", format!("expected {shape}: {e}")))
}

/// `POST /repair-orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenOrder {
    vehicle_id: i32,
    note: Option<String>,
}

#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
async fn open_repair_order(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: OpenOrder = body(&bytes, r#"{"vehicle_id": 1, "note": "..."}"#)?;
    let order = crate::staff::vehicle_status::check_in(
        &state.db,
        Actor::ApiKey,
        b.vehicle_id,
        b.note.as_deref(),
        Utc::now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!(order))))
}

/// `POST /repair-orders/{id}/status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetStatus {
    status: String,
    note: Option<String>,
}

#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
async fn set_repair_status(
    State(state): State<AppState>,
    id: Result<Path<i32>, PathRejection>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = path(id)?;
    let b: SetStatus = body(&bytes, r#"{"status": "ready", "note": "..."}"#)?;
    let order = crate::staff::vehicle_status::set_status(
        &state.db,
        Actor::ApiKey,
        id,
        &b.status,
        b.note.as_deref(),
        Utc::now(),
    )
    .await?;
    Ok(Json(json!(order)))
}

/// `GET /calls` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallQuery {
    outcome: Option<String>,
    limit: Option<u64>,
    offset: Option<u64>,
}

/// A call as listed.
#[derive(Debug, Serialize)]
struct CallSummary {
    call_sid: String,
    from: Option<String>,
    to: Option<String>,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    duration_secs: Option<i64>,
    outcome: Option<String>,
    summary: Option<String>,
}

impl From<entity::call_log::Model> for CallSummary {
    fn from(c: entity::call_log::Model) -> Self {
        Self {
            duration_secs: c.ended_at.map(|e| (e - c.started_at).num_seconds()),
            call_sid: c.call_sid,
            from: c.from_number,
            to: c.to_number,
            started_at: c.started_at,
            ended_at: c.ended_at,
            outcome: c.outcome,
            summary: c.summary,
        }
    }
}

async fn list_calls(
    State(state): State<AppState>,
    q: Result<Query<CallQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let page = page(q.limit, q.offset)?;
    let (rows, total) = calls::list(
        &state.db,
        &calls::CallFilter {
            outcome: q.outcome.as_deref(),
            started: None,
        },
        page,
    )
    .await?;
    let items: Vec<CallSummary> = rows.into_iter().map(Into::into).collect();
    Ok(listing(items, total, page))
}

async fn get_call(
    State(state): State<AppState>,
    sid: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let sid = path(sid)?;
    let Some((log, turns)) = calls::with_turns(&state.db, &sid).await? else {
        return Err(ApiError::not_found(format!("no call {sid:?}")));
    };
    let turns: Vec<Value> = turns
        .into_iter()
        .map(|t| {
            json!({
                "seq": t.seq,
                "speaker": t.speaker,
                "text": t.text,
                "heard_text": t.heard_text,
                "started_at": t.started_at,
                "stt_ms": t.stt_ms,
                "llm_first_token_ms": t.llm_first_token_ms,
                "tts_first_byte_ms": t.tts_first_byte_ms,
            })
        })
        .collect();
    Ok(Json(
        json!({ "call": CallSummary::from(log), "turns": turns }),
    ))
}

/// A panic in a handler becomes a plain 500 JSON error (logged), never a backtrace or a
/// dropped connection.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    ApiError::internal(&what).into_response()
}
