//! Callback requests: callers the desk could not answer, who asked the agent for an advisor
//! to call them back. Listed oldest first until someone marks one done (audited).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use minijinja::context;

use super::auth::Signed;
use super::change::{CsrfOnly, Submitted};
use super::pages;
use super::people::local_time;
use crate::crm::callbacks;
use crate::staff::audit::Actor;
use crate::state::AppState;

/// `GET /console/callbacks`.
pub async fn page(State(state): State<AppState>, Signed(session): Signed) -> Response {
    let open = match callbacks::open(&state.db).await {
        Ok(rows) => rows,
        Err(e) => return pages::failed(&session, "callback requests could not be read", &e),
    };
    let rows: Vec<_> = open
        .into_iter()
        .map(|c| {
            let asked = local_time(&state, c.requested_at);
            context! {
                id => c.id, call_sid => c.call_sid, phone => c.phone,
                caller_name => c.caller_name, window => c.window, reason => c.reason, asked,
            }
        })
        .collect();
    pages::render(
        StatusCode::OK,
        "callbacks.html",
        context! { requests => rows, ..pages::me(&session) },
    )
}

/// `POST /console/callbacks/{id}/done`.
#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
pub async fn done(
    State(state): State<AppState>,
    Path(id): Path<i32>,
    Submitted { session, .. }: Submitted<CsrfOnly>,
) -> Response {
    let actor = Actor::Staff(&session.member);
    match crate::staff::callbacks::mark_done(&state.db, actor, id, Utc::now()).await {
        Ok(true) => {
            tracing::info!(staff = %session.member.name, callback = id, "console: callback done");
            Redirect::to("/console/callbacks").into_response()
        }
        // Already done by someone else, or gone: the list shows where things stand.
        Ok(false) => Redirect::to("/console/callbacks").into_response(),
        Err(e) => pages::failed(&session, "a callback could not be marked done", &e),
    }
}
