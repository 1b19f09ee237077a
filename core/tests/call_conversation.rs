//! Whole agent calls through [`Call`] alone on a virtual clock: the happy path, interruptions,
//! the keypad, the length limit and shutdown. See `common` for the fakes around it.

#![allow(clippy::disallowed_methods)] // Tests pick an arbitrary origin for the virtual clock.

mod common;

use std::time::Duration;

use serde_json::json;

use callbridge_core::call::observe::{Observation, Stage};
use callbridge_core::call::record::{Record, Speaker};
use callbridge_core::call::{Close, EndCause, GoodbyeReason, Handoff, TransferReason};
use callbridge_core::chat::Role;
use callbridge_core::tool::{BookingChange, CrmRequest, ToolName};
use common::{GREETING, Line};

fn latencies(line: &Line, stage: Stage) -> Vec<Duration> {
    line.observations
        .iter()
        .filter_map(|o| match o {
            Observation::Latency(s, d) if *s == stage => Some(*d),
            _ => None,
        })
        .collect()
}

/// Starts a call and lets the greeting play out.
fn greeted() -> Line {
    let line = Line::greeted();
    assert!(
        line.heard_ms() >= 2000,
        "{} ms of greeting heard",
        line.heard_ms()
    );
    line
}

#[test]
fn a_caller_books_with_a_read_back_and_a_yes_then_says_goodbye() {
    let mut line = greeted();
    assert_eq!(line.log[..2], ["admit", "prepare"]);
    assert_eq!(
        line.transcript()[0],
        (Speaker::Agent, GREETING.into(), None)
    );

    // Turn 1: the request; the agent looks for a slot and offers it with a read-back.
    line.caller_turn(
        "book_oil_change",
        "Hi, I'd like to book an oil change for my Honda.",
    );
    let (_, messages) = line.llm.requests.last().unwrap().clone();
    assert_eq!(messages.last().unwrap().role, Role::User);
    assert_eq!(
        messages.last().unwrap().content.as_deref(),
        Some("Hi, I'd like to book an oil change for my Honda.")
    );
    line.llm_calls(
        None,
        "c1",
        "find_available_slots",
        json!({"service": "Oil change", "date": "Tuesday", "part_of_day": "morning"}),
    );
    assert!(matches!(
        line.tools.last(),
        Some((id, CrmRequest::FindAvailableSlots(a))) if id == "c1" && a.service == "Oil change"
    ));
    line.tool_answers(
        "c1",
        true,
        json!({"ok": true, "slots": [{"start": "2026-12-08T09:00"}]}),
    );
    assert_eq!(
        line.llm.requests.len(),
        2,
        "the tool's answer goes back to the model"
    );
    line.llm_says("I can book your oil change for Tuesday at 9 AM. Shall I book it?");
    line.run_until_quiet();

    // Turn 2: yes; the booking is made once.
    line.caller_turn("yes_correct", "Yes, that's right.");
    line.llm_calls(
        None,
        "c2",
        "book_appointment",
        json!({"customer_id": 1, "service": "Oil change", "start": "2026-12-08T09:00"}),
    );
    line.tool_answers("c2", true, json!({"ok": true, "appointment": {"id": 11}}));
    line.llm_says("You're booked for Tuesday at 9 AM. Is there anything else?");
    line.run_until_quiet();

    // Turn 3: goodbye; the call ends once the goodbye has played.
    line.caller_turn("thanks_bye", "That's all, thank you. Goodbye.");
    line.llm_calls(
        Some("Thanks for calling. Goodbye!"),
        "c3",
        "end_call",
        json!({}),
    );
    assert!(line.end.is_none(), "the goodbye plays first");
    let heard_before = line.heard_ms();
    line.run_until(Duration::from_secs(10), |l| l.end.is_some());
    assert!(line.heard_ms() > heard_before, "the goodbye was heard");

    let end = line.end.clone().expect("the call ended");
    assert_eq!(end.cause, EndCause::Goodbye(GoodbyeReason::CallerDone));
    assert_eq!(end.change, Some(BookingChange::Booked));
    assert_eq!((end.outcome(), end.label()), ("booked", "completed"));
    assert_eq!(end.close().0, Close::Normal);
    assert_eq!(line.handoffs, [Handoff::HangUp]);

    // One booking, made only after the read-back and the caller's yes.
    let bookings: Vec<_> = line
        .tools
        .iter()
        .filter(|(_, r)| r.tool() == ToolName::BookAppointment)
        .collect();
    assert_eq!(bookings.len(), 1);
    let spoken = line.spoken();
    let read_back = spoken
        .iter()
        .position(|s| s.contains("Shall I book it?"))
        .unwrap();
    let said = line.transcript();
    let yes = said
        .iter()
        .position(|(_, t, _)| t == "Yes, that's right.")
        .unwrap();
    let read_back_turn = said
        .iter()
        .position(|(_, t, _)| t.contains("Shall I book it?"))
        .unwrap();
    assert!(read_back_turn < yes, "{said:#?}");
    assert!(read_back < spoken.len());

    // The transcript: greeting, three caller turns and answers, the hang-up line.
    let speakers: Vec<Speaker> = said.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(
        speakers,
        [
            Speaker::Agent,
            Speaker::Caller,
            Speaker::Agent,
            Speaker::Caller,
            Speaker::Agent,
            Speaker::Caller,
            Speaker::Agent,
            Speaker::System
        ]
    );
    // Agent answers carry their stage latencies; caller turns their recognition time.
    for r in &line.records {
        if let Record::Turn(t) = r {
            match t.speaker {
                Speaker::Agent if t.text != GREETING => {
                    assert!(
                        t.llm_first_token.is_some() && t.tts_first_byte.is_some(),
                        "{t:?}"
                    )
                }
                Speaker::Caller => assert!(t.stt.is_some(), "{t:?}"),
                _ => {}
            }
        }
    }
    assert_eq!(latencies(&line, Stage::VoiceToVoice).len(), 3);
    assert_eq!(latencies(&line, Stage::SttFinal).len(), 3);
    // The streams are closed before the end, and the end is the last thing.
    let n = line.log.len();
    assert_eq!(line.log[n - 1], "end:completed");
    assert!(line.log[..n - 1].contains(&"stt:Finish".to_string()));
    assert!(line.log[..n - 1].contains(&"tts:Close".to_string()));
    assert!(line.warnings.is_empty(), "{:?}", line.warnings);
}

#[test]
fn a_caller_who_talks_over_the_agent_stops_it_mid_sentence_and_the_record_keeps_what_was_heard() {
    let mut line = greeted();
    line.caller_turn("price", "How much is a brake inspection?");
    let reply = "A brake inspection is sixty nine dollars and ninety nine cents, and it takes about an hour. \
                 We check the pads, the rotors, the calipers and the brake fluid, and we tell you what we find.";
    line.llm_says(reply);
    // Two seconds into the answer the caller speaks over it.
    line.run_until(Duration::from_secs(5), |l| l.heard_ms() > 9_000);
    let clears_before = line.clears;
    line.caller_says("barge_in");
    line.run_until(Duration::from_secs(3), |l| l.clears > clears_before);
    assert_eq!(
        line.clears,
        clears_before + 1,
        "the carrier was told to clear"
    );
    assert_eq!(line.tts.clears, 1, "synthesis was told to clear");
    assert!(line.observations.contains(&Observation::BargeIn));
    assert_eq!(latencies(&line, Stage::BargeInToSilence).len(), 1);
    let heard = line
        .records
        .iter()
        .find_map(|r| match r {
            Record::Heard(h) => Some(h.clone()),
            Record::Turn(_) => None,
        })
        .expect("what the caller heard is recorded");
    assert!(!heard.is_empty() && heard.len() < reply.len(), "{heard}");
    assert!(reply.starts_with(heard.trim_end_matches(|c: char| !c.is_alphanumeric())));

    // The next request shows the model only what the caller heard of the answer.
    line.run_until(Duration::from_secs(10), |l| !l.caller_speaking());
    line.run_until(Duration::from_secs(2), |l| l.stt.finalizes >= 2);
    line.stt_final("Actually, can I bring it in tomorrow?");
    let (_, messages) = line.llm.requests.last().unwrap();
    let answer = &messages[messages.len() - 2];
    assert_eq!(answer.role, Role::Assistant);
    assert_eq!(
        answer.content.as_deref(),
        Some(format!("{heard} (interrupted)").as_str())
    );
    assert!(line.end.is_none());
}

#[test]
fn zero_on_the_keypad_transfers_the_caller_after_the_transfer_line() {
    let mut line = Line::agent();
    line.start();
    line.run_for(500); // mid-greeting
    line.caller_presses('0');
    assert!(line.spoken().iter().any(|s| s.contains("service desk")));
    assert!(line.end.is_none(), "the transfer line plays first");
    line.run_until(Duration::from_secs(10), |l| l.end.is_some());
    let end = line.end.clone().unwrap();
    assert_eq!(
        end.cause,
        EndCause::Transferred(TransferReason::TransferDigit)
    );
    assert_eq!((end.outcome(), end.label()), ("transferred", "transferred"));
    assert_eq!(line.handoffs, [Handoff::Transfer]);
    let said = line.transcript();
    assert!(
        said.iter()
            .any(|(s, t, _)| *s == Speaker::System && t.contains("transfer digit")),
        "{said:#?}"
    );
}

#[test]
fn at_the_maximum_length_the_caller_is_handed_to_the_desk() {
    let mut config = common::agent_config();
    config.session.max_call_duration = Duration::from_secs(20);
    let mut line = Line::new(config);
    line.start();
    line.run_until_quiet();
    line.caller_turn("hours", "What time do you open on Saturday?");
    line.llm_says("We open at eight on Saturday.");
    line.run_until(Duration::from_secs(30), |l| l.end.is_some());
    let end = line.end.clone().unwrap();
    assert_eq!(end.cause, EndCause::MaxDuration);
    assert_eq!(
        (end.outcome(), end.label()),
        ("max_duration", "max_duration")
    );
    assert_eq!(line.handoffs, [Handoff::Transfer]);
    assert!(
        line.ms() >= 20_000 && line.ms() < 20_100,
        "{} ms",
        line.ms()
    );
    assert!(
        line.transcript()
            .iter()
            .any(|(s, t, _)| *s == Speaker::System && t.contains("maximum call length"))
    );
}

#[test]
fn shutdown_mid_sentence_ends_the_call_at_once_with_its_records() {
    let mut line = greeted();
    line.caller_turn("hours", "What time do you open on Saturday?");
    line.llm_says("We open at eight on Saturday and close at two in the afternoon.");
    line.run_for(400); // the answer is playing
    assert!(line.end.is_none());
    line.input(callbridge_core::call::Input::Shutdown);
    let end = line.end.clone().expect("ended at once");
    assert_eq!(end.cause, EndCause::Drained);
    assert_eq!(end.close().0, Close::GoingAway);
    assert_eq!(end.outcome(), "drained");
    assert!(line.handoffs.is_empty());
    // The answer's turn was recorded (it was held for its first audio), and the streams
    // were closed before the end.
    assert!(
        line.transcript()
            .iter()
            .any(|(s, t, _)| *s == Speaker::Agent && t.starts_with("We open at eight"))
    );
    let n = line.log.len();
    assert!(line.log[..n - 1].contains(&"stt:Finish".to_string()));
    assert!(line.log[..n - 1].contains(&"tts:Close".to_string()));
    // Nothing more happens after the end.
    let outputs = line.log.len();
    line.run_for(1000);
    assert_eq!(line.log.len(), outputs);
}

#[test]
fn a_call_without_room_is_refused_and_one_never_prepared_fails_in_time() {
    let mut line = Line::agent();
    line.admit = false;
    line.start();
    let end = line.end.clone().expect("refused at once");
    assert!(matches!(end.cause, EndCause::Rejected(_)));
    assert_eq!(end.close().0, Close::Policy);

    let mut line = Line::agent();
    line.preparation = None;
    line.start();
    line.caller_says("hours");
    line.run_until(Duration::from_secs(15), |l| l.end.is_some());
    let end = line.end.clone().expect("given up");
    assert!(matches!(end.cause, EndCause::Failed(_)), "{end:?}");
    assert_eq!((end.close().0, line.ms() / 1000), (Close::Error, 10));
}

/// The last message the model was sent: after a gated tool call, its refusal.
fn last_sent(line: &Line) -> String {
    let (_, messages) = line.llm.requests.last().expect("the model was asked");
    messages
        .last()
        .and_then(|m| m.content.clone())
        .unwrap_or_default()
}

/// The booking gate on a whole call: a model that books before any read-back, or after a
/// read-back the caller corrected, books nothing; the read-back of the corrected time and a
/// yes book it, once.
#[test]
fn the_engine_books_only_what_the_caller_heard_read_back_and_said_yes_to() {
    let tuesday = json!({"customer_id": 1, "service": "Oil change", "start": "2026-12-08T09:00"});
    let friday = json!({"customer_id": 1, "service": "Oil change", "start": "2026-12-11T09:00"});
    let mut line = Line::greeted();
    line.caller_turn(
        "book_oil_change",
        "Book me an oil change on Tuesday at nine.",
    );
    line.llm_calls(None, "b1", "book_appointment", tuesday.clone());
    assert!(line.tools.is_empty(), "not booked without a read-back");
    let refusal = last_sent(&line);
    assert!(refusal.contains("needs_confirmation"), "{refusal}");
    assert!(
        refusal.contains("Tuesday, December 8 at 9:00 AM"),
        "{refusal}"
    );

    line.llm_says("Shall I book your oil change for Tuesday, December 8 at 9 AM?");
    line.run_until_quiet();
    line.caller_turn("correction", "No, make it Friday.");
    line.llm_calls(None, "b2", "book_appointment", tuesday);
    assert!(line.tools.is_empty(), "a no is not a yes");
    assert!(last_sent(&line).contains("did not confirm"));
    line.llm_calls(None, "b3", "book_appointment", friday.clone());
    assert!(line.tools.is_empty(), "Friday was never read back");

    line.llm_says("Your oil change on Friday, December 11 at 9 AM then. Shall I book it?");
    line.run_until_quiet();
    line.caller_turn("yes_correct", "Yes, that's right.");
    line.llm_calls(None, "b4", "book_appointment", friday);
    let booked: Vec<_> = line
        .tools
        .iter()
        .filter(|(_, r)| r.tool() == ToolName::BookAppointment)
        .collect();
    assert_eq!(booked.len(), 1);
    assert!(
        matches!(booked[0], (id, CrmRequest::BookAppointment(b)) if id == "b4" && b.start == "2026-12-11T09:00")
    );
}

/// A caller the recogniser keeps misunderstanding confirms on the keypad: after two unclear
/// answers to the read-back the agent itself offers "press 1 to confirm, 2 to change it", and
/// 1 lets exactly that booking run.
#[test]
fn after_two_misunderstood_answers_the_caller_confirms_on_the_keypad() {
    let tuesday = json!({"customer_id": 1, "service": "Oil change", "start": "2026-12-08T09:00"});
    let mut line = Line::greeted();
    line.caller_turn(
        "book_oil_change",
        "Book me an oil change on Tuesday at nine.",
    );
    line.llm_says("Shall I book your oil change for Tuesday, December 8 at 9 AM?");
    line.run_until_quiet();
    for (i, heard) in ["The blue one, I think.", "Miss the blue one."]
        .iter()
        .enumerate()
    {
        line.caller_turn("yes_correct", heard);
        line.llm_calls(None, &format!("b{i}"), "book_appointment", tuesday.clone());
        assert!(line.tools.is_empty(), "not booked on an unclear answer");
        if i == 0 {
            line.llm_says("Sorry, shall I book your oil change for Tuesday, December 8 at 9 AM?");
            line.run_until_quiet();
        }
    }
    let asked = line.llm.requests.len();
    line.run_until_quiet();
    assert_eq!(
        line.spoken().last().map(String::as_str),
        Some(
            "To book oil change for Tuesday, December 8 at 9:00 AM, press 1. To change it, press 2."
        )
    );
    assert_eq!(
        line.llm.requests.len(),
        asked,
        "the model waits for the key"
    );
    line.caller_presses('1');
    line.run_for(100);
    assert_eq!(
        line.llm.requests.len(),
        asked + 1,
        "the key is the caller's answer"
    );
    assert!(last_sent(&line).contains("pressed 1 on the keypad"));
    line.llm_calls(None, "b9", "book_appointment", tuesday);
    assert_eq!(line.tools.len(), 1, "booked once, on the keypad's yes");
}

/// A caller whose number is hidden types it: the model asks for the keypad, the agent says how,
/// every key is a digit (0 does not transfer meanwhile), `#` ends it and the digits are the
/// caller's next turn; a pause ends it too.
#[test]
fn a_phone_number_typed_on_the_keypad_is_the_callers_next_turn() {
    let mut line = Line::greeted();
    line.caller_turn("book_oil_change", "I'd like to book an oil change.");
    line.llm_calls(None, "k1", "enter_phone_on_keypad", json!({}));
    let asked = line.llm.requests.len();
    line.run_until_quiet();
    assert_eq!(
        line.spoken().last().map(String::as_str),
        Some("Please type your phone number on the keypad, then press the pound key.")
    );
    for key in "5125550101#".chars() {
        line.caller_presses(key);
        line.run_for(150);
    }
    assert!(
        line.handoffs.is_empty(),
        "0 was a digit, not the transfer key"
    );
    assert_eq!(line.llm.requests.len(), asked + 1);
    assert_eq!(last_sent(&line), "(typed on the keypad: 5125550101)");

    // A pause ends the entry with what was typed.
    line.llm_calls(None, "k2", "enter_phone_on_keypad", json!({}));
    line.run_until_quiet();
    line.caller_presses('5');
    line.caller_presses('1');
    line.run_for(7_000);
    assert_eq!(last_sent(&line), "(typed on the keypad: 51)");
    // Afterwards 0 is the transfer key again.
    line.llm_says("Thanks.");
    line.run_until_quiet();
    line.caller_presses('0');
    line.run_for(3_000);
    assert_eq!(line.handoffs.len(), 1);
}
