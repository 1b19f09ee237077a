//! Stream status callbacks.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `stream_events`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StreamEvents {
    Table,
    Id,
    CallSid,
    StreamSid,
    Event,
    Error,
    CarrierTimestamp,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StreamEvents::Table)
                    .if_not_exists()
                    .col(pk_auto(StreamEvents::Id))
                    .col(string(StreamEvents::CallSid))
                    .col(string_null(StreamEvents::StreamSid))
                    .col(string(StreamEvents::Event))
                    .col(text_null(StreamEvents::Error))
                    .col(string_null(StreamEvents::CarrierTimestamp))
                    .col(timestamp_with_time_zone(StreamEvents::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_stream_events_call_sid")
                    .table(StreamEvents::Table)
                    .col(StreamEvents::CallSid)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StreamEvents::Table).to_owned())
            .await
    }
}
