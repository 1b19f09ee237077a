//! Repair orders: a vehicle in the shop and where its job stands (checked in, waiting on
//! parts, in service, ready, collected), kept by the service desk and read by the agent when
//! a customer asks whether their car is ready.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `repair_orders`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RepairOrders {
    Table,
    Id,
    CustomerId,
    VehicleId,
    Status,
    Note,
    OpenedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Vehicles {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RepairOrders::Table)
                    .if_not_exists()
                    .col(pk_auto(RepairOrders::Id))
                    .col(integer(RepairOrders::CustomerId))
                    .col(integer(RepairOrders::VehicleId))
                    .col(string(RepairOrders::Status))
                    .col(text_null(RepairOrders::Note))
                    .col(timestamp_with_time_zone(RepairOrders::OpenedAt))
                    .col(timestamp_with_time_zone(RepairOrders::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_repair_orders_customer")
                            .from(RepairOrders::Table, RepairOrders::CustomerId)
                            .to(Customers::Table, Customers::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_repair_orders_vehicle")
                            .from(RepairOrders::Table, RepairOrders::VehicleId)
                            .to(Vehicles::Table, Vehicles::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // "Is my car ready?" reads a customer's open orders.
        manager
            .create_index(
                Index::create()
                    .name("idx_repair_orders_customer")
                    .table(RepairOrders::Table)
                    .col(RepairOrders::CustomerId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(RepairOrders::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
