//! Queries and transactions over the CRM tables (SQLite and PostgreSQL). No call state here.

pub mod availability;
pub mod seed;
