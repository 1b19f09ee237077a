//! Every bay an appointment occupies. A service on the menu may need more than one bay at once
//! (`service_types.bays_needed`); `appointments.bay_id` names the lead bay and this table holds
//! all of them, lead included, so capacity checks read one place. Existing appointments are
//! copied in with their one bay.
//!
//! Also indexes call logs by outcome, which the staff API filters on.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `appointment_bays` and fills it from `appointments.bay_id`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AppointmentBays {
    Table,
    AppointmentId,
    BayId,
}

#[derive(DeriveIden)]
enum Appointments {
    Table,
    Id,
    BayId,
}

#[derive(DeriveIden)]
enum CallLogs {
    Table,
    Outcome,
    StartedAt,
}

#[derive(DeriveIden)]
enum Bays {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppointmentBays::Table)
                    .if_not_exists()
                    .col(integer(AppointmentBays::AppointmentId))
                    .col(integer(AppointmentBays::BayId))
                    .primary_key(
                        Index::create()
                            .col(AppointmentBays::AppointmentId)
                            .col(AppointmentBays::BayId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_appointment_bays_appointment")
                            .from(AppointmentBays::Table, AppointmentBays::AppointmentId)
                            .to(Appointments::Table, Appointments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_appointment_bays_bay")
                            .from(AppointmentBays::Table, AppointmentBays::BayId)
                            .to(Bays::Table, Bays::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // Capacity checks look bays up by bay.
        manager
            .create_index(
                Index::create()
                    .name("idx_appointment_bays_bay")
                    .table(AppointmentBays::Table)
                    .col(AppointmentBays::BayId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_call_logs_outcome_started")
                    .table(CallLogs::Table)
                    .col(CallLogs::Outcome)
                    .col(CallLogs::StartedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        let copy = Query::insert()
            .into_table(AppointmentBays::Table)
            .columns([AppointmentBays::AppointmentId, AppointmentBays::BayId])
            .select_from(
                Query::select()
                    .columns([Appointments::Id, Appointments::BayId])
                    .from(Appointments::Table)
                    .to_owned(),
            )
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        manager.exec_stmt(copy).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_call_logs_outcome_started")
                    .table(CallLogs::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(AppointmentBays::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
