//! callbridge's IO-free core: each carrier's wire format, audio codecs and voice activity, and
//! the call state machine with the vocabulary the rest of callbridge speaks.
//!
//! Nothing here reads a clock, opens a socket, spawns a task or records a metric: every input
//! carries `now`, every effect comes out as a value. The crate's dependencies keep it that way
//! (no runtime, HTTP, database, cache or metrics crate; CI checks `cargo tree`), so every
//! behaviour of a call is tested on a virtual clock in microseconds. See `ARCHITECTURE.md`.
//!
//! Panic policy: bad input from a carrier or a provider never panics; it becomes a typed error
//! or a counted refusal. A remaining `expect` names the invariant it relies on.

#![warn(missing_docs)]

pub mod audio;
pub mod calendar_words;
pub mod call;
pub mod carrier;
pub mod chat;
pub mod formats;
pub mod llm;
pub mod misheard_answers;
pub mod provider;
pub mod stt;
pub mod tool;
pub mod tts;
