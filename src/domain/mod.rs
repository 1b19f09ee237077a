//! Domain values that parse instead of validate: once built, a `PhoneNumber` is E.164, a `Vin`
//! is a well-formed VIN, a `ServiceDate` is a real day not in the past. Errors are written for
//! the LLM to relay or act on ("ask the caller for the area code"), not for a developer.

mod phone;
mod service_date;
pub mod text;
mod vin;

pub use phone::{PhoneError, PhoneNumber};
pub use service_date::{DateError, ServiceDate};
pub use vin::{Vin, VinError};
