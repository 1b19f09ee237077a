//! Callback requests: a caller the desk could not answer asked for an advisor to call them
//! back (when, what about); the console lists them until an advisor marks one done.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `callbacks`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Callbacks {
    Table,
    Id,
    CallSid,
    Phone,
    CustomerId,
    CallerName,
    Window,
    Reason,
    RequestedAt,
    DoneAt,
    DoneBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Callbacks::Table)
                    .if_not_exists()
                    .col(pk_auto(Callbacks::Id))
                    .col(string(Callbacks::CallSid))
                    .col(string_null(Callbacks::Phone))
                    .col(integer_null(Callbacks::CustomerId))
                    .col(string_null(Callbacks::CallerName))
                    .col(string(Callbacks::Window))
                    .col(text(Callbacks::Reason))
                    .col(timestamp_with_time_zone(Callbacks::RequestedAt))
                    .col(timestamp_with_time_zone_null(Callbacks::DoneAt))
                    .col(string_null(Callbacks::DoneBy))
                    .to_owned(),
            )
            .await?;
        // One request per call: asked again, it is updated, never doubled.
        manager
            .create_index(
                Index::create()
                    .name("idx_callbacks_call_sid")
                    .table(Callbacks::Table)
                    .col(Callbacks::CallSid)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Callbacks::Table).if_exists().to_owned())
            .await
    }
}
