//! The phone each person takes calls on: set by themselves from the console's home page
//! (audited), dialled when they take a call from the live view.

use chrono::{DateTime, Utc};
use entity::staff_user;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;

use super::StaffError;
use super::accounts::StaffMember;
use super::audit::{self, Actor, Change};
use crate::domain::PhoneNumber;

/// The phone `member` takes calls on, if they gave one.
pub async fn of(
    db: &DatabaseConnection,
    member: &StaffMember,
) -> Result<Option<PhoneNumber>, StaffError> {
    let row = staff_user::Entity::find_by_id(member.id).one(db).await?;
    Ok(row
        .and_then(|r| r.phone)
        .and_then(|p| PhoneNumber::parse(&p).ok()))
}

/// Sets (or with `None` clears) the phone `member` takes calls on, with its audit entry.
pub async fn set(
    db: &DatabaseConnection,
    member: &StaffMember,
    phone: Option<&PhoneNumber>,
    now: DateTime<Utc>,
) -> Result<(), StaffError> {
    let txn = db.begin().await?;
    staff_user::Entity::update_many()
        .col_expr(
            staff_user::Column::Phone,
            phone.map(|p| p.as_str().to_string()).into(),
        )
        .filter(staff_user::Column::Id.eq(member.id))
        .exec(&txn)
        .await?;
    let change = Change {
        actor: Actor::Staff(member),
        action: "staff.phone",
        target: Some(format!("staff:{}", member.id)),
        detail: Some(json!({ "phone": phone.map(PhoneNumber::as_str) })),
    };
    audit::record(&txn, change, now).await?;
    txn.commit().await?;
    Ok(())
}
