//! The board: one day's appointments per bay and hour, with the forms that create, move and
//! cancel them (`board_changes`). The grid is built by [`grid`], a pure function of the bays,
//! the day's hours and the appointments, so its layout is tested without a database.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Duration, NaiveDate, Timelike, Utc};
use minijinja::{Value, context};
use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::auth::Signed;
use super::pages;
use crate::crm::appointments::{self, AppointmentFilter, AppointmentView, Page};
use crate::crm::booking::ACTIVE_STATUSES;
use crate::crm::{CrmError, Schedule, catalog};
use crate::staff::sessions::{self, Session};
use crate::state::AppState;

/// Appointments one day's board shows at most (a shop books a few dozen).
const DAY_LIMIT: u64 = 500;
/// Customers offered in the create form's list.
const CUSTOMER_CHOICES: u64 = 1000;

/// An appointment as a card on the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Card {
    /// Appointment id.
    pub id: i32,
    /// "9:00 AM – 10:30 AM".
    pub time: String,
    /// Local start, for the move form: "2026-12-07" and "09:00".
    pub day: String,
    /// Local start time.
    pub start: String,
    /// Customer's name and phone.
    pub customer: String,
    /// Customer phone.
    pub phone: String,
    /// "2019 Honda Civic", or empty.
    pub vehicle: String,
    /// Service name.
    pub service: String,
    /// Stored status.
    pub status: String,
    /// Whether it can still be moved or cancelled.
    pub active: bool,
    /// Notes.
    pub notes: String,
    /// Bays it holds.
    pub bays: Vec<String>,
}

/// One hour of the board: a cell per bay, each with the cards starting in that hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// "9 AM".
    pub hour: String,
    /// One list per bay, in the bays' order.
    pub cells: Vec<Vec<Card>>,
}

fn hour_label(hour: i16) -> String {
    catalog::clock(hour * 60).replace(":00", "")
}

/// Lays `cards` (with their local start minute) out by hour and bay. The hours shown are the
/// opening hours, widened to any appointment outside them (a closure added after bookings
/// were made must still show them). A card holding two bays shows in both.
pub fn grid(bays: &[String], hours: Option<(i16, i16)>, cards: &[(i16, Card)]) -> Vec<Row> {
    let starts = cards.iter().map(|(m, _)| *m);
    let first = hours
        .map(|(o, _)| o)
        .into_iter()
        .chain(starts.clone())
        .min();
    let last = hours.map(|(_, c)| c - 1).into_iter().chain(starts).max();
    let (Some(first), Some(last)) = (first, last) else {
        return Vec::new();
    };
    (first / 60..=last / 60)
        .map(|hour| Row {
            hour: hour_label(hour),
            cells: bays
                .iter()
                .map(|bay| {
                    cards
                        .iter()
                        .filter(|(m, c)| m / 60 == hour && c.bays.contains(bay))
                        .map(|(_, c)| c.clone())
                        .collect()
                })
                .collect(),
        })
        .collect()
}

fn card(schedule: &Schedule, v: &AppointmentView) -> (i16, Card) {
    let start = v.starts_at.with_timezone(&schedule.tz);
    let end = v.ends_at.with_timezone(&schedule.tz);
    let minute = |t: chrono::DateTime<chrono_tz::Tz>| (t.hour() * 60 + t.minute()) as i16;
    (
        minute(start),
        Card {
            id: v.id,
            time: format!(
                "{} – {}",
                catalog::clock(minute(start)),
                catalog::clock(minute(end))
            ),
            day: start.format("%Y-%m-%d").to_string(),
            start: start.format("%H:%M").to_string(),
            customer: v.customer_name.clone(),
            phone: v.customer_phone.clone(),
            vehicle: v.vehicle.clone().unwrap_or_default(),
            service: v.service.clone(),
            status: v.status.clone(),
            active: ACTIVE_STATUSES.contains(&v.status.as_str()),
            notes: v.notes.clone().unwrap_or_default(),
            bays: v.bays.clone(),
        },
    )
}

/// `?day=` on the board.
#[derive(Debug, Default, Deserialize)]
pub struct DayQuery {
    #[serde(default)]
    day: String,
}

/// The day asked for, or today in the shop's time zone.
#[allow(clippy::disallowed_methods)] // A handler is IO: "today" is read from the clock.
pub fn day_or_today(schedule: &Schedule, day: &str) -> NaiveDate {
    NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").unwrap_or_else(|_| schedule.today(Utc::now()))
}

/// What the create form showed and must show again after a refusal.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Draft {
    /// Customer phone.
    pub phone: String,
    /// Service id.
    pub service_id: Option<i32>,
    /// Local time "09:00".
    pub time: String,
    /// Notes.
    pub notes: String,
    /// The vehicles to choose from when the customer has several: (id, label).
    pub vehicles: Vec<(i32, String)>,
    /// The form's one-time key (a resend books nothing twice).
    pub form_key: String,
}

/// Renders the board of `day` with `error` shown and `draft` in the create form.
pub async fn render(
    state: &AppState,
    session: &Session,
    day: NaiveDate,
    status: StatusCode,
    error: Option<&str>,
    draft: Draft,
) -> Response {
    match board_context(state, day, draft).await {
        Ok(ctx) => pages::render(
            status,
            "board.html",
            context! { error, ..minijinja::value::merge_maps([ctx, pages::me(session)]) },
        ),
        Err(e) => {
            tracing::error!(error = %e, "console: the board could not be read");
            pages::unavailable(Some(session))
        }
    }
}

async fn board_context(
    state: &AppState,
    day: NaiveDate,
    mut draft: Draft,
) -> Result<Value, CrmError> {
    let db = &state.db;
    let schedule = Schedule::for_business(&state.settings.business);
    let filter = AppointmentFilter {
        day: Some(day),
        ..Default::default()
    };
    let (views, _) = appointments::list(
        db,
        &schedule,
        &filter,
        Page {
            limit: DAY_LIMIT,
            offset: 0,
        },
    )
    .await?;
    let mut bays: Vec<String> = entity::bay::Entity::find()
        .order_by_asc(entity::bay::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter(|b| b.active || views.iter().any(|v| v.bays.contains(&b.name)))
        .map(|b| b.name)
        .collect();
    bays.dedup();
    let week = catalog::week_hours(db).await?;
    let closed = catalog::closures(db, day, day).await?;
    let hours = catalog::hours_on(&week, &closed, day);
    let (active, inactive): (Vec<_>, Vec<_>) = views
        .iter()
        .map(|v| card(&schedule, v))
        .partition(|(_, c)| c.active);
    let rows = grid(&bays, hours, &active);
    let services: Vec<(i32, String)> = catalog::services(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let customers: Vec<(String, String)> = entity::customer::Entity::find()
        .order_by_asc(entity::customer::Column::Name)
        .limit(CUSTOMER_CHOICES)
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.phone, c.name))
        .collect();
    if draft.form_key.is_empty() {
        draft.form_key = sessions::random_token().unwrap_or_default();
    }
    Ok(context! {
        day => day.format("%Y-%m-%d").to_string(),
        day_label => day.format("%A, %B %-d, %Y").to_string(),
        prev_day => (day - Duration::days(1)).format("%Y-%m-%d").to_string(),
        next_day => (day + Duration::days(1)).format("%Y-%m-%d").to_string(),
        hours => hours.map(|(o, c)| format!("{} – {}", catalog::clock(o), catalog::clock(c))),
        closed_reason => closed.first().map(|c| c.reason.clone()),
        bays,
        rows,
        others => inactive.into_iter().map(|(_, c)| c).collect::<Vec<_>>(),
        services,
        customers,
        draft,
    })
}

/// `GET /console/board?day=YYYY-MM-DD`.
pub async fn page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(q): Query<DayQuery>,
) -> Response {
    let schedule = Schedule::for_business(&state.settings.business);
    let day = day_or_today(&schedule, &q.day);
    render(
        &state,
        &session,
        day,
        StatusCode::OK,
        None,
        Draft::default(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(id: i32, bays: &[&str], active: bool) -> Card {
        Card {
            id,
            time: String::new(),
            day: String::new(),
            start: String::new(),
            customer: String::new(),
            phone: String::new(),
            vehicle: String::new(),
            service: String::new(),
            status: String::new(),
            active,
            notes: String::new(),
            bays: bays.iter().map(|b| b.to_string()).collect(),
        }
    }

    #[test]
    fn cards_sit_in_their_start_hour_and_every_bay_they_hold() {
        let bays = ["Bay 1".to_string(), "Bay 2".to_string()];
        let cards = [
            (8 * 60 + 30, card(1, &["Bay 1"], true)),
            (9 * 60, card(2, &["Bay 1", "Bay 2"], true)),
        ];
        let rows = grid(&bays, Some((8 * 60, 10 * 60)), &cards);
        assert_eq!(
            rows.iter().map(|r| r.hour.as_str()).collect::<Vec<_>>(),
            ["8 AM", "9 AM"]
        );
        assert_eq!(
            rows[0].cells[0].iter().map(|c| c.id).collect::<Vec<_>>(),
            [1]
        );
        assert!(rows[0].cells[1].is_empty());
        assert_eq!(rows[1].cells[0][0].id, 2);
        assert_eq!(rows[1].cells[1][0].id, 2);
    }

    #[test]
    fn hours_widen_to_appointments_outside_them_and_a_closed_empty_day_has_none() {
        let bays = ["Bay 1".to_string()];
        let late = [(18 * 60 + 15, card(7, &["Bay 1"], true))];
        let rows = grid(&bays, Some((8 * 60, 17 * 60)), &late);
        assert_eq!(rows.first().unwrap().hour, "8 AM");
        assert_eq!(rows.last().unwrap().hour, "6 PM");
        assert_eq!(rows.last().unwrap().cells[0][0].id, 7);
        // Closed (a holiday) but a booking made before the closure: its hour alone.
        let rows = grid(&bays, None, &late);
        assert_eq!(rows.len(), 1);
        assert!(grid(&bays, None, &[]).is_empty());
    }
}
