//! Handing a call on when the agent is done with it: to the service desk or a goodbye. With
//! TwiML control the decision waits here until Twilio, having seen us close the stream, asks
//! the `<Connect action>` URL what comes next; with REST control the live call is redirected
//! through Twilio's API, which ends the stream itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::AppState;
use crate::call_control::TwilioCallControl;
use crate::carrier::twiml;
use crate::config::CallControlMode;
use crate::telemetry;

/// Decisions older than this are dropped (the caller hung up before Twilio asked).
const DECISION_TTL: Duration = Duration::from_secs(300);

/// Said when the service desk is wanted but no number is configured.
const NO_DESK: &str = "Our service desk cannot take your call right now. Please call back during opening hours. Goodbye.";

/// Said when the stream ended without the agent deciding (a failure on our side).
const APOLOGY: &str = "Sorry, something went wrong on our side.";

/// Where the call goes after the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handoff {
    /// To the service desk.
    Transfer,
    /// Goodbye.
    HangUp,
}

/// Decisions waiting for Twilio's after-stream request, by call sid.
#[derive(Debug, Clone, Default)]
pub struct Handoffs(Arc<Mutex<HashMap<String, (Handoff, Instant)>>>);

impl Handoffs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Handoff, Instant)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the decision for `call_sid` at `now`.
    pub fn set(&self, call_sid: &str, handoff: Handoff, now: Instant) {
        let mut map = self.lock();
        map.retain(|_, (_, at)| now.saturating_duration_since(*at) < DECISION_TTL);
        map.insert(call_sid.to_string(), (handoff, now));
    }

    /// Takes the decision for `call_sid`.
    pub fn take(&self, call_sid: &str) -> Option<Handoff> {
        self.lock().remove(call_sid).map(|(h, _)| h)
    }
}

/// The TwiML that follows the stream for `handoff` (`None`: the stream ended without a
/// decision, so the caller is not simply dropped).
pub fn after_stream_twiml(handoff: Option<Handoff>, service_desk: Option<&str>) -> String {
    match (handoff, service_desk) {
        (Some(Handoff::Transfer), Some(desk)) => twiml::transfer("", desk),
        (Some(Handoff::Transfer), None) => twiml::goodbye(NO_DESK),
        (Some(Handoff::HangUp), _) => twiml::goodbye(""),
        (None, Some(desk)) => twiml::transfer(
            &format!("{APOLOGY} Let me connect you with our service desk."),
            desk,
        ),
        (None, None) => twiml::goodbye(&format!("{APOLOGY} Please call back. Goodbye.")),
    }
}

/// Carries out `handoff` for `call_sid`. Returns once the stream may be closed.
#[allow(clippy::disallowed_methods)] // IO edge: the decision is stamped with the clock.
pub async fn hand_off(state: &AppState, call_sid: &str, handoff: Handoff) {
    let settings = &state.settings;
    let action = match handoff {
        Handoff::Transfer => "transfer",
        Handoff::HangUp => "hang_up",
    };
    let via = match settings.conversation.call_control {
        CallControlMode::Twiml => "twiml",
        CallControlMode::Rest => "rest",
    };
    metrics::counter!(telemetry::CALL_CONTROL, "action" => action, "via" => via).increment(1);
    if settings.conversation.call_control == CallControlMode::Twiml {
        state.handoffs.set(call_sid, handoff, Instant::now());
        return;
    }
    let carrier = &settings.carrier;
    let control = match TwilioCallControl::new(
        carrier.twilio_api_base_url.clone(),
        carrier.twilio_account_sid.as_deref(),
        carrier.twilio_auth_token.as_ref(),
        Duration::from_secs(5),
    ) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot hand the call on");
            return;
        }
    };
    let desk = carrier.service_desk_number.as_deref();
    let result = match (handoff, desk) {
        (Handoff::Transfer, Some(desk)) => control.transfer(call_sid, "", desk).await,
        (Handoff::Transfer, None) => control.say_goodbye(call_sid, NO_DESK).await,
        (Handoff::HangUp, _) => control.hang_up(call_sid).await,
    };
    if let Err(e) = result {
        tracing::error!(error = %e, action, "Twilio refused to hand the call on; closing the stream");
    }
}
