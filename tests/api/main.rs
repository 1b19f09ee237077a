//! Integration tests: the real application on port 0, driven over HTTP and WebSocket the way
//! carriers drive it. One binary, so the build links once.

#![allow(clippy::disallowed_methods)] // Tests read TEST_* variables and time real servers.

mod bad_input;
mod browser;
mod builtin_stt;
mod call_control;
mod cluster;
mod console;
mod conversation;
mod deadlines;
mod demo;
mod deploy;
mod fakes;
mod helpers;
mod live_relay;
mod llm;
mod media;
mod models;
mod ops;
mod outages;
mod proxy;
mod registry;
mod retention;
mod schema;
mod seed;
mod shutdown;
mod simulator;
mod slow_clients;
mod staff;
mod staff_accounts;
mod stt;
mod telnyx;
mod tools;
mod tts;
mod turns;
mod webhook;
