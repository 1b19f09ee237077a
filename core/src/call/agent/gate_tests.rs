use super::*;
use crate::tool::ToolCall;
use crate::tool::args::{BookAppointment, CancelAppointment, RescheduleAppointment};

fn book(start: &str) -> CrmRequest {
    CrmRequest::BookAppointment(BookAppointment {
        customer_id: 1,
        vehicle_id: Some(2),
        service: "Oil change".into(),
        start: start.into(),
        notes: None,
    })
}

/// The conversation as the agent has it when the model calls `request`: the exchanges, then
/// the model's message calling the tool.
fn history(exchanges: &[(&str, &str)]) -> Vec<ChatMessage> {
    let mut h = vec![ChatMessage::system("You book service appointments.")];
    for (role, text) in exchanges {
        h.push(match *role {
            "caller" => ChatMessage::user(*text),
            _ => ChatMessage::assistant(*text),
        });
    }
    let call = ToolCall::parse("call_1", "book_appointment", "{}");
    h.push(ChatMessage::assistant_tool_calls(None, vec![call]));
    h
}

const READ_BACK: &str =
    "I can book your oil change for Tuesday, December 1 at 9:00 AM. Shall I book it?";

#[test]
fn a_booking_the_caller_never_heard_read_back_is_not_run() {
    let h = history(&[("caller", "Book me an oil change Tuesday at nine.")]);
    let gate = judge(&book("2026-12-01T09:00"), &h);
    let Gate::Confirm { read_back, why } = &gate else {
        panic!("{gate:?}")
    };
    assert_eq!(
        read_back,
        "Shall I book oil change for Tuesday, December 1 at 9:00 AM?"
    );
    assert!(why.contains("read back"));
    let result: serde_json::Value = serde_json::from_str(&gate.tool_result().unwrap()).unwrap();
    assert_eq!(result["needs_confirmation"], true);
    assert_eq!(result["ok"], false);
}

#[test]
fn a_read_back_followed_by_a_yes_runs() {
    let h = history(&[
        ("caller", "Book me an oil change Tuesday at nine."),
        ("agent", READ_BACK),
        ("caller", "Yes, that's right."),
    ]);
    assert_eq!(judge(&book("2026-12-01T09:00"), &h), Gate::Run);
    assert_eq!(Gate::Run.tool_result(), None);
}

#[test]
fn a_yes_cut_in_two_turns_at_its_comma_is_one_answer() {
    let h = history(&[
        ("agent", READ_BACK),
        ("caller", "Yes,"),
        ("caller", "go ahead."),
    ]);
    assert_eq!(judge(&book("2026-12-01T09:00"), &h), Gate::Run);
}

#[test]
fn a_bare_yes_as_the_recogniser_mishears_it_is_a_yes_and_a_bare_no_a_no() {
    let h = history(&[("agent", READ_BACK), ("caller", "Share.")]);
    assert_eq!(judge(&book("2026-12-01T09:00"), &h), Gate::Run);
    let h = history(&[("agent", READ_BACK), ("caller", "Note.")]);
    assert_ne!(judge(&book("2026-12-01T09:00"), &h), Gate::Run);
    // A longer reply with such a word in it says nothing clear.
    let h = history(&[
        ("agent", READ_BACK),
        ("caller", "Share it with my wife first."),
    ]);
    assert_ne!(judge(&book("2026-12-01T09:00"), &h), Gate::Run);
}

#[test]
fn a_no_or_a_correction_does_not_book() {
    for reply in [
        "No, make it Friday.",
        "Yes, but make it Friday.",
        "Hmm, wait.",
    ] {
        let h = history(&[("agent", READ_BACK), ("caller", reply)]);
        let gate = judge(&book("2026-12-01T09:00"), &h);
        assert!(
            matches!(gate, Gate::Confirm { why, .. } if why.contains("did not confirm")),
            "{reply}: {gate:?}"
        );
    }
    let h = history(&[
        ("agent", READ_BACK),
        ("caller", "What do you charge for it?"),
    ]);
    assert!(matches!(
        judge(&book("2026-12-01T09:00"), &h),
        Gate::Confirm { why, .. } if why.contains("not said yes")
    ));
}

#[test]
fn a_yes_to_another_time_than_the_one_booked_is_not_a_yes_to_this_one() {
    let h = history(&[("agent", READ_BACK), ("caller", "Yes.")]);
    assert!(matches!(
        judge(&book("2026-12-01T10:00"), &h),
        Gate::Confirm { .. }
    ));
    assert!(matches!(
        judge(&book("2026-12-02T09:00"), &h),
        Gate::Confirm { .. }
    ));
    let brakes = CrmRequest::BookAppointment(BookAppointment {
        service: "Brake inspection".into(),
        ..match book("2026-12-01T09:00") {
            CrmRequest::BookAppointment(b) => b,
            _ => unreachable!(),
        }
    });
    assert!(matches!(judge(&brakes, &h), Gate::Confirm { .. }));
}

#[test]
fn a_read_back_in_the_same_turn_as_the_booking_is_not_confirmed() {
    let mut h = history(&[("caller", "Tuesday at nine works.")]);
    h.pop();
    let call = ToolCall::parse("call_1", "book_appointment", "{}");
    h.push(ChatMessage::assistant_tool_calls(
        Some(READ_BACK.into()),
        vec![call],
    ));
    assert!(matches!(
        judge(&book("2026-12-01T09:00"), &h),
        Gate::Confirm { .. }
    ));
}

#[test]
fn times_and_days_are_recognised_as_people_and_models_say_them() {
    for said in [
        "Oil change on Tuesday at 9 AM, right?",
        "an oil change on December 1st at nine o'clock?",
        "oil change, Tuesday 9am?",
    ] {
        let h = history(&[("agent", said), ("caller", "Sounds good.")]);
        assert_eq!(judge(&book("2026-12-01T09:00"), &h), Gate::Run, "{said}");
    }
    let h = history(&[
        (
            "agent",
            "Oil change Tuesday at half past two in the afternoon?",
        ),
        ("caller", "yep"),
    ]);
    assert_eq!(judge(&book("2026-12-01T14:30"), &h), Gate::Run);
    let h = history(&[("agent", "Oil change Tuesday at noon?"), ("caller", "OK")]);
    assert_eq!(judge(&book("2026-12-01T12:00"), &h), Gate::Run);
}

#[test]
fn a_move_and_a_cancel_are_gated_the_same_way() {
    let r = CrmRequest::RescheduleAppointment(RescheduleAppointment {
        customer_id: 1,
        appointment_id: 7,
        new_start: "2026-12-04T13:30".into(),
    });
    let h = history(&[
        ("agent", "I'll move it to Friday at 1:30 PM. Is that right?"),
        ("caller", "That works."),
    ]);
    assert_eq!(judge(&r, &h), Gate::Run);
    for (reply, runs) in [
        ("That one works.", true),
        ("That doesn't work.", false),
        ("That won't work.", false),
    ] {
        let h = history(&[
            ("agent", "I'll move it to Friday at 1:30 PM. Is that right?"),
            ("caller", reply),
        ]);
        assert_eq!(judge(&r, &h) == Gate::Run, runs, "{reply}");
    }
    let h = history(&[("caller", "Move it to Friday afternoon.")]);
    assert!(
        matches!(judge(&r, &h), Gate::Confirm { read_back, .. } if read_back.contains("Friday, December 4 at 1:30 PM"))
    );

    let c = CrmRequest::CancelAppointment(CancelAppointment {
        customer_id: 1,
        appointment_id: 7,
        reason: None,
    });
    let h = history(&[("caller", "Cancel my appointment.")]);
    assert!(matches!(judge(&c, &h), Gate::Confirm { .. }));
    let h = history(&[
        ("agent", "Shall I cancel your oil change on Tuesday?"),
        ("caller", "Yes please."),
    ]);
    assert_eq!(judge(&c, &h), Gate::Run);
}

#[test]
fn other_tools_are_not_gated() {
    let h = history(&[]);
    assert_eq!(judge(&CrmRequest::ListServices, &h), Gate::Run);
}

#[test]
fn weekdays_follow_the_calendar() {
    let day = |s: &str| WEEKDAYS[Start::parse(s).unwrap().weekday];
    assert_eq!(day("2026-12-01T09:00"), "tuesday");
    assert_eq!(day("2024-02-29T09:00"), "thursday");
    assert_eq!(day("2000-01-01T09:00"), "saturday");
    assert_eq!(day("2027-09-06T09:00"), "monday");
    assert!(Start::parse("2026-13-01T09:00").is_none());
    assert!(Start::parse("tomorrow at nine").is_none());
}

#[test]
fn two_unclear_answers_to_one_read_back_bring_the_keypad_and_one_confirms_that_change() {
    let mut gate = Gatekeeper::default();
    let unclear = history(&[("agent", READ_BACK), ("caller", "The blue one, I think.")]);
    assert!(matches!(
        gate.judge(&book("2026-12-01T09:00"), &unclear),
        Verdict::Refuse(_)
    ));
    assert!(!gate.keypad_offered());
    let Verdict::Keypad { prompt, result } = gate.judge(&book("2026-12-01T09:00"), &unclear) else {
        panic!("the second unclear answer brings the keypad")
    };
    assert_eq!(
        prompt,
        "To book oil change for Tuesday, December 1 at 9:00 AM, press 1. To change it, press 2."
    );
    assert!(result.contains("keypad"));
    assert!(gate.keypad_offered());
    assert_eq!(gate.keypad('5'), None, "other keys wait");
    let said = gate.keypad('1').unwrap();
    assert!(said.starts_with("(pressed 1 on the keypad: yes"), "{said}");
    // The keypad's yes is for this change only, and once.
    let after = history(&[("agent", &prompt), ("caller", &said)]);
    assert!(matches!(
        gate.judge(&book("2026-12-01T10:00"), &after),
        Verdict::Refuse(_)
    ));
    assert_eq!(gate.judge(&book("2026-12-01T09:00"), &after), Verdict::Run);
    assert!(matches!(
        gate.judge(&book("2026-12-01T09:00"), &after),
        Verdict::Refuse(_)
    ));
}

#[test]
fn a_clear_no_or_two_on_the_keypad_declines_and_unclear_answers_count_per_change() {
    let mut gate = Gatekeeper::default();
    let unclear = history(&[("agent", READ_BACK), ("caller", "Uh, the blue one.")]);
    let other = history(&[
        (
            "agent",
            "An oil change on Wednesday at 9 AM. Shall I book it?",
        ),
        ("caller", "The blue one."),
    ]);
    assert!(matches!(
        gate.judge(&book("2026-12-01T09:00"), &unclear),
        Verdict::Refuse(_)
    ));
    // An unclear answer to another change starts the count again.
    assert!(matches!(
        gate.judge(&book("2026-12-02T09:00"), &other),
        Verdict::Refuse(_)
    ));
    let no = history(&[("agent", READ_BACK), ("caller", "No.")]);
    assert!(matches!(
        gate.judge(&book("2026-12-01T09:00"), &no),
        Verdict::Refuse(_)
    ));
    assert!(!gate.keypad_offered(), "a clear no is understood");
    gate.judge(&book("2026-12-01T09:00"), &unclear);
    assert!(matches!(
        gate.judge(&book("2026-12-01T09:00"), &unclear),
        Verdict::Keypad { .. }
    ));
    let said = gate.keypad('2').unwrap();
    assert!(said.contains("change it"), "{said}");
    assert!(!gate.keypad_offered());
    let after = history(&[("agent", "To book ..., press 1."), ("caller", &said)]);
    assert!(matches!(
        gate.judge(&book("2026-12-01T09:00"), &after),
        Verdict::Refuse(_)
    ));
}
