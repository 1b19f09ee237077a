//! One call, as one sans-IO state machine: [`Call`] takes carrier frames, provider events,
//! task results and time as [`Input`]s, and gives back [`Output`]s for the executor to carry
//! out. Inside it: the media session ([`session`]: framing, transcoding, the playback
//! [`ledger`], the [`echo`] line), and for agent calls the conversation (voice activity, the
//! [`agent`] and its [`context`], what it is saying ([`speech`]), failover, stage clocks), and
//! how the call ends ([`end`]). Nothing here reads a clock, opens a socket or spawns.

pub mod agent;
mod clocks;
pub mod context;
mod conversation;
pub mod echo;
pub mod end;
mod hearing;
pub mod io;
pub mod ledger;
mod machine;
pub mod observe;
pub mod record;
pub mod recorder;
pub mod sentences;
pub mod session;
pub mod speech;
mod tool_runs;
mod transcript;

pub use end::{CallEnd, Close, DrainEnding, EndCause, GoodbyeReason, Handoff, TransferReason};
pub use io::{ConversationConfig, Input, Output, Preparation, Slot, StartedCall};
pub use machine::{Call, CallConfig};
pub use session::{FAR_END_FORMAT, FarEnd, SessionConfig};
