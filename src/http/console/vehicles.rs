//! Vehicles in the shop: open repair orders with their status, kept by the desk (check a
//! vehicle in, move its job along, mark it collected); the agent reads them when a customer
//! asks whether their car is ready.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use minijinja::context;
use serde::Deserialize;

use super::auth::Signed;
use super::change::{Submitted, csrf_form};
use super::pages;
use super::people::local_time;
use crate::crm::repair_orders::{self, STATUSES};
use crate::crm::{CrmError, appointments, customers};
use crate::domain::PhoneNumber;
use crate::staff::audit::Actor;
use crate::staff::sessions::Session;
use crate::staff::vehicle_status;
use crate::state::AppState;

async fn render(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    error: Option<&str>,
    phone: &str,
    choices: Vec<(i32, String)>,
) -> Response {
    let orders = match repair_orders::open_orders(&state.db).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "console: repair orders could not be read");
            return pages::unavailable(Some(session));
        }
    };
    let rows: Vec<_> = orders
        .into_iter()
        .map(|o| {
            let since = local_time(state, o.opened_at);
            let updated = local_time(state, o.updated_at);
            context! { order => o, since, updated }
        })
        .collect();
    pages::render(
        status,
        "vehicles.html",
        context! { orders => rows, statuses => STATUSES, error, phone, choices, ..pages::me(session) },
    )
}

/// `GET /console/vehicles`.
pub async fn page(State(state): State<AppState>, Signed(session): Signed) -> Response {
    render(&state, &session, StatusCode::OK, None, "", Vec::new()).await
}

/// The check-in form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CheckInForm {
    csrf: String,
    phone: String,
    vehicle_id: String,
    note: String,
}

fn refused_status(e: &CrmError) -> StatusCode {
    match e {
        CrmError::NotFound { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// `POST /console/vehicles`: a vehicle checked in.
#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
pub async fn check_in(
    State(state): State<AppState>,
    Submitted { session, form }: Submitted<CheckInForm>,
) -> Response {
    let Ok(phone) = PhoneNumber::parse(&form.phone) else {
        return render(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Enter the customer's phone number."),
            &form.phone,
            Vec::new(),
        )
        .await;
    };
    let customer = match customers::by_phone(&state.db, &phone).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            let m = format!("No customer has the number {}.", phone.as_str());
            return render(
                &state,
                &session,
                StatusCode::NOT_FOUND,
                Some(&m),
                &form.phone,
                Vec::new(),
            )
            .await;
        }
        Err(e) => return pages::failed(&session, "a repair order change failed", &e),
    };
    let vehicles = match customers::vehicles(&state.db, customer.id).await {
        Ok(v) => v,
        Err(e) => return pages::failed(&session, "a repair order change failed", &e),
    };
    let chosen: Option<i32> = form.vehicle_id.trim().parse().ok();
    let vehicle_id = match (chosen, vehicles.as_slice()) {
        (Some(id), _) if vehicles.iter().any(|v| v.id == id) => id,
        (_, []) => {
            let m = format!("{} has no vehicle on file.", customer.name);
            return render(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&m),
                &form.phone,
                Vec::new(),
            )
            .await;
        }
        (_, [only]) => only.id,
        _ => {
            let choices = vehicles
                .iter()
                .map(|v| (v.id, appointments::describe_vehicle(v)))
                .collect();
            let m = format!(
                "{} has {} vehicles: choose which one.",
                customer.name,
                vehicles.len()
            );
            return render(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&m),
                &form.phone,
                choices,
            )
            .await;
        }
    };
    let note = Some(form.note.as_str());
    match vehicle_status::check_in(
        &state.db,
        Actor::Staff(&session.member),
        vehicle_id,
        note,
        Utc::now(),
    )
    .await
    {
        Ok(order) => {
            tracing::info!(staff = %session.member.name, order = order.id, "console: vehicle checked in");
            Redirect::to("/console/vehicles").into_response()
        }
        Err(CrmError::Db(e)) => {
            pages::failed(&session, "a repair order change failed", &CrmError::Db(e))
        }
        Err(e) => {
            render(
                &state,
                &session,
                refused_status(&e),
                Some(&e.to_string()),
                &form.phone,
                Vec::new(),
            )
            .await
        }
    }
}

/// The status form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusForm {
    csrf: String,
    status: String,
    note: String,
}

/// `POST /console/vehicles/{id}/status`.
#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
pub async fn set_status(
    State(state): State<AppState>,
    Path(id): Path<i32>,
    Submitted { session, form }: Submitted<StatusForm>,
) -> Response {
    let note = Some(form.note.as_str()).filter(|n| !n.trim().is_empty());
    match vehicle_status::set_status(
        &state.db,
        Actor::Staff(&session.member),
        id,
        form.status.trim(),
        note,
        Utc::now(),
    )
    .await
    {
        Ok(order) => {
            tracing::info!(staff = %session.member.name, order = id, status = %order.status, "console: repair order status set");
            Redirect::to("/console/vehicles").into_response()
        }
        Err(CrmError::Db(e)) => {
            pages::failed(&session, "a repair order change failed", &CrmError::Db(e))
        }
        Err(e) => {
            render(
                &state,
                &session,
                refused_status(&e),
                Some(&e.to_string()),
                "",
                Vec::new(),
            )
            .await
        }
    }
}

csrf_form!(CheckInForm, StatusForm);
