//! The CRM: customers and their vehicles, the service menu, bays and opening hours, the
//! appointments booked against them, and the record of every call and its turns.
//!
//! Invariants the application also checks are enforced here too (CHECKs, UNIQUEs, foreign
//! keys), so no code path, however it goes wrong, can store a second booking for one
//! idempotency key or a vehicle built in 1800.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the CRM tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    Phone,
    Name,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Vehicles {
    Table,
    Id,
    CustomerId,
    Year,
    Make,
    Model,
    Vin,
    Mileage,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ServiceTypes {
    Table,
    Id,
    Name,
    Description,
    DurationMinutes,
    PriceCents,
    BaysNeeded,
}

#[derive(DeriveIden)]
enum Bays {
    Table,
    Id,
    Name,
    Active,
}

#[derive(DeriveIden)]
enum BusinessHours {
    Table,
    Id,
    Weekday,
    OpensMinute,
    ClosesMinute,
}

#[derive(DeriveIden)]
enum Closures {
    Table,
    Id,
    Day,
    Reason,
}

#[derive(DeriveIden)]
enum Appointments {
    Table,
    Id,
    CustomerId,
    VehicleId,
    ServiceTypeId,
    BayId,
    StartsAt,
    EndsAt,
    Status,
    Notes,
    CallSid,
    IdempotencyKey,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CallLogs {
    Table,
    Id,
    CallSid,
    FromNumber,
    ToNumber,
    StartedAt,
    EndedAt,
    Outcome,
    Summary,
}

#[derive(DeriveIden)]
enum CallTurns {
    Table,
    Id,
    CallLogId,
    Seq,
    Speaker,
    Text,
    HeardText,
    StartedAt,
    SttMs,
    LlmFirstTokenMs,
    TtsFirstByteMs,
}

/// Appointment states, as stored.
const APPOINTMENT_STATUSES: [&str; 5] =
    ["booked", "rescheduled", "cancelled", "completed", "no_show"];

fn fk(
    name: &str,
    from: (impl IntoIden + 'static, impl IntoIden + 'static),
    to: (impl IntoIden + 'static, impl IntoIden + 'static),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}

fn index(
    name: &str,
    table: impl IntoIden + 'static,
    cols: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table).if_not_exists();
    for c in cols {
        i.col(Alias::new(*c));
    }
    if unique {
        i.unique();
    }
    i.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .if_not_exists()
                    .col(pk_auto(Customers::Id))
                    .col(string_len_uniq(Customers::Phone, 16))
                    .col(string(Customers::Name))
                    .col(string_null(Customers::Email))
                    .col(timestamp_with_time_zone(Customers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Vehicles::Table)
                    .if_not_exists()
                    .col(pk_auto(Vehicles::Id))
                    .col(integer(Vehicles::CustomerId))
                    .col(
                        integer(Vehicles::Year)
                            .check(Expr::col(Vehicles::Year).between(1900, 2100)),
                    )
                    .col(string(Vehicles::Make))
                    .col(string(Vehicles::Model))
                    .col(char_len_null(Vehicles::Vin, 17))
                    .col(integer_null(Vehicles::Mileage).check(Expr::col(Vehicles::Mileage).gte(0)))
                    .col(timestamp_with_time_zone(Vehicles::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_vehicles_customer",
                        (Vehicles::Table, Vehicles::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        // Unique when present: both databases allow many NULLs under a unique index.
        manager
            .create_index(index("idx_vehicles_vin", Vehicles::Table, &["vin"], true))
            .await?;
        manager
            .create_index(index(
                "idx_vehicles_customer",
                Vehicles::Table,
                &["customer_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ServiceTypes::Table)
                    .if_not_exists()
                    .col(pk_auto(ServiceTypes::Id))
                    .col(string_uniq(ServiceTypes::Name))
                    .col(text(ServiceTypes::Description))
                    .col(
                        integer(ServiceTypes::DurationMinutes)
                            .check(Expr::col(ServiceTypes::DurationMinutes).between(5, 24 * 60)),
                    )
                    .col(
                        integer(ServiceTypes::PriceCents)
                            .check(Expr::col(ServiceTypes::PriceCents).gte(0)),
                    )
                    .col(
                        integer(ServiceTypes::BaysNeeded)
                            .check(Expr::col(ServiceTypes::BaysNeeded).between(1, 10)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Bays::Table)
                    .if_not_exists()
                    .col(pk_auto(Bays::Id))
                    .col(string_uniq(Bays::Name))
                    .col(boolean(Bays::Active))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BusinessHours::Table)
                    .if_not_exists()
                    .col(pk_auto(BusinessHours::Id))
                    .col(
                        small_integer(BusinessHours::Weekday)
                            .check(Expr::col(BusinessHours::Weekday).between(0, 6)),
                    )
                    .col(
                        small_integer(BusinessHours::OpensMinute)
                            .check(Expr::col(BusinessHours::OpensMinute).between(0, 1440)),
                    )
                    .col(
                        small_integer(BusinessHours::ClosesMinute)
                            .check(Expr::col(BusinessHours::ClosesMinute).between(0, 1440)),
                    )
                    .check(
                        Expr::col(BusinessHours::OpensMinute)
                            .lt(Expr::col(BusinessHours::ClosesMinute)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_business_hours_weekday",
                BusinessHours::Table,
                &["weekday"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Closures::Table)
                    .if_not_exists()
                    .col(pk_auto(Closures::Id))
                    .col(date(Closures::Day).unique_key())
                    .col(string(Closures::Reason))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Appointments::Table)
                    .if_not_exists()
                    .col(pk_auto(Appointments::Id))
                    .col(integer(Appointments::CustomerId))
                    .col(integer_null(Appointments::VehicleId))
                    .col(integer(Appointments::ServiceTypeId))
                    .col(integer(Appointments::BayId))
                    .col(timestamp_with_time_zone(Appointments::StartsAt))
                    .col(timestamp_with_time_zone(Appointments::EndsAt))
                    .col(
                        string_len(Appointments::Status, 16)
                            .check(Expr::col(Appointments::Status).is_in(APPOINTMENT_STATUSES)),
                    )
                    .col(text_null(Appointments::Notes))
                    .col(string_null(Appointments::CallSid))
                    .col(string_null(Appointments::IdempotencyKey))
                    .col(timestamp_with_time_zone(Appointments::CreatedAt))
                    .col(timestamp_with_time_zone(Appointments::UpdatedAt))
                    .check(Expr::col(Appointments::StartsAt).lt(Expr::col(Appointments::EndsAt)))
                    .foreign_key(&mut fk(
                        "fk_appointments_customer",
                        (Appointments::Table, Appointments::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_appointments_vehicle",
                        (Appointments::Table, Appointments::VehicleId),
                        (Vehicles::Table, Vehicles::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_appointments_service",
                        (Appointments::Table, Appointments::ServiceTypeId),
                        (ServiceTypes::Table, ServiceTypes::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_appointments_bay",
                        (Appointments::Table, Appointments::BayId),
                        (Bays::Table, Bays::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            (
                "idx_appointments_idempotency",
                &["idempotency_key"][..],
                true,
            ),
            ("idx_appointments_starts", &["starts_at"][..], false),
            (
                "idx_appointments_status_starts",
                &["status", "starts_at"][..],
                false,
            ),
            (
                "idx_appointments_bay_starts",
                &["bay_id", "starts_at"][..],
                false,
            ),
            ("idx_appointments_customer", &["customer_id"][..], false),
        ] {
            manager
                .create_index(index(name, Appointments::Table, cols, unique))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(CallLogs::Table)
                    .if_not_exists()
                    .col(pk_auto(CallLogs::Id))
                    .col(string_uniq(CallLogs::CallSid))
                    .col(string_null(CallLogs::FromNumber))
                    .col(string_null(CallLogs::ToNumber))
                    .col(timestamp_with_time_zone(CallLogs::StartedAt))
                    .col(timestamp_with_time_zone_null(CallLogs::EndedAt))
                    .col(string_null(CallLogs::Outcome))
                    .col(text_null(CallLogs::Summary))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_call_logs_started",
                CallLogs::Table,
                &["started_at"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CallTurns::Table)
                    .if_not_exists()
                    .col(pk_auto(CallTurns::Id))
                    .col(integer(CallTurns::CallLogId))
                    .col(integer(CallTurns::Seq))
                    .col(
                        string_len(CallTurns::Speaker, 16).check(
                            Expr::col(CallTurns::Speaker).is_in(["caller", "agent", "system"]),
                        ),
                    )
                    .col(text(CallTurns::Text))
                    .col(text_null(CallTurns::HeardText))
                    .col(timestamp_with_time_zone(CallTurns::StartedAt))
                    .col(integer_null(CallTurns::SttMs))
                    .col(integer_null(CallTurns::LlmFirstTokenMs))
                    .col(integer_null(CallTurns::TtsFirstByteMs))
                    .foreign_key(&mut fk(
                        "fk_call_turns_call",
                        (CallTurns::Table, CallTurns::CallLogId),
                        (CallLogs::Table, CallLogs::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_call_turns_call_seq",
                CallTurns::Table,
                &["call_log_id", "seq"],
                true,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CallTurns::Table.into_iden(),
            CallLogs::Table.into_iden(),
            Appointments::Table.into_iden(),
            Closures::Table.into_iden(),
            BusinessHours::Table.into_iden(),
            Bays::Table.into_iden(),
            ServiceTypes::Table.into_iden(),
            Vehicles::Table.into_iden(),
            Customers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
