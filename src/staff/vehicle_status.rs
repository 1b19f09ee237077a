//! Changes the desk (or the staff API's key) makes to repair orders, each with its audit
//! entry in the same transaction.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::json;

use super::audit::{self, Actor, Change};
use crate::crm::CrmError;
use crate::crm::repair_orders::{self, OrderView};

/// Checks vehicle `vehicle_id` in for `actor`.
pub async fn check_in(
    db: &DatabaseConnection,
    actor: Actor<'_>,
    vehicle_id: i32,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<OrderView, CrmError> {
    let txn = db.begin().await?;
    let order = repair_orders::open(&txn, vehicle_id, note, now).await?;
    let change = Change {
        actor,
        action: "repair_order.open",
        target: Some(format!("repair_order:{}", order.id)),
        detail: Some(
            json!({ "vehicle": order.vehicle, "customer": order.customer_name, "note": order.note }),
        ),
    };
    audit::record(&txn, change, now).await?;
    txn.commit().await?;
    Ok(order)
}

/// Sets order `id`'s status for `actor`; setting the status it already has records nothing.
pub async fn set_status(
    db: &DatabaseConnection,
    actor: Actor<'_>,
    id: i32,
    status: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<OrderView, CrmError> {
    let txn = db.begin().await?;
    let (before, after) = repair_orders::set_status(&txn, id, status, note, now).await?;
    if before.status != after.status || before.note != after.note {
        let change = Change {
            actor,
            action: "repair_order.status",
            target: Some(format!("repair_order:{id}")),
            detail: Some(json!({ "from": before.status, "to": after.status, "note": after.note })),
        };
        audit::record(&txn, change, now).await?;
    }
    txn.commit().await?;
    Ok(after)
}
