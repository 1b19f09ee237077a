//! A vehicle in the shop and where its job stands.

use sea_orm::entity::prelude::*;

/// A vehicle in the shop and where its job stands.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repair_orders")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Whose vehicle.
    pub customer_id: i32,
    /// Which.
    pub vehicle_id: i32,
    /// checked_in, waiting_on_parts, in_service, ready, collected.
    pub status: String,
    /// What the desk wants the customer told ("the part arrives Thursday").
    pub note: Option<String>,
    /// Checked in.
    pub opened_at: DateTimeUtc,
    /// Last status change.
    pub updated_at: DateTimeUtc,
}

/// Relations are added as the queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
