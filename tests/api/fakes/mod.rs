//! Protocol-faithful fakes of the providers' servers, on 127.0.0.1, built from the published
//! message shapes (`shared/PROTOCOLS.md` and the providers' API references). Each validates
//! what a real server would refuse, so a client that passes here sends traffic the real
//! service accepts.

pub mod deepgram_stt;
pub mod deepgram_tts;
pub mod openai;
pub mod twilio_rest;
