//! Callback requests: taken by the agent when the desk did not answer a transfer, listed on
//! the console until an advisor marks one done (with an audit entry, in the same
//! transaction). One request per call: asked again on the same call, it is updated.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::error::{CrmError, is_unique_violation};
use crate::domain::PhoneNumber;
use entity::callback;

/// What the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRequest<'a> {
    /// The call it was asked on.
    pub call_sid: &'a str,
    /// The number to call back.
    pub phone: Option<&'a PhoneNumber>,
    /// When they would like the call, as they said it.
    pub window: &'a str,
    /// What it is about.
    pub reason: &'a str,
}

/// Records `request` at `now` (the customer found by the number, when on file); a second
/// request on the same call updates the first.
pub async fn request(
    db: &impl ConnectionTrait,
    request: &CallbackRequest<'_>,
    now: DateTime<Utc>,
) -> Result<callback::Model, CrmError> {
    let customer = match request.phone {
        Some(p) => super::customers::by_phone(db, p).await?,
        None => None,
    };
    let window = clip(request.window, 120);
    let reason = clip(request.reason, 500);
    if let Some(existing) = by_call(db, request.call_sid).await? {
        return update(db, existing, &window, &reason).await;
    }
    let inserted = callback::ActiveModel {
        call_sid: Set(request.call_sid.to_string()),
        phone: Set(request.phone.map(|p| p.as_str().to_string())),
        customer_id: Set(customer.as_ref().map(|c| c.id)),
        caller_name: Set(customer.map(|c| c.name)),
        window: Set(window.clone()),
        reason: Set(reason.clone()),
        requested_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(row) => Ok(row),
        // The same request twice at once (a retried tool call): the first one stands, updated.
        Err(e) if is_unique_violation(&e) => match by_call(db, request.call_sid).await? {
            Some(existing) => update(db, existing, &window, &reason).await,
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

async fn update(
    db: &impl ConnectionTrait,
    existing: callback::Model,
    window: &str,
    reason: &str,
) -> Result<callback::Model, CrmError> {
    let mut row: callback::ActiveModel = existing.into();
    row.window = Set(window.to_string());
    row.reason = Set(reason.to_string());
    Ok(row.update(db).await?)
}

/// Words the caller said, bounded (a recogniser can run on).
fn clip(text: &str, chars: usize) -> String {
    let t = text.trim();
    if t.chars().count() <= chars {
        t.to_string()
    } else {
        t.chars().take(chars).collect::<String>() + "…"
    }
}

/// The request made on `call_sid`, if any.
pub async fn by_call(
    db: &impl ConnectionTrait,
    call_sid: &str,
) -> Result<Option<callback::Model>, CrmError> {
    Ok(callback::Entity::find()
        .filter(callback::Column::CallSid.eq(call_sid))
        .one(db)
        .await?)
}

/// Requests not yet done, oldest first (the first to call back).
pub async fn open(db: &impl ConnectionTrait) -> Result<Vec<callback::Model>, CrmError> {
    Ok(callback::Entity::find()
        .filter(callback::Column::DoneAt.is_null())
        .order_by_asc(callback::Column::RequestedAt)
        .order_by_asc(callback::Column::Id)
        .all(db)
        .await?)
}

/// Marks request `id` done by `by` at `now`; the request as it was before, or `None` when it
/// does not exist or was already done (two advisors pressing at once: one wins).
pub async fn mark_done(
    db: &impl ConnectionTrait,
    id: i32,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<callback::Model>, CrmError> {
    let Some(row) = callback::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let done = callback::Entity::update_many()
        .col_expr(callback::Column::DoneAt, Some(now).into())
        .col_expr(callback::Column::DoneBy, Some(by.to_string()).into())
        .filter(callback::Column::Id.eq(id))
        .filter(callback::Column::DoneAt.is_null())
        .exec(db)
        .await?;
    Ok((done.rows_affected == 1).then_some(row))
}
