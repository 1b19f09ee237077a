//! One call, as sans-IO state machines ([`session::MediaSession`], [`ledger::PlaybackLedger`],
//! [`echo::EchoLine`]) plus the one IO task that drives them ([`driver`]).
//!
//! Nothing outside `driver` touches sockets, runtimes or clocks: every input carries `now`.

pub mod agent;
#[cfg(test)]
mod agent_tests;
pub mod context;
pub mod conversation;
pub mod driver;
pub mod echo;
pub mod handoff;
pub mod ledger;
pub mod prepare;
pub mod prompt;
pub mod records;
pub mod sentences;
pub mod session;
pub mod speech;

pub use session::{CallOutcome, FarEnd, MediaSession, SessionConfig, SessionOutput};
