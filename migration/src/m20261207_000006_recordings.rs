//! Call recordings: one row per recorded stream of a call (a caller brought back to the
//! agent after an unanswered transfer streams twice), the file relative to `RECORDINGS_DIR`
//! and when its first sample was heard, so the console plays each in step with the turns.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `call_recordings`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CallRecordings {
    Table,
    Id,
    CallSid,
    Path,
    StartedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CallRecordings::Table)
                    .if_not_exists()
                    .col(pk_auto(CallRecordings::Id))
                    .col(string(CallRecordings::CallSid))
                    .col(string(CallRecordings::Path))
                    .col(timestamp_with_time_zone(CallRecordings::StartedAt))
                    .to_owned(),
            )
            .await?;
        // A file is noted once (noting it again after a failed attempt changes nothing).
        manager
            .create_index(
                Index::create()
                    .name("idx_call_recordings_path")
                    .table(CallRecordings::Table)
                    .col(CallRecordings::Path)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_call_recordings_call")
                    .table(CallRecordings::Table)
                    .col(CallRecordings::CallSid)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(CallRecordings::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
