//! The staff console over HTTP the way a browser drives it (cookies, forms, redirects), with
//! no browser: sign-in, CSRF, roles, throttling. The browser tests drive the same pages in
//! Chromium.

mod board;
pub(crate) mod desk;
mod history;
mod outage;
pub(crate) mod recordings;
mod sign_in;
mod take;
mod vehicles;
