//! Controlling a live call from outside its media stream, through Twilio's REST API: hang up
//! (`Status=completed`) or redirect it to new TwiML (a `<Say>` and a `<Dial>` to the service
//! desk). Used when the media socket is not ours to close (another node holds the call) or
//! the stream should end with a transfer. The base URL is a setting, so tests use a fake.
//!
//! `POST {base}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`, HTTP Basic auth with
//! the account SID and auth token, form-encoded body; errors come back as
//! `{"code", "message", "more_info", "status"}`.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::carrier::twiml;
use crate::config::Secret;

/// Why a call could not be controlled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallControlError {
    /// Account SID or auth token missing.
    #[error("call control needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")]
    NotConfigured,
    /// The API could not be reached.
    #[error("cannot reach the Twilio API: {0}")]
    Unreachable(String),
    /// The API refused the request.
    #[error("Twilio refused ({status}, code {code}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Twilio error code (20404: no such call).
        code: u64,
        /// Twilio's message.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
struct TwilioError {
    #[serde(default)]
    code: u64,
    #[serde(default)]
    message: String,
}

/// A Twilio REST client for live calls.
#[derive(Debug, Clone)]
pub struct TwilioCallControl {
    http: reqwest::Client,
    base: Url,
    account_sid: String,
    auth_token: Secret,
}

impl TwilioCallControl {
    /// A client, or [`CallControlError::NotConfigured`] without credentials.
    pub fn new(
        base: Url,
        account_sid: Option<&str>,
        auth_token: Option<&Secret>,
        timeout: Duration,
    ) -> Result<Self, CallControlError> {
        let (Some(account_sid), Some(auth_token)) = (account_sid, auth_token) else {
            return Err(CallControlError::NotConfigured);
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| CallControlError::Unreachable(e.to_string()))?;
        Ok(Self {
            http,
            base,
            account_sid: account_sid.to_string(),
            auth_token: auth_token.clone(),
        })
    }

    fn call_url(&self, call_sid: &str) -> Url {
        let base = self.base.as_str().trim_end_matches('/');
        // Sids are [A-Za-z0-9]; anything else is refused rather than put into a path.
        let clean = |s: &str| {
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
        };
        Url::parse(&format!(
            "{base}/2010-04-01/Accounts/{}/Calls/{}.json",
            clean(&self.account_sid),
            clean(call_sid)
        ))
        .unwrap_or_else(|_| self.base.clone())
    }

    async fn update(&self, call_sid: &str, form: &[(&str, &str)]) -> Result<(), CallControlError> {
        let response = self
            .http
            .post(self.call_url(call_sid))
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(form)
            .send()
            .await
            .map_err(|e| CallControlError::Unreachable(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let parsed: Option<TwilioError> = serde_json::from_str(&body).ok();
        Err(CallControlError::Refused {
            status: status.as_u16(),
            code: parsed.as_ref().map_or(0, |e| e.code),
            message: parsed.map_or_else(|| body.chars().take(200).collect(), |e| e.message),
        })
    }

    /// Ends the call.
    pub async fn hang_up(&self, call_sid: &str) -> Result<(), CallControlError> {
        self.update(call_sid, &[("Status", "completed")]).await
    }

    /// Says `message` and connects the caller to `number`, warm: the advisor first hears what
    /// `whisper_url` answers; unanswered, `dial`'s action brings the caller back.
    pub async fn transfer(
        &self,
        call_sid: &str,
        message: &str,
        number: &str,
        whisper_url: &str,
        dial: &twiml::DialResult,
    ) -> Result<(), CallControlError> {
        let xml = twiml::warm_transfer(message, number, whisper_url, dial);
        self.update(call_sid, &[("Twiml", &xml)]).await
    }

    /// Says `message` and hangs up.
    pub async fn say_goodbye(&self, call_sid: &str, message: &str) -> Result<(), CallControlError> {
        self.update(call_sid, &[("Twiml", &twiml::goodbye(message))])
            .await
    }
}
