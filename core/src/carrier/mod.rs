//! Each carrier's wire format, translated to and from carrier-neutral events and commands,
//! plus the carrier's request signatures and call-control markup.
//!
//! Pure code: text in, typed values out, and back. No sockets, no clocks (times are passed in).

pub mod inbound;
pub mod signature;
pub mod stream_token;
pub mod telnyx;
pub mod twilio;
pub mod twiml;

use std::collections::BTreeMap;

use crate::audio::AudioFormat;

pub use inbound::InboundStream;

/// Which carrier's dialect a media socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CarrierKind {
    /// Twilio Media Streams (camelCase, mu-law 8 kHz only).
    Twilio,
    /// Telnyx media streaming (snake_case, several codecs, frames may arrive out of order).
    Telnyx,
}

impl CarrierKind {
    /// Stable label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CarrierKind::Twilio => "twilio",
            CarrierKind::Telnyx => "telnyx",
        }
    }

    /// Decodes one text frame in this carrier's dialect.
    pub fn decode(self, text: &str) -> Result<InboundFrame, FrameError> {
        match self {
            CarrierKind::Twilio => twilio::decode(text),
            CarrierKind::Telnyx => telnyx::decode(text),
        }
    }

    /// Encodes one command for the stream `stream_id`.
    pub fn encode(self, stream_id: &str, command: &CarrierCommand<'_>) -> String {
        match self {
            CarrierKind::Twilio => twilio::encode(stream_id, command),
            CarrierKind::Telnyx => telnyx::encode(stream_id, command),
        }
    }

    /// Whether frames can arrive out of order and must be sorted by sequence number.
    pub fn reorders(self) -> bool {
        matches!(self, CarrierKind::Telnyx)
    }
}

/// Which leg of the call audio belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// The caller's voice.
    Inbound,
    /// What the callee side (us) plays.
    Outbound,
}

/// The stream's identity and format, sent once at the start.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamStart {
    /// Carrier's stream id (Twilio `streamSid`, Telnyx `stream_id`); every outbound frame names it.
    pub stream_id: String,
    /// The call it belongs to (Twilio `callSid`, Telnyx `call_control_id`).
    pub call_id: String,
    /// The carrier account (Twilio `accountSid`), when given.
    pub account_id: Option<String>,
    /// Caller number, when the carrier says.
    pub from: Option<String>,
    /// Called number, when the carrier says.
    pub to: Option<String>,
    /// Tracks the carrier will send.
    pub tracks: Vec<Track>,
    /// `<Parameter>` values (Twilio) or `custom_parameters` (Telnyx).
    pub custom_parameters: BTreeMap<String, String>,
    /// Format of inbound media payloads.
    pub format: AudioFormat,
}

/// One inbound audio packet.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaChunk {
    /// Whose audio.
    pub track: Track,
    /// Carrier's chunk counter.
    pub chunk: u64,
    /// Milliseconds since the stream started.
    pub timestamp_ms: u64,
    /// Raw audio in the stream's format.
    pub payload: Vec<u8>,
}

/// Something the carrier told us.
#[derive(Debug, Clone, PartialEq)]
pub enum CarrierEvent {
    /// The socket is up; sent before `Start`.
    Connected {
        /// Protocol name, when given.
        protocol: Option<String>,
        /// Protocol version.
        version: Option<String>,
    },
    /// The stream's metadata.
    Start(StreamStart),
    /// Caller audio.
    Media(MediaChunk),
    /// A keypad digit.
    Dtmf {
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
    },
    /// A mark we sent has been reached in playback (or flushed by `clear`).
    Mark {
        /// The name we gave it.
        name: String,
    },
    /// The carrier reports a streaming error (Telnyx).
    Error {
        /// Carrier error code.
        code: Option<i64>,
        /// Human-readable detail.
        detail: String,
    },
    /// The stream ended; no more frames follow.
    Stop,
}

impl CarrierEvent {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            CarrierEvent::Connected { .. } => "connected",
            CarrierEvent::Start(_) => "start",
            CarrierEvent::Media(_) => "media",
            CarrierEvent::Dtmf { .. } => "dtmf",
            CarrierEvent::Mark { .. } => "mark",
            CarrierEvent::Error { .. } => "error",
            CarrierEvent::Stop => "stop",
        }
    }
}

/// A decoded frame: the event plus the envelope fields used for ordering and checks.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundFrame {
    /// Carrier's sequence number, when present.
    pub sequence: Option<u64>,
    /// Stream id named in the envelope, when present.
    pub stream_id: Option<String>,
    /// What happened.
    pub event: CarrierEvent,
}

/// Something we tell the carrier.
#[derive(Debug, Clone, PartialEq)]
pub enum CarrierCommand<'a> {
    /// Play this audio (in the carrier's outbound format) after what is queued.
    Media(&'a [u8]),
    /// Tell us when playback reaches this point.
    Mark(&'a str),
    /// Drop everything queued for playback.
    Clear,
}

/// Why an inbound frame was not accepted. The call goes on; the frame is counted and logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Carriers speak JSON text; a binary frame is a protocol violation.
    #[error("binary frame of {0} bytes (carriers send JSON text)")]
    Binary(usize),
    /// Larger than the configured limit.
    #[error("frame of {size} bytes exceeds the {limit}-byte limit")]
    Oversized {
        /// Frame size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Not JSON, or JSON of the wrong shape.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A well-formed frame with an event name we do not know.
    #[error("unknown event {0:?}")]
    UnknownEvent(String),
    /// A counter that is not a non-negative integer.
    #[error("bad counter {field}: {value:?}")]
    BadCounter {
        /// Field name.
        field: &'static str,
        /// What was sent.
        value: String,
    },
    /// Media payload is not valid base64.
    #[error("media payload is not base64: {0}")]
    BadPayload(String),
    /// The start frame names a format we cannot decode.
    #[error("unsupported media format: {0}")]
    UnsupportedFormat(String),
    /// A valid frame at the wrong point of the stream (media before start, a second start...).
    #[error("{event} frame out of place: {reason}")]
    OutOfPlace {
        /// Event kind.
        event: &'static str,
        /// What was expected.
        reason: &'static str,
    },
    /// A frame naming another stream.
    #[error("frame for stream {got:?} on stream {expected:?}")]
    WrongStream {
        /// Our stream.
        expected: String,
        /// The frame's.
        got: String,
    },
    /// A frame whose sequence number was already delivered or skipped.
    #[error("late or duplicate frame (sequence {0})")]
    LateOrDuplicate(u64),
}

impl FrameError {
    /// Stable label for the malformed-frames metric.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Binary(_) => "binary",
            FrameError::Oversized { .. } => "oversized",
            FrameError::Malformed(_) => "malformed_json",
            FrameError::UnknownEvent(_) => "unknown_event",
            FrameError::BadCounter { .. } => "bad_counter",
            FrameError::BadPayload(_) => "bad_payload",
            FrameError::UnsupportedFormat(_) => "unsupported_format",
            FrameError::OutOfPlace { .. } => "out_of_place",
            FrameError::WrongStream { .. } => "wrong_stream",
            FrameError::LateOrDuplicate(_) => "late_or_duplicate",
        }
    }
}

/// A counter as carriers send it: a decimal string (Twilio and Telnyx both quote their
/// numbers), tolerating a bare JSON number. A bad value is kept so the error can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawCounter(Result<u64, String>);

impl RawCounter {
    /// The value, or a [`FrameError::BadCounter`] naming `field`.
    pub(crate) fn get(&self, field: &'static str) -> Result<u64, FrameError> {
        self.0
            .clone()
            .map_err(|value| FrameError::BadCounter { field, value })
    }
}

impl<'de> serde::Deserialize<'de> for RawCounter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawCounter;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a counter as a decimal string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawCounter, E> {
                Ok(RawCounter(v.parse().map_err(|_| v.to_string())))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawCounter, E> {
                Ok(RawCounter(Ok(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawCounter, E> {
                Ok(RawCounter(u64::try_from(v).map_err(|_| v.to_string())))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawCounter, E> {
                Ok(RawCounter(Err(v.to_string())))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Reads an optional counter.
pub(crate) fn counter(
    field: &'static str,
    raw: &Option<RawCounter>,
) -> Result<Option<u64>, FrameError> {
    raw.as_ref().map(|c| c.get(field)).transpose()
}

/// Classifies a serde failure: a frame whose `event` we do not know is reported as such,
/// anything else as malformed. Runs only on the error path.
pub(crate) fn classify_json_error(
    text: &str,
    err: serde_json::Error,
    known: &[&str],
) -> FrameError {
    #[derive(serde::Deserialize)]
    struct Probe {
        event: Option<String>,
    }
    match serde_json::from_str::<Probe>(text) {
        Ok(Probe { event: Some(e) }) if !known.contains(&e.as_str()) => FrameError::UnknownEvent(e),
        _ => FrameError::Malformed(err.to_string()),
    }
}

/// Reads a DTMF digit: exactly one key of `0-9`, `*`, `#`, `A-D`.
pub(crate) fn parse_dtmf_digit(digit: &str) -> Result<char, FrameError> {
    let mut chars = digit.chars();
    match (chars.next(), chars.next()) {
        (Some(d), None) if d.is_ascii_digit() || matches!(d, '*' | '#' | 'A'..='D') => Ok(d),
        _ => Err(FrameError::Malformed(format!(
            "dtmf digit {digit:?} is not one key"
        ))),
    }
}

/// Decodes a base64 media payload.
pub(crate) fn decode_payload(payload: &str) -> Result<Vec<u8>, FrameError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|e| FrameError::BadPayload(e.to_string()))
}

/// Encodes audio as base64 for an outbound media frame.
pub(crate) fn encode_payload(audio: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(audio)
}
