//! Call recordings: where a call's file is (relative to `RECORDINGS_DIR`) and when it started,
//! so the console plays it in step with the transcript's turns.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `recording_path` and `recording_started_at` to `call_logs`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CallLogs {
    Table,
    RecordingPath,
    RecordingStartedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(CallLogs::Table)
                    .add_column(string_null(CallLogs::RecordingPath))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CallLogs::Table)
                    .add_column(timestamp_with_time_zone_null(CallLogs::RecordingStartedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [CallLogs::RecordingPath, CallLogs::RecordingStartedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CallLogs::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
