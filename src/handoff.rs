//! Handing a call on when the agent is done with it: to the service desk or a goodbye. With
//! TwiML control the decision waits here until Twilio, having seen us close the stream, asks
//! the `<Connect action>` URL what comes next; with REST control the live call is redirected
//! through Twilio's API, which ends the stream itself. With several nodes (Redis) the decision
//! is also kept in the session store, since Twilio's request may reach any node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::call::Handoff;
use crate::call_control::TwilioCallControl;
use crate::carrier::twiml;
use crate::config::{CallControlMode, Settings};
use crate::session_store::SessionStore;
use crate::telemetry;

/// Decisions older than this are dropped (the caller hung up before Twilio asked).
const DECISION_TTL: Duration = Duration::from_secs(300);

/// How long a REST hand-off may take.
const REST_TIMEOUT: Duration = Duration::from_secs(5);

/// Said when the service desk is wanted but no number is configured.
const NO_DESK: &str = "Our service desk cannot take your call right now. Please call back during opening hours. Goodbye.";

/// Said when the stream ended without the agent deciding (a failure on our side).
const APOLOGY: &str = "Sorry, something went wrong on our side.";

/// Decisions waiting for Twilio's after-stream request, by call sid, and the REST client
/// that redirects live calls (built once, when `CALL_CONTROL=rest`).
#[derive(Debug, Clone, Default)]
pub struct Handoffs {
    decisions: Arc<Mutex<HashMap<String, (Handoff, Instant)>>>,
    control: Option<TwilioCallControl>,
    service_desk: Option<String>,
    /// `/twilio/whisper` as the carrier reaches it (a warm transfer's advisor leg).
    whisper_base: String,
    /// `/twilio/dial-result` as the carrier reaches it, and how long the desk rings.
    dial_base: String,
    desk_answer_secs: u64,
    /// Where decisions are shared with other nodes (Redis only).
    shared: Option<SessionStore>,
}

impl Handoffs {
    /// Hand-offs as `settings` configure them. With REST call control and no credentials the
    /// client is missing: hand-offs are then logged as failed and the stream simply closes.
    pub fn from_settings(settings: &Settings, store: &SessionStore) -> Self {
        let carrier = &settings.carrier;
        let control = match settings.conversation.call_control {
            CallControlMode::Twiml => None,
            CallControlMode::Rest => match TwilioCallControl::new(
                carrier.twilio_api_base_url.clone(),
                carrier.twilio_account_sid.as_deref(),
                carrier.twilio_auth_token.as_ref(),
                REST_TIMEOUT,
            ) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "REST call control is not usable: calls cannot be handed on");
                    None
                }
            },
        };
        Self {
            decisions: Arc::default(),
            control,
            service_desk: carrier.service_desk_number.clone(),
            whisper_base: settings.http_url("/twilio/whisper"),
            dial_base: settings.http_url("/twilio/dial-result"),
            desk_answer_secs: settings.conversation.desk_answer.as_secs(),
            shared: matches!(store, SessionStore::Redis(_)).then(|| store.clone()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Handoff, Instant)>> {
        self.decisions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the decision for `call_sid` at `now`.
    pub fn set(&self, call_sid: &str, handoff: Handoff, now: Instant) {
        let mut map = self.lock();
        map.retain(|_, (_, at)| now.saturating_duration_since(*at) < DECISION_TTL);
        map.insert(call_sid.to_string(), (handoff, now));
    }

    /// Decisions only this node holds, still waiting for their after-stream request at `now`
    /// (a draining instance keeps answering until they are fetched; shared ones any node
    /// answers).
    pub fn pending(&self, now: Instant) -> usize {
        self.lock()
            .values()
            .filter(|(_, at)| now.saturating_duration_since(*at) < DECISION_TTL)
            .count()
    }

    /// Takes the decision for `call_sid`: this node's, else one another node shared. A session
    /// store that does not answer leaves the caller to the no-decision path (apology, desk).
    pub async fn take(&self, call_sid: &str) -> Option<Handoff> {
        if let Some((handoff, _)) = self.lock().remove(call_sid) {
            return Some(handoff);
        }
        let shared = self.shared.as_ref()?;
        match shared.take_decision(call_sid).await {
            Ok(decision) => decision.as_deref().and_then(Handoff::parse),
            Err(e) => {
                metrics::counter!(telemetry::STORE_ERRORS, "op" => "take_decision").increment(1);
                tracing::warn!(error = %e, "could not read a hand-off decision another node kept");
                None
            }
        }
    }

    /// Carries out `handoff` for `call_sid`: with TwiML control the decision waits for
    /// Twilio's after-stream request; with REST control the live call is redirected (bounded
    /// by the client's timeout). Returns once the stream may be closed.
    #[allow(clippy::disallowed_methods)] // IO edge: the decision is stamped with the clock.
    pub async fn carry_out(&self, mode: CallControlMode, call_sid: &str, handoff: Handoff) {
        let via = match mode {
            CallControlMode::Twiml => "twiml",
            CallControlMode::Rest => "rest",
        };
        metrics::counter!(telemetry::CALL_CONTROL, "action" => handoff.as_str(), "via" => via)
            .increment(1);
        if mode == CallControlMode::Twiml {
            self.set(call_sid, handoff, Instant::now());
            // Shared before the stream closes: Twilio asks as soon as it has. Once shared,
            // any node answers it, so a draining node need not wait for it (`pending`).
            if let Some(shared) = &self.shared {
                match shared
                    .put_decision(call_sid, handoff.as_str(), DECISION_TTL)
                    .await
                {
                    Ok(()) => {
                        self.lock().remove(call_sid);
                    }
                    Err(e) => {
                        metrics::counter!(telemetry::STORE_ERRORS, "op" => "put_decision")
                            .increment(1);
                        tracing::warn!(error = %e, "the hand-off decision is known to this node only");
                    }
                }
            }
            return;
        }
        let Some(control) = &self.control else {
            tracing::error!("cannot hand the call on: REST call control is not configured");
            return;
        };
        let result = match (handoff, self.service_desk.as_deref()) {
            (Handoff::Transfer, Some(desk)) => {
                let sid: String =
                    url::form_urlencoded::byte_serialize(call_sid.as_bytes()).collect();
                let whisper = format!("{}?call={sid}", self.whisper_base);
                let dial = twiml::DialResult {
                    timeout_secs: self.desk_answer_secs,
                    action_url: format!("{}?call={sid}", self.dial_base),
                };
                control.transfer(call_sid, "", desk, &whisper, &dial).await
            }
            (Handoff::Transfer, None) => control.say_goodbye(call_sid, NO_DESK).await,
            (Handoff::HangUp, _) => control.hang_up(call_sid).await,
        };
        if let Err(e) = result {
            tracing::error!(error = %e, action = handoff.as_str(), "Twilio refused to hand the call on; closing the stream");
        }
    }
}

/// Where the advisor's leg of a warm transfer of `call_sid` fetches what it hears first.
pub fn whisper_url(settings: &crate::config::Settings, call_sid: &str) -> String {
    let sid: String = url::form_urlencoded::byte_serialize(call_sid.as_bytes()).collect();
    format!("{}?call={sid}", settings.http_url("/twilio/whisper"))
}

/// How a transfer of `call_sid` dials the desk: `DESK_ANSWER_SECS` of ringing, then Twilio
/// asks `/twilio/dial-result` what next (the agent again, when nobody answered).
pub fn dial_result(settings: &crate::config::Settings, call_sid: &str) -> twiml::DialResult {
    let sid: String = url::form_urlencoded::byte_serialize(call_sid.as_bytes()).collect();
    twiml::DialResult {
        timeout_secs: settings.conversation.desk_answer.as_secs(),
        action_url: format!("{}?call={sid}", settings.http_url("/twilio/dial-result")),
    }
}

/// The TwiML that follows the stream for `handoff` (`None`: the stream ended without a
/// decision, so the caller is not simply dropped). A transfer is warm: the advisor first hears
/// `whisper`'s summary of the call; unanswered, `dial` brings the caller back.
pub fn after_stream_twiml(
    handoff: Option<Handoff>,
    service_desk: Option<&str>,
    whisper: &str,
    dial: &twiml::DialResult,
) -> String {
    match (handoff, service_desk) {
        (Some(Handoff::Transfer), Some(desk)) => twiml::warm_transfer("", desk, whisper, dial),
        (Some(Handoff::Transfer), None) => twiml::goodbye(NO_DESK),
        (Some(Handoff::HangUp), _) => twiml::goodbye(""),
        (None, Some(desk)) => twiml::warm_transfer(
            &format!("{APOLOGY} Let me connect you with our service desk."),
            desk,
            whisper,
            dial,
        ),
        (None, None) => twiml::goodbye(&format!("{APOLOGY} Please call back. Goodbye.")),
    }
}

/// The summary of call `call_sid` for the advisor taking it: the stored one, or composed now
/// from its records (the writer stores it just after the outcome, which a transfer may
/// outrun). `None` when there is no record of the call or the database fails.
pub async fn summary_for(db: &sea_orm::DatabaseConnection, call_sid: &str) -> Option<String> {
    let (log, _) = crate::crm::calls::with_turns(db, call_sid).await.ok()??;
    if let Some(s) = log.summary {
        return Some(s);
    }
    let actor = crate::staff::audit::agent_actor(call_sid);
    let outcome = log.outcome.as_deref().unwrap_or("transferred");
    let facts = crate::crm::summary::facts(db, log.id, &actor, outcome)
        .await
        .ok()?;
    Some(crate::crm::summary::compose(&facts))
}
