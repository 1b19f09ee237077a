//! One change a person (or a machine with the staff API key) made.

use sea_orm::entity::prelude::*;

/// One change a person (or a machine with the staff API key) made.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// When.
    pub at: DateTimeUtc,
    /// Who, as shown: a staff member's name, or `api` for the bearer key.
    pub actor: String,
    /// The staff account, when a person did it (kept if the account is removed later).
    pub staff_user_id: Option<i32>,
    /// What: `appointment.cancel`, `appointment.move`, `staff.add`, ...
    pub action: String,
    /// On what: `appointment:42`, `staff:3`.
    pub target: Option<String>,
    /// The change itself, as JSON (before and after where there is one).
    pub detail: Option<String>,
}

/// Relations are added as the queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
