//! The caller simulator behind `callbridge call`: plays caller clips into a callbridge over
//! the carrier protocol, as Twilio would, and reports what the agent did and how fast.

pub mod leg;
pub mod run;
