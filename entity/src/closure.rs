//! A day the service center is closed (holiday).

use sea_orm::entity::prelude::*;

/// A day the service center is closed (holiday).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "closures")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The date; unique.
    pub day: Date,
    /// Why, for the agent to say.
    pub reason: String,
}

/// Relations are added as the CRM queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
