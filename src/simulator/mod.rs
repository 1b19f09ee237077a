//! The caller simulator behind `callbridge call` and `callbridge demo`: plays caller clips into a callbridge over
//! the carrier protocol, as Twilio would, and reports what the agent did and how fast.

pub mod demo;
pub mod leg;
pub mod run;
