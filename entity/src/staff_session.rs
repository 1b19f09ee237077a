//! A signed-in console session.

use sea_orm::entity::prelude::*;

/// A signed-in console session.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_sessions")]
pub struct Model {
    /// SHA-256 (hex) of the token in the browser's cookie: the token itself is never stored,
    /// so reading this table opens no session.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// Whose.
    pub user_id: i32,
    /// The token every change through the console must carry besides the cookie.
    pub csrf_token: String,
    /// Signed in.
    pub created_at: DateTimeUtc,
    /// Past this the session is gone.
    pub expires_at: DateTimeUtc,
}

/// Relations are added as the queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
