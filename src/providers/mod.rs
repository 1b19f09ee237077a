//! Speech-to-text, language-model and text-to-speech providers behind small traits, chosen by
//! settings. Clients do their IO in their own tasks and report through channels, so the call
//! driver only ever selects on events and never blocks the media path on a provider.
//! Wire formats are parsed by pure modules (`llm::sse`, `llm::assemble`, ...) tested at
//! arbitrary byte boundaries.

pub mod health;
pub mod llm;
pub mod registry;
pub mod stt;
pub mod tts;
pub mod ws;

pub use callbridge_core::provider::{Deadline, ProviderError};
pub use health::{ProviderHealth, ProviderKind};
pub use registry::Providers;
