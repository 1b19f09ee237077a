//! A caller's request for an advisor to call them back.

use sea_orm::entity::prelude::*;

/// A caller's request for an advisor to call them back.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "callbacks")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The call it was asked on; unique (asked again, the request is updated).
    pub call_sid: String,
    /// The number to call back, when the caller's number was known.
    pub phone: Option<String>,
    /// The customer, when the number is on file.
    pub customer_id: Option<i32>,
    /// Their name, when on file.
    pub caller_name: Option<String>,
    /// When they would like the call, as they said it.
    pub window: String,
    /// What it is about.
    pub reason: String,
    /// When it was asked.
    pub requested_at: DateTimeUtc,
    /// When an advisor marked it done.
    pub done_at: Option<DateTimeUtc>,
    /// Who marked it done.
    pub done_by: Option<String>,
}

/// Relations are added as the queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
