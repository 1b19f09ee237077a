//! A person at the service desk who signs in to the console.

use sea_orm::entity::prelude::*;

/// A person at the service desk who signs in to the console.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_users")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The name they sign in with; unique.
    pub name: String,
    /// `advisor` or `admin`: what they may change.
    pub role: String,
    /// Argon2id hash in the PHC string format (algorithm, parameters and salt included), so
    /// stronger parameters later still verify old hashes.
    pub password_hash: String,
    /// When the account was made.
    pub created_at: DateTimeUtc,
    /// A disabled account signs in no more and its sessions stop working.
    pub disabled: bool,
    /// The phone they take calls on (E.164): "take this call" dials it.
    pub phone: Option<String>,
}

/// Relations are added as the queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
