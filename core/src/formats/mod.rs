//! Parsers of what arrives from outside other than carrier frames (those are `carrier`): the
//! LLM's server-sent events and streamed completion chunks, Deepgram's messages, and the model
//! files the built-in recogniser is converted from. Pure functions and state machines over
//! bytes and text, so each is fuzzed (`fuzz/`) and tested without a socket.

pub mod chat_completions;
pub mod ct2;
pub mod deepgram_listen;
pub mod deepgram_speak;
pub mod sse;
