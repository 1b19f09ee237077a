//! callbridge: answers a car service center's phone line by bridging a carrier's media stream
//! to speech and language engines.
//!
//! The middle of the bridge is sans-IO (`audio`, `carrier`, `call` apart from its driver);
//! `app`, `http`, `call::driver` and `session_store` do the IO. See `shared/DESIGN.md`.

pub mod app;
pub mod audio;
pub mod call;
pub mod call_control;
pub mod carrier;
pub mod config;
pub mod crm;
pub mod db;
pub mod domain;
pub mod http;
pub mod models;
pub mod providers;
pub mod session_store;
pub mod simulator;
pub mod telemetry;
pub mod tools;

pub use app::Application;
pub use config::Settings;
