//! One recorded stream of a call.

use sea_orm::entity::prelude::*;

/// One recorded stream of a call.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "call_recordings")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The call.
    pub call_sid: String,
    /// The file, relative to `RECORDINGS_DIR`; unique.
    pub path: String,
    /// When its first sample was heard: turns are placed in it from here.
    pub started_at: DateTimeUtc,
}

/// Relations are added as the queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
