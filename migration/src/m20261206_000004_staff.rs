//! The service desk's people: named staff accounts with a role and an argon2 password hash,
//! their console sessions (only a hash of each session token is stored, so a leaked table
//! opens no session), and the audit log of every change a person makes.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `staff_users`, `staff_sessions` and `audit_log`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffUsers {
    Table,
    Id,
    Name,
    Role,
    PasswordHash,
    CreatedAt,
    Disabled,
}

#[derive(DeriveIden)]
enum StaffSessions {
    Table,
    TokenHash,
    UserId,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    Actor,
    StaffUserId,
    Action,
    Target,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffUsers::Table)
                    .if_not_exists()
                    .col(pk_auto(StaffUsers::Id))
                    .col(string_uniq(StaffUsers::Name))
                    .col(string(StaffUsers::Role))
                    .col(string(StaffUsers::PasswordHash))
                    .col(timestamp_with_time_zone(StaffUsers::CreatedAt))
                    .col(boolean(StaffUsers::Disabled).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffSessions::Table)
                    .if_not_exists()
                    .col(string(StaffSessions::TokenHash).primary_key())
                    .col(integer(StaffSessions::UserId))
                    .col(string(StaffSessions::CsrfToken))
                    .col(timestamp_with_time_zone(StaffSessions::CreatedAt))
                    .col(timestamp_with_time_zone(StaffSessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_staff_sessions_user")
                            .from(StaffSessions::Table, StaffSessions::UserId)
                            .to(StaffUsers::Table, StaffUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(pk_auto(AuditLog::Id))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(string(AuditLog::Actor))
                    .col(integer_null(AuditLog::StaffUserId))
                    .col(string(AuditLog::Action))
                    .col(string_null(AuditLog::Target))
                    .col(text_null(AuditLog::Detail))
                    .to_owned(),
            )
            .await?;
        // The console lists the log newest first, by day.
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::At)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            StaffSessions::Table.into_iden(),
            StaffUsers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
