//! An item on the service menu.

use sea_orm::entity::prelude::*;

/// An item on the service menu.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_types")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Name; unique.
    pub name: String,
    /// What the service includes.
    pub description: String,
    /// How long it occupies its bays.
    pub duration_minutes: i32,
    /// Price in integer cents.
    pub price_cents: i32,
    /// Bays it occupies at once.
    pub bays_needed: i32,
}

/// Relations are added as the CRM queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
