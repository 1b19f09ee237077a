//! A customer's vehicle.

use sea_orm::entity::prelude::*;

/// A customer's vehicle.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vehicles")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Owner.
    pub customer_id: i32,
    /// Model year (1900-2100, checked).
    pub year: i32,
    /// Manufacturer.
    pub make: String,
    /// Model.
    pub model: String,
    /// 17-character VIN; unique when present.
    pub vin: Option<String>,
    /// Odometer reading (>= 0, checked).
    pub mileage: Option<i32>,
    /// When the record was created.
    pub created_at: DateTimeUtc,
}

/// Relations are added as the CRM queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
