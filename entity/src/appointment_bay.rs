//! One bay held by one appointment (a service may need several at once).

use sea_orm::entity::prelude::*;

/// One bay held by one appointment.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appointment_bays")]
pub struct Model {
    /// The appointment.
    #[sea_orm(primary_key, auto_increment = false)]
    pub appointment_id: i32,
    /// The bay.
    #[sea_orm(primary_key, auto_increment = false)]
    pub bay_id: i32,
}

/// Relations are added as the CRM queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
