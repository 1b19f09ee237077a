//! One phone call.

use sea_orm::entity::prelude::*;

/// One phone call.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "call_logs")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Carrier call id; unique.
    pub call_sid: String,
    /// Caller.
    pub from_number: Option<String>,
    /// Number called.
    pub to_number: Option<String>,
    /// Start.
    pub started_at: DateTimeUtc,
    /// End, once over.
    pub ended_at: Option<DateTimeUtc>,
    /// How it ended.
    pub outcome: Option<String>,
    /// What happened, in a sentence or two.
    pub summary: Option<String>,
}

/// Relations are added as the CRM queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
