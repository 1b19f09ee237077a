//! Placing a simulated call: the voice webhook as Twilio posts it (signed when an auth token
//! is given), the media socket the TwiML names, and the [`CallerLeg`] driven in real time.
//! This is the IO edge of the simulator; the protocol is in [`super::leg`].

#![allow(clippy::disallowed_methods)] // A driver reads the clock.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use url::Url;

use super::leg::{CallerLeg, CallerTurn, LegConfig, LegOutput, TurnReport};
use crate::audio::transcode::Transcoder;
use crate::audio::{AudioFormat, wav};
use crate::carrier::signature;

/// Why a simulated call failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A clip could not be read or converted.
    #[error("clip {path}: {why}")]
    Clip {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The webhook failed or its TwiML had no stream.
    #[error("voice webhook: {0}")]
    Webhook(String),
    /// The media socket failed.
    #[error("media socket: {0}")]
    Media(String),
}

/// A simulated call to place.
#[derive(Debug, Clone)]
pub struct CallPlan {
    /// The callbridge's public base URL (its `PUBLIC_URL`): what Twilio calls and signs.
    pub base_url: Url,
    /// Where to connect instead, keeping the paths (when the public name does not lead here,
    /// e.g. `http://127.0.0.1:8080` behind a tunnel). The media socket uses the same host with
    /// a `ws` scheme.
    pub connect_to: Option<Url>,
    /// Signs the webhook and the handshake when set (the server's `TWILIO_AUTH_TOKEN`).
    pub auth_token: Option<String>,
    /// Caller number.
    pub from: String,
    /// The number called.
    pub to: String,
    /// Call sid to use.
    pub call_sid: String,
    /// What the caller does.
    pub turns: Vec<CallerTurn>,
    /// Pause before answering the agent.
    pub answer_gap: Duration,
    /// Longest wait for the agent.
    pub patience: Duration,
    /// Hard limit on the call.
    pub max_duration: Duration,
    /// Between the webhook's answer and opening the media socket, as a carrier takes to set
    /// up the stream (Twilio: a few hundred ms).
    pub connect_delay: Duration,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct CallSummary {
    /// Per caller turn.
    pub turns: Vec<TurnReport>,
    /// The agent's audio as the caller heard it, 8 kHz mu-law.
    pub agent_audio: Vec<u8>,
    /// Why the socket closed, if the server said (`broken: …` when it broke without a close).
    pub close_reason: Option<String>,
    /// From `start` to the first agent audio heard (the greeting).
    pub greeted_after: Option<Duration>,
    /// When the server ended the stream: the TwiML its `<Connect action>` answered with, as
    /// Twilio would fetch it (a `<Dial>` to the service desk, a `<Hangup/>`...).
    pub after_stream: Option<String>,
}

/// Reads a WAV clip as 8 kHz mu-law, converting other formats.
pub fn load_clip(path: &std::path::Path) -> Result<Vec<u8>, SimError> {
    let err = |why: String| SimError::Clip {
        path: path.display().to_string(),
        why,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let clip = wav::read(&bytes).map_err(|e| err(e.to_string()))?;
    if clip.format == AudioFormat::MULAW_8K {
        return Ok(clip.data);
    }
    let mut t =
        Transcoder::new(clip.format, AudioFormat::MULAW_8K).map_err(|e| err(e.to_string()))?;
    let frame = clip.format.bytes_per_ms().unwrap_or(16) * 20;
    let mut out = Vec::new();
    for chunk in clip.data.chunks(frame.max(2)) {
        t.process(chunk, &mut out).map_err(|e| err(e.to_string()))?;
    }
    Ok(out)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// The stream URL and parameters of `<Connect><Stream>` TwiML.
pub fn parse_stream_twiml(xml: &str) -> Option<(String, Vec<(String, String)>)> {
    let stream_at = xml.find("<Stream ")?;
    let stream_tag = &xml[stream_at..stream_at + xml[stream_at..].find('>')?];
    let url = attribute(stream_tag, "url")?;
    let mut params = Vec::new();
    let mut rest = &xml[stream_at..];
    while let Some(at) = rest.find("<Parameter ") {
        let tag = &rest[at..at + rest[at..].find('>')?];
        if let (Some(n), Some(v)) = (attribute(tag, "name"), attribute(tag, "value")) {
            params.push((n, v));
        }
        rest = &rest[at + tag.len()..];
    }
    Some((url, params))
}

/// Places the call and runs it to the end.
pub async fn place_call(
    plan: CallPlan,
    on_turn: impl FnMut(&TurnReport),
) -> Result<CallSummary, SimError> {
    let voice = plan
        .base_url
        .join("/twilio/voice")
        .map_err(|e| SimError::Webhook(e.to_string()))?;
    let form = call_form(&plan, "ringing", &[]);
    let xml = post_webhook(&reqwest::Client::new(), &plan, &voice, &form).await?;
    stream_leg(plan, &xml, on_turn).await
}

/// After a transfer whose `<Dial>` ended with `status` (`no-answer`, `busy`...), Twilio asks
/// the dial's action (`action_url`) what next; when the answer is a stream (the agent takes
/// the caller back), the caller goes on with `plan`'s turns on it.
pub async fn return_after_dial(
    plan: CallPlan,
    action_url: &str,
    status: &str,
    on_turn: impl FnMut(&TurnReport),
) -> Result<CallSummary, SimError> {
    let action = Url::parse(action_url).map_err(|e| SimError::Webhook(e.to_string()))?;
    let form = call_form(&plan, "in-progress", &[("DialCallStatus", status)]);
    let xml = post_webhook(&reqwest::Client::new(), &plan, &action, &form).await?;
    stream_leg(plan, &xml, on_turn).await
}

/// One media stream of the call, as the TwiML `xml` asked for it.
async fn stream_leg(
    plan: CallPlan,
    xml: &str,
    mut on_turn: impl FnMut(&TurnReport),
) -> Result<CallSummary, SimError> {
    let (stream_url, parameters) = parse_stream_twiml(xml)
        .ok_or_else(|| SimError::Webhook(format!("no <Stream> in the answer (busy?): {xml}")))?;
    tokio::time::sleep(plan.connect_delay).await;
    let signed_url = stream_url.clone();
    let mut media = Url::parse(&stream_url).map_err(|e| SimError::Webhook(e.to_string()))?;
    if let Some(c) = &plan.connect_to {
        let mut origin = c.clone();
        let scheme = if c.scheme() == "https" { "wss" } else { "ws" };
        origin
            .set_scheme(scheme)
            .map_err(|_| SimError::Media("cannot make a WebSocket URL".into()))?;
        media = origin
            .join(media.path())
            .map_err(|e| SimError::Media(e.to_string()))?;
    }
    let mut handshake = media
        .as_str()
        .into_client_request()
        .map_err(|e| SimError::Media(e.to_string()))?;
    if let Some(token) = &plan.auth_token {
        let sig = signature::compute(token, &signed_url, &[]);
        handshake.headers_mut().insert(
            "x-twilio-signature",
            sig.parse()
                .map_err(|_| SimError::Media("bad signature header".into()))?,
        );
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(handshake)
        .await
        .map_err(|e| SimError::Media(e.to_string()))?;

    let now = Instant::now();
    let mut leg = CallerLeg::new(
        LegConfig {
            call_sid: plan.call_sid.clone(),
            stream_sid: format!("MZ{}", plan.call_sid.trim_start_matches("CA")),
            account_sid: "AC00000000000000000000000000000000".into(),
            parameters,
            answer_gap: plan.answer_gap,
            patience: plan.patience,
        },
        plan.turns.clone(),
        now,
    );
    let deadline = now + plan.max_duration;
    let mut turns = Vec::new();
    let mut close_reason = None;
    let mut server_closed = false;
    'call: loop {
        while let Some(o) = leg.poll_output() {
            match o {
                LegOutput::Send(text) => {
                    // The server may close the stream while we write (after its goodbye):
                    // like Twilio, the stream has ended and the call goes to the action URL.
                    if let Err(e) = ws.send(Message::text(text)).await {
                        close_reason = Some(format!("broken: {e}"));
                        server_closed = true;
                        break 'call;
                    }
                }
                LegOutput::Turn(report) => {
                    on_turn(&report);
                    turns.push(report);
                }
                LegOutput::Done => {
                    let _ = ws.close(None).await;
                    break 'call;
                }
            }
        }
        if Instant::now() >= deadline {
            let _ = ws.close(None).await;
            break;
        }
        let wake = tokio::time::Instant::from_std(leg.next_timeout().min(deadline));
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => leg.handle_text(&t),
                Some(Ok(Message::Close(c))) => {
                    close_reason = c.map(|c| format!("{} {}", c.code, c.reason));
                    server_closed = true;
                    break;
                }
                None => {
                    server_closed = true;
                    break;
                }
                // Like Twilio, a stream that breaks (the node died) has ended: the call
                // goes on to the action URL.
                Some(Err(e)) => {
                    close_reason = Some(format!("broken: {e}"));
                    server_closed = true;
                    break;
                }
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(wake) => leg.handle_timeout(Instant::now()),
        }
    }
    // Like Twilio: when the stream ends from our side, ask the action URL what comes next.
    let action = connect_action(xml).and_then(|a| Url::parse(&a).ok());
    let after_stream = match action {
        Some(url) if server_closed => {
            let form = call_form(&plan, "in-progress", &[]);
            Some(post_webhook(&reqwest::Client::new(), &plan, &url, &form).await?)
        }
        _ => None,
    };
    Ok(CallSummary {
        turns,
        agent_audio: leg.played().to_vec(),
        close_reason,
        greeted_after: leg.greeted_after(),
        after_stream,
    })
}

/// Posts a signed Twilio webhook to `public` (or the same path on `connect_to`) and returns
/// the TwiML answer.
/// The parameters Twilio posts about the call, with its `CallStatus` and `extra` ones.
fn call_form(plan: &CallPlan, status: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    [
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("CallSid", plan.call_sid.as_str()),
        ("From", plan.from.as_str()),
        ("To", plan.to.as_str()),
        ("CallStatus", status),
        ("Direction", "inbound"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn post_webhook(
    http: &reqwest::Client,
    plan: &CallPlan,
    public: &Url,
    form: &[(String, String)],
) -> Result<String, SimError> {
    let post_to = match &plan.connect_to {
        Some(c) => c
            .join(&public[url::Position::BeforePath..])
            .map_err(|e| SimError::Webhook(e.to_string()))?,
        None => public.clone(),
    };
    let mut request = http.post(post_to).form(form);
    if let Some(token) = &plan.auth_token {
        request = request.header(
            "X-Twilio-Signature",
            signature::compute(token, public.as_str(), form),
        );
    }
    let response = request
        .send()
        .await
        .map_err(|e| SimError::Webhook(e.to_string()))?;
    let status = response.status();
    let xml = response
        .text()
        .await
        .map_err(|e| SimError::Webhook(e.to_string()))?;
    if !status.is_success() {
        return Err(SimError::Webhook(format!("HTTP {status}: {xml}")));
    }
    Ok(xml)
}

/// The `action` URL of `<Connect>`, if any.
pub fn connect_action(xml: &str) -> Option<String> {
    let at = xml.find("<Connect")?;
    let tag = &xml[at..at + xml[at..].find('>')?];
    attribute(tag, "action")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_twiml_is_read_back_with_its_parameters() {
        let xml = crate::carrier::twiml::connect_stream(
            "wss://b.example/twilio/media",
            None,
            &[("token", "v1.12.a&b\"c")],
            Some("https://b.example/twilio/after-stream"),
        );
        let (url, params) = parse_stream_twiml(&xml).unwrap();
        assert_eq!(
            connect_action(&xml).as_deref(),
            Some("https://b.example/twilio/after-stream")
        );
        assert_eq!(url, "wss://b.example/twilio/media");
        assert_eq!(params, [("token".to_string(), "v1.12.a&b\"c".to_string())]);
        assert!(parse_stream_twiml("<Response><Say>busy</Say></Response>").is_none());
    }
}
