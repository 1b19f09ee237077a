//! The admins' pages: staff accounts (add, disable, enable) and the audit log. Each change is
//! written with its audit entry in one transaction: the log never claims a change that did not
//! happen nor misses one that did.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use minijinja::context;
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{self, Admin};
use super::pages;
use crate::staff::audit::{self, Actor, Change};
use crate::staff::sessions::{self, Session};
use crate::staff::{Role, StaffError, accounts};
use crate::state::AppState;

/// Audit entries the log page shows.
const AUDIT_PAGE: u64 = 200;

/// A time as the shop reads it: in its own time zone.
pub fn local_time(state: &AppState, at: DateTime<Utc>) -> String {
    at.with_timezone(&state.settings.business.timezone)
        .format("%a %-d %b %Y, %H:%M")
        .to_string()
}

#[derive(Serialize)]
struct AccountRow {
    id: i32,
    name: String,
    role: String,
    disabled: bool,
    created: String,
    is_me: bool,
}

async fn staff_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let accounts = match accounts::list(&state.db).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "console: staff accounts could not be listed");
            return pages::unavailable(Some(session));
        }
    };
    let rows: Vec<AccountRow> = accounts
        .into_iter()
        .map(|a| AccountRow {
            is_me: a.id == session.member.id,
            created: local_time(state, a.created_at),
            id: a.id,
            name: a.name,
            role: a.role,
            disabled: a.disabled,
        })
        .collect();
    pages::render(
        status,
        "staff.html",
        context! { accounts => rows, error, ..pages::me(session) },
    )
}

/// `GET /console/staff`.
pub async fn list(State(state): State<AppState>, Admin(session): Admin) -> Response {
    staff_page(&state, &session, StatusCode::OK, None).await
}

/// The new-account form.
#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// `POST /console/staff`: a new account, audited.
#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
pub async fn add(
    State(state): State<AppState>,
    Admin(session): Admin,
    headers: HeaderMap,
    form: Result<Form<AddForm>, FormRejection>,
) -> Response {
    let form = form.ok().map(|Form(f)| f);
    if let Some(refused) =
        auth::csrf_refusal(&session, form.as_ref().map(|f| f.csrf.as_str()), &headers)
    {
        return refused;
    }
    let Some(form) = form else {
        return staff_page(
            &state,
            &session,
            StatusCode::BAD_REQUEST,
            Some("The form was not filled in as expected."),
        )
        .await;
    };
    let Some(role) = Role::parse(&form.role) else {
        return staff_page(
            &state,
            &session,
            StatusCode::BAD_REQUEST,
            Some("Choose a role: advisor or admin."),
        )
        .await;
    };
    let now = Utc::now();
    let name = form.name.trim();
    let done: Result<accounts::StaffMember, StaffError> = async {
        let txn = state.db.begin().await?;
        let member = accounts::add(&txn, name, role, &form.password, now).await?;
        audit::record(
            &txn,
            Change {
                actor: Actor::Staff(&session.member),
                action: "staff.add",
                target: Some(format!("staff:{}", member.id)),
                detail: Some(json!({ "name": member.name, "role": role.as_str() })),
            },
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(member)
    }
    .await;
    match done {
        Ok(member) => {
            tracing::info!(staff = %session.member.name, added = %member.name, role = %role, "console: staff account added");
            Redirect::to("/console/staff").into_response()
        }
        Err(e @ (StaffError::NameTaken(_) | StaffError::BadName | StaffError::BadPassword)) => {
            let status = if matches!(e, StaffError::NameTaken(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            staff_page(&state, &session, status, Some(&e.to_string())).await
        }
        Err(e) => pages::failed(&session, "a staff account could not be added", &e),
    }
}

/// A form whose only field is the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/staff/{id}/disable` and `/enable`.
#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
pub async fn set_disabled(
    State(state): State<AppState>,
    Admin(session): Admin,
    Path((id, action)): Path<(i32, String)>,
    headers: HeaderMap,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let sent = form.as_ref().ok().map(|Form(f)| f.csrf.as_str());
    if let Some(refused) = auth::csrf_refusal(&session, sent, &headers) {
        return refused;
    }
    let disabled = match action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => {
            return pages::problem(
                StatusCode::NOT_FOUND,
                "No such page",
                "There is no such action on staff accounts.",
                Some(&session),
            );
        }
    };
    if disabled && id == session.member.id {
        return staff_page(
            &state,
            &session,
            StatusCode::BAD_REQUEST,
            Some("You cannot disable your own account (the shop would risk having no admin)."),
        )
        .await;
    }
    let now = Utc::now();
    let done: Result<Option<String>, StaffError> = async {
        let txn = state.db.begin().await?;
        let Some(name) = accounts::set_disabled(&txn, id, disabled).await? else {
            return Ok(None);
        };
        if disabled {
            sessions::close_all_for(&txn, id).await?;
        }
        audit::record(
            &txn,
            Change {
                actor: Actor::Staff(&session.member),
                action: if disabled {
                    "staff.disable"
                } else {
                    "staff.enable"
                },
                target: Some(format!("staff:{id}")),
                detail: Some(json!({ "name": name })),
            },
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(Some(name))
    }
    .await;
    match done {
        Ok(Some(name)) => {
            tracing::info!(staff = %session.member.name, account = %name, disabled, "console: staff account changed");
            Redirect::to("/console/staff").into_response()
        }
        Ok(None) => pages::problem(
            StatusCode::NOT_FOUND,
            "No such account",
            "That staff account does not exist.",
            Some(&session),
        ),
        Err(e) => pages::failed(&session, "a staff account could not be changed", &e),
    }
}

#[derive(Serialize)]
struct AuditRow {
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

/// `GET /console/audit`: the latest changes, newest first.
pub async fn audit_log(State(state): State<AppState>, Admin(session): Admin) -> Response {
    let entries = match audit::recent(&state.db, AUDIT_PAGE).await {
        Ok(e) => e,
        Err(e) => return pages::failed(&session, "the audit log could not be read", &e),
    };
    let rows: Vec<AuditRow> = entries
        .into_iter()
        .map(|e| AuditRow {
            at: local_time(&state, e.at),
            actor: e.actor,
            action: e.action,
            target: e.target.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
        })
        .collect();
    pages::render(
        StatusCode::OK,
        "audit.html",
        context! { entries => rows, ..pages::me(&session) },
    )
}
