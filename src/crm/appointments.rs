//! Appointments as people read them (service and vehicle names, local times, bays), for the
//! agent's tools and the staff API, and the filtered, paginated listing staff use.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use super::error::CrmError;
use super::schedule::Schedule;
use entity::{appointment, appointment_bay, bay, customer, service_type, vehicle};

/// Every status an appointment can have, as stored.
pub const STATUSES: [&str; 5] = ["booked", "rescheduled", "cancelled", "completed", "no_show"];

/// An appointment with the names a person needs to read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppointmentView {
    /// Id.
    pub id: i32,
    /// booked, rescheduled, cancelled, completed or no_show.
    pub status: String,
    /// Service id.
    pub service_id: i32,
    /// Service name.
    pub service: String,
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC).
    pub ends_at: DateTime<Utc>,
    /// Start in the business time zone, "2026-11-24T09:00".
    pub local_start: String,
    /// "Tuesday, November 24 at 9:00 AM".
    pub spoken: String,
    /// Customer id.
    pub customer_id: i32,
    /// Customer name.
    pub customer_name: String,
    /// Customer phone (E.164).
    pub customer_phone: String,
    /// Vehicle id.
    pub vehicle_id: Option<i32>,
    /// "2019 Honda Civic".
    pub vehicle: Option<String>,
    /// Bay names.
    pub bays: Vec<String>,
    /// Notes.
    pub notes: Option<String>,
    /// The call that booked it.
    pub call_sid: Option<String>,
}

/// "2019 Honda Civic".
pub fn describe_vehicle(v: &vehicle::Model) -> String {
    format!("{} {} {}", v.year, v.make, v.model)
}

/// Views of `rows`, in the same order, with every name loaded in one query per table.
pub async fn views(
    db: &impl ConnectionTrait,
    schedule: &Schedule,
    rows: Vec<appointment::Model>,
) -> Result<Vec<AppointmentView>, CrmError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = |f: fn(&appointment::Model) -> Option<i32>| -> Vec<i32> {
        let mut v: Vec<i32> = rows.iter().filter_map(f).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let services: HashMap<i32, service_type::Model> = service_type::Entity::find()
        .filter(service_type::Column::Id.is_in(ids(|a| Some(a.service_type_id))))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let customers: HashMap<i32, customer::Model> = customer::Entity::find()
        .filter(customer::Column::Id.is_in(ids(|a| Some(a.customer_id))))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let vehicles: HashMap<i32, vehicle::Model> = vehicle::Entity::find()
        .filter(vehicle::Column::Id.is_in(ids(|a| a.vehicle_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|v| (v.id, v))
        .collect();
    let holds = appointment_bay::Entity::find()
        .filter(appointment_bay::Column::AppointmentId.is_in(ids(|a| Some(a.id))))
        .order_by_asc(appointment_bay::Column::BayId)
        .all(db)
        .await?;
    let bay_names: HashMap<i32, String> = bay::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|b| (b.id, b.name))
        .collect();
    Ok(rows
        .into_iter()
        .map(|a| {
            let service = services.get(&a.service_type_id);
            let customer = customers.get(&a.customer_id);
            AppointmentView {
                id: a.id,
                status: a.status,
                service_id: a.service_type_id,
                service: service.map(|s| s.name.clone()).unwrap_or_default(),
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                local_start: schedule.local_iso(a.starts_at),
                spoken: schedule.spoken(a.starts_at),
                customer_id: a.customer_id,
                customer_name: customer.map(|c| c.name.clone()).unwrap_or_default(),
                customer_phone: customer.map(|c| c.phone.clone()).unwrap_or_default(),
                vehicle_id: a.vehicle_id,
                vehicle: a
                    .vehicle_id
                    .and_then(|id| vehicles.get(&id))
                    .map(describe_vehicle),
                bays: holds
                    .iter()
                    .filter(|h| h.appointment_id == a.id)
                    .filter_map(|h| bay_names.get(&h.bay_id).cloned())
                    .collect(),
                notes: a.notes,
                call_sid: a.call_sid,
            }
        })
        .collect())
}

/// One appointment's view.
pub async fn view(
    db: &impl ConnectionTrait,
    schedule: &Schedule,
    row: appointment::Model,
) -> Result<AppointmentView, CrmError> {
    let mut v = views(db, schedule, vec![row]).await?;
    Ok(v.remove(0))
}

/// Which appointments a staff listing shows.
#[derive(Debug, Clone, Default)]
pub struct AppointmentFilter {
    /// Starting on this day (business time zone).
    pub day: Option<NaiveDate>,
    /// With this status (one of [`STATUSES`]).
    pub status: Option<String>,
    /// Of this customer.
    pub customer_id: Option<i32>,
}

/// A slice of a long listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// At most this many rows.
    pub limit: u64,
    /// After skipping this many.
    pub offset: u64,
}

/// Appointments matching `filter`, by start time, and how many match in all.
pub async fn list(
    db: &impl ConnectionTrait,
    schedule: &Schedule,
    filter: &AppointmentFilter,
    page: Page,
) -> Result<(Vec<AppointmentView>, u64), CrmError> {
    let mut q = appointment::Entity::find();
    if let Some(day) = filter.day {
        let (from, to) = schedule.day_window(day);
        q = q
            .filter(appointment::Column::StartsAt.gte(from))
            .filter(appointment::Column::StartsAt.lt(to));
    }
    if let Some(status) = &filter.status {
        q = q.filter(appointment::Column::Status.eq(status.as_str()));
    }
    if let Some(c) = filter.customer_id {
        q = q.filter(appointment::Column::CustomerId.eq(c));
    }
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by_asc(appointment::Column::StartsAt)
        .order_by_asc(appointment::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db)
        .await?;
    Ok((views(db, schedule, rows).await?, total))
}
