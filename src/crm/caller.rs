//! Everything the CRM knows of a caller, by the number they call from: their record, their
//! vehicles and their coming appointments. Read once when a call is prepared (for the prompt
//! and the greeting) and by the `lookup_customer` tool, so both see the same thing.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::appointments::{self, AppointmentView};
use super::{CrmError, Schedule, booking, customers};
use crate::domain::PhoneNumber;
use entity::{customer, vehicle};

/// A known caller.
#[derive(Debug, Clone)]
pub struct CallerRecord {
    /// The customer.
    pub customer: customer::Model,
    /// Their vehicles.
    pub vehicles: Vec<vehicle::Model>,
    /// Their appointments that have not ended by `now`.
    pub upcoming: Vec<AppointmentView>,
}

/// The caller with number `phone`, if the CRM has one.
pub async fn by_phone(
    db: &impl ConnectionTrait,
    schedule: &Schedule,
    phone: &PhoneNumber,
    now: DateTime<Utc>,
) -> Result<Option<CallerRecord>, CrmError> {
    let Some(customer) = customers::by_phone(db, phone).await? else {
        return Ok(None);
    };
    let vehicles = customers::vehicles(db, customer.id).await?;
    let rows = booking::upcoming(db, customer.id, now).await?;
    let upcoming = appointments::views(db, schedule, rows).await?;
    Ok(Some(CallerRecord {
        customer,
        vehicles,
        upcoming,
    }))
}
