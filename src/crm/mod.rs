//! Queries and transactions over the CRM tables (SQLite and PostgreSQL). No call state here.

pub mod appointments;
pub mod availability;
pub mod booking;
pub mod callbacks;
pub mod caller;
pub mod calls;
pub mod catalog;
pub mod customers;
pub mod error;
pub mod repair_orders;
pub mod retention;
pub mod schedule;
pub mod seed;
pub mod slots;
pub mod summary;

pub use error::{CrmError, Unavailable};
pub use schedule::Schedule;
