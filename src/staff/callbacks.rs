//! Callback requests marked done by the desk, with the audit entry in the same transaction.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::json;

use super::audit::{self, Actor, Change};
use crate::crm::{CrmError, callbacks};

/// Marks request `id` done by `actor`; whether this call did it (false: no such request, or
/// someone marked it first).
pub async fn mark_done(
    db: &DatabaseConnection,
    actor: Actor<'_>,
    id: i32,
    now: DateTime<Utc>,
) -> Result<bool, CrmError> {
    let by = match &actor {
        Actor::Staff(m) => m.name.clone(),
        Actor::ApiKey => "api".to_string(),
        Actor::Agent(sid) => audit::agent_actor(sid),
    };
    let txn = db.begin().await?;
    let Some(request) = callbacks::mark_done(&txn, id, &by, now).await? else {
        return Ok(false);
    };
    let change = Change {
        actor,
        action: "callback.done",
        target: Some(format!("callback:{id}")),
        detail: Some(json!({
            "call": request.call_sid,
            "phone": request.phone,
            "window": request.window,
            "reason": request.reason,
        })),
    };
    audit::record(&txn, change, now).await?;
    txn.commit().await?;
    Ok(true)
}
