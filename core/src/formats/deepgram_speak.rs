//! Deepgram Aura text-to-speech, the wire half (sans-IO): URLs, messages both ways, the
//! flush budget and text splitting.
//!
//! Facts from Deepgram's TTS documentation: streaming defaults to linear16 at 24 kHz
//! (`encoding=mulaw&sample_rate=8000` gives bytes a Twilio `media.payload` takes as is); REST
//! defaults to a WAV container, so raw audio needs `container=none`; `Flush` may be sent at
//! most 20 times in 60 seconds (more earns a `Warning` and is not processed); a `Speak`
//! carries at most 2000 characters.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::audio::{AudioFormat, Encoding};
use crate::provider::ProviderError;
use crate::tts::TtsEvent;

/// Most characters in one `Speak`.
pub const MAX_SPEAK_CHARS: usize = 2000;

/// Flushes allowed per window.
pub const FLUSHES_PER_WINDOW: usize = 20;

/// The flush window.
pub const FLUSH_WINDOW: Duration = Duration::from_secs(60);

fn encoding_name(e: Encoding) -> Result<&'static str, ProviderError> {
    match e {
        Encoding::Mulaw => Ok("mulaw"),
        Encoding::Alaw => Ok("alaw"),
        Encoding::Linear16 => Ok("linear16"),
        other => Err(ProviderError::Protocol(format!(
            "Deepgram TTS cannot stream {}",
            other.as_str()
        ))),
    }
}

/// The streaming URL for `model` producing `format`.
pub fn stream_url(base: &Url, model: &str, format: AudioFormat) -> Result<Url, ProviderError> {
    let mut url = base.clone();
    url.query_pairs_mut()
        .append_pair("model", model)
        .append_pair("encoding", encoding_name(format.encoding)?)
        .append_pair("sample_rate", &format.sample_rate.hz().to_string());
    Ok(url)
}

/// The REST URL for `model` producing raw `format` (no container).
pub fn rest_url(base: &Url, model: &str, format: AudioFormat) -> Result<Url, ProviderError> {
    let mut url = stream_url(base, model, format)?;
    url.query_pairs_mut().append_pair("container", "none");
    Ok(url)
}

/// `{"type":"Speak","text":...}` messages for `text`, split at spaces to fit the limit.
pub fn speak_messages(text: &str) -> Vec<String> {
    split_text(text, MAX_SPEAK_CHARS)
        .into_iter()
        .map(|t| json!({"type": "Speak", "text": t}).to_string())
        .collect()
}

/// Splits at whitespace into pieces of at most `max` characters (a longer word is cut).
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for word in text.split_inclusive(char::is_whitespace) {
        let mut word = word;
        while word.chars().count() > max {
            let cut = word.char_indices().nth(max).map_or(word.len(), |(i, _)| i);
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            out.push(word[..cut].to_string());
            word = &word[cut..];
        }
        if current.chars().count() + word.chars().count() > max {
            out.push(std::mem::take(&mut current));
        }
        current.push_str(word);
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// `{"type":"Flush"}`.
pub const FLUSH: &str = r#"{"type":"Flush"}"#;
/// `{"type":"Clear"}`.
pub const CLEAR: &str = r#"{"type":"Clear"}"#;
/// `{"type":"Close"}`.
pub const CLOSE: &str = r#"{"type":"Close"}"#;

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum Message {
    Flushed {
        #[serde(default)]
        sequence_id: u64,
    },
    Cleared {},
    Metadata {},
    Warning {
        #[serde(default)]
        description: String,
    },
    Error {
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        err_msg: Option<String>,
    },
    #[serde(other)]
    Unknown,
}

/// Parses a text frame; `None` for messages with nothing to report.
pub fn parse(text: &str) -> Result<Option<TtsEvent>, ProviderError> {
    let m: Message = serde_json::from_str(text)
        .map_err(|e| ProviderError::Protocol(format!("Deepgram TTS message: {e}")))?;
    Ok(match m {
        Message::Flushed { sequence_id } => Some(TtsEvent::Flushed { sequence_id }),
        Message::Cleared {} => Some(TtsEvent::Cleared),
        Message::Warning { description } => Some(TtsEvent::Warning(description)),
        Message::Error {
            description,
            err_msg,
        } => {
            return Err(ProviderError::Upstream(
                description
                    .or(err_msg)
                    .unwrap_or_else(|| "unknown error".into()),
            ));
        }
        Message::Metadata {} | Message::Unknown => None,
    })
}

/// Keeps flushes within Deepgram's budget: a flush beyond it waits until the oldest one in
/// the window has aged out, and flushes asked for while one waits are merged into it (one
/// flush covers all text spoken before it).
#[derive(Debug)]
pub struct FlushBudget {
    window: Duration,
    max: usize,
    sent: VecDeque<Instant>,
}

impl FlushBudget {
    /// A budget of `max` flushes per `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        Self {
            window,
            max: max.max(1),
            sent: VecDeque::new(),
        }
    }

    /// When a flush asked for at `now` may go: `now`, or later.
    pub fn next_slot(&mut self, now: Instant) -> Instant {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.max {
            now
        } else {
            self.sent[self.sent.len() - self.max] + self.window
        }
    }

    /// A flush went at `at`.
    pub fn record(&mut self, at: Instant) {
        self.sent.push_back(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_ask_for_raw_audio_in_the_format_wanted() {
        let ws = Url::parse("wss://api.deepgram.com/v1/speak").unwrap();
        let url = stream_url(&ws, "aura-2-thalia-en", AudioFormat::MULAW_8K).unwrap();
        assert_eq!(
            url.as_str(),
            "wss://api.deepgram.com/v1/speak?model=aura-2-thalia-en&encoding=mulaw&sample_rate=8000"
        );
        let rest = Url::parse("https://api.deepgram.com/v1/speak").unwrap();
        let pcm = AudioFormat::new(Encoding::Linear16, crate::audio::SampleRate::Hz24000);
        assert!(
            rest_url(&rest, "m", pcm)
                .unwrap()
                .as_str()
                .ends_with("encoding=linear16&sample_rate=24000&container=none")
        );
        assert!(
            stream_url(
                &ws,
                "m",
                AudioFormat::new(Encoding::Opus, crate::audio::SampleRate::Hz48000)
            )
            .is_err()
        );
    }

    #[test]
    fn long_text_is_split_at_spaces_and_quotes_are_escaped() {
        let text = "word ".repeat(900); // 4500 characters
        let parts = split_text(&text, MAX_SPEAK_CHARS);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_SPEAK_CHARS));
        assert_eq!(parts.concat(), text);
        assert_eq!(split_text("abcdefgh", 3), ["abc", "def", "gh"]);
        assert!(split_text("   ", 10).is_empty());
        let m = speak_messages("He said \"9 o'clock\"\n");
        let v: serde_json::Value = serde_json::from_str(&m[0]).unwrap();
        assert_eq!(v["type"], "Speak");
        assert_eq!(v["text"], "He said \"9 o'clock\"\n");
    }

    #[test]
    fn server_messages_parse() {
        assert_eq!(
            parse(r#"{"type":"Flushed","sequence_id":3}"#).unwrap(),
            Some(TtsEvent::Flushed { sequence_id: 3 })
        );
        assert_eq!(
            parse(r#"{"type":"Cleared","sequence_id":1}"#).unwrap(),
            Some(TtsEvent::Cleared)
        );
        assert_eq!(
            parse(r#"{"type":"Metadata","request_id":"r","model_name":"aura-2-thalia-en","model_version":"1","model_uuid":"u"}"#).unwrap(),
            None
        );
        assert!(matches!(
            parse(r#"{"type":"Warning","description":"Too many flushes","code":"W1"}"#).unwrap(),
            Some(TtsEvent::Warning(d)) if d == "Too many flushes"
        ));
        assert!(parse(r#"{"type":"Error","description":"bad model"}"#).is_err());
        assert!(parse("{").is_err());
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // an arbitrary origin for the virtual times below
    fn the_budget_allows_twenty_a_minute_and_then_waits_for_the_oldest_to_age_out() {
        let t0 = Instant::now();
        let mut b = FlushBudget::new(FLUSHES_PER_WINDOW, FLUSH_WINDOW);
        for i in 0..20 {
            let now = t0 + Duration::from_secs(i);
            assert_eq!(b.next_slot(now), now);
            b.record(now);
        }
        let now = t0 + Duration::from_secs(30);
        assert_eq!(b.next_slot(now), t0 + FLUSH_WINDOW);
        b.record(t0 + FLUSH_WINDOW);
        // The second-oldest (1 s) ages out next.
        let later = t0 + FLUSH_WINDOW;
        assert_eq!(b.next_slot(later), t0 + Duration::from_secs(61));
        // A minute after the burst everything has aged out.
        let much_later = t0 + Duration::from_secs(200);
        assert_eq!(b.next_slot(much_later), much_later);
    }
}
