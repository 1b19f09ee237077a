//! Deepgram live transcription, the wire half (sans-IO): the listen URL from options, the
//! server's messages, the client's control messages, and the replay buffer that lets a
//! reconnected stream hear again what the dropped one had not finalised.
//!
//! Message shapes follow Deepgram's streaming API reference (`Results` with `is_final`,
//! `speech_final`, `from_finalize`, `start`, `duration`, `channel.alternatives`;
//! `UtteranceEnd` with `last_word_end`; `SpeechStarted` with `timestamp`; `Metadata`).

use std::collections::VecDeque;

use serde::Deserialize;
use url::Url;

use crate::audio::{AudioFormat, Encoding};
use crate::provider::ProviderError;
use crate::stt::SttEvent;

/// Query options of a listen stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenOptions {
    /// e.g. `nova-3`.
    pub model: String,
    /// Silence (ms) after which a segment is `speech_final`.
    pub endpointing_ms: u32,
    /// Gap (ms) in word timings that makes an `UtteranceEnd`; 0 disables it.
    pub utterance_end_ms: u32,
    /// Interim results.
    pub interim_results: bool,
    /// `SpeechStarted` events.
    pub vad_events: bool,
    /// Words to favour (service names, the shop's name).
    pub keyterms: Vec<String>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            model: "nova-3".into(),
            endpointing_ms: 300,
            utterance_end_ms: 1000,
            interim_results: true,
            vad_events: true,
            keyterms: Vec::new(),
        }
    }
}

/// The Deepgram name of an encoding it accepts raw.
fn encoding_name(e: Encoding) -> Option<&'static str> {
    match e {
        Encoding::Mulaw => Some("mulaw"),
        Encoding::Alaw => Some("alaw"),
        Encoding::Linear16 => Some("linear16"),
        Encoding::Opus => Some("opus"),
        Encoding::Linear16Be => None,
    }
}

/// `base?model=..&encoding=..` for audio in `format`.
pub fn listen_url(
    base: &Url,
    o: &ListenOptions,
    format: AudioFormat,
) -> Result<Url, ProviderError> {
    let encoding = encoding_name(format.encoding).ok_or_else(|| {
        ProviderError::Protocol(format!(
            "Deepgram does not take {} audio raw; transcode it first",
            format.encoding.as_str()
        ))
    })?;
    let mut url = base.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("model", &o.model)
            .append_pair("encoding", encoding)
            .append_pair("sample_rate", &format.sample_rate.hz().to_string())
            .append_pair("channels", "1")
            .append_pair(
                "interim_results",
                if o.interim_results { "true" } else { "false" },
            )
            .append_pair("endpointing", &o.endpointing_ms.to_string())
            .append_pair("vad_events", if o.vad_events { "true" } else { "false" })
            .append_pair("punctuate", "true")
            .append_pair("smart_format", "true");
        // utterance_end_ms needs interim results; Deepgram refuses it without them.
        if o.utterance_end_ms > 0 && o.interim_results {
            q.append_pair("utterance_end_ms", &o.utterance_end_ms.to_string());
        }
        for k in &o.keyterms {
            q.append_pair("keyterm", k);
        }
    }
    Ok(url)
}

/// `{"type":"KeepAlive"}`: sent when no audio flows, or the server closes after ~10 s.
pub const KEEP_ALIVE: &str = r#"{"type":"KeepAlive"}"#;
/// `{"type":"Finalize"}`: transcribe everything received so far now.
pub const FINALIZE: &str = r#"{"type":"Finalize"}"#;
/// `{"type":"CloseStream"}`: no more audio; the server flushes and closes.
pub const CLOSE_STREAM: &str = r#"{"type":"CloseStream"}"#;

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum Message {
    Results(Results),
    UtteranceEnd {
        #[serde(default)]
        last_word_end: f64,
    },
    SpeechStarted {
        #[serde(default)]
        timestamp: f64,
    },
    Metadata {},
    Error {
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
struct Results {
    #[serde(default)]
    is_final: bool,
    #[serde(default)]
    speech_final: bool,
    #[serde(default)]
    from_finalize: bool,
    #[serde(default)]
    start: f64,
    #[serde(default)]
    duration: f64,
    channel: Channel,
}

#[derive(Debug, Deserialize)]
struct Channel {
    alternatives: Vec<Alternative>,
}

#[derive(Debug, Deserialize)]
struct Alternative {
    #[serde(default)]
    transcript: String,
    #[serde(default)]
    confidence: f64,
}

/// A server message, with times still relative to its own connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// A transcript event to pass on (times relative to this connection).
    Event(SttEvent),
    /// The server is done (after `CloseStream`).
    Metadata,
    /// Nothing to do (an unknown type; new message types must not break calls).
    Ignored,
}

/// Parses one text frame from the server.
pub fn parse(text: &str) -> Result<ServerMessage, ProviderError> {
    let m: Message = serde_json::from_str(text)
        .map_err(|e| ProviderError::Protocol(format!("Deepgram message: {e}")))?;
    Ok(match m {
        Message::Results(r) => {
            let best = r.channel.alternatives.into_iter().next();
            let (text, confidence) =
                best.map_or((String::new(), 0.0), |a| (a.transcript, a.confidence));
            if r.is_final {
                ServerMessage::Event(SttEvent::Final {
                    text,
                    speech_final: r.speech_final,
                    from_finalize: r.from_finalize,
                    start: r.start,
                    end: r.start + r.duration,
                    confidence,
                })
            } else {
                ServerMessage::Event(SttEvent::Interim { text })
            }
        }
        Message::UtteranceEnd { last_word_end } => {
            ServerMessage::Event(SttEvent::UtteranceEnd { last_word_end })
        }
        Message::SpeechStarted { timestamp } => {
            ServerMessage::Event(SttEvent::SpeechStarted { at: timestamp })
        }
        Message::Metadata {} => ServerMessage::Metadata,
        Message::Error {
            description,
            message,
        } => {
            return Err(ProviderError::Upstream(
                description
                    .or(message)
                    .unwrap_or_else(|| "unknown error".into()),
            ));
        }
        Message::Unknown => ServerMessage::Ignored,
    })
}

/// Audio sent since the last final result, kept so a new connection can be given it again.
///
/// Times: each connection counts from 0; `base` is where the current connection's 0 lies on
/// the stream's clock, so events are shifted to stream time and stay continuous.
#[derive(Debug)]
pub struct ReplayBuffer {
    bytes_per_sec: f64,
    /// Stream time of the first buffered byte.
    buffered_from: f64,
    /// Stream time of the current connection's zero.
    base: f64,
    audio: VecDeque<u8>,
    max_bytes: usize,
    dropped: u64,
}

impl ReplayBuffer {
    /// A buffer for `format` keeping at most `max_secs` of audio.
    pub fn new(format: AudioFormat, max_secs: u32) -> Self {
        let bytes_per_sec = format.bytes_per_ms().unwrap_or(0) as f64 * 1000.0;
        Self {
            bytes_per_sec,
            buffered_from: 0.0,
            base: 0.0,
            audio: VecDeque::new(),
            max_bytes: (bytes_per_sec as usize) * max_secs as usize,
            dropped: 0,
        }
    }

    /// Audio was sent; remember it until a final covers it.
    pub fn sent(&mut self, audio: &[u8]) {
        if self.bytes_per_sec == 0.0 {
            return; // variable-rate audio (Opus) cannot be aligned with result times
        }
        // Grown as needed (up to the cap, never past it), not reserved whole: finals usually
        // trim it to a few seconds, and the cap is held for every call.
        let needed = self.audio.len() + audio.len();
        if needed > self.audio.capacity() {
            let target = (self.audio.capacity() * 2)
                .max(needed)
                .max(4096)
                .min(self.max_bytes + audio.len());
            self.audio.reserve_exact(target - self.audio.len());
        }
        self.audio.extend(audio);
        let over = self.audio.len().saturating_sub(self.max_bytes);
        if over > 0 {
            self.audio.drain(..over);
            self.buffered_from += over as f64 / self.bytes_per_sec;
            self.dropped += over as u64;
        }
    }

    /// Shifts a connection-relative event to stream time; a final forgets the audio it covers.
    pub fn received(&mut self, event: SttEvent) -> SttEvent {
        match event {
            SttEvent::Final {
                text,
                speech_final,
                from_finalize,
                start,
                end,
                confidence,
            } => {
                let end = end + self.base;
                let covered = ((end - self.buffered_from) * self.bytes_per_sec).round();
                if covered > 0.0 {
                    let n = (covered as usize).min(self.audio.len());
                    self.audio.drain(..n);
                    self.buffered_from += n as f64 / self.bytes_per_sec.max(1.0);
                    // Memory held through a long silence is given back once a final trims it.
                    if self.audio.capacity() > 4 * self.audio.len().max(4096) {
                        self.audio.shrink_to(2 * self.audio.len().max(4096));
                    }
                }
                SttEvent::Final {
                    text,
                    speech_final,
                    from_finalize,
                    start: start + self.base,
                    end,
                    confidence,
                }
            }
            SttEvent::UtteranceEnd { last_word_end } => SttEvent::UtteranceEnd {
                last_word_end: last_word_end + self.base,
            },
            SttEvent::SpeechStarted { at } => SttEvent::SpeechStarted { at: at + self.base },
            other => other,
        }
    }

    /// A new connection starts: it begins at the first unconfirmed byte, which is replayed.
    pub fn reconnected(&mut self) -> Vec<u8> {
        self.base = self.buffered_from;
        self.audio.iter().copied().collect()
    }

    /// Bytes dropped because the buffer was full (a very long unfinalised stretch).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.audio.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.audio.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_every_option_and_twilio_audio_goes_untouched() {
        let base = Url::parse("wss://api.deepgram.com/v1/listen").unwrap();
        let o = ListenOptions {
            keyterms: vec!["oil change".into(), "Lone Star".into()],
            ..ListenOptions::default()
        };
        let url = listen_url(&base, &o, AudioFormat::MULAW_8K).unwrap();
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("encoding"), Some("mulaw"));
        assert_eq!(get("sample_rate"), Some("8000"));
        assert_eq!(get("model"), Some("nova-3"));
        assert_eq!(get("endpointing"), Some("300"));
        assert_eq!(get("utterance_end_ms"), Some("1000"));
        assert_eq!(get("vad_events"), Some("true"));
        assert_eq!(q.iter().filter(|(n, _)| n == "keyterm").count(), 2);
        assert!(url.as_str().contains("keyterm=oil+change"));

        let no_interim = ListenOptions {
            interim_results: false,
            ..ListenOptions::default()
        };
        let url = listen_url(&base, &no_interim, AudioFormat::LINEAR16_16K).unwrap();
        assert!(!url.as_str().contains("utterance_end_ms"));
        assert!(url.as_str().contains("encoding=linear16&sample_rate=16000"));
    }

    #[test]
    fn server_messages_parse_into_events() {
        let results = r#"{"type":"Results","channel_index":[0,1],"duration":1.02,"start":2.5,"is_final":true,"speech_final":true,"from_finalize":false,"channel":{"alternatives":[{"transcript":"I need an oil change","confidence":0.97,"words":[]}]},"metadata":{"request_id":"r"}}"#;
        match parse(results).unwrap() {
            ServerMessage::Event(SttEvent::Final {
                text,
                speech_final,
                from_finalize,
                start,
                end,
                confidence,
            }) => {
                assert_eq!(text, "I need an oil change");
                assert!(speech_final && !from_finalize);
                assert_eq!((start, end), (2.5, 3.52));
                assert_eq!(confidence, 0.97);
            }
            other => panic!("{other:?}"),
        }
        let interim = r#"{"type":"Results","is_final":false,"speech_final":false,"start":0,"duration":0.5,"channel":{"alternatives":[{"transcript":"I need","confidence":0.8}]}}"#;
        assert_eq!(
            parse(interim).unwrap(),
            ServerMessage::Event(SttEvent::Interim {
                text: "I need".into()
            })
        );
        assert_eq!(
            parse(r#"{"type":"UtteranceEnd","channel":[0,1],"last_word_end":3.1}"#).unwrap(),
            ServerMessage::Event(SttEvent::UtteranceEnd { last_word_end: 3.1 })
        );
        assert_eq!(
            parse(r#"{"type":"SpeechStarted","channel":[0,1],"timestamp":0.8}"#).unwrap(),
            ServerMessage::Event(SttEvent::SpeechStarted { at: 0.8 })
        );
        assert_eq!(
            parse(r#"{"type":"Metadata","request_id":"r","duration":4.0,"channels":1}"#).unwrap(),
            ServerMessage::Metadata
        );
        assert_eq!(
            parse(r#"{"type":"SomethingNew"}"#).unwrap(),
            ServerMessage::Ignored
        );
        assert!(matches!(
            parse(r#"{"type":"Error","description":"bad audio"}"#),
            Err(ProviderError::Upstream(m)) if m == "bad audio"
        ));
        assert!(matches!(parse("not json"), Err(ProviderError::Protocol(_))));
        assert!(matches!(
            parse(r#"{"type":"Results","is_final":true}"#),
            Err(ProviderError::Protocol(_))
        ));
    }

    fn fin(start: f64, end: f64) -> SttEvent {
        SttEvent::Final {
            text: "x".into(),
            speech_final: true,
            from_finalize: false,
            start,
            end,
            confidence: 1.0,
        }
    }

    #[test]
    fn the_replay_buffer_keeps_what_no_final_covers_and_shifts_times_after_a_reconnect() {
        let mut b = ReplayBuffer::new(AudioFormat::MULAW_8K, 30);
        let audio: Vec<u8> = (0..16_000u32).map(|i| (i % 251) as u8).collect(); // 2 s
        b.sent(&audio);
        // A final up to 1.0 s: the first 8000 bytes are confirmed.
        b.received(fin(0.0, 1.0));
        assert_eq!(b.len(), 8000);
        // The connection drops: the new one hears 1.0 s..2.0 s again and starts at 1.0 s.
        let replay = b.reconnected();
        assert_eq!(replay, audio[8000..]);
        // Its results are shifted to stream time.
        match b.received(fin(0.2, 0.6)) {
            SttEvent::Final { start, end, .. } => assert_eq!((start, end), (1.2, 1.6)),
            other => panic!("{other:?}"),
        }
        assert_eq!(b.len(), 3200);
        assert_eq!(
            b.received(SttEvent::SpeechStarted { at: 0.1 }),
            SttEvent::SpeechStarted { at: 1.1 }
        );
    }

    #[test]
    fn the_replay_buffer_is_bounded() {
        let mut b = ReplayBuffer::new(AudioFormat::MULAW_8K, 1);
        b.sent(&[0u8; 12_000]);
        assert_eq!(b.len(), 8000);
        assert_eq!(b.dropped(), 4000);
        // The oldest audio went, so a final at 1.0 s covers only 0.5 s of what is left.
        b.received(fin(0.0, 1.0));
        assert_eq!(b.len(), 4000);
    }
}
