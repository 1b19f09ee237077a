//! callbridge: answers a car service center's phone line by bridging a carrier's media stream
//! to speech and language engines.
//!
//! The IO-free core (carrier framing, audio, the call machine and the vocabulary everything
//! else speaks) is the `callbridge-core` crate, re-exported here as [`audio`], [`carrier`] and
//! [`call`]. This crate does the IO around it: `app` builds and runs the service, `http` serves
//! the routes, [`driver`] executes one call's machine, `preparation` and `handoff` are the
//! tasks around a call, `providers`, `tools`, `crm` and `session_store` talk to the outside, `staff` and `live` serve
//! the service desk's console.
//! See `ARCHITECTURE.md`.

pub mod app;
pub mod call_control;
pub mod config;
pub mod crm;
pub mod db;
pub mod domain;
pub mod driver;
pub mod handoff;
pub mod http;
pub mod live;
pub mod models;
pub mod preparation;
pub mod providers;
pub mod recordings;
pub mod sentence_embedding;
pub mod session_store;
pub mod simulator;
pub mod staff;
pub mod state;
pub mod telemetry;
pub mod tools;
pub mod turn;

pub use app::Application;
pub use callbridge_core::{audio, call, carrier};
pub use config::Settings;
