//! An agent call wound down while the instance drains, through [`Call`] alone on a virtual
//! clock: the turn in progress is finished (its sentence, its booking and the answer about
//! it), no new turn is taken, the drain line is said, and the call ends as configured.

#![allow(clippy::disallowed_methods)] // Tests pick an arbitrary origin for the virtual clock.

mod common;

use std::time::Duration;

use serde_json::json;

use callbridge_core::call::record::Speaker;
use callbridge_core::call::{DrainEnding, EndCause, GoodbyeReason, Handoff, Input, TransferReason};
use callbridge_core::tool::{BookingChange, ToolName};
use common::{Line, agent};

#[test]
fn a_call_wound_down_mid_answer_finishes_the_answer_then_goes_to_the_desk() {
    let mut line = Line::greeted();
    line.caller_turn("hours", "What time do you open on Saturday?");
    line.llm_says("We open at eight on Saturday. We close at two in the afternoon.");
    line.run_for(400); // the answer is playing
    let requests = line.llm.requests.len();
    line.input(Input::WindDown(DrainEnding::Transfer));
    assert!(line.end.is_none(), "the call is not cut");
    line.run_until(Duration::from_secs(20), |l| !l.handoffs.is_empty());
    assert_eq!(line.handoffs, [Handoff::Transfer]);
    let spoken = line.spoken();
    let n = spoken.len();
    assert_eq!(
        spoken[n - 3..],
        [
            "We open at eight on Saturday.".to_string(),
            "We close at two in the afternoon.".to_string(),
            agent().drain_transfer_line,
        ],
        "the answer is finished, then the drain line"
    );
    line.run_until(Duration::from_secs(5), |l| l.end.is_some());
    let end = line.end.clone().expect("ended after the hand-off");
    assert_eq!(end.cause, EndCause::Transferred(TransferReason::Draining));
    assert_eq!(end.label(), "transferred");
    assert_eq!(
        line.llm.requests.len(),
        requests,
        "no new turn was asked for"
    );
}

#[test]
fn a_booking_running_when_the_call_winds_down_is_kept_and_told_before_the_goodbye() {
    let mut line = Line::agreed();
    line.llm_calls(
        Some("Booking that now."),
        "b1",
        "book_appointment",
        json!({"customer_id": 1, "service": "Oil change", "start": "2026-12-08T09:00"}),
    );
    line.input(Input::WindDown(DrainEnding::Goodbye));
    line.run_for(300);
    line.tool_answers("b1", true, json!({"ok": true, "appointment": {"id": 21}}));
    // The model is asked once more, to tell the caller what happened to the booking.
    line.llm_says("You're booked for Tuesday at nine.");
    line.run_until(Duration::from_secs(20), |l| !l.handoffs.is_empty());
    assert_eq!(line.handoffs, [Handoff::HangUp]);
    let spoken = line.spoken();
    let n = spoken.len();
    assert_eq!(
        spoken[n - 2..],
        [
            "You're booked for Tuesday at nine.".to_string(),
            agent().drain_goodbye_line,
        ]
    );
    line.run_until(Duration::from_secs(5), |l| l.end.is_some());
    let end = line.end.clone().expect("ended");
    assert_eq!(end.cause, EndCause::Goodbye(GoodbyeReason::Draining));
    assert_eq!(end.change, Some(BookingChange::Booked));
    assert_eq!((end.outcome(), end.label()), ("booked", "drained"));
    let bookings = line
        .tools
        .iter()
        .filter(|(_, r)| r.tool() == ToolName::BookAppointment)
        .count();
    assert_eq!(bookings, 1, "booked once");
}

#[test]
fn a_caller_speaking_when_the_call_winds_down_is_heard_out_and_recorded_but_not_answered() {
    let mut line = Line::greeted();
    let requests = line.llm.requests.len();
    line.caller_says("hours");
    line.run_for(800); // they are mid-sentence
    line.input(Input::WindDown(DrainEnding::Transfer));
    assert!(line.spoken().last() != Some(&agent().drain_transfer_line));
    line.run_until(Duration::from_secs(15), |l| !l.caller_speaking());
    line.run_until(Duration::from_secs(2), |l| l.stt.finalizes > 0);
    line.stt_final("What time do you open on Saturday?");
    line.run_until(Duration::from_secs(20), |l| !l.handoffs.is_empty());
    assert_eq!(line.handoffs, [Handoff::Transfer]);
    assert_eq!(line.llm.requests.len(), requests, "the desk answers it");
    assert_eq!(line.spoken().last(), Some(&agent().drain_transfer_line));
    assert!(
        line.transcript()
            .iter()
            .any(|(s, t, _)| *s == Speaker::Caller && t.contains("Saturday")),
        "the caller's last words are in the transcript"
    );
}

#[test]
fn a_call_wound_down_while_it_is_set_up_says_the_line_after_the_greeting() {
    let mut line = Line::agent();
    line.input(Input::WindDown(DrainEnding::Goodbye));
    assert!(line.end.is_none());
    line.start();
    line.run_until(Duration::from_secs(20), |l| !l.handoffs.is_empty());
    let spoken = line.spoken();
    assert_eq!(spoken.last(), Some(&agent().drain_goodbye_line));
    assert_eq!(spoken.len(), 2, "greeting, then the drain line: {spoken:?}");
    assert_eq!(line.handoffs, [Handoff::HangUp]);
}

#[test]
fn a_turn_that_does_not_end_within_the_patience_is_cut_short() {
    let mut line = Line::greeted();
    line.caller_turn("hours", "What time do you open on Saturday?");
    line.llm_streams("We open at eight"); // and then nothing more comes
    line.input(Input::WindDown(DrainEnding::Transfer));
    let wound_down_at = line.ms();
    line.run_until(Duration::from_secs(20), |l| !l.handoffs.is_empty());
    let patience = agent().wind_down_patience.as_millis() as u64;
    assert!(
        line.ms() >= wound_down_at + patience,
        "waited for the turn to end"
    );
    assert_eq!(line.llm.cancels, 1, "the unfinished answer was cancelled");
    assert_eq!(line.spoken().last(), Some(&agent().drain_transfer_line));
    assert_eq!(line.handoffs, [Handoff::Transfer]);
}
