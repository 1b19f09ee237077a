//! The dialogue using context: the option picked, the vehicle named, a move offered instead
//! of a second booking, a closed day explained, the hours of the day asked, a bare name, a
//! turn cut at a comma, and honest transfer reasons.

use serde_json::{Value, json};

use super::tests::{Talk, crm};

/// A caller with two vehicles and two appointments, a shop closed on Sundays and on
/// Thanksgiving (Thursday, November 26).
fn busy_crm(name: &str, args: &Value) -> Value {
    match name {
        "lookup_customer" => json!({"ok": true, "found": true,
            "customer": {"id": 1, "name": "Maria Gonzalez"},
            "vehicles": [
                {"id": 7, "description": "2019 Honda Accord"},
                {"id": 8, "description": "2021 Toyota Tacoma"}],
            "upcoming_appointments": [
                {"id": 42, "service": "Oil change", "start": "2026-11-23T08:00", "spoken": "Monday, November 23 at 8:00 AM"},
                {"id": 43, "service": "Brake inspection", "start": "2026-11-25T10:00", "spoken": "Wednesday, November 25 at 10:00 AM"}]}),
        "business_info" => json!({"ok": true, "hours": [
            {"day": "Monday", "opens": "7:30 AM", "closes": "6:00 PM"},
            {"day": "Thursday", "opens": "7:30 AM", "closes": "6:00 PM"},
            {"day": "Friday", "opens": "7:30 AM", "closes": "6:00 PM"},
            {"day": "Sunday", "closed": true}],
            "closures": [{"date": "2026-11-26", "spoken": "Thursday, November 26", "reason": "Thanksgiving"}]}),
        "find_available_slots" => {
            let (slots, closed) = match args["date"].as_str().unwrap_or_default() {
                // Closed: the search runs on into the next days.
                "sunday" | "today" => (
                    vec![
                        json!({"start": "2026-11-23T07:30", "spoken": "Monday, November 23 at 7:30 AM"}),
                    ],
                    json!([]),
                ),
                "thursday" => (
                    vec![
                        json!({"start": "2026-11-27T07:30", "spoken": "Friday, November 27 at 7:30 AM"}),
                    ],
                    json!([{"date": "2026-11-26", "spoken": "Thursday, November 26", "reason": "Thanksgiving"}]),
                ),
                _ => (
                    vec![
                        json!({"start": "2026-11-24T09:00", "spoken": "Tuesday, November 24 at 9:00 AM"}),
                        json!({"start": "2026-11-24T10:30", "spoken": "Tuesday, November 24 at 10:30 AM"}),
                        json!({"start": "2026-11-24T14:00", "spoken": "Tuesday, November 24 at 2:00 PM"}),
                    ],
                    json!([]),
                ),
            };
            json!({"ok": true, "service": args["service"], "slots": slots, "closed_days": closed})
        }
        "book_appointment" | "reschedule_appointment" => {
            let start = args
                .get("start")
                .or(args.get("new_start"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let spoken = match start {
                "2026-11-24T10:30" => "Tuesday, November 24 at 10:30 AM",
                "2026-11-24T14:00" => "Tuesday, November 24 at 2:00 PM",
                "2026-11-23T07:30" => "Monday, November 23 at 7:30 AM",
                "2026-11-27T07:30" => "Friday, November 27 at 7:30 AM",
                _ => "Tuesday, November 24 at 9:00 AM",
            };
            json!({"ok": true, "appointment": {"id": 44, "service": args["service"], "spoken": spoken}})
        }
        other => crm(true, other, args),
    }
}

fn count(t: &Talk, tool: &str) -> usize {
    t.tools.iter().filter(|(n, _)| n == tool).count()
}

#[test]
fn the_vehicle_named_is_booked_and_the_caller_is_asked_when_they_named_none() {
    let mut t = Talk::with_crm(busy_crm);
    let a = t.caller("I need a tire rotation, please.");
    assert!(
        a.contains("Which vehicle is this for: the Honda Accord or the Toyota Tacoma?"),
        "{a}"
    );
    let a = t.caller("The Tacoma.");
    assert!(a.contains("What day would suit you"), "{a}");
    let a = t.caller("Tuesday works.");
    assert!(a.contains("for the Toyota Tacoma for Tuesday"), "{a}");
    t.caller("Yes please.");
    assert_eq!(t.last_tool("book_appointment")["vehicle_id"], 8);

    let mut t = Talk::with_crm(busy_crm);
    t.caller("Can I get a tire rotation for my Honda on Tuesday?");
    t.caller("Yes.");
    assert_eq!(t.last_tool("book_appointment")["vehicle_id"], 7);
}

#[test]
fn a_second_booking_of_a_booked_service_is_offered_as_a_move() {
    let mut t = Talk::with_crm(busy_crm);
    let a = t.caller("I'd like to book an oil change for Tuesday.");
    assert!(
        a.contains("You already have an oil change booked for Monday, November 23"),
        "{a}"
    );
    assert!(a.contains("move that one instead"), "{a}");
    let a = t.caller("Yes, let's do that.");
    assert!(
        a.contains("move your oil change from Monday, November 23 at 8:00 AM to Tuesday"),
        "{a}"
    );
    t.caller("Yes.");
    assert_eq!(
        t.last_tool("reschedule_appointment"),
        json!({"customer_id": 1, "appointment_id": 42, "new_start": "2026-11-24T09:00"})
    );
    assert_eq!(count(&t, "book_appointment"), 0, "no second booking");

    // Declined: a second one is booked.
    let mut t = Talk::with_crm(busy_crm);
    t.caller("I'd like to book an oil change for the Accord on Tuesday.");
    let a = t.caller("No, I want another one.");
    assert!(a.contains("I can book your oil change"), "{a}");
    t.caller("Yes.");
    assert_eq!(count(&t, "book_appointment"), 1);
}

#[test]
fn options_are_picked_by_place_and_another_time_is_offered_on_request() {
    let mut t = Talk::with_crm(busy_crm);
    let a = t.caller("How much are brakes?");
    assert!(
        a.contains("Did you mean Brake inspection or Brake pad replacement?"),
        "{a}"
    );
    let a = t.caller("The second one.");
    assert!(a.contains("$249.00"), "{a}");

    let mut t = Talk::with_crm(busy_crm);
    t.caller("A tire rotation for the Accord on Tuesday, please.");
    let a = t.caller("Do you have anything later?");
    assert!(a.contains("Tuesday, November 24 at 10:30 AM"), "{a}");
    let a = t.caller("No.");
    assert!(a.contains("Tuesday, November 24 at 2:00 PM"), "{a}");
    t.caller("Okay, that works.");
    assert_eq!(t.last_tool("book_appointment")["start"], "2026-11-24T14:00");
}

#[test]
fn which_appointment_is_asked_when_there_are_two_and_the_named_one_is_moved() {
    let mut t = Talk::with_crm(busy_crm);
    let a = t.caller("I need to cancel my appointment.");
    assert!(a.contains("Which appointment do you mean"), "{a}");
    let a = t.caller("The brake inspection.");
    assert!(
        a.contains("brake inspection on Wednesday") && a.contains("Shall I cancel it?"),
        "{a}"
    );
    t.caller("Yes.");
    assert_eq!(t.last_tool("cancel_appointment")["appointment_id"], 43);

    let mut t = Talk::with_crm(busy_crm);
    t.caller("Can I move my oil change to Tuesday?");
    t.caller("Yes.");
    assert_eq!(t.last_tool("reschedule_appointment")["appointment_id"], 42);
}

#[test]
fn a_closed_day_is_explained_before_another_is_offered() {
    let mut t = Talk::with_crm(busy_crm);
    let a = t.caller("Could I bring the Accord in on Sunday for an oil change? A second one.");
    // The move offer first; declined.
    assert!(a.contains("move that one instead"), "{a}");
    let a = t.caller("No.");
    assert!(
        a.starts_with("We're closed on Sundays. I can book your oil change"),
        "{a}"
    );
    assert!(a.contains("Monday, November 23 at 7:30 AM"), "{a}");

    let mut t = Talk::with_crm(busy_crm);
    let a = t.caller("A tire rotation for the Honda on Thursday.");
    assert!(
        a.starts_with("We're closed on Thursday, November 26 for Thanksgiving."),
        "{a}"
    );
}

#[test]
fn an_hour_not_free_is_said_before_the_nearest_is_offered() {
    let mut t = Talk::with_crm(busy_crm);
    let a = t.caller("A tire rotation for the Honda on Tuesday at 4 pm.");
    assert!(a.starts_with("I don't have 4 PM free"), "{a}");
}

#[test]
fn the_hours_of_the_day_asked_are_read_not_the_week() {
    let mut t = Talk::with_crm(busy_crm);
    // Today is Sunday in the prompt.
    let a = t.caller("Are you open today?");
    assert!(a.starts_with("We are closed on Sunday."), "{a}");
    let a = t.caller("And tomorrow?");
    assert!(
        a.starts_with("On Monday we are open from 7:30 AM to 6:00 PM."),
        "{a}"
    );
    let a = t.caller("What are your hours on Thursday?");
    assert!(
        a.contains("On Thursday we are open")
            && a.contains("closed on Thursday, November 26 (Thanksgiving)"),
        "{a}"
    );
}

#[test]
fn a_bare_name_answers_the_question_for_it() {
    let mut t = Talk::new(false);
    t.caller("I need an oil change.");
    let a = t.caller("It's Jordan Lee.");
    assert_eq!(
        t.last_tool("create_customer"),
        json!({"name": "Jordan Lee"})
    );
    assert!(a.contains("What day would suit you"), "{a}");
}

#[test]
fn a_yes_cut_at_its_comma_books_once_and_the_rest_is_not_a_misunderstanding() {
    let mut t = Talk::new(true);
    t.caller("I'd like to book an oil change on Tuesday.");
    let a = t.caller("Yes,");
    assert!(a.starts_with("You're all set"), "{a}");
    let a = t.caller("go ahead.");
    assert!(t.ended.is_none(), "{a}");
    assert_eq!(count(&t, "book_appointment"), 1);
    let a = t.caller("No, that's everything, thanks.");
    assert!(a.contains("Goodbye"), "{a}");
}

#[test]
fn no_record_of_the_caller_is_a_transfer_that_says_so() {
    let mut t = Talk::new(false);
    t.caller("I need to cancel my appointment.");
    assert_eq!(
        t.ended,
        Some(("transfer_to_service_desk", json!({"reason": "cannot_help"})))
    );
}

#[test]
fn a_price_then_no_thanks_asks_for_anything_else_and_a_yes_with_a_day_books() {
    let mut t = Talk::new(true);
    t.caller("What's a brake inspection going to cost me?");
    let a = t.caller("No, not right now.");
    assert!(a.starts_with("All right. Is there anything else"), "{a}");
    let a = t.caller("No, that's all.");
    assert!(a.contains("Goodbye"), "{a}");

    let mut t = Talk::new(true);
    t.caller("How much is a brake inspection?");
    let a = t.caller("Yeah, let's do Thursday afternoon.");
    assert!(
        a.contains("I can book your brake inspection for Thursday"),
        "{a}"
    );
}

#[test]
fn what_callers_add_mid_booking_refines_it_and_a_closing_bye_ends_it() {
    // A service named with no request is a booking; a part of day asked for mid-offer is a
    // new search, not a move; "please do" after the booking is no new request; the last
    // words' "bye" ends the call.
    let mut t = Talk::new(true);
    let a = t.caller("Hey, I need to get a tire rotation.");
    assert!(
        a.contains("What day would suit you for the tire rotation"),
        "{a}"
    );
    t.caller("Monday.");
    let a = t.caller("Hmm, do you have something in the afternoon?");
    assert_eq!(
        t.last_tool("find_available_slots")["part_of_day"],
        "afternoon"
    );
    assert!(a.contains("I can book your tire rotation"), "{a}");
    let a = t.caller("Yes.");
    assert!(a.starts_with("You're all set"), "{a}");
    let a = t.caller("Please do.");
    assert!(t.ended.is_none() && !a.contains("What day"), "{a}");
    let a = t.caller("Great. Thanks, by.");
    assert!(a.contains("Goodbye"), "{a}");
}

#[test]
fn an_option_is_picked_by_a_word_only_it_has_among_those_offered() {
    let mut t = Talk::new(true);
    t.caller("How much for brakes?");
    // "Inspection" alone would also fit the state inspection, which was not offered.
    let a = t.caller("The inspection.");
    assert!(a.contains("$69.99"), "{a}");
}

#[test]
fn this_sunday_said_on_a_sunday_is_searched_from_today() {
    let mut t = Talk::with_crm(busy_crm);
    t.caller("A tire rotation for the Accord this Sunday, please.");
    assert_eq!(t.last_tool("find_available_slots")["date"], "today");
}

#[test]
fn a_yes_and_a_goodbye_in_one_breath_makes_the_change_then_ends() {
    let mut t = Talk::new(true);
    t.caller("I'd like to book an oil change on Tuesday.");
    let a = t.caller("Please do. Thanks, bye.");
    assert_eq!(count(&t, "book_appointment"), 1, "{a}");
    assert_eq!(t.ended.as_ref().map(|e| e.0), Some("end_call"), "{a}");
}

#[test]
fn a_move_asked_for_answers_the_move_offer_and_a_resembling_move_of_nothing_booked_books() {
    let mut t = Talk::with_crm(busy_crm);
    t.caller("I'd like to book an oil change for the Accord.");
    let a = t.caller("Could we do Friday instead?");
    assert!(a.contains("move your oil change from Monday"), "{a}");

    // "Change" heard in "could I get an oil change": no tire rotation is booked, so it is
    // a booking.
    let mut t = Talk::with_crm(busy_crm);
    let a = t.caller("Could I get a tire rotation change for the Honda on Tuesday?");
    assert!(a.contains("I can book your tire rotation"), "{a}");
}

#[test]
fn a_service_named_without_a_request_stays_a_booking_through_the_next_answers() {
    let mut t = Talk::with_crm(busy_crm);
    // (No request heard in these words: the classifier finds none.)
    let a = t.caller("The tire rotation.");
    assert!(a.contains("Which vehicle"), "{a}");
    let a = t.caller("The Tacoma.");
    assert!(a.contains("What day would suit you"), "{a}");
    let a = t.caller("Tuesday.");
    assert!(a.contains("I can book your tire rotation"), "{a}");
}

#[test]
fn a_yes_naming_the_day_offered_books_it() {
    let mut t = Talk::with_crm(busy_crm);
    let a = t.caller("A tire rotation for the Accord on Sunday, please.");
    assert!(a.contains("Monday, November 23 at 7:30 AM"), "{a}");
    t.caller("Sure, Monday is fine.");
    assert_eq!(t.last_tool("book_appointment")["start"], "2026-11-23T07:30");
}

#[test]
fn a_bare_yes_or_no_the_recogniser_misheard_is_taken_as_it_sounds_after_a_question() {
    let mut t = Talk::new(true);
    t.caller("I'd like to book an oil change.");
    let a = t.caller("Tuesday morning.");
    assert!(a.contains("Shall I book it?"), "{a}");
    // "Sure." as the built-in recogniser wrote it.
    let a = t.caller("Share.");
    assert_eq!(count(&t, "book_appointment"), 1, "{a}");
    assert!(a.contains("all set"), "{a}");
    // "Nope." to "anything else?"
    let a = t.caller("Note, bye.");
    assert_eq!(t.ended.as_ref().map(|e| e.0), Some("end_call"), "{a}");
}

#[test]
fn as_soon_as_possible_offers_the_first_free_slot_without_a_day_named() {
    for reply in [
        "As soon as possible, please.",
        "So as is possible,",
        "Whenever you have.",
    ] {
        let mut t = Talk::new(true);
        t.caller("I'd like to book an oil change.");
        let a = t.caller(reply);
        assert_eq!(
            t.last_tool("find_available_slots")["date"],
            "today",
            "{reply}"
        );
        assert!(
            a.contains("Tuesday, November 24 at 9:00 AM") && a.contains("Shall I book it?"),
            "{reply}: {a}"
        );
        // No day was asked, so none is explained away.
        assert!(
            !a.contains("closed") && !a.contains("Nothing is free"),
            "{a}"
        );
        let a = t.caller("Yeah, book it.");
        assert_eq!(count(&t, "book_appointment"), 1, "{reply}: {a}");
        assert!(a.contains("all set"), "{reply}: {a}");
    }
}

#[test]
fn lets_do_a_day_after_a_price_is_a_yes_to_booking_on_that_day() {
    let mut t = Talk::new(true);
    let a = t.caller("How much is a brake inspection?");
    assert!(a.contains("Would you like to book one?"), "{a}");
    let a = t.caller("Let's do Thursday morning.");
    let search = t.last_tool("find_available_slots");
    assert_eq!(search["service"], "Brake inspection", "{a}");
    assert_eq!(search["date"], "thursday", "{a}");
    assert_eq!(search["part_of_day"], "morning", "{a}");
    // With only the part of the day, the day is asked, not the part again.
    let mut t = Talk::new(true);
    t.caller("How much is a brake inspection?");
    let a = t.caller("Let's do mornings.");
    assert!(
        a.ends_with("What day would suit you for the brake inspection?"),
        "{a}"
    );
}

#[test]
fn a_yes_to_the_first_free_slot_books_it_for_the_vehicle_named() {
    let mut t = Talk::with_crm(busy_crm);
    t.caller("Hey, I need to get a tire rotation.");
    let a = t.caller("It's for the Tacoma.");
    assert!(a.contains("What day"), "{a}");
    let a = t.caller("So it is possible,");
    assert!(a.contains("Monday, November 23 at 7:30 AM"), "{a}");
    let a = t.caller("Yeah, book it.");
    assert_eq!(count(&t, "book_appointment"), 1, "{a}");
    assert_eq!(t.last_tool("book_appointment")["vehicle_id"], 8, "{a}");
    // Thanks after the change is made: it is not announced again, nor made again.
    let a = t.caller("Thanks.");
    assert_eq!(a, "You're welcome! Is there anything else I can help with?");
    let a = t.caller("Goodbye.");
    assert_eq!(t.ended.as_ref().map(|e| e.0), Some("end_call"), "{a}");
    assert_eq!(count(&t, "book_appointment"), 1);
}
