//! Changes to the appointment book with who made them: people at the console, machines with
//! the staff API's key, the agent on a call. The same booking code and exactly-once rules
//! for all, with the audit entry written in the booking's own transaction. A replay (the
//! same cancel twice, a move to where it already is, a create form sent twice) changes
//! nothing and records nothing.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use super::audit::{self, Actor, Change};
use crate::crm::booking::{self, Booked, BookingRequest};
use crate::crm::error::is_unique_violation;
use crate::crm::{CrmError, Schedule};

async fn record(
    txn: &sea_orm::DatabaseTransaction,
    actor: Actor<'_>,
    action: &str,
    id: i32,
    detail: Value,
    now: DateTime<Utc>,
) -> Result<(), CrmError> {
    let change = Change {
        actor,
        action,
        target: Some(format!("appointment:{id}")),
        detail: Some(detail),
    };
    Ok(audit::record(txn, change, now).await?)
}

/// Books `req` for `actor`.
pub async fn book(
    db: &DatabaseConnection,
    schedule: &Schedule,
    actor: Actor<'_>,
    req: &BookingRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Booked, CrmError> {
    let txn = booking::begin_booking(db).await?;
    let booked = match booking::book_in(&txn, schedule, req, now).await {
        Ok(b) => b,
        // Only reachable if another writer got past the lock (it cannot today); the key
        // still guarantees one appointment.
        Err(CrmError::Db(e)) if is_unique_violation(&e) && req.idempotency_key.is_some() => {
            drop(txn);
            let key = req.idempotency_key.unwrap_or_default();
            return match booking::by_key(db, key).await? {
                Some(appointment) => Ok(Booked {
                    appointment,
                    replayed: true,
                }),
                None => Err(e.into()),
            };
        }
        Err(e) => return Err(e),
    };
    if !booked.replayed {
        let a = &booked.appointment;
        let detail = json!({
            "customer_id": a.customer_id,
            "vehicle_id": a.vehicle_id,
            "service": req.service.name,
            "starts": schedule.local_iso(a.starts_at),
        });
        record(&txn, actor, "appointment.book", a.id, detail, now).await?;
    }
    txn.commit().await?;
    booking::count("book", &booked);
    Ok(booked)
}

/// Moves appointment `id` to `starts` for `actor`; with `customer_id`, only that customer's.
pub async fn reschedule(
    db: &DatabaseConnection,
    schedule: &Schedule,
    actor: Actor<'_>,
    (id, customer_id): (i32, Option<i32>),
    starts: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Booked, CrmError> {
    let txn = booking::begin_booking(db).await?;
    let before = booking::owned(&txn, id, customer_id).await?;
    let moved = booking::reschedule_in(&txn, schedule, id, customer_id, starts, now).await?;
    if !moved.replayed {
        let detail = json!({
            "from": schedule.local_iso(before.starts_at),
            "to": schedule.local_iso(moved.appointment.starts_at),
        });
        record(&txn, actor, "appointment.move", id, detail, now).await?;
    }
    txn.commit().await?;
    booking::count("reschedule", &moved);
    Ok(moved)
}

/// Cancels appointment `id` for `actor`; with `customer_id`, only that customer's.
pub async fn cancel(
    db: &DatabaseConnection,
    schedule: &Schedule,
    actor: Actor<'_>,
    (id, customer_id): (i32, Option<i32>),
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Booked, CrmError> {
    let txn = booking::begin_booking(db).await?;
    let before = booking::owned(&txn, id, customer_id).await?;
    let cancelled = booking::cancel_in(&txn, id, customer_id, reason, now).await?;
    if !cancelled.replayed {
        let detail = json!({
            "was": before.status,
            "starts": schedule.local_iso(before.starts_at),
            "reason": reason,
        });
        record(&txn, actor, "appointment.cancel", id, detail, now).await?;
    }
    txn.commit().await?;
    booking::count("cancel", &cancelled);
    Ok(cancelled)
}
