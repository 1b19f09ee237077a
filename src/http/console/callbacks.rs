//! Callback requests: callers the desk could not answer, who asked the agent for an advisor
//! to call them back. Listed oldest first until someone marks one done (audited).

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use minijinja::context;
use serde::Deserialize;

use super::auth::{self, Signed};
use super::pages;
use super::people::local_time;
use crate::crm::callbacks;
use crate::staff::audit::Actor;
use crate::state::AppState;

/// `GET /console/callbacks`.
pub async fn page(State(state): State<AppState>, Signed(session): Signed) -> Response {
    let open = match callbacks::open(&state.db).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "console: callback requests could not be read");
            return pages::unavailable(Some(&session));
        }
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

/// The "done" form: only its CSRF token.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DoneForm {
    csrf: String,
}

/// `POST /console/callbacks/{id}/done`.
#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
pub async fn done(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<i32>,
    headers: HeaderMap,
    form: Result<Form<DoneForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if let Some(refusal) = auth::csrf_refusal(&session, Some(&form.csrf), &headers) {
        return refusal;
    }
    let actor = Actor::Staff(&session.member);
    match crate::staff::callbacks::mark_done(&state.db, actor, id, Utc::now()).await {
        Ok(true) => {
            tracing::info!(staff = %session.member.name, callback = id, "console: callback done");
            Redirect::to("/console/callbacks").into_response()
        }
        // Already done by someone else, or gone: the list shows where things stand.
        Ok(false) => Redirect::to("/console/callbacks").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console: a callback could not be marked done");
            pages::unavailable(Some(&session))
        }
    }
}
