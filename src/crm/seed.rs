//! Loads the demo CRM (service menu, bays, hours, closures, customers with vehicles, a week of
//! bookings) from a JSON fixture, in one transaction, validating every phone number and VIN
//! with the same domain types the tools use.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, Set, TransactionTrait,
};
use serde::Deserialize;

use crate::domain::{PhoneNumber, Vin};

/// The fixture shipped with the binary.
pub const DEMO_FIXTURE: &str = include_str!("../../fixtures/demo_crm.json");

/// The demo menu's service names, in the fixture's order (the shop prompt the recogniser's
/// test and benchmark measure is made from them, as the server makes it from the database).
pub fn demo_menu() -> Vec<String> {
    parse(DEMO_FIXTURE)
        .map(|d| d.service_types.into_iter().map(|s| s.name).collect())
        .unwrap_or_default()
}

/// The fixture's shape.
#[derive(Debug, Deserialize)]
pub struct DemoData {
    service_types: Vec<ServiceType>,
    bays: Vec<String>,
    hours: Vec<Hours>,
    closures: Vec<Closure>,
    customers: Vec<Customer>,
    bookings: Vec<Booking>,
}

#[derive(Debug, Deserialize)]
struct ServiceType {
    name: String,
    description: String,
    duration_minutes: i32,
    price_cents: i32,
    bays_needed: i32,
}

#[derive(Debug, Deserialize)]
struct Hours {
    weekday: String,
    opens: String,
    closes: String,
}

#[derive(Debug, Deserialize)]
struct Closure {
    date: NaiveDate,
    reason: String,
}

#[derive(Debug, Deserialize)]
struct Customer {
    name: String,
    phone: String,
    email: Option<String>,
    vehicles: Vec<Vehicle>,
}

#[derive(Debug, Deserialize)]
struct Vehicle {
    year: i32,
    make: String,
    model: String,
    vin: Option<String>,
    mileage: Option<i32>,
}

#[derive(Debug, Deserialize)]
struct Booking {
    phone: String,
    vehicle: usize,
    service: String,
    day_offset: i64,
    time: String,
    bay: String,
    notes: Option<String>,
}

/// Why seeding failed; nothing is written when it does.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The fixture is not valid JSON of the expected shape.
    #[error("demo fixture: {0}")]
    Fixture(#[from] serde_json::Error),
    /// The fixture holds a value the domain refuses (a bad phone number, VIN, time...).
    #[error("demo fixture: {0}")]
    Invalid(String),
    /// The database refused a write.
    #[error("seeding the database: {0}")]
    Db(#[from] DbErr),
}

/// What was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Customers inserted.
    pub customers: usize,
    /// Vehicles inserted.
    pub vehicles: usize,
    /// Appointments inserted.
    pub appointments: usize,
}

/// Parses the fixture text.
pub fn parse(text: &str) -> Result<DemoData, SeedError> {
    Ok(serde_json::from_str(text)?)
}

/// Whether the CRM has no customers yet (a fresh database).
pub async fn is_empty(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(entity::customer::Entity::find().count(db).await? == 0)
}

fn weekday(name: &str) -> Result<Weekday, SeedError> {
    name.parse::<Weekday>()
        .map_err(|_| SeedError::Invalid(format!("weekday {name:?}")))
}

fn minutes(hhmm: &str) -> Result<i16, SeedError> {
    let t = NaiveTime::parse_from_str(hhmm, "%H:%M")
        .map_err(|_| SeedError::Invalid(format!("time {hhmm:?} (use HH:MM)")))?;
    Ok((t.hour() * 60 + t.minute()) as i16)
}

/// The first open day at or after `day`.
fn open_day(day: NaiveDate, open: &[Weekday], closed: &[NaiveDate]) -> NaiveDate {
    let mut d = day;
    for _ in 0..30 {
        if open.contains(&d.weekday()) && !closed.contains(&d) {
            return d;
        }
        d += Duration::days(1);
    }
    d
}

/// Loads `data` into `db` in one transaction. Bookings are placed `day_offset` days after
/// `today` (in `tz`), moved to the next open day when they fall on a closed one.
#[allow(clippy::disallowed_methods)] // Seeding is IO: rows are stamped with when they were made.
pub async fn seed(
    db: &DatabaseConnection,
    data: &DemoData,
    tz: Tz,
    today: NaiveDate,
) -> Result<SeedReport, SeedError> {
    let now = Utc::now();
    let txn = db.begin().await?;
    let mut services = std::collections::HashMap::new();
    for s in &data.service_types {
        let row = entity::service_type::ActiveModel {
            name: Set(s.name.clone()),
            description: Set(s.description.clone()),
            duration_minutes: Set(s.duration_minutes),
            price_cents: Set(s.price_cents),
            bays_needed: Set(s.bays_needed),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        services.insert(s.name.clone(), row);
    }
    let mut bays = std::collections::HashMap::new();
    for name in &data.bays {
        let row = entity::bay::ActiveModel {
            name: Set(name.clone()),
            active: Set(true),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        bays.insert(name.clone(), row.id);
    }
    let mut open = Vec::new();
    for h in &data.hours {
        let day = weekday(&h.weekday)?;
        open.push(day);
        entity::business_hours::ActiveModel {
            weekday: Set(day.num_days_from_monday() as i16),
            opens_minute: Set(minutes(&h.opens)?),
            closes_minute: Set(minutes(&h.closes)?),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    let mut closed = Vec::new();
    for c in &data.closures {
        closed.push(c.date);
        entity::closure::ActiveModel {
            day: Set(c.date),
            reason: Set(c.reason.clone()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    let mut customers = std::collections::HashMap::new();
    let mut vehicles = 0;
    for c in &data.customers {
        let phone = PhoneNumber::parse(&c.phone).map_err(|e| SeedError::Invalid(e.to_string()))?;
        let customer = entity::customer::ActiveModel {
            phone: Set(phone.to_string()),
            name: Set(c.name.clone()),
            email: Set(c.email.clone()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let mut ids = Vec::new();
        for v in &c.vehicles {
            let vin = v
                .vin
                .as_deref()
                .map(Vin::parse)
                .transpose()
                .map_err(|e| SeedError::Invalid(e.to_string()))?;
            let row = entity::vehicle::ActiveModel {
                customer_id: Set(customer.id),
                year: Set(v.year),
                make: Set(v.make.clone()),
                model: Set(v.model.clone()),
                vin: Set(vin.map(|v| v.to_string())),
                mileage: Set(v.mileage),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            ids.push(row.id);
            vehicles += 1;
        }
        customers.insert(phone.to_string(), (customer.id, ids));
    }
    for b in &data.bookings {
        let phone = PhoneNumber::parse(&b.phone).map_err(|e| SeedError::Invalid(e.to_string()))?;
        let (customer_id, vehicle_ids) = customers
            .get(phone.as_str())
            .ok_or_else(|| SeedError::Invalid(format!("booking for unknown customer {phone}")))?;
        let service = services
            .get(&b.service)
            .ok_or_else(|| SeedError::Invalid(format!("unknown service {:?}", b.service)))?;
        let bay = *bays
            .get(&b.bay)
            .ok_or_else(|| SeedError::Invalid(format!("unknown bay {:?}", b.bay)))?;
        let day = open_day(today + Duration::days(b.day_offset), &open, &closed);
        let time = NaiveTime::parse_from_str(&b.time, "%H:%M")
            .map_err(|_| SeedError::Invalid(format!("time {:?}", b.time)))?;
        let starts = tz
            .from_local_datetime(&day.and_time(time))
            .earliest()
            .ok_or_else(|| SeedError::Invalid(format!("{day} {time} does not exist in {tz}")))?
            .with_timezone(&Utc);
        let appointment = entity::appointment::ActiveModel {
            customer_id: Set(*customer_id),
            vehicle_id: Set(vehicle_ids.get(b.vehicle).copied()),
            service_type_id: Set(service.id),
            bay_id: Set(bay),
            starts_at: Set(starts),
            ends_at: Set(starts + Duration::minutes(service.duration_minutes as i64)),
            status: Set("booked".into()),
            notes: Set(b.notes.clone()),
            call_sid: Set(None),
            idempotency_key: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        entity::appointment_bay::ActiveModel {
            appointment_id: Set(appointment.id),
            bay_id: Set(bay),
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(SeedReport {
        customers: data.customers.len(),
        vehicles,
        appointments: data.bookings.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_fixture_parses_and_its_values_are_valid() {
        let data = parse(DEMO_FIXTURE).unwrap();
        assert!(data.customers.len() >= 10);
        for c in &data.customers {
            PhoneNumber::parse(&c.phone).unwrap();
            for v in &c.vehicles {
                if let Some(vin) = &v.vin {
                    Vin::parse(vin).unwrap();
                }
            }
        }
        for h in &data.hours {
            assert!(minutes(&h.opens).unwrap() < minutes(&h.closes).unwrap());
        }
    }

    #[test]
    fn bookings_move_off_closed_days() {
        let open = [Weekday::Mon, Weekday::Tue];
        let sunday = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(open_day(sunday, &open, &[]), monday);
        assert_eq!(
            open_day(sunday, &open, &[monday]),
            monday + Duration::days(1)
        );
    }
}
