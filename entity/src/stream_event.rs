//! A carrier stream status callback (Twilio `statusCallback` on `<Stream>`): kept so operators
//! can see why a stream failed to start or stopped, after the fact.

use sea_orm::entity::prelude::*;

/// One status callback as received.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stream_events")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Carrier call id.
    pub call_sid: String,
    /// Carrier stream id.
    pub stream_sid: Option<String>,
    /// `stream-started`, `stream-stopped` or `stream-error`.
    pub event: String,
    /// The carrier's error text, for `stream-error`.
    pub error: Option<String>,
    /// The carrier's own timestamp, as sent.
    pub carrier_timestamp: Option<String>,
    /// When we received it.
    pub received_at: DateTimeUtc,
}

/// No relations yet.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
