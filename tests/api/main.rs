//! Integration tests: the real application on port 0, driven over HTTP and WebSocket the way
//! carriers drive it. One binary, so the build links once.

mod helpers;
mod media;
mod ops;
mod registry;
mod shutdown;
mod telnyx;
mod webhook;
