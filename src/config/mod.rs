//! Typed settings: loaded once from defaults < optional file < environment, validated at start.
//!
//! This is the only module that reads configuration. The loader takes its sources as plain
//! key-value maps, so tests never touch the process environment, and every problem is reported
//! with the variable to change.

mod business;
mod conversation;
mod http;
mod providers;
mod recording;
mod secret;
mod settings;
mod source;
mod traces;
mod turns;

pub use business::{BookingPolicy, BusinessSettings};
pub use conversation::{CallControlMode, ConversationSettings};
pub use http::{HttpSettings, RateLimit, RateLimitKey};
pub use providers::{LlmChoice, ProviderSettings, SttChoice, TtsChoice};
pub use recording::RecordingSettings;
pub use secret::Secret;
pub use settings::{
    CallMode, CarrierSettings, LimitSettings, LogFormat, Settings, StorageSettings,
};
pub use source::{ConfigError, Problem, Source};
pub use traces::TraceSettings;
pub use turns::{TurnModelChoice, TurnSettings};
