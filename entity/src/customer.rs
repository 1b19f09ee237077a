//! A person who calls the service center, identified by phone number.

use sea_orm::entity::prelude::*;

/// A person who calls the service center, identified by phone number.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Phone number in E.164; unique.
    pub phone: String,
    /// Full name as the customer gave it.
    pub name: String,
    /// Email, when known.
    pub email: Option<String>,
    /// When the record was created.
    pub created_at: DateTimeUtc,
}

/// Relations are added as the CRM queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
