//! Finding, booking, moving and cancelling appointments.
//!
//! Booking and rescheduling re-check capacity inside one write transaction that excludes
//! every other booking writer: `BEGIN IMMEDIATE` on SQLite (the database's one write lock is
//! taken before the first read), and on PostgreSQL a `FOR UPDATE` lock on every bay row, taken
//! first and in id order (so no deadlock), under which each READ COMMITTED statement sees
//! the bookings committed before it. Two callers racing for the last bay therefore run one
//! after the other and the second is told the slot is taken. Bookings per shop are a few a
//! minute, so serialising writers costs nothing that matters and, unlike SERIALIZABLE, needs
//! no retry loop.
//!
//! A booking may carry an idempotency key (call sid + tool call id): the same key again
//! returns the appointment the first call made; the UNIQUE index on the key backs this up.
//! The same customer booking the same service at the same start again (a repeat under a new
//! tool call id) also gets the existing appointment back.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, EntityTrait, QueryFilter, QueryOrder, Set, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use super::customers;
use super::error::{CrmError, is_unique_violation};
use super::schedule::Schedule;
pub use super::slots::{SlotQuery, find_slots, spread};
use super::slots::{alternatives, check_slot};
use entity::{appointment, appointment_bay, service_type, vehicle};

/// Statuses that hold bays.
pub const ACTIVE_STATUSES: [&str; 2] = ["booked", "rescheduled"];

/// Opens a transaction no other booking writer can interleave with (see the module doc).
/// On SQLite this also keeps a read-then-write transaction from failing with a busy snapshot
/// when another connection wrote in between. The `*_in` functions work inside one, so a
/// caller can write more (the audit entry of a person's change) before committing.
pub async fn begin_booking(db: &DatabaseConnection) -> Result<DatabaseTransaction, CrmError> {
    match db.get_database_backend() {
        DbBackend::Sqlite => Ok(db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?),
        _ => {
            let txn = db.begin().await?;
            txn.execute_unprepared("SELECT id FROM bays ORDER BY id FOR UPDATE")
                .await?;
            Ok(txn)
        }
    }
}

/// A booking to make.
#[derive(Debug, Clone)]
pub struct BookingRequest<'a> {
    /// Who.
    pub customer_id: i32,
    /// Which of their vehicles, when known.
    pub vehicle_id: Option<i32>,
    /// What.
    pub service: &'a service_type::Model,
    /// When.
    pub starts: DateTime<Utc>,
    /// Anything the caller mentioned ("rattle from the front left").
    pub notes: Option<&'a str>,
    /// The call making it.
    pub call_sid: Option<&'a str>,
    /// call sid + tool call id.
    pub idempotency_key: Option<&'a str>,
}

/// A booking made or found.
#[derive(Debug, Clone)]
pub struct Booked {
    /// The appointment.
    pub appointment: appointment::Model,
    /// True when nothing was written: an earlier call with the same key (or an identical
    /// reschedule) already did it.
    pub replayed: bool,
}

fn check_notes(notes: Option<&str>) -> Result<Option<String>, CrmError> {
    let Some(raw) = notes else { return Ok(None) };
    let clean: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.chars().count() > 500 {
        return Err(CrmError::Invalid(
            "notes are longer than 500 characters; summarise them".into(),
        ));
    }
    Ok((!clean.is_empty()).then(|| clean.to_string()))
}

/// The appointment booked under idempotency key `key`.
pub async fn by_key(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<appointment::Model>, CrmError> {
    Ok(appointment::Entity::find()
        .filter(appointment::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

async fn hold_bays(
    db: &impl ConnectionTrait,
    appointment_id: i32,
    bay_ids: &[i32],
) -> Result<(), CrmError> {
    appointment_bay::Entity::delete_many()
        .filter(appointment_bay::Column::AppointmentId.eq(appointment_id))
        .exec(db)
        .await?;
    for bay in bay_ids {
        appointment_bay::ActiveModel {
            appointment_id: Set(appointment_id),
            bay_id: Set(*bay),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Counts a change that was written (not a replay) in the bookings metric, once committed.
pub fn count(action: &'static str, done: &Booked) {
    if !done.replayed {
        metrics::counter!(crate::telemetry::BOOKINGS, "action" => action).increment(1);
    }
}

/// Books `req`, exactly once (see the module doc).
pub async fn book(
    db: &DatabaseConnection,
    schedule: &Schedule,
    req: &BookingRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Booked, CrmError> {
    let txn = begin_booking(db).await?;
    match book_in(&txn, schedule, req, now).await {
        Ok(booked) => {
            txn.commit().await?;
            count("book", &booked);
            Ok(booked)
        }
        Err(CrmError::Db(e)) if is_unique_violation(&e) && req.idempotency_key.is_some() => {
            // Only reachable if another writer got past the lock (it cannot today); the key
            // still guarantees one appointment.
            drop(txn);
            let key = req.idempotency_key.unwrap_or_default();
            match by_key(db, key).await? {
                Some(appointment) => Ok(Booked {
                    appointment,
                    replayed: true,
                }),
                None => Err(e.into()),
            }
        }
        Err(e) => Err(e),
    }
}

/// [`book`] inside `txn` (from [`begin_booking`]), which the caller commits.
pub async fn book_in(
    txn: &DatabaseTransaction,
    schedule: &Schedule,
    req: &BookingRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Booked, CrmError> {
    let notes = check_notes(req.notes)?;
    if let Some(key) = req.idempotency_key
        && let Some(appointment) = by_key(txn, key).await?
    {
        return Ok(Booked {
            appointment,
            replayed: true,
        });
    }
    // The same customer, service and start already booked (an LLM repeating a booking under
    // a new tool call id after an interruption) is the same booking, not a second one.
    if let Some(appointment) = appointment::Entity::find()
        .filter(appointment::Column::CustomerId.eq(req.customer_id))
        .filter(appointment::Column::ServiceTypeId.eq(req.service.id))
        .filter(appointment::Column::StartsAt.eq(req.starts))
        .filter(appointment::Column::Status.is_in(ACTIVE_STATUSES))
        .one(txn)
        .await?
    {
        return Ok(Booked {
            appointment,
            replayed: true,
        });
    }
    customers::by_id(txn, req.customer_id).await?;
    if let Some(vehicle_id) = req.vehicle_id {
        let owned = vehicle::Entity::find_by_id(vehicle_id)
            .one(txn)
            .await?
            .is_some_and(|v| v.customer_id == req.customer_id);
        if !owned {
            return Err(CrmError::NotFound {
                what: "vehicle of this customer",
                id: vehicle_id.into(),
            });
        }
    }
    let slot = match check_slot(txn, schedule, req.service, req.starts, now, None).await? {
        Ok(slot) => slot,
        Err(reason) => {
            let alternatives =
                alternatives(txn, schedule, req.service, req.starts, now, None).await?;
            return Err(CrmError::Unavailable {
                reason,
                alternatives,
            });
        }
    };
    let appointment = appointment::ActiveModel {
        customer_id: Set(req.customer_id),
        vehicle_id: Set(req.vehicle_id),
        service_type_id: Set(req.service.id),
        bay_id: Set(slot.bay_ids[0]),
        starts_at: Set(slot.starts),
        ends_at: Set(slot.ends),
        status: Set("booked".into()),
        notes: Set(notes),
        call_sid: Set(req.call_sid.map(str::to_string)),
        idempotency_key: Set(req.idempotency_key.map(str::to_string)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    hold_bays(txn, appointment.id, &slot.bay_ids).await?;
    Ok(Booked {
        appointment,
        replayed: false,
    })
}

/// Loads an appointment, as its owner when `customer_id` is given (another customer's
/// appointment is "not found", so ids cannot be probed).
pub async fn owned(
    db: &impl ConnectionTrait,
    id: i32,
    customer_id: Option<i32>,
) -> Result<appointment::Model, CrmError> {
    appointment::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|a| customer_id.is_none_or(|c| a.customer_id == c))
        .ok_or(CrmError::NotFound {
            what: "appointment",
            id: id.into(),
        })
}

/// Moves an appointment to `starts`, re-checking capacity like [`book`]. Moving it to where
/// it already is changes nothing and reports `replayed`.
pub async fn reschedule(
    db: &DatabaseConnection,
    schedule: &Schedule,
    id: i32,
    customer_id: Option<i32>,
    starts: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Booked, CrmError> {
    let txn = begin_booking(db).await?;
    let moved = reschedule_in(&txn, schedule, id, customer_id, starts, now).await?;
    txn.commit().await?;
    count("reschedule", &moved);
    Ok(moved)
}

/// [`reschedule`] inside `txn` (from [`begin_booking`]), which the caller commits.
pub async fn reschedule_in(
    txn: &DatabaseTransaction,
    schedule: &Schedule,
    id: i32,
    customer_id: Option<i32>,
    starts: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Booked, CrmError> {
    let current = owned(txn, id, customer_id).await?;
    if !ACTIVE_STATUSES.contains(&current.status.as_str()) {
        return Err(CrmError::NotChangeable {
            id,
            status: current.status,
        });
    }
    if current.starts_at == starts {
        return Ok(Booked {
            appointment: current,
            replayed: true,
        });
    }
    let service = service_type::Entity::find_by_id(current.service_type_id)
        .one(txn)
        .await?
        .ok_or(CrmError::NotFound {
            what: "service",
            id: current.service_type_id.into(),
        })?;
    let slot = match check_slot(txn, schedule, &service, starts, now, Some(id)).await? {
        Ok(slot) => slot,
        Err(reason) => {
            let alternatives = alternatives(txn, schedule, &service, starts, now, Some(id)).await?;
            return Err(CrmError::Unavailable {
                reason,
                alternatives,
            });
        }
    };
    let mut row: appointment::ActiveModel = current.into();
    row.starts_at = Set(slot.starts);
    row.ends_at = Set(slot.ends);
    row.bay_id = Set(slot.bay_ids[0]);
    row.status = Set("rescheduled".into());
    row.updated_at = Set(now);
    let appointment = row.update(txn).await?;
    hold_bays(txn, id, &slot.bay_ids).await?;
    Ok(Booked {
        appointment,
        replayed: false,
    })
}

/// Cancels an appointment; cancelling a cancelled one changes nothing and reports `replayed`.
pub async fn cancel(
    db: &DatabaseConnection,
    id: i32,
    customer_id: Option<i32>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Booked, CrmError> {
    let txn = begin_booking(db).await?;
    let cancelled = cancel_in(&txn, id, customer_id, reason, now).await?;
    txn.commit().await?;
    count("cancel", &cancelled);
    Ok(cancelled)
}

/// [`cancel`] inside `txn` (from [`begin_booking`]), which the caller commits.
pub async fn cancel_in(
    txn: &DatabaseTransaction,
    id: i32,
    customer_id: Option<i32>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Booked, CrmError> {
    let reason = check_notes(reason)?;
    let current = owned(txn, id, customer_id).await?;
    if current.status == "cancelled" {
        return Ok(Booked {
            appointment: current,
            replayed: true,
        });
    }
    if !ACTIVE_STATUSES.contains(&current.status.as_str()) {
        return Err(CrmError::NotChangeable {
            id,
            status: current.status,
        });
    }
    // Conditional on the status read above as well as serialised, so a change by another
    // writer is never overwritten.
    let notes = match (&current.notes, reason) {
        (Some(n), Some(r)) => Some(format!("{n}\nCancelled: {r}")),
        (None, Some(r)) => Some(format!("Cancelled: {r}")),
        (n, None) => n.clone(),
    };
    let result = appointment::Entity::update_many()
        .col_expr(appointment::Column::Status, "cancelled".into())
        .col_expr(appointment::Column::Notes, notes.into())
        .col_expr(appointment::Column::UpdatedAt, now.into())
        .filter(appointment::Column::Id.eq(id))
        .filter(appointment::Column::Status.eq(current.status.as_str()))
        .exec(txn)
        .await?;
    let after = owned(txn, id, None).await?;
    let replayed = result.rows_affected == 0;
    if replayed && after.status != "cancelled" {
        return Err(CrmError::NotChangeable {
            id,
            status: after.status,
        });
    }
    Ok(Booked {
        appointment: after,
        replayed,
    })
}

/// A customer's appointments that are still to come, soonest first.
pub async fn upcoming(
    db: &impl ConnectionTrait,
    customer_id: i32,
    now: DateTime<Utc>,
) -> Result<Vec<appointment::Model>, CrmError> {
    customers::by_id(db, customer_id).await?;
    Ok(appointment::Entity::find()
        .filter(appointment::Column::CustomerId.eq(customer_id))
        .filter(appointment::Column::Status.is_in(ACTIVE_STATUSES))
        .filter(appointment::Column::EndsAt.gt(now))
        .order_by_asc(appointment::Column::StartsAt)
        .all(db)
        .await?)
}
