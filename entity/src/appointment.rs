//! A booked service visit.

use sea_orm::entity::prelude::*;

/// A booked service visit.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appointments")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Who booked.
    pub customer_id: i32,
    /// Which vehicle, when known.
    pub vehicle_id: Option<i32>,
    /// Which service.
    pub service_type_id: i32,
    /// The bay it occupies.
    pub bay_id: i32,
    /// Start.
    pub starts_at: DateTimeUtc,
    /// End (start + service duration).
    pub ends_at: DateTimeUtc,
    /// booked, rescheduled, cancelled, completed or no_show (checked).
    pub status: String,
    /// Free-text notes.
    pub notes: Option<String>,
    /// The call that created it.
    pub call_sid: Option<String>,
    /// call sid + tool call id; unique, so a replayed tool call finds the same appointment.
    pub idempotency_key: Option<String>,
    /// Created.
    pub created_at: DateTimeUtc,
    /// Last changed.
    pub updated_at: DateTimeUtc,
}

/// Relations are added as the CRM queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
