//! The one IO task of a call: reads carrier frames, runs the session's timers, writes what the
//! session asks for, and keeps the registry, cap and metrics up to date. It makes no decisions
//! of its own; those live in [`super::MediaSession`].

#![allow(clippy::disallowed_methods)] // The driver is where the clock is read.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use tracing::Instrument;

use super::conversation::{Conversation, Ending, Event};
use super::handoff::{Handoff, hand_off};
use super::session::{
    CallOutcome, FAR_END_FORMAT, FarEnd, MediaSession, SessionConfig, SessionOutput,
};
use crate::app::{AppState, CallSlot};
use crate::carrier::CarrierKind;
use crate::config::CallMode;
use crate::session_store::{CallState, LiveCall, unix_now};
use crate::telemetry;

/// Refused frames logged one by one before logging thins out.
const REJECTED_LOGGED_IN_FULL: u64 = 10;

/// The key that clears playback on the echo line.
const ECHO_CLEAR_DIGIT: char = '#';

fn session_config(kind: CarrierKind, state: &AppState) -> SessionConfig {
    let s = &state.settings;
    SessionConfig {
        carrier: kind,
        max_frame_bytes: s.limits.max_frame_bytes,
        token_secret: s.carrier.stream_token_secret.expose().to_string(),
        require_stream_token: kind == CarrierKind::Twilio,
        outbound_format: match kind {
            CarrierKind::Twilio => None,
            CarrierKind::Telnyx => Some(s.carrier.telnyx_outbound_format),
        },
        lead: s.limits.playback_lead,
        mark_interval: s.limits.mark_interval,
        echo_delay: s.limits.echo_delay,
        // Speech engines take the carrier's audio as it comes; the echo line may transcode.
        far_end_format: (s.mode == CallMode::Echo && s.echo_transcode).then_some(FAR_END_FORMAT),
        max_call_duration: s.limits.max_call_duration,
        clear_digit: ECHO_CLEAR_DIGIT,
        far_end: match s.mode {
            CallMode::Echo => FarEnd::Echo,
            CallMode::Agent => FarEnd::External,
        },
    }
}

/// The conversation's next event, or never when there is none (the echo line).
async fn next_event(conversation: &mut Option<Conversation>) -> Event {
    match conversation {
        Some(c) => c.next_event().await,
        None => std::future::pending().await,
    }
}

/// Per-call bookkeeping held by the driver.
struct Live {
    call_sid: String,
    _slot: CallSlot,
    started: Instant,
}

/// Runs one call over `socket` until it ends.
pub async fn run(socket: WebSocket, kind: CarrierKind, state: AppState) {
    let span = tracing::info_span!(
        "call",
        carrier = kind.as_str(),
        call_sid = tracing::field::Empty
    );
    drive(socket, kind, state).instrument(span).await;
}

async fn drive(socket: WebSocket, kind: CarrierKind, state: AppState) {
    let carrier = kind.as_str();
    let frames_in = metrics::counter!(telemetry::FRAMES_IN, "carrier" => carrier);
    let frames_out = metrics::counter!(telemetry::FRAMES_OUT, "carrier" => carrier);
    let transcoded = metrics::counter!(telemetry::TRANSCODED_BYTES);
    let ttl = state.settings.limits.call_ttl;
    let (mut sink, mut stream) = socket.split();
    let mut session = MediaSession::new(session_config(kind, &state), Instant::now());
    let mut live: Option<Live> = None;
    let mut shutting_down = false;
    let mut rejected: u64 = 0;
    let mut conversation: Option<Conversation> = None;

    let (outcome, detail) = 'call: loop {
        if let Some(c) = conversation.as_mut() {
            c.tick(&mut session, Instant::now());
        }
        let mut wrote = false;
        while let Some(output) = session.poll_output() {
            match output {
                SessionOutput::Send(text) => {
                    if let Err(e) = sink.feed(Message::Text(text.into())).await {
                        break 'call (CallOutcome::Failed, format!("socket write failed: {e}"));
                    }
                    frames_out.increment(1);
                    wrote = true;
                }
                SessionOutput::Rejected(e) => {
                    metrics::counter!(telemetry::MALFORMED_FRAMES, "carrier" => carrier, "reason" => e.reason())
                        .increment(1);
                    rejected += 1;
                    // A peer sending garbage on every frame must not flood the logs: the
                    // first few are logged, then every hundredth; the metric counts them all.
                    if rejected <= REJECTED_LOGGED_IN_FULL || rejected.is_multiple_of(100) {
                        tracing::warn!(reason = e.reason(), error = %e, rejected, "carrier frame refused; call continues");
                    }
                }
                SessionOutput::Started(started) => {
                    tracing::Span::current().record("call_sid", started.call_id.as_str());
                    let Some(slot) = state.cap.try_start(&started.call_id, Instant::now()) else {
                        break 'call (CallOutcome::Rejected, "instance at its call cap".into());
                    };
                    metrics::gauge!(telemetry::ACTIVE_CALLS).increment(1.0);
                    state.local_calls.insert(&started.call_id);
                    let entry = LiveCall {
                        call_sid: started.call_id.clone(),
                        node: state.settings.node_id.clone(),
                        state: CallState::Streaming,
                        started_at: unix_now(),
                    };
                    if let Err(e) = state.store.register(&entry, ttl).await {
                        metrics::counter!(telemetry::STORE_ERRORS, "op" => "register").increment(1);
                        tracing::warn!(error = %e, "could not register the call");
                    }
                    tracing::info!(
                        stream_id = %started.stream_id,
                        inbound = started.inbound.encoding.as_str(),
                        inbound_hz = started.inbound.sample_rate.hz(),
                        outbound = started.outbound.encoding.as_str(),
                        "call streaming"
                    );
                    if state.settings.mode == CallMode::Agent {
                        let prepared = state
                            .prepared
                            .take(
                                &state,
                                &started.call_id,
                                started.from.as_deref(),
                                started.inbound,
                            )
                            .await;
                        let mut c = Conversation::new(
                            prepared,
                            &started.call_id,
                            started.inbound,
                            &state,
                            Instant::now(),
                        );
                        c.start(&mut session, Instant::now());
                        conversation = Some(c);
                    }
                    live = Some(Live {
                        call_sid: started.call_id,
                        _slot: slot,
                        started: Instant::now(),
                    });
                }
                SessionOutput::Dtmf(digit) => {
                    tracing::info!(%digit, "keypad");
                    if let Some(c) = conversation.as_mut() {
                        c.dtmf(digit, &mut session, Instant::now());
                    }
                }
                // Only an external far end gets the caller's audio; the echo line keeps it.
                SessionOutput::CallerAudio(audio) => {
                    if let Some(c) = conversation.as_mut() {
                        c.caller_audio(audio, &mut session, Instant::now());
                    }
                }
                SessionOutput::Cleared(report) => {
                    tracing::info!(?report, "playback cleared");
                }
                SessionOutput::CarrierError { code, detail } => {
                    tracing::warn!(?code, %detail, "carrier reported a stream error");
                }
                SessionOutput::Warning(w) => tracing::warn!(warning = %w, "media session"),
                SessionOutput::End { outcome, detail } => {
                    if outcome == CallOutcome::MaxDuration
                        && let Some(call) = &live
                        && conversation.is_some()
                    {
                        // The caller is not dropped at the cap: a person takes over.
                        hand_off(&state, &call.call_sid, Handoff::Transfer).await;
                    }
                    break 'call (outcome, detail);
                }
            }
        }
        if wrote && let Err(e) = sink.flush().await {
            break 'call (CallOutcome::Failed, format!("socket write failed: {e}"));
        }
        transcoded.increment(session.take_transcoded_bytes());

        let now = Instant::now();
        if let (Some(c), Some(call)) = (conversation.as_ref(), live.as_ref())
            && let Some(ending) = c.ending(now)
        {
            let (handoff, outcome, reason) = match ending {
                Ending::Transfer(reason) => (Handoff::Transfer, CallOutcome::Transferred, reason),
                Ending::HangUp(reason) => (Handoff::HangUp, CallOutcome::HungUp, reason),
            };
            hand_off(&state, &call.call_sid, handoff).await;
            break 'call (outcome, reason.to_string());
        }
        let deadline = [
            session.next_timeout(now),
            conversation
                .as_ref()
                .and_then(|c| c.next_deadline(&session, now)),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + Duration::from_secs(3600));
        tokio::select! {
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    frames_in.increment(1);
                    session.handle_text(Instant::now(), unix_now(), text.as_str());
                }
                Some(Ok(Message::Binary(bytes))) => {
                    frames_in.increment(1);
                    session.handle_binary(bytes.len());
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => session.handle_disconnect(),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "carrier socket failed");
                    session.handle_disconnect();
                }
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                session.handle_timeout(Instant::now());
            }
            event = next_event(&mut conversation) => {
                if let Some(c) = conversation.as_mut() {
                    c.handle(event, &mut session, Instant::now());
                }
            }
            _ = state.hard_stop.cancelled(), if !shutting_down => {
                shutting_down = true;
                session.handle_shutdown();
            }
        }
    };

    // Close politely; a rejected socket says why.
    let (code, reason) = match outcome {
        CallOutcome::Rejected => (close_code::POLICY, detail.clone()),
        CallOutcome::Failed => (close_code::ERROR, detail.clone()),
        CallOutcome::Drained => (close_code::AWAY, "server shutting down".to_string()),
        _ => (close_code::NORMAL, String::new()),
    };
    let reason: String = reason.chars().take(120).collect(); // close reasons are capped at 123 bytes
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        sink.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))),
    )
    .await;

    if let Some(c) = conversation.as_mut() {
        c.finish(match outcome {
            CallOutcome::Completed | CallOutcome::Disconnected => "caller_hung_up",
            other => other.as_str(),
        });
    }
    metrics::counter!(telemetry::CALLS_TOTAL, "outcome" => outcome.as_str()).increment(1);
    if let Some(call) = &live {
        metrics::gauge!(telemetry::ACTIVE_CALLS).decrement(1.0);
        metrics::histogram!(telemetry::CALL_DURATION).record(call.started.elapsed().as_secs_f64());
        state.local_calls.remove(&call.call_sid);
        if let Err(e) = state.store.remove(&call.call_sid).await {
            metrics::counter!(telemetry::STORE_ERRORS, "op" => "remove").increment(1);
            tracing::warn!(error = %e, "could not remove the call from the registry");
        }
    }
    if outcome == CallOutcome::Rejected || outcome == CallOutcome::Failed {
        tracing::warn!(outcome = outcome.as_str(), %detail, "call ended");
    } else {
        tracing::info!(outcome = outcome.as_str(), %detail, "call ended");
    }
}
