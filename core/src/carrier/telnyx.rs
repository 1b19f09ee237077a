//! Telnyx media streaming framing: Twilio-like JSON in snake_case, several inbound codecs
//! (`start.media_format`), and no ordering guarantee (see [`super::inbound`]).
//!
//! Shapes follow Telnyx's "Stream call media over WebSocket" AsyncAPI reference.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    CarrierCommand, CarrierEvent, FrameError, InboundFrame, MediaChunk, RawCounter, StreamStart,
    Track, classify_json_error, counter, decode_payload, encode_payload, parse_dtmf_digit,
};
use crate::audio::{AudioFormat, Encoding, SampleRate};

const KNOWN_EVENTS: &[&str] = &[
    "connected",
    "start",
    "media",
    "dtmf",
    "mark",
    "error",
    "stop",
];

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    sequence_number: Option<RawCounter>,
    stream_id: Option<String>,
    version: Option<String>,
    start: Option<StartBody>,
    #[serde(borrow)]
    media: Option<MediaBody<'a>>,
    dtmf: Option<DtmfBody>,
    mark: Option<MarkBody>,
    payload: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct StartBody {
    call_control_id: String,
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    custom_parameters: BTreeMap<String, String>,
    media_format: MediaFormat,
}

#[derive(Deserialize)]
struct MediaFormat {
    encoding: String,
    sample_rate: u32,
    channels: Option<u32>,
}

#[derive(Deserialize)]
struct MediaBody<'a> {
    track: Option<Cow<'a, str>>,
    chunk: Option<RawCounter>,
    timestamp: Option<RawCounter>,
    #[serde(borrow)]
    payload: Cow<'a, str>,
}

#[derive(Deserialize)]
struct DtmfBody {
    digit: String,
}

#[derive(Deserialize)]
struct MarkBody {
    name: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    title: Option<String>,
    detail: Option<String>,
}

/// Maps Telnyx's codec names to ours. L16 is RTP's linear PCM, big-endian (RFC 3551 §4.5.11);
/// G722 and AMR-WB are not decoded by this build and are rejected at `start` with a clear reason.
fn media_format(f: &MediaFormat) -> Result<AudioFormat, FrameError> {
    if f.channels.unwrap_or(1) != 1 {
        return Err(FrameError::UnsupportedFormat(format!(
            "{} channels",
            f.channels.unwrap_or(0)
        )));
    }
    let encoding = match f.encoding.to_ascii_uppercase().as_str() {
        "PCMU" => Encoding::Mulaw,
        "PCMA" => Encoding::Alaw,
        "L16" => Encoding::Linear16Be,
        "OPUS" => Encoding::Opus,
        other => {
            return Err(FrameError::UnsupportedFormat(format!(
                "{other} (supported: PCMU, PCMA, L16, OPUS)"
            )));
        }
    };
    let rate = SampleRate::from_hz(f.sample_rate)
        .map_err(|e| FrameError::UnsupportedFormat(e.to_string()))?;
    Ok(AudioFormat::new(encoding, rate))
}

fn missing(what: &'static str) -> FrameError {
    FrameError::Malformed(format!("{what} frame without its `{what}` object"))
}

/// Decodes one Telnyx text frame.
pub fn decode(text: &str) -> Result<InboundFrame, FrameError> {
    let env: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| classify_json_error(text, e, KNOWN_EVENTS))?;
    let sequence = counter("sequence_number", &env.sequence_number)?;
    let event = match env.event.as_ref() {
        "connected" => CarrierEvent::Connected {
            protocol: None,
            version: env.version,
        },
        "start" => {
            let s = env.start.ok_or_else(|| missing("start"))?;
            let stream_id = env
                .stream_id
                .clone()
                .ok_or_else(|| FrameError::Malformed("start frame without stream_id".into()))?;
            CarrierEvent::Start(StreamStart {
                stream_id,
                format: media_format(&s.media_format)?,
                call_id: s.call_control_id,
                account_id: None,
                from: s.from,
                to: s.to,
                tracks: vec![Track::Inbound],
                custom_parameters: s.custom_parameters,
            })
        }
        "media" => {
            let m = env.media.ok_or_else(|| missing("media"))?;
            CarrierEvent::Media(MediaChunk {
                track: match m.track.as_deref() {
                    Some(t) if t.starts_with("outbound") => Track::Outbound,
                    _ => Track::Inbound,
                },
                chunk: counter("chunk", &m.chunk)?.unwrap_or(0),
                timestamp_ms: counter("timestamp", &m.timestamp)?.unwrap_or(0),
                payload: decode_payload(&m.payload)?,
            })
        }
        "dtmf" => {
            let d = env.dtmf.ok_or_else(|| missing("dtmf"))?;
            CarrierEvent::Dtmf {
                digit: parse_dtmf_digit(&d.digit)?,
            }
        }
        "mark" => CarrierEvent::Mark {
            name: env.mark.ok_or_else(|| missing("mark"))?.name,
        },
        "error" => {
            let e = env.payload.ok_or_else(|| missing("payload"))?;
            CarrierEvent::Error {
                code: e.code,
                detail: match (e.title, e.detail) {
                    (Some(t), Some(d)) => format!("{t}: {d}"),
                    (t, d) => t.or(d).unwrap_or_default(),
                },
            }
        }
        "stop" => CarrierEvent::Stop,
        other => return Err(FrameError::UnknownEvent(other.to_string())),
    };
    Ok(InboundFrame {
        sequence,
        stream_id: env.stream_id,
        event,
    })
}

#[derive(Serialize)]
struct Outbound<'a> {
    event: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    stream_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    media: Option<OutMedia>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mark: Option<OutMark<'a>>,
}

#[derive(Serialize)]
struct OutMedia {
    payload: String,
}

#[derive(Serialize)]
struct OutMark<'a> {
    name: &'a str,
}

/// Encodes one command as a Telnyx text frame.
pub fn encode(stream_id: &str, command: &CarrierCommand<'_>) -> String {
    let (event, media, mark) = match command {
        CarrierCommand::Media(audio) => (
            "media",
            Some(OutMedia {
                payload: encode_payload(audio),
            }),
            None,
        ),
        CarrierCommand::Mark(name) => ("mark", None, Some(OutMark { name })),
        CarrierCommand::Clear => ("clear", None, None),
    };
    serde_json::to_string(&Outbound {
        event,
        stream_id,
        media,
        mark,
    })
    .expect("plain structs always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../fixtures/telnyx/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn start_format(name: &str) -> AudioFormat {
        match decode(&fixture(name)).unwrap().event {
            CarrierEvent::Start(s) => s.format,
            other => panic!("not a start: {other:?}"),
        }
    }

    #[test]
    fn decodes_start_in_every_supported_codec() {
        let f = decode(&fixture("start")).unwrap();
        assert_eq!(f.sequence, Some(1));
        let CarrierEvent::Start(s) = f.event else {
            panic!("not a start")
        };
        assert_eq!(s.stream_id, "32DE0DEA-53CB-4B21-89A4-9E1819C043BC");
        assert!(s.call_id.starts_with("v2:"));
        assert_eq!(s.from.as_deref(), Some("+13122010094"));
        assert_eq!(s.custom_parameters["token"], "1700000000.abc");
        assert_eq!(s.format, AudioFormat::MULAW_8K);
        assert_eq!(start_format("start_pcma").encoding, Encoding::Alaw);
        assert_eq!(
            start_format("start_l16"),
            AudioFormat::new(Encoding::Linear16Be, SampleRate::Hz16000)
        );
        assert_eq!(start_format("start_opus").encoding, Encoding::Opus);
    }

    #[test]
    fn rejects_codecs_it_cannot_decode() {
        let text = fixture("start").replace("PCMU", "G722");
        assert_eq!(decode(&text).unwrap_err().reason(), "unsupported_format");
    }

    #[test]
    fn decodes_media_dtmf_mark_error_stop() {
        let f = decode(&fixture("media")).unwrap();
        assert_eq!(f.sequence, Some(4));
        let CarrierEvent::Media(m) = f.event else {
            panic!("not media")
        };
        assert_eq!((m.chunk, m.timestamp_ms, m.payload.len()), (2, 40, 160));
        assert_eq!(
            decode(&fixture("dtmf")).unwrap().event,
            CarrierEvent::Dtmf { digit: '#' }
        );
        assert_eq!(
            decode(&fixture("mark")).unwrap().event,
            CarrierEvent::Mark {
                name: "u1:100".into()
            }
        );
        assert_eq!(
            decode(&fixture("error")).unwrap().event,
            CarrierEvent::Error {
                code: Some(100002),
                detail: "unknown_error: An unknown error occurred".into()
            }
        );
        assert_eq!(decode(&fixture("stop")).unwrap().event, CarrierEvent::Stop);
    }

    #[test]
    fn encodes_commands_without_twilio_names() {
        assert_eq!(
            encode("S1", &CarrierCommand::Media(&[1, 2, 3])),
            r#"{"event":"media","stream_id":"S1","media":{"payload":"AQID"}}"#
        );
        assert_eq!(
            encode("S1", &CarrierCommand::Mark("m")),
            r#"{"event":"mark","stream_id":"S1","mark":{"name":"m"}}"#
        );
        assert_eq!(
            encode("S1", &CarrierCommand::Clear),
            r#"{"event":"clear","stream_id":"S1"}"#
        );
    }
}
