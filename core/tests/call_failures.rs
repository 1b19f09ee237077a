//! The unhappy paths of an agent call through [`Call`] alone on a virtual clock: providers
//! failing mid-call and the caller leaving while a booking is being written.

#![allow(clippy::disallowed_methods)] // Tests pick an arbitrary origin for the virtual clock.

mod common;

use std::time::Duration;

use serde_json::json;

use callbridge_core::call::record::Speaker;
use callbridge_core::call::{EndCause, Handoff, Slot, TransferReason};
use callbridge_core::provider::ProviderError;
use callbridge_core::stt::SttEvent;
use callbridge_core::tool::{BookingChange, ToolName};
use callbridge_core::tts::TtsEvent;
use common::Line;

fn down() -> ProviderError {
    ProviderError::Down {
        attempts: 3,
        last: "connection refused".into(),
    }
}

#[test]
fn when_recognition_fails_mid_call_the_fallback_hears_the_rest() {
    let mut line = Line::greeted();
    line.caller_turn("hours", "What time do you open on Saturday?");
    line.llm_says("We open at eight on Saturday.");
    line.run_until_quiet();
    let primary_frames = line.stt.frames[0];
    assert!(primary_frames > 100);

    line.stt(SttEvent::Error(down()));
    assert_eq!(line.stt.slot, Some(Slot::Fallback));
    assert!(line.log.contains(&"open_stt:Fallback".to_string()));
    // The caller's next words go to the fallback, which ends the turn.
    line.caller_turn("book_oil_change", "I'd like to book an oil change.");
    assert_eq!(
        line.stt.frames[0], primary_frames,
        "nothing more to the failed stream"
    );
    assert!(line.stt.frames[1] > 50, "{:?}", line.stt.frames);
    let (_, messages) = line.llm.requests.last().unwrap();
    assert_eq!(
        messages.last().unwrap().content.as_deref(),
        Some("I'd like to book an oil change.")
    );
    assert!(line.end.is_none());

    // The fallback failing too leaves no way to hear the caller: a person takes over.
    line.llm_says("What day would suit you?");
    line.stt(SttEvent::Error(down()));
    line.run_until(Duration::from_secs(20), |l| l.end.is_some());
    let end = line.end.clone().unwrap();
    assert_eq!(end.cause, EndCause::Transferred(TransferReason::SttDown));
    assert_eq!(line.handoffs, [Handoff::Transfer]);
    assert!(line.spoken().last().unwrap().contains("service desk"));
}

#[test]
fn when_synthesis_fails_mid_sentence_the_fallback_says_what_was_left() {
    let mut line = Line::greeted();
    line.caller_turn("hours", "What time do you open on Saturday?");
    // Audio streams in as it is synthesized, 20 ms pieces in real time.
    line.tts.pieces = 100;
    let start = line.heard_ms();
    line.llm_says(
        "We open at eight on Saturday. We close at two in the afternoon. Sundays we are closed.",
    );
    // The first sentence's audio is playing; then the stream dies.
    line.run_until(Duration::from_secs(3), |l| l.heard_ms() > start + 800);
    let heard_before = line.heard_ms();
    line.input(callbridge_core::call::Input::Tts(TtsEvent::Error(down())));
    assert!(line.log.contains(&"open_tts:Fallback".to_string()));
    let to_fallback: Vec<String> = line
        .tts
        .spoken
        .iter()
        .filter(|(slot, _)| *slot == Slot::Fallback)
        .map(|(_, t)| t.clone())
        .collect();
    assert!(!to_fallback.is_empty());
    assert!(
        to_fallback
            .last()
            .unwrap()
            .contains("Sundays we are closed"),
        "{to_fallback:?}"
    );
    line.run_until_quiet();
    assert!(
        line.heard_ms() > heard_before + 1_000,
        "the fallback was heard"
    );
    assert!(line.end.is_none(), "the call goes on");
    // The next answer is spoken by the fallback.
    line.caller_turn("thanks_bye", "That's all, thank you.");
    line.llm_says("You're welcome.");
    assert_eq!(
        line.tts.spoken.last(),
        Some(&(Slot::Fallback, "You're welcome.".to_string()))
    );
}

#[test]
fn when_the_model_fails_mid_turn_the_caller_hears_an_apology_and_the_fallback_answers() {
    let mut config = common::agent();
    config.has_llm_fallback = true;
    let mut line = Line::agent();
    line.preparation.as_mut().unwrap().agent = config;
    line.start();
    line.run_until_quiet();
    line.caller_turn("hours", "What time do you open on Saturday?");
    line.llm_streams("We open");
    line.llm_fails(ProviderError::Http {
        status: 500,
        body: "overloaded".into(),
    });
    assert!(line.spoken().contains(&"Sorry, one moment.".to_string()));
    assert_eq!(line.llm.slot, Some(Slot::Fallback));
    assert_eq!(line.llm.requests.len(), 2);
    line.llm_says("We open at eight on Saturday.");
    line.run_until_quiet();
    assert!(line.end.is_none());
    assert!(
        line.transcript()
            .iter()
            .any(|(s, t, _)| *s == Speaker::Agent && t == "We open at eight on Saturday.")
    );

    // Without a fallback, a failing model hands the caller to a person.
    let mut line = Line::greeted();
    line.caller_turn("hours", "What time do you open on Saturday?");
    line.llm_fails(ProviderError::Timeout(
        callbridge_core::provider::Deadline::FirstResult,
        Duration::from_secs(3),
    ));
    line.run_until(Duration::from_secs(20), |l| l.end.is_some());
    assert_eq!(
        line.end.clone().unwrap().cause,
        EndCause::Transferred(TransferReason::LlmDown)
    );
}

#[test]
fn a_completion_that_ends_without_finishing_is_a_failure_not_a_silence() {
    let mut line = Line::greeted();
    line.caller_turn("hours", "What time do you open on Saturday?");
    let turn = line.llm.turn.unwrap();
    line.input(callbridge_core::call::Input::LlmClosed { turn });
    line.run_until(Duration::from_secs(20), |l| l.end.is_some());
    assert_eq!(
        line.end.clone().unwrap().cause,
        EndCause::Transferred(TransferReason::LlmDown)
    );
}

#[test]
fn a_caller_who_hangs_up_while_the_booking_is_written_still_gets_it_once_and_recorded() {
    let mut line = Line::agreed();
    line.llm_calls(
        Some("Booking that now."),
        "c9",
        "book_appointment",
        json!({"customer_id": 1, "service": "Oil change", "start": "2026-12-08T09:00"}),
    );
    assert_eq!(line.tools.len(), 1);
    line.caller_hangs_up();
    line.run_for(2_000);
    assert!(
        line.end.is_none(),
        "the call waits for the booking's answer"
    );
    line.tool_answers("c9", true, json!({"ok": true, "appointment": {"id": 12}}));
    let end = line.end.clone().expect("ended once the booking answered");
    assert_eq!(end.cause, EndCause::CallerHungUp);
    assert_eq!(end.change, Some(BookingChange::Booked));
    assert_eq!((end.outcome(), end.label()), ("booked", "caller_hung_up"));
    let bookings = line
        .tools
        .iter()
        .filter(|(_, r)| r.tool() == ToolName::BookAppointment)
        .count();
    assert_eq!(bookings, 1, "booked once, never retried");
    assert!(
        line.llm.requests.len() <= 3,
        "no new turn after the caller left (the read-back's turn and the yes's)"
    );

    // A tool that never answers does not hold the call past the limit.
    let mut line = Line::agreed();
    line.llm_calls(
        None,
        "c10",
        "book_appointment",
        json!({"customer_id": 1, "service": "Oil change", "start": "2026-12-08T09:00"}),
    );
    line.caller_hangs_up();
    let hung_up_at = line.ms();
    line.run_until(Duration::from_secs(20), |l| l.end.is_some());
    let end = line.end.clone().unwrap();
    assert_eq!((end.outcome(), end.change), ("caller_hung_up", None));
    assert_eq!((line.ms() - hung_up_at) / 1000, 6, "the tool drain limit");
}

#[test]
fn a_caller_who_hangs_up_while_the_call_is_prepared_ends_it_once_the_preparation_arrives() {
    let mut line = Line::agent();
    let preparation = line.preparation.take().unwrap();
    line.start();
    line.run_for(200);
    line.caller_hangs_up();
    line.run_for(500);
    assert!(
        line.end.is_none(),
        "the call log comes with the preparation: the end waits for it"
    );
    line.input(callbridge_core::call::Input::Prepared(Box::new(
        preparation,
    )));
    let end = line.end.clone().expect("ended");
    assert_eq!(end.cause, EndCause::CallerHungUp);
    assert!(line.spoken().is_empty(), "nobody is there to greet");
    assert!(line.llm.requests.is_empty());
}

#[test]
fn a_goodbye_said_while_the_booking_is_written_waits_for_it_and_the_log_says_booked() {
    let mut line = Line::agreed_with("Yes, book it, and that's all.");
    let turn = line.llm.turn.unwrap();
    let calls = vec![
        callbridge_core::tool::ToolCall::parse(
            "b1",
            "book_appointment",
            json!({"customer_id": 1, "service": "Oil change", "start": "2026-12-08T09:00"})
                .to_string(),
        ),
        callbridge_core::tool::ToolCall::parse("e1", "end_call", "{}"),
    ];
    line.input(callbridge_core::call::Input::Llm {
        turn,
        event: callbridge_core::llm::LlmEvent::TextDelta("You're booked. Goodbye!".into()),
    });
    line.input(callbridge_core::call::Input::Llm {
        turn,
        event: callbridge_core::llm::LlmEvent::ToolCalls(calls),
    });
    // The goodbye plays, the carrier is told to hang up, and the call waits for the booking.
    line.run_until(Duration::from_secs(10), |l| !l.handoffs.is_empty());
    assert_eq!(line.handoffs, [Handoff::HangUp]);
    line.run_for(1_000);
    assert!(line.end.is_none(), "the booking's answer is awaited");
    assert!(
        line.log.contains(&"close_media".to_string()),
        "the caller is not kept waiting for it: the stream closes at once"
    );
    line.tool_answers("b1", true, json!({"ok": true, "appointment": {"id": 13}}));
    let end = line.end.clone().expect("ended");
    assert_eq!(end.change, Some(BookingChange::Booked));
    assert_eq!((end.outcome(), end.label()), ("booked", "completed"));
}

#[test]
fn a_slow_booking_is_answered_for_the_model_in_time_and_still_counts_when_it_lands() {
    let mut line = Line::agreed();
    line.llm_calls(
        None,
        "s1",
        "book_appointment",
        json!({"customer_id": 1, "service": "Oil change", "start": "2026-12-08T09:00"}),
    );
    let asked = line.llm.requests.len();
    // The tool timeout is 5 s: the model hears that the booking system is slow.
    line.run_until(Duration::from_secs(8), |l| l.llm.requests.len() > asked);
    assert!(line.observations.contains(
        &callbridge_core::call::observe::Observation::ToolTimedOut(ToolName::BookAppointment)
    ));
    let (_, messages) = line.llm.requests.last().unwrap();
    let answer = messages.last().unwrap().content.clone().unwrap();
    assert!(
        answer.contains("\"timeout\"") && answer.contains("may still go through"),
        "{answer}"
    );
    line.llm_says("The booking system is slow; let me check that for you.");
    // The booking lands late: the model is not told twice, but the call's outcome says so.
    let asked = line.llm.requests.len();
    line.tool_answers("s1", true, json!({"ok": true, "appointment": {"id": 14}}));
    assert_eq!(line.llm.requests.len(), asked);
    line.run_until_quiet();
    line.caller_hangs_up();
    let end = line.end.clone().expect("ended");
    assert_eq!(
        (end.outcome(), end.change),
        ("booked", Some(BookingChange::Booked))
    );
    assert_eq!(line.tools.len(), 1, "run once");
}

#[test]
fn a_model_slow_to_start_gets_the_caller_a_filler_line_then_its_answer() {
    let agent = common::agent();
    let (filler, after) = (
        agent.llm_filler_line,
        agent.llm_filler_after.as_millis() as u64,
    );
    let mut line = Line::greeted();
    line.caller_turn("hours", "What time do you open on Saturday?");
    line.run_for(after - 200);
    assert!(!line.spoken().contains(&filler), "not before its time");
    line.run_for(400);
    assert_eq!(line.spoken().last(), Some(&filler), "silence is broken");
    line.llm_says("We open at eight on Saturday.");
    line.run_until_quiet();
    assert_eq!(
        line.spoken().last().map(String::as_str),
        Some("We open at eight on Saturday.")
    );
    // A model that answers in time gets no filler.
    line.caller_turn("hours", "And on Sunday?");
    line.run_for(300);
    line.llm_says("We are closed on Sunday.");
    line.run_until_quiet();
    let fillers = line.spoken().iter().filter(|s| **s == filler).count();
    assert_eq!(fillers, 1);
}
