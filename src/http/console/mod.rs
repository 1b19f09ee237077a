//! The staff console under `/console`: server-rendered pages for the service desk's people,
//! signed in with their own accounts (`auth`, `login`), and the admins' pages (`people`).
//! Every change is a form post carrying the session's CSRF token, and every response carries
//! a strict Content-Security-Policy: the pages run only the console's own script, never
//! inline code, so text a caller said cannot become script in an advisor's browser.

mod auth;
mod board;
mod board_changes;
mod callbacks;
mod change;
mod history;
mod live;
mod login;
mod pages;
mod people;
mod recordings;
mod take;
mod vehicles;

use axum::Router;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Serialize;

use crate::crm::appointments::Page;
use crate::crm::calls;
use crate::state::AppState;
use auth::Signed;

/// Calls the home page lists.
const RECENT_CALLS: u64 = 10;

/// The console's routes, to be nested under `/console`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login::page).post(login::sign_in))
        .route("/logout", post(login::sign_out))
        .route("/board", get(board::page))
        .route("/appointments", post(board_changes::create))
        .route("/appointments/{id}/move", post(board_changes::move_to))
        .route("/appointments/{id}/cancel", post(board_changes::cancel))
        .route("/live", get(live::page))
        .route("/live/events", get(live::events))
        .route("/live/{sid}/take", post(take::take))
        .route("/me/phone", post(take::set_phone))
        .route("/vehicles", get(vehicles::page).post(vehicles::check_in))
        .route("/vehicles/{id}/status", post(vehicles::set_status))
        .route("/callbacks", get(callbacks::page))
        .route("/callbacks/{id}/done", post(callbacks::done))
        .route("/calls", get(history::list))
        .route("/calls/{sid}", get(history::detail))
        .route("/calls/{sid}/recording/{n}", get(recordings::audio))
        .route("/staff", get(people::list).post(people::add))
        .route("/staff/{id}/{action}", post(people::set_disabled))
        .route("/audit", get(people::audit_log))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .route("/static/recording.js", get(recording_script))
        .fallback(not_found)
        .layer(Extension(login::NameThrottle::new()))
        .layer(from_fn(security_headers))
}

/// The policy every console response carries: only our own files, no inline script or
/// style, no framing, forms post only to us.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// One of the console's own files, cached briefly by the browser.
fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    static_file(
        "text/css; charset=utf-8",
        include_str!("static/console.css"),
    )
}

async fn script() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("static/console.js"),
    )
}

async fn recording_script() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("static/recording.js"),
    )
}

async fn not_found(State(state): State<AppState>, request: Request) -> Response {
    let session = auth::current(&state, request.headers())
        .await
        .ok()
        .flatten();
    pages::problem(
        StatusCode::NOT_FOUND,
        "No such page",
        "There is no console page at this address.",
        session.as_ref(),
    )
}

#[derive(Serialize)]
struct CallRow {
    call_sid: String,
    from: String,
    started: String,
    outcome: String,
    summary: String,
}

/// `GET /console`: where the desk starts.
async fn home(State(state): State<AppState>, Signed(session): Signed) -> Response {
    let page = Page {
        limit: RECENT_CALLS,
        offset: 0,
    };
    let (rows, total) = match calls::list(&state.db, &calls::CallFilter::default(), page).await {
        Ok(r) => r,
        Err(e) => return pages::failed(&session, "calls could not be listed", &e),
    };
    let calls: Vec<CallRow> = rows
        .into_iter()
        .map(|c| CallRow {
            started: people::local_time(&state, c.started_at),
            call_sid: c.call_sid,
            from: c.from_number.unwrap_or_default(),
            outcome: c.outcome.unwrap_or_else(|| "in progress".into()),
            summary: c.summary.unwrap_or_default(),
        })
        .collect();
    let phone = match crate::staff::phone::of(&state.db, &session.member).await {
        Ok(p) => p.map(|p| p.as_str().to_string()),
        Err(e) => return pages::failed(&session, "the phone number could not be read", &e),
    };
    pages::render(
        StatusCode::OK,
        "home.html",
        context! { calls, total_calls => total, phone, ..pages::me(&session) },
    )
}
