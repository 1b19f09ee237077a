//! Repair orders: a vehicle checked in and where its job stands. The desk keeps them (the
//! console, the staff API); the agent reads a caller's open ones to answer "is my car ready?".
//! An order is open until the vehicle is collected.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;

use super::appointments::describe_vehicle;
use super::error::CrmError;
use entity::{customer, repair_order, vehicle};

/// Every status, in the order a job goes through them.
pub const STATUSES: [&str; 5] = [
    "checked_in",
    "waiting_on_parts",
    "in_service",
    "ready",
    "collected",
];

/// The status that closes an order.
pub const COLLECTED: &str = "collected";

/// How a status is said to a customer.
pub fn spoken_status(status: &str) -> &'static str {
    match status {
        "checked_in" => "checked in and waiting for a technician",
        "waiting_on_parts" => "waiting on parts",
        "in_service" => "being worked on now",
        "ready" => "ready for pickup",
        "collected" => "already picked up",
        _ => "in the shop",
    }
}

/// An order as people read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderView {
    /// Id.
    pub id: i32,
    /// Customer id.
    pub customer_id: i32,
    /// Customer name.
    pub customer_name: String,
    /// Customer phone.
    pub customer_phone: String,
    /// Vehicle id.
    pub vehicle_id: i32,
    /// "2020 Honda Accord".
    pub vehicle: String,
    /// Stored status.
    pub status: String,
    /// The status as said to a customer.
    pub spoken: &'static str,
    /// The desk's note for the customer.
    pub note: Option<String>,
    /// Checked in.
    pub opened_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn check_status(status: &str) -> Result<(), CrmError> {
    if STATUSES.contains(&status) {
        Ok(())
    } else {
        Err(CrmError::Invalid(format!(
            "status {status:?} is not one of {}",
            STATUSES.join(", ")
        )))
    }
}

fn check_note(note: Option<&str>) -> Result<Option<String>, CrmError> {
    let Some(n) = note.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if n.chars().count() > 500 || n.chars().any(char::is_control) {
        return Err(CrmError::Invalid(
            "a note is at most 500 characters of plain text".into(),
        ));
    }
    Ok(Some(n.to_string()))
}

async fn views(
    db: &impl ConnectionTrait,
    rows: Vec<repair_order::Model>,
) -> Result<Vec<OrderView>, CrmError> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let c = customer::Entity::find_by_id(r.customer_id).one(db).await?;
        let v = vehicle::Entity::find_by_id(r.vehicle_id).one(db).await?;
        out.push(OrderView {
            id: r.id,
            customer_id: r.customer_id,
            customer_name: c.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
            customer_phone: c.map(|c| c.phone).unwrap_or_default(),
            vehicle_id: r.vehicle_id,
            vehicle: v.as_ref().map(describe_vehicle).unwrap_or_default(),
            spoken: spoken_status(&r.status),
            status: r.status,
            note: r.note,
            opened_at: r.opened_at,
            updated_at: r.updated_at,
        });
    }
    Ok(out)
}

/// Checks `vehicle_id` in for its owner.
pub async fn open(
    db: &impl ConnectionTrait,
    vehicle_id: i32,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<OrderView, CrmError> {
    let note = check_note(note)?;
    let v = vehicle::Entity::find_by_id(vehicle_id)
        .one(db)
        .await?
        .ok_or(CrmError::NotFound {
            what: "vehicle",
            id: vehicle_id.into(),
        })?;
    let row = repair_order::ActiveModel {
        customer_id: Set(v.customer_id),
        vehicle_id: Set(v.id),
        status: Set("checked_in".into()),
        note: Set(note),
        opened_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(views(db, vec![row]).await?.remove(0))
}

/// Sets order `id`'s status (and note, when one is given); returns the order before and after.
pub async fn set_status(
    db: &impl ConnectionTrait,
    id: i32,
    status: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(OrderView, OrderView), CrmError> {
    check_status(status)?;
    let note = check_note(note)?;
    let row = repair_order::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(CrmError::NotFound {
            what: "repair order",
            id: id.into(),
        })?;
    let before = views(db, vec![row.clone()]).await?.remove(0);
    let mut active: repair_order::ActiveModel = row.into();
    active.status = Set(status.to_string());
    if note.is_some() {
        active.note = Set(note);
    }
    active.updated_at = Set(now);
    let after = active.update(db).await?;
    Ok((before, views(db, vec![after]).await?.remove(0)))
}

/// Orders not yet collected, oldest first.
pub async fn open_orders(db: &impl ConnectionTrait) -> Result<Vec<OrderView>, CrmError> {
    let rows = repair_order::Entity::find()
        .filter(repair_order::Column::Status.ne(COLLECTED))
        .order_by_asc(repair_order::Column::OpenedAt)
        .order_by_asc(repair_order::Column::Id)
        .all(db)
        .await?;
    views(db, rows).await
}

/// A customer's orders not yet collected, oldest first.
pub async fn open_for_customer(
    db: &impl ConnectionTrait,
    customer_id: i32,
) -> Result<Vec<OrderView>, CrmError> {
    let rows = repair_order::Entity::find()
        .filter(repair_order::Column::CustomerId.eq(customer_id))
        .filter(repair_order::Column::Status.ne(COLLECTED))
        .order_by_asc(repair_order::Column::OpenedAt)
        .order_by_asc(repair_order::Column::Id)
        .all(db)
        .await?;
    views(db, rows).await
}
