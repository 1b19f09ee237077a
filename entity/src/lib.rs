//! SeaORM entities of callbridge's database. One module per table; the CRM tables arrive with
//! the CRM issue.

pub mod stream_event;
