//! SeaORM entities of callbridge's database, one module per table.

pub mod appointment;
pub mod appointment_bay;
pub mod audit_entry;
pub mod bay;
pub mod business_hours;
pub mod call_log;
pub mod call_recording;
pub mod call_turn;
pub mod callback;
pub mod closure;
pub mod customer;
pub mod repair_order;
pub mod service_type;
pub mod staff_session;
pub mod staff_user;
pub mod stream_event;
pub mod vehicle;
