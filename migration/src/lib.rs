//! Schema migrations, applied at start and by `callbridge migrate`, on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_stream_events;
mod m20261122_000002_crm;
mod m20261122_000003_appointment_bays;
mod m20261206_000004_staff;
mod m20261206_000005_repair_orders;
mod m20261207_000006_recordings;
mod m20261207_000007_callbacks;
mod m20261207_000008_staff_phone;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_stream_events::Migration),
            Box::new(m20261122_000002_crm::Migration),
            Box::new(m20261122_000003_appointment_bays::Migration),
            Box::new(m20261206_000004_staff::Migration),
            Box::new(m20261206_000005_repair_orders::Migration),
            Box::new(m20261207_000006_recordings::Migration),
            Box::new(m20261207_000007_callbacks::Migration),
            Box::new(m20261207_000008_staff_phone::Migration),
        ]
    }
}
