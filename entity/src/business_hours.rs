//! Opening hours for one weekday.

use sea_orm::entity::prelude::*;

/// Opening hours for one weekday.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "business_hours")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// 0 = Monday ... 6 = Sunday; unique.
    pub weekday: i16,
    /// Opening time, minutes after midnight.
    pub opens_minute: i16,
    /// Closing time, minutes after midnight.
    pub closes_minute: i16,
}

/// Relations are added as the CRM queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
