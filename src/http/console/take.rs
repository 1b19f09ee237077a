//! "Take this call": an advisor on the live view takes a call from the agent. The call is
//! redirected through Twilio's REST API (whichever node streams it) to a warm `<Dial>` of the
//! advisor's own phone, set on the home page: they hear the call's summary first, and if they
//! do not pick up the caller comes back to the agent. Audited; the call's outcome becomes
//! `taken` once the advisor's leg is over.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::change::{CsrfOnly, Submitted, csrf_form};
use super::pages;
use crate::call_control::TwilioCallControl;
use crate::domain::PhoneNumber;
use crate::staff::audit::{self, Actor, Change};
use crate::staff::phone;
use crate::state::AppState;

/// What the caller hears while the advisor's phone rings.
const HOLD_LINE: &str = "One moment, I'm putting you through to an advisor.";
/// The REST request's deadline.
const REST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// The phone form: the number, or empty to clear it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PhoneForm {
    csrf: String,
    phone: String,
}

/// `POST /console/me/phone`: the phone the signed-in person takes calls on.
#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
pub async fn set_phone(
    State(state): State<AppState>,
    Submitted { session, form }: Submitted<PhoneForm>,
) -> Response {
    let phone = match form.phone.trim() {
        "" => None,
        given => match PhoneNumber::parse(given) {
            Ok(p) => Some(p),
            Err(e) => {
                return pages::problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Not a phone number",
                    &format!("{given:?}: {e}. Use the full number, e.g. +15125550142."),
                    Some(&session),
                );
            }
        },
    };
    match phone::set(&state.db, &session.member, phone.as_ref(), Utc::now()).await {
        Ok(()) => Redirect::to("/console").into_response(),
        Err(e) => pages::failed(&session, "a phone number could not be set", &e),
    }
}

/// `POST /console/live/{sid}/take`.
#[allow(clippy::disallowed_methods)] // A handler is IO: the change is stamped with the clock.
pub async fn take(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Submitted { session, .. }: Submitted<CsrfOnly>,
) -> Response {
    let refuse =
        |status, title: &str, detail: &str| pages::problem(status, title, detail, Some(&session));
    let advisor = match phone::of(&state.db, &session.member).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return refuse(
                StatusCode::CONFLICT,
                "No phone to put the call through to",
                "Add the phone you take calls on, on the home page, then take the call again.",
            );
        }
        Err(e) => return pages::failed(&session, "the advisor's phone could not be read", &e),
    };
    let carrier = &state.settings.carrier;
    let control = TwilioCallControl::new(
        carrier.twilio_api_base_url.clone(),
        carrier.twilio_account_sid.as_deref(),
        carrier.twilio_auth_token.as_ref(),
        REST_DEADLINE,
    );
    let Ok(control) = control else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "Calls cannot be taken here",
            "Taking a call redirects it through Twilio's REST API: set TWILIO_ACCOUNT_SID and \
             TWILIO_AUTH_TOKEN.",
        );
    };
    let whisper = crate::handoff::whisper_url(&state.settings, &sid);
    let mut dial = crate::handoff::dial_result(&state.settings, &sid);
    dial.action_url.push_str("&by=staff");
    if let Err(e) = control
        .transfer(&sid, HOLD_LINE, advisor.as_str(), &whisper, &dial)
        .await
    {
        tracing::warn!(error = %e, call_sid = %sid, "console: Twilio refused to put the call through");
        return refuse(
            StatusCode::BAD_GATEWAY,
            "The call could not be put through",
            &format!("Twilio said: {e}. The call may have ended."),
        );
    }
    let change = Change {
        actor: Actor::Staff(&session.member),
        action: "call.take",
        target: Some(format!("call:{sid}")),
        detail: Some(json!({ "to": advisor.as_str() })),
    };
    if let Err(e) = audit::record(&state.db, change, Utc::now()).await {
        tracing::error!(error = %e, "console: a taken call's audit entry could not be written");
    }
    tracing::info!(staff = %session.member.name, call_sid = %sid, "console: call taken");
    Redirect::to("/console/live").into_response()
}

csrf_form!(PhoneForm);
