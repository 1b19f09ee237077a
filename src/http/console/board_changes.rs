//! The board's forms: create, move and cancel an appointment, through `staff::bookings` (the
//! agent's booking code and exactly-once rules, with the audit entry in the same transaction).
//! A refusal shows the board again with the reason and the nearest free times; a create form
//! carries a one-time key, so sending it twice books once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, NaiveTime, Utc};
use sea_orm::EntityTrait;
use serde::Deserialize;

use super::board::{self, Draft};
use super::change::{Submitted, csrf_form};
use super::pages;
use crate::crm::booking::BookingRequest;
use crate::crm::error::Unavailable;
use crate::crm::{CrmError, Schedule, appointments, customers};
use crate::domain::PhoneNumber;
use crate::staff::audit::Actor;
use crate::staff::bookings;
use crate::staff::sessions::Session;
use crate::state::AppState;

/// What a person reads when the book refuses a change.
pub fn refusal_text(schedule: &Schedule, e: &CrmError) -> String {
    let CrmError::Unavailable {
        reason,
        alternatives,
    } = e
    else {
        return e.to_string();
    };
    let why = match reason {
        Unavailable::Closed { day, reason } => format!(
            "The shop is closed on {}{}.",
            day.format("%A, %B %-d"),
            reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        Unavailable::OutsideHours { opens, closes } => {
            format!(
                "That is outside opening hours ({opens} to {closes}; the job must finish by closing)."
            )
        }
        Unavailable::TooSoon => format!(
            "That is too soon: bookings start at least {} minutes from now.",
            schedule.policy.min_lead_minutes
        ),
        Unavailable::TooFar => format!(
            "Bookings are taken up to {} days ahead.",
            schedule.policy.horizon_days
        ),
        Unavailable::OffGrid => format!(
            "Appointments start on the {}-minute grid.",
            schedule.policy.slot_step_minutes
        ),
        Unavailable::Taken => "Every bay is taken for some of that time.".to_string(),
    };
    if alternatives.is_empty() {
        format!("{why} Nothing else is free that week.")
    } else {
        let free: Vec<String> = alternatives
            .iter()
            .map(|s| schedule.spoken(s.starts))
            .collect();
        format!("{why} Free nearby: {}.", free.join("; "))
    }
}

fn status_of(e: &CrmError) -> StatusCode {
    match e {
        CrmError::NotFound { .. } | CrmError::UnknownCustomer(_) => StatusCode::NOT_FOUND,
        CrmError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::CONFLICT,
    }
}

/// The instant of `day` + `time` in the shop's zone, or what is wrong with them.
fn when(
    schedule: &Schedule,
    day: &str,
    time: &str,
) -> Result<(NaiveDate, chrono::DateTime<Utc>), String> {
    let d = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .map_err(|_| "Choose a day.".to_string())?;
    let t = NaiveTime::parse_from_str(time.trim(), "%H:%M")
        .map_err(|_| "Choose a start time.".to_string())?;
    let at = schedule
        .instant(d.and_time(t))
        .ok_or_else(|| "That time does not exist on that day (the clocks change).".to_string())?;
    Ok((d, at))
}

/// After a change: the board of the change's day, scrolled to the appointment.
fn to_board(day: &str, id: i32) -> Response {
    Redirect::to(&format!("/console/board?day={day}#appointment-{id}")).into_response()
}

async fn refused(
    state: &AppState,
    session: &Session,
    day: NaiveDate,
    status: StatusCode,
    message: &str,
    draft: Draft,
) -> Response {
    board::render(state, session, day, status, Some(message), draft).await
}

/// The create form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateForm {
    csrf: String,
    phone: String,
    service_id: String,
    day: String,
    time: String,
    notes: String,
    vehicle_id: String,
    form_key: String,
}

/// `POST /console/appointments`.
#[allow(clippy::disallowed_methods)] // A handler is IO: the booking is stamped with the clock.
pub async fn create(
    State(state): State<AppState>,
    Submitted { session, form }: Submitted<CreateForm>,
) -> Response {
    let schedule = Schedule::for_business(&state.settings.business);
    let shown_day = board::day_or_today(&schedule, &form.day);
    let mut draft = Draft {
        phone: form.phone.clone(),
        service_id: form.service_id.trim().parse().ok(),
        time: form.time.clone(),
        notes: form.notes.clone(),
        vehicles: Vec::new(),
        form_key: form.form_key.clone(),
    };
    if !(form.form_key.len() == 43
        && form
            .form_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        draft.form_key.clear();
        return refused(
            &state,
            &session,
            shown_day,
            StatusCode::BAD_REQUEST,
            "The form had expired; please fill it in again.",
            draft,
        )
        .await;
    }
    let (day, starts) = match when(&schedule, &form.day, &form.time) {
        Ok(w) => w,
        Err(m) => {
            return refused(
                &state,
                &session,
                shown_day,
                StatusCode::UNPROCESSABLE_ENTITY,
                &m,
                draft,
            )
            .await;
        }
    };
    let Ok(phone) = PhoneNumber::parse(&form.phone) else {
        return refused(
            &state,
            &session,
            day,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter the customer's phone number.",
            draft,
        )
        .await;
    };
    let customer = match customers::by_phone(&state.db, &phone).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            let m = format!("No customer has the number {}.", phone.as_str());
            return refused(&state, &session, day, StatusCode::NOT_FOUND, &m, draft).await;
        }
        Err(e) => return pages::failed(&session, "a board change failed", &e),
    };
    let service = match draft.service_id {
        Some(id) => {
            entity::service_type::Entity::find_by_id(id)
                .one(&state.db)
                .await
        }
        None => Ok(None),
    };
    let service = match service {
        Ok(Some(s)) => s,
        Ok(None) => {
            return refused(
                &state,
                &session,
                day,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Choose a service.",
                draft,
            )
            .await;
        }
        Err(e) => return pages::failed(&session, "a board change failed", &CrmError::Db(e)),
    };
    let vehicles = match customers::vehicles(&state.db, customer.id).await {
        Ok(v) => v,
        Err(e) => return pages::failed(&session, "a board change failed", &e),
    };
    let chosen: Option<i32> = form.vehicle_id.trim().parse().ok();
    let vehicle_id = match (chosen, vehicles.as_slice()) {
        (Some(id), _) if vehicles.iter().any(|v| v.id == id) => Some(id),
        (_, []) => None,
        (_, [only]) => Some(only.id),
        _ => {
            draft.vehicles = vehicles
                .iter()
                .map(|v| (v.id, appointments::describe_vehicle(v)))
                .collect();
            let m = format!(
                "{} has {} vehicles: choose which one.",
                customer.name,
                vehicles.len()
            );
            return refused(
                &state,
                &session,
                day,
                StatusCode::UNPROCESSABLE_ENTITY,
                &m,
                draft,
            )
            .await;
        }
    };
    let key = format!("console:{}", form.form_key);
    let notes = form.notes.trim();
    let request = BookingRequest {
        customer_id: customer.id,
        vehicle_id,
        service: &service,
        starts,
        notes: (!notes.is_empty()).then_some(notes),
        call_sid: None,
        idempotency_key: Some(&key),
    };
    match bookings::book(
        &state.db,
        &schedule,
        Actor::Staff(&session.member),
        &request,
        Utc::now(),
    )
    .await
    {
        Ok(booked) => {
            tracing::info!(staff = %session.member.name, appointment = booked.appointment.id, replayed = booked.replayed, "console: appointment booked");
            to_board(&form.day, booked.appointment.id)
        }
        Err(CrmError::Db(e)) => pages::failed(&session, "a board change failed", &CrmError::Db(e)),
        Err(e) => {
            let m = refusal_text(&schedule, &e);
            refused(&state, &session, day, status_of(&e), &m, draft).await
        }
    }
}

/// The move form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MoveForm {
    csrf: String,
    day: String,
    time: String,
    /// The board the form was on (shown again on a refusal).
    from_day: String,
}

/// `POST /console/appointments/{id}/move`.
#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
pub async fn move_to(
    State(state): State<AppState>,
    Path(id): Path<i32>,
    Submitted { session, form }: Submitted<MoveForm>,
) -> Response {
    let schedule = Schedule::for_business(&state.settings.business);
    let shown_day = board::day_or_today(&schedule, &form.from_day);
    let (_, starts) = match when(&schedule, &form.day, &form.time) {
        Ok(w) => w,
        Err(m) => {
            return refused(
                &state,
                &session,
                shown_day,
                StatusCode::UNPROCESSABLE_ENTITY,
                &m,
                Draft::default(),
            )
            .await;
        }
    };
    match bookings::reschedule(
        &state.db,
        &schedule,
        Actor::Staff(&session.member),
        (id, None),
        starts,
        Utc::now(),
    )
    .await
    {
        Ok(moved) => {
            tracing::info!(staff = %session.member.name, appointment = id, replayed = moved.replayed, "console: appointment moved");
            to_board(&form.day, id)
        }
        Err(CrmError::Db(e)) => pages::failed(&session, "a board change failed", &CrmError::Db(e)),
        Err(e) => {
            let m = format!(
                "Appointment {id} was not moved. {}",
                refusal_text(&schedule, &e)
            );
            refused(
                &state,
                &session,
                shown_day,
                status_of(&e),
                &m,
                Draft::default(),
            )
            .await
        }
    }
}

/// The cancel form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CancelForm {
    csrf: String,
    reason: String,
    from_day: String,
}

/// `POST /console/appointments/{id}/cancel`.
#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<i32>,
    Submitted { session, form }: Submitted<CancelForm>,
) -> Response {
    let schedule = Schedule::for_business(&state.settings.business);
    let shown_day = board::day_or_today(&schedule, &form.from_day);
    let reason = form.reason.trim();
    let reason = (!reason.is_empty()).then_some(reason);
    match bookings::cancel(
        &state.db,
        &schedule,
        Actor::Staff(&session.member),
        (id, None),
        reason,
        Utc::now(),
    )
    .await
    {
        Ok(done) => {
            tracing::info!(staff = %session.member.name, appointment = id, replayed = done.replayed, "console: appointment cancelled");
            to_board(&shown_day.format("%Y-%m-%d").to_string(), id)
        }
        Err(CrmError::Db(e)) => pages::failed(&session, "a board change failed", &CrmError::Db(e)),
        Err(e) => {
            let m = format!(
                "Appointment {id} was not cancelled. {}",
                refusal_text(&schedule, &e)
            );
            refused(
                &state,
                &session,
                shown_day,
                status_of(&e),
                &m,
                Draft::default(),
            )
            .await
        }
    }
}

csrf_form!(CancelForm, CreateForm, MoveForm);
