//! A service bay: the unit of workshop capacity.

use sea_orm::entity::prelude::*;

/// A service bay: the unit of workshop capacity.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bays")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Name; unique.
    pub name: String,
    /// Whether it takes bookings.
    pub active: bool,
}

/// Relations are added as the CRM queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
