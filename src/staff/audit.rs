//! The audit log: who changed what, when. Every change a person makes through the console
//! (and a machine through the staff API) is written here, in the same transaction as the
//! change where there is one, so the log never claims a change that did not happen nor misses
//! one that did.

use chrono::{DateTime, Utc};
use entity::audit_entry;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, QuerySelect, Set};
use serde_json::Value;

use super::StaffError;
use super::accounts::StaffMember;

/// Who made a change.
#[derive(Debug, Clone)]
pub enum Actor<'a> {
    /// A person, signed in.
    Staff(&'a StaffMember),
    /// A machine with the staff API's bearer key.
    ApiKey,
    /// The agent, on the call with this sid (empty: outside a call).
    Agent(&'a str),
}

/// How the agent is named in the log on call `sid`: one call's changes are found by it.
pub fn agent_actor(sid: &str) -> String {
    if sid.is_empty() {
        "agent".to_string()
    } else {
        format!("agent on call {sid}")
    }
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// Who.
    pub actor: Actor<'a>,
    /// What: `appointment.cancel`, `appointment.move`, `staff.add`, ...
    pub action: &'a str,
    /// On what: `appointment:42`.
    pub target: Option<String>,
    /// The change itself (before and after where there is one).
    pub detail: Option<Value>,
}

/// Writes `change` on `db` (a connection or the change's own transaction).
pub async fn record<C: ConnectionTrait>(
    db: &C,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<(), StaffError> {
    let (actor, staff_user_id) = match change.actor {
        Actor::Staff(m) => (m.name.clone(), Some(m.id)),
        Actor::ApiKey => ("api".to_string(), None),
        Actor::Agent(sid) => (agent_actor(sid), None),
    };
    audit_entry::ActiveModel {
        at: Set(now),
        actor: Set(actor),
        staff_user_id: Set(staff_user_id),
        action: Set(change.action.to_string()),
        target: Set(change.target),
        detail: Set(change.detail.map(|d| d.to_string())),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The latest `limit` entries, newest first.
pub async fn recent<C: ConnectionTrait>(
    db: &C,
    limit: u64,
) -> Result<Vec<audit_entry::Model>, StaffError> {
    Ok(audit_entry::Entity::find()
        .order_by_desc(audit_entry::Column::At)
        .order_by_desc(audit_entry::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
