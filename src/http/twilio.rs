//! Twilio's HTTP webhooks: the voice webhook that connects a call's media stream, and the
//! stream status callback.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{ActiveModelTrait, Set};

use super::clean;
use crate::carrier::{signature, stream_token, twiml};
use crate::config::CallMode;
use crate::session_store::{CallState, LiveCall, unix_now};
use crate::state::AppState;
use crate::telemetry;
use crate::telemetry::traces::{self, KeyValue};

/// Header carrying Twilio's request signature.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// The public URL Twilio requested: our configured base plus the path and query it called.
fn public_request_url(state: &AppState, uri: &Uri) -> String {
    let base = state.settings.public_url.as_str().trim_end_matches('/');
    let path = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    format!("{base}{path}")
}

/// Checks `X-Twilio-Signature` when an auth token is configured.
pub(super) fn signed(
    state: &AppState,
    headers: &HeaderMap,
    url: &str,
    params: &[(String, String)],
) -> bool {
    let Some(token) = &state.settings.carrier.twilio_auth_token else {
        return true;
    };
    let Some(sig) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    signature::validate(token.expose(), url, params, sig)
}

/// Parses a form webhook and checks its signature: 403 when it is not Twilio's, 400 when a
/// field holds control characters (a NUL would fail PostgreSQL's insert with a 500, and no
/// call's fields legitimately carry one).
fn verified_form(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Vec<(String, String)>, Refused> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let url = public_request_url(state, uri);
    if !signed(state, headers, &url, &params) {
        tracing::warn!(
            url = clean::clip(&url),
            "webhook with a missing or invalid X-Twilio-Signature"
        );
        return Err(Refused::Unsigned);
    }
    if let Some((name, _)) = params
        .iter()
        .find(|(k, v)| !clean::is_clean(k) || !clean::is_clean(v))
    {
        return Err(Refused::Invalid(format!(
            "{} holds control characters",
            clean::clip(name)
        )));
    }
    Ok(params)
}

/// Why a webhook's form was refused.
enum Refused {
    /// Not signed by Twilio: 403.
    Unsigned,
    /// A field Twilio would never send: 400, with why.
    Invalid(String),
}

impl Refused {
    fn label(&self) -> &'static str {
        match self {
            Refused::Unsigned => "forbidden",
            Refused::Invalid(_) => "invalid",
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Unsigned => forbidden(),
            Refused::Invalid(why) => (StatusCode::BAD_REQUEST, why).into_response(),
        }
    }
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "invalid signature").into_response()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// `POST /twilio/voice`: answers `<Connect><Stream>` with a signed per-call token, or the
/// busy TwiML when the instance is full or draining.
#[allow(clippy::disallowed_methods)] // A handler is IO: it reads the clock for the cap.
pub async fn voice(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match verified_form(&state, &uri, &headers, &body) {
        Ok(p) => p,
        Err(refused) => {
            metrics::counter!(telemetry::WEBHOOKS, "result" => refused.label()).increment(1);
            return refused.into_response();
        }
    };
    let Some(call_sid) = param(&params, "CallSid") else {
        metrics::counter!(telemetry::WEBHOOKS, "result" => "invalid").increment(1);
        return (StatusCode::BAD_REQUEST, "CallSid is required").into_response();
    };
    connect(&state, &params, call_sid, false).await
}

/// Answers a call with a media stream to us (after `voice`; after an unanswered transfer,
/// `returned`: the agent takes the caller back), or with the busy TwiML when there is no room.
#[allow(clippy::disallowed_methods)] // A handler is IO: it reads the clock for the cap.
async fn connect(
    state: &AppState,
    params: &[(String, String)],
    call_sid: &str,
    returned: bool,
) -> Response {
    let settings = &state.settings;
    let received = std::time::SystemTime::now();
    let stage = if returned { "dial_result" } else { "webhook" };
    let span = |result: &'static str| {
        let node = KeyValue::new("node.id", settings.node_id.clone());
        traces::request(
            call_sid,
            stage,
            received,
            vec![node, KeyValue::new("result", result)],
        );
    };
    let ttl = settings.carrier.stream_token_ttl;
    // The line and the prepared connections wait this long for the media, not the token's life.
    let arrival = settings.limits.media_arrival_timeout;
    if state.is_draining() || !state.cap.try_reserve(call_sid, Instant::now(), arrival) {
        metrics::counter!(telemetry::WEBHOOKS, "result" => "busy").increment(1);
        tracing::warn!(
            call_sid = clean::clip(call_sid),
            draining = state.is_draining(),
            "answering busy: no capacity for another call"
        );
        span("busy");
        return busy(settings, returned);
    }
    let now = unix_now();
    let token = stream_token::issue(
        settings.carrier.stream_token_secret.expose(),
        call_sid,
        now + ttl.as_secs(),
    );
    let entry = LiveCall {
        call_sid: call_sid.to_string(),
        node: settings.node_id.clone(),
        state: CallState::Ringing,
        started_at: now,
    };
    let from = param(params, "From");
    // The media socket may reach another node, and Twilio's `start` does not say who calls:
    // the number is kept beside the registry entry (both at once, each bounded).
    let keep_caller = async {
        match from.filter(|_| settings.mode == CallMode::Agent) {
            Some(number) => state.store.put_caller(call_sid, number, ttl).await,
            None => Ok(()),
        }
    };
    let cluster_max = settings.limits.cluster_max_calls;
    let (admitted, kept) =
        tokio::join!(state.store.admit(&entry, arrival, cluster_max), keep_caller);
    if let Ok(false) = admitted {
        state.cap.release(call_sid);
        metrics::counter!(telemetry::WEBHOOKS, "result" => "busy").increment(1);
        tracing::warn!(
            call_sid = clean::clip(call_sid),
            cluster_max,
            "answering busy: the cluster is at CLUSTER_MAX_CALLS"
        );
        span("busy");
        return busy(settings, returned);
    }
    // The registry is bookkeeping: a caller is not turned away because it is down (the cap
    // is then this node's own).
    for (op, result) in [("admit", admitted.map(|_| ())), ("put_caller", kept)] {
        if let Err(e) = result {
            metrics::counter!(telemetry::STORE_ERRORS, "op" => op).increment(1);
            tracing::warn!(call_sid = clean::clip(call_sid), error = %e, "session store write failed; the call goes on");
        }
    }
    metrics::counter!(telemetry::WEBHOOKS, "result" => "connected").increment(1);
    tracing::info!(
        call_sid = clean::clip(call_sid),
        from = clean::clip(from.unwrap_or("")),
        "connecting call media"
    );
    let agent = settings.mode == CallMode::Agent;
    if agent {
        // The greeting is synthesized while Twilio opens the stream.
        let to = param(params, "To");
        state.prepared.begin(call_sid, from, to, arrival, returned);
    }
    let action = agent.then(|| settings.http_url("/twilio/after-stream"));
    span("connected");
    let mut parameters = vec![(stream_token::PARAMETER_NAME, token.as_str())];
    if returned {
        parameters.push((crate::preparation::RETURNED_PARAMETER, "desk_no_answer"));
    }
    xml(twiml::connect_stream(
        &settings.media_url("/twilio/media"),
        Some(&settings.http_url("/twilio/stream-status")),
        &parameters,
        action.as_deref(),
    ))
}

/// No room for the call: the busy message and the desk, or, for a caller the desk just did
/// not answer, an apology (ringing the desk again would loop).
fn busy(settings: &crate::config::Settings, returned: bool) -> Response {
    if returned {
        return xml(twiml::goodbye(
            "Sorry, nobody can take your call right now. Please call us back later. Goodbye.",
        ));
    }
    xml(twiml::busy(
        &settings.carrier.busy_message,
        settings.carrier.service_desk_number.as_deref(),
    ))
}

/// `POST /twilio/dial-result?call=<sid>`: Twilio reports how a transfer's `<Dial>` ended. The
/// desk answered (`completed`): the call is over when they hang up. Nobody answered (busy,
/// no-answer, failed, canceled): the caller comes back to the agent on a new stream, which
/// offers a callback.
pub async fn dial_result(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match verified_form(&state, &uri, &headers, &body) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let Some(call_sid) = param(&params, "CallSid") else {
        return (StatusCode::BAD_REQUEST, "CallSid is required").into_response();
    };
    let status = param(&params, "DialCallStatus").unwrap_or("");
    metrics::counter!(telemetry::DESK_DIALS, "status" => dial_status_label(status)).increment(1);
    if status == "completed" || status == "answered" || state.settings.mode != CallMode::Agent {
        let by_staff = uri.query().is_some_and(|q| {
            url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "by" && v == "staff")
        });
        if by_staff && (status == "completed" || status == "answered") {
            record_taken(&state, call_sid);
        }
        return xml(twiml::hang_up());
    }
    tracing::info!(
        call_sid = clean::clip(call_sid),
        status = clean::clip(status),
        "the desk did not answer; the agent takes the caller back"
    );
    connect(&state, &params, call_sid, true).await
}

/// `DialCallStatus` as a metric label (a closed set, whatever Twilio sends).
fn dial_status_label(status: &str) -> &'static str {
    match status {
        "completed" | "answered" => "answered",
        "busy" => "busy",
        "no-answer" => "no_answer",
        "failed" => "failed",
        "canceled" => "canceled",
        _ => "other",
    }
}

/// `POST /twilio/after-stream`: Twilio asks what follows an agent call's stream; the answer
/// is the agent's decision (transfer or goodbye), or a transfer with an apology when the
/// stream ended without one.
#[allow(clippy::disallowed_methods)] // A handler is IO: its span is stamped with the clock.
pub async fn after_stream(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match verified_form(&state, &uri, &headers, &body) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let Some(call_sid) = param(&params, "CallSid") else {
        return (StatusCode::BAD_REQUEST, "CallSid is required").into_response();
    };
    let received = std::time::SystemTime::now();
    let decision = state.handoffs.take(call_sid).await;
    traces::request(
        call_sid,
        "after_stream",
        received,
        vec![
            KeyValue::new("node.id", state.settings.node_id.clone()),
            KeyValue::new("decided", decision.is_some()),
        ],
    );
    if decision.is_none() {
        tracing::warn!(
            call_sid = clean::clip(call_sid),
            "the stream ended without a decision; handing the caller on"
        );
        record_interrupted(&state, call_sid);
    }
    xml(crate::handoff::after_stream_twiml(
        decision,
        state.settings.carrier.service_desk_number.as_deref(),
        &crate::handoff::whisper_url(&state.settings, call_sid),
        &crate::handoff::dial_result(&state.settings, call_sid),
    ))
}

/// `POST /twilio/whisper?call=<sid>`: what the advisor hears when they pick up a warm
/// transfer, before the caller is connected: the call's summary (composed now if the call's
/// writer has not stored it yet), or a plain notice when there is no record.
pub async fn whisper(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = verified_form(&state, &uri, &headers, &body) {
        return refused.into_response();
    }
    let call = uri
        .query()
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "call"))
        .map(|(_, v)| v.into_owned())
        .filter(|c| clean::is_clean(c) && !c.is_empty());
    let Some(call) = call else {
        return (StatusCode::BAD_REQUEST, "call is required").into_response();
    };
    let summary = tokio::time::timeout(
        WHISPER_DEADLINE,
        crate::handoff::summary_for(&state.db, &call),
    )
    .await
    .ok()
    .flatten();
    let said = match summary {
        Some(s) => format!("A call from the assistant. {s}"),
        None => "A call from the assistant; there is no summary of it.".to_string(),
    };
    xml(crate::carrier::twiml::whisper(&said))
}

/// How long the whisper waits for the records: the advisor is on the line.
const WHISPER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// A stream that ended without a decision was cut (its node died, or it could not decide):
/// the call's log gets `interrupted` now rather than at some node's next start, in the
/// background so the caller's TwiML does not wait on the database (a tracked task: a
/// draining node finishes it before it exits).
#[allow(clippy::disallowed_methods)] // A handler is IO: the log is stamped with the wall clock.
fn record_interrupted(state: &AppState, call_sid: &str) {
    let (db, sid) = (state.db.clone(), call_sid.to_string());
    state.calls.spawn(async move {
        let now = chrono::Utc::now();
        let write = crate::crm::calls::mark_call_interrupted(&db, &sid, now);
        match tokio::time::timeout(INTERRUPTED_WRITE_DEADLINE, write).await {
            Ok(Ok(true)) => tracing::info!(call_sid = clean::clip(&sid), "call marked interrupted"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not mark the call interrupted"),
            Err(_) => tracing::warn!("marking the call interrupted timed out"),
        }
    });
}

/// An advisor took the call from the live view and talked to the caller: its outcome says so
/// (the stream's own outcome was written when the redirect stopped it). In the background,
/// tracked, under a deadline.
fn record_taken(state: &AppState, call_sid: &str) {
    let (db, sid) = (state.db.clone(), call_sid.to_string());
    state.calls.spawn(async move {
        let write = crate::crm::calls::set_outcome(&db, &sid, "taken");
        match tokio::time::timeout(INTERRUPTED_WRITE_DEADLINE, write).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not mark the call taken"),
            Err(_) => tracing::warn!("marking the call taken timed out"),
        }
    });
}

/// How long marking a cut call may take; past it the next start's sweep does it.
const INTERRUPTED_WRITE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// `POST /twilio/stream-status`: records `stream-started`, `stream-stopped` and
/// `stream-error` callbacks.
#[allow(clippy::disallowed_methods)] // A handler is IO: the callback is stamped with when it came.
pub async fn stream_status(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match verified_form(&state, &uri, &headers, &body) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let (Some(call_sid), Some(event)) = (param(&params, "CallSid"), param(&params, "StreamEvent"))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "CallSid and StreamEvent are required",
        )
            .into_response();
    };
    let label = match event {
        "stream-started" | "stream-stopped" | "stream-error" => event.to_string(),
        _ => "other".to_string(),
    };
    metrics::counter!(telemetry::STREAM_STATUS, "event" => label).increment(1);
    let error = param(&params, "StreamError");
    if error.is_some() {
        tracing::warn!(
            call_sid = clean::clip(call_sid),
            event = clean::clip(event),
            error = clean::clip(error.unwrap_or("")),
            "stream error reported by Twilio"
        );
    } else {
        tracing::info!(
            call_sid = clean::clip(call_sid),
            event = clean::clip(event),
            "stream status"
        );
    }
    let row = entity::stream_event::ActiveModel {
        call_sid: Set(call_sid.to_string()),
        stream_sid: Set(param(&params, "StreamSid").map(str::to_string)),
        event: Set(event.to_string()),
        error: Set(error.map(str::to_string)),
        carrier_timestamp: Set(param(&params, "Timestamp").map(str::to_string)),
        received_at: Set(chrono::Utc::now()),
        ..Default::default()
    };
    match row.insert(&state.db).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::error!(call_sid = clean::clip(call_sid), error = %e, "could not record stream status");
            (StatusCode::INTERNAL_SERVER_ERROR, "could not record").into_response()
        }
    }
}
