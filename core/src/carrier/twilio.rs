//! Twilio Media Streams framing (bidirectional `<Connect><Stream>`).
//!
//! Every frame is a JSON text frame with an `event` field; counters arrive as strings. See
//! Twilio's "Media Streams - WebSocket Messages" reference and `shared/PROTOCOLS.md`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    CarrierCommand, CarrierEvent, FrameError, InboundFrame, MediaChunk, RawCounter, StreamStart,
    Track, classify_json_error, counter, decode_payload, encode_payload, parse_dtmf_digit,
};
use crate::audio::{AudioFormat, Encoding, SampleRate};

const KNOWN_EVENTS: &[&str] = &["connected", "start", "media", "dtmf", "mark", "stop"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    sequence_number: Option<RawCounter>,
    stream_sid: Option<String>,
    protocol: Option<String>,
    version: Option<String>,
    start: Option<StartBody>,
    #[serde(borrow)]
    media: Option<MediaBody<'a>>,
    dtmf: Option<DtmfBody>,
    mark: Option<MarkBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    stream_sid: Option<String>,
    account_sid: Option<String>,
    call_sid: String,
    #[serde(default)]
    tracks: Vec<String>,
    #[serde(default)]
    custom_parameters: BTreeMap<String, String>,
    media_format: Option<MediaFormat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
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

fn track(name: &str) -> Track {
    // Twilio writes `inbound`/`outbound` in media and `inbound_track` in dtmf.
    if name.starts_with("outbound") {
        Track::Outbound
    } else {
        Track::Inbound
    }
}

fn media_format(f: Option<MediaFormat>) -> Result<AudioFormat, FrameError> {
    let Some(f) = f else {
        // Twilio's only format; older payloads omit the block.
        return Ok(AudioFormat::MULAW_8K);
    };
    if f.channels.unwrap_or(1) != 1 {
        return Err(FrameError::UnsupportedFormat(format!(
            "{} channels",
            f.channels.unwrap_or(0)
        )));
    }
    let encoding = match f.encoding.as_str() {
        "audio/x-mulaw" => Encoding::Mulaw,
        "audio/x-alaw" => Encoding::Alaw,
        other => return Err(FrameError::UnsupportedFormat(other.to_string())),
    };
    let rate = SampleRate::from_hz(f.sample_rate)
        .map_err(|e| FrameError::UnsupportedFormat(e.to_string()))?;
    Ok(AudioFormat::new(encoding, rate))
}

fn missing(what: &'static str) -> FrameError {
    FrameError::Malformed(format!("{what} frame without its `{what}` object"))
}

/// Decodes one Twilio text frame.
pub fn decode(text: &str) -> Result<InboundFrame, FrameError> {
    let env: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| classify_json_error(text, e, KNOWN_EVENTS))?;
    let sequence = counter("sequenceNumber", &env.sequence_number)?;
    let event = match env.event.as_ref() {
        "connected" => CarrierEvent::Connected {
            protocol: env.protocol,
            version: env.version,
        },
        "start" => {
            let s = env.start.ok_or_else(|| missing("start"))?;
            let stream_id = s
                .stream_sid
                .or_else(|| env.stream_sid.clone())
                .ok_or_else(|| FrameError::Malformed("start frame without streamSid".into()))?;
            CarrierEvent::Start(StreamStart {
                stream_id,
                call_id: s.call_sid,
                account_id: s.account_sid,
                from: None,
                to: None,
                tracks: s.tracks.iter().map(|t| track(t)).collect(),
                custom_parameters: s.custom_parameters,
                format: media_format(s.media_format)?,
            })
        }
        "media" => {
            let m = env.media.ok_or_else(|| missing("media"))?;
            CarrierEvent::Media(MediaChunk {
                track: m.track.as_deref().map_or(Track::Inbound, track),
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
        "stop" => CarrierEvent::Stop,
        other => return Err(FrameError::UnknownEvent(other.to_string())),
    };
    Ok(InboundFrame {
        sequence,
        stream_id: env.stream_sid,
        event,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Outbound<'a> {
    event: &'static str,
    stream_sid: &'a str,
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

/// Encodes one command as a Twilio text frame.
pub fn encode(stream_sid: &str, command: &CarrierCommand<'_>) -> String {
    let frame = match command {
        CarrierCommand::Media(audio) => Outbound {
            event: "media",
            stream_sid,
            media: Some(OutMedia {
                payload: encode_payload(audio),
            }),
            mark: None,
        },
        CarrierCommand::Mark(name) => Outbound {
            event: "mark",
            stream_sid,
            media: None,
            mark: Some(OutMark { name }),
        },
        CarrierCommand::Clear => Outbound {
            event: "clear",
            stream_sid,
            media: None,
            mark: None,
        },
    };
    serde_json::to_string(&frame).expect("plain structs always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../fixtures/twilio/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn decodes_connected() {
        let f = decode(&fixture("connected")).unwrap();
        assert_eq!(
            f.event,
            CarrierEvent::Connected {
                protocol: Some("Call".into()),
                version: Some("1.0.0".into())
            }
        );
    }

    #[test]
    fn decodes_start_with_string_counters_and_parameters() {
        let f = decode(&fixture("start")).unwrap();
        assert_eq!(f.sequence, Some(1));
        let CarrierEvent::Start(s) = f.event else {
            panic!("not a start")
        };
        assert_eq!(s.stream_id, "MZ18ad3ab5a668481ce02b83e7395059f0");
        assert_eq!(s.call_id, "CA5d7f5c5cd0d3b8bd6f1bc5dd8a0f0a81");
        assert_eq!(
            s.account_id.as_deref(),
            Some("AC123abc4567890def1234567890abcdef")
        );
        assert_eq!(s.tracks, [Track::Inbound]);
        assert_eq!(s.format, AudioFormat::MULAW_8K);
        assert_eq!(s.custom_parameters["token"], "1700000000.abc");
    }

    #[test]
    fn decodes_media() {
        let f = decode(&fixture("media")).unwrap();
        assert_eq!(f.sequence, Some(3));
        assert_eq!(
            f.stream_id.as_deref(),
            Some("MZ18ad3ab5a668481ce02b83e7395059f0")
        );
        let CarrierEvent::Media(m) = f.event else {
            panic!("not media")
        };
        assert_eq!(m.chunk, 1);
        assert_eq!(m.timestamp_ms, 5);
        assert_eq!(m.payload.len(), 160);
        assert_eq!(m.track, Track::Inbound);
    }

    #[test]
    fn decodes_dtmf_mark_stop() {
        assert_eq!(
            decode(&fixture("dtmf")).unwrap().event,
            CarrierEvent::Dtmf { digit: '1' }
        );
        assert_eq!(
            decode(&fixture("mark")).unwrap().event,
            CarrierEvent::Mark {
                name: "my label".into()
            }
        );
        assert_eq!(decode(&fixture("stop")).unwrap().event, CarrierEvent::Stop);
    }

    #[test]
    fn bad_frames_are_classified() {
        assert_eq!(decode("not json").unwrap_err().reason(), "malformed_json");
        assert_eq!(
            decode(r#"{"event":"wobble","streamSid":"MZ1"}"#).unwrap_err(),
            FrameError::UnknownEvent("wobble".into())
        );
        assert_eq!(
            decode(r#"{"event":"media","sequenceNumber":"x7","media":{"payload":""}}"#)
                .unwrap_err()
                .reason(),
            "bad_counter"
        );
        assert_eq!(
            decode(r#"{"event":"media","media":{"payload":"@@@"}}"#)
                .unwrap_err()
                .reason(),
            "bad_payload"
        );
        assert_eq!(
            decode(r#"{"event":"media","streamSid":"MZ1"}"#)
                .unwrap_err()
                .reason(),
            "malformed_json"
        );
        assert_eq!(
            decode(r#"{"event":"dtmf","dtmf":{"digit":"12"}}"#)
                .unwrap_err()
                .reason(),
            "malformed_json"
        );
    }

    #[test]
    fn encodes_commands() {
        assert_eq!(
            encode("MZ1", &CarrierCommand::Media(&[0xFF, 0x7F])),
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"/38="}}"#
        );
        assert_eq!(
            encode("MZ1", &CarrierCommand::Mark("a\"b")),
            r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"a\"b"}}"#
        );
        assert_eq!(
            encode("MZ1", &CarrierCommand::Clear),
            r#"{"event":"clear","streamSid":"MZ1"}"#
        );
    }

    #[test]
    fn media_round_trips_through_encode_and_decode() {
        let audio: Vec<u8> = (0..160).map(|i| i as u8).collect();
        let text = encode("MZ1", &CarrierCommand::Media(&audio));
        let CarrierEvent::Media(m) = decode(&text).unwrap().event else {
            panic!("not media")
        };
        assert_eq!(m.payload, audio);
    }
}
