//! Tests of `dialogue`: whole conversations against a pretend CRM.

use serde_json::{Value, json};

use super::*;
use crate::providers::llm::ToolCall;

/// A pretend CRM answering the tools like the real ones (shapes from `src/tools`).
pub(super) fn crm(known: bool, name: &str, args: &Value) -> Value {
    let slot = |day: &str| {
        let (start, spoken) = match day {
            "thursday" => ("2026-11-26T13:00", "Thursday, November 26 at 1:00 PM"),
            _ => ("2026-11-24T09:00", "Tuesday, November 24 at 9:00 AM"),
        };
        json!({"start": start, "spoken": spoken})
    };
    match name {
        "lookup_customer" if known => json!({"ok": true, "found": true,
            "customer": {"id": 1, "name": "Maria Gonzalez"},
            "vehicles": [{"id": 7, "make": "Honda", "model": "Accord"}],
            "upcoming_appointments": [{"id": 42, "service": "State inspection", "start": "2026-11-23T08:00", "spoken": "Monday, November 23 at 8:00 AM"}]}),
        "lookup_customer" => json!({"ok": true, "found": false, "phone": "+15125550177"}),
        "create_customer" => json!({"ok": true, "customer": {"id": 11, "name": args["name"]}}),
        "list_services" => json!({"ok": true, "services": [
            {"name": "Oil change", "price": "$89.99", "duration_minutes": 45},
            {"name": "Brake inspection", "price": "$69.99", "duration_minutes": 60},
            {"name": "Brake pad replacement", "price": "$249.00", "duration_minutes": 120},
            {"name": "Tire rotation", "price": "$49.99", "duration_minutes": 30},
            {"name": "State inspection", "price": "$35.00", "duration_minutes": 45}]}),
        "business_info" => json!({"ok": true, "hours": [
            {"day": "Friday", "opens": "7:30 AM", "closes": "6:00 PM"},
            {"day": "Saturday", "opens": "8:00 AM", "closes": "2:00 PM"},
            {"day": "Sunday", "closed": true}]}),
        "find_available_slots" => {
            let mut slots = vec![slot(args["date"].as_str().unwrap_or_default())];
            if args["date"] == "friday" {
                slots.push(json!({"start": "2026-11-27T14:00", "spoken": "Friday, November 27 at 2:00 PM"}));
            }
            json!({"ok": true, "service": args["service"], "slots": slots})
        }
        "book_appointment" | "reschedule_appointment" => {
            let start = args
                .get("start")
                .or(args.get("new_start"))
                .cloned()
                .unwrap_or_default();
            let spoken = if start.as_str().unwrap_or_default().contains("26") {
                "Thursday, November 26 at 1:00 PM"
            } else {
                "Tuesday, November 24 at 9:00 AM"
            };
            json!({"ok": true, "appointment": {"id": 42, "service": "Oil change", "spoken": spoken}})
        }
        "cancel_appointment" => {
            json!({"ok": true, "appointment": {"id": 42, "status": "cancelled"}})
        }
        "vehicle_status" => json!({"ok": true, "in_shop": [{"vehicle": "2020 Honda Accord",
            "status": "waiting_on_parts", "spoken": "waiting on parts",
            "note": "the gasket arrives Thursday."}]}),
        other => panic!("unexpected tool {other}"),
    }
}

/// A conversation: runs the agent's steps (tools answered by `crm`) until it waits for
/// the caller; returns what it said and the tools it called with their arguments.
/// Answers a tool call: name and arguments in, result out.
type Crm = Box<dyn Fn(&str, &Value) -> Value>;

pub(super) struct Talk {
    pub messages: Vec<ChatMessage>,
    crm: Crm,
    pub tools: Vec<(String, Value)>,
    pub ended: Option<(&'static str, Value)>,
    /// The next booking is refused as the engine's gate refuses one not confirmed.
    pub refuse_once: bool,
}

impl Talk {
    pub fn new(known: bool) -> Self {
        Self::with_crm(move |name, args| crm(known, name, args))
    }

    /// A conversation with the CRM `crm`, on Sunday, November 22, 2026.
    pub fn with_crm(crm: impl Fn(&str, &Value) -> Value + 'static) -> Self {
        Self {
            messages: vec![
                ChatMessage::system("You answer the phone. Today is Sunday, November 22, 2026."),
                ChatMessage::assistant("Thanks for calling."),
            ],
            crm: Box::new(crm),
            tools: Vec::new(),
            ended: None,
            refuse_once: false,
        }
    }

    pub fn caller(&mut self, text: &str) -> String {
        self.messages.push(ChatMessage::user(text));
        let mut said = Vec::new();
        for _ in 0..10 {
            let step = next_step(
                &self.messages,
                "Lone Star Auto Service",
                Some(crate::providers::llm::scripted::classify::for_tests()),
            );
            if let Some(t) = &step.say {
                said.push(t.clone());
            }
            let Some((name, args)) = step.call else {
                self.messages
                    .push(ChatMessage::assistant(step.say.unwrap_or_default()));
                return said.join(" ");
            };
            let id = format!("c{}", self.messages.len());
            self.messages.push(ChatMessage::assistant_tool_calls(
                step.say.clone(),
                vec![ToolCall::parse(id.clone(), name, args.to_string())],
            ));
            if matches!(name, "end_call" | "transfer_to_service_desk") {
                self.ended = Some((name, args));
                return said.join(" ");
            }
            self.tools.push((name.to_string(), args.clone()));
            let refuse = name == "book_appointment" && std::mem::take(&mut self.refuse_once);
            let result = if refuse || name == "book_appointment" && !self.read_back(&args) {
                // As the engine's booking gate answers a change not read back.
                json!({"ok": false, "needs_confirmation": true,
                    "message": "Not done: the caller did not hear this change read back.",
                    "read_back": "oil change"})
            } else {
                (self.crm)(name, &args)
            };
            self.messages
                .push(ChatMessage::tool_result(id, result.to_string()));
        }
        panic!("the agent never waited for the caller");
    }

    /// Whether the agent's last words before the caller's named the day being booked.
    fn read_back(&self, args: &Value) -> bool {
        let day = match args["start"].as_str().unwrap_or_default() {
            s if s.contains("-26T") => "Thursday",
            s if s.contains("-27T") => "Friday",
            s if s.contains("-23T") => "Monday",
            _ => "Tuesday",
        };
        self.messages
            .iter()
            .rev()
            .skip_while(|m| m.role != callbridge_core::chat::Role::User)
            .find(|m| m.role == callbridge_core::chat::Role::Assistant)
            .and_then(|m| m.content.as_deref())
            .is_some_and(|said| said.contains(day))
    }

    pub fn last_tool(&self, name: &str) -> Value {
        self.tools
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a.clone())
            .unwrap_or(Value::Null)
    }
}

#[test]
fn a_booking_with_a_correction_is_read_back_confirmed_and_made_once() {
    let mut t = Talk::new(true);
    let a = t.caller("Hi, I'd like to book an oil change for my Honda.");
    assert!(a.contains("What day would suit you"), "{a}");
    let a = t.caller("Tuesday morning would be great.");
    assert_eq!(
        t.last_tool("find_available_slots"),
        json!({"service": "Oil change", "date": "tuesday", "part_of_day": "morning"})
    );
    assert!(
        a.contains("Tuesday, November 24 at 9:00 AM") && a.contains("Shall I book it?"),
        "{a}"
    );
    let a = t.caller("No, Thursday, not Tuesday.");
    assert_eq!(t.last_tool("find_available_slots")["date"], "thursday");
    assert!(
        a.contains("Thursday, November 26") && a.contains("Shall I"),
        "{a}"
    );
    assert!(
        t.tools.iter().all(|(n, _)| n != "book_appointment"),
        "no booking without a yes"
    );
    let a = t.caller("Yes, that's right.");
    assert_eq!(
        t.last_tool("book_appointment"),
        json!({"customer_id": 1, "vehicle_id": 7, "service": "Oil change", "start": "2026-11-26T13:00"})
    );
    assert!(
        a.starts_with("You're all set: your oil change is booked for Thursday"),
        "{a}"
    );
    let a = t.caller("That's all, thank you. Goodbye.");
    assert!(a.contains("Goodbye"), "{a}");
    assert_eq!(t.ended.as_ref().map(|e| e.0), Some("end_call"));
    assert_eq!(
        t.tools
            .iter()
            .filter(|(n, _)| n == "book_appointment")
            .count(),
        1
    );
}

#[test]
fn a_time_the_caller_names_is_preferred_among_the_slots_found() {
    let mut t = Talk::new(true);
    t.caller("I'd like to book an oil change.");
    let a = t.caller("Friday at 2 pm, please.");
    assert!(a.contains("Friday, November 27 at 2:00 PM"), "{a}");
}

#[test]
fn a_yes_to_another_time_than_the_one_read_back_is_read_back_not_booked_in_a_loop() {
    let mut t = Talk::new(true);
    t.caller("I'd like to book an oil change.");
    let a = t.caller("Friday, please.");
    assert!(
        a.contains("Tuesday, November 24 at 9:00 AM"),
        "the first slot: {a}"
    );
    // A yes that names the other slot is a wish for it: read back, not booked.
    let a = t.caller("Yes, two o'clock works for me.");
    assert!(
        a.contains("Friday, November 27 at 2:00 PM") && a.contains("Shall I book it?"),
        "{a}"
    );
    assert!(t.ended.is_none());
    let booked = |t: &Talk| {
        t.tools
            .iter()
            .filter(|(n, _)| n == "book_appointment")
            .count()
    };
    assert_eq!(booked(&t), 0);
    let a = t.caller("Yes.");
    assert!(a.starts_with("You're all set"), "{a}");
    assert_eq!(t.last_tool("book_appointment")["start"], "2026-11-27T14:00");
    assert_eq!(booked(&t), 1);

    // The engine's gate refuses a booking once: the agent reads it back and waits rather
    // than calling the tool again (until "too many tool rounds").
    let mut t = Talk::new(true);
    t.caller("I'd like to book an oil change on Tuesday.");
    t.refuse_once = true;
    let a = t.caller("Yes.");
    assert!(
        a.contains("Tuesday, November 24 at 9:00 AM") && a.contains("Shall I book it?"),
        "{a}"
    );
    assert_eq!(booked(&t), 1, "one refused attempt");
    let a = t.caller("Yes.");
    assert!(a.starts_with("You're all set"), "{a}");
    assert_eq!(booked(&t), 2);
}

#[test]
fn an_unknown_caller_is_asked_for_a_name_and_created_before_booking() {
    let mut t = Talk::new(false);
    let a = t.caller("I need to book an oil change.");
    assert!(a.contains("May I have your name"), "{a}");
    let a = t.caller("My name is Sam Rivera.");
    assert_eq!(
        t.last_tool("create_customer"),
        json!({"name": "Sam Rivera"})
    );
    assert!(
        a.contains("What day would suit you for the oil change"),
        "{a}"
    );
}

#[test]
fn moving_and_cancelling_use_the_callers_appointment_after_a_yes() {
    let mut t = Talk::new(true);
    let a = t.caller("I need to move my appointment to Thursday afternoon.");
    assert_eq!(
        t.last_tool("find_available_slots"),
        json!({"service": "State inspection", "date": "thursday", "part_of_day": "afternoon"})
    );
    assert!(
        a.contains("from Monday, November 23 at 8:00 AM to Thursday"),
        "{a}"
    );
    let a = t.caller("Yes, please.");
    assert_eq!(
        t.last_tool("reschedule_appointment"),
        json!({"customer_id": 1, "appointment_id": 42, "new_start": "2026-11-26T13:00"})
    );
    assert!(a.starts_with("Done"), "{a}");

    let mut t = Talk::new(true);
    let a = t.caller("I'd like to cancel my appointment, please.");
    assert!(a.contains("Shall I cancel it?"), "{a}");
    let a = t.caller("No, keep it.");
    assert!(a.contains("left it as it is"), "{a}");
    assert!(t.tools.iter().all(|(n, _)| n != "cancel_appointment"));
    t.caller("Actually yes, cancel my appointment.");
    let a = t.caller("Yes.");
    assert_eq!(
        t.last_tool("cancel_appointment"),
        json!({"customer_id": 1, "appointment_id": 42})
    );
    assert!(a.contains("cancelled"), "{a}");
}

#[test]
fn hours_and_prices_are_answered_and_anything_else_goes_to_a_person() {
    let mut t = Talk::new(true);
    let a = t.caller("What time do you open on Saturday?");
    assert!(
        a.starts_with("On Saturday we are open from 8:00 AM to 2:00 PM."),
        "{a}"
    );
    let a = t.caller("How much is a brake inspection?");
    assert!(a.contains("$69.99") && a.contains("60 minutes"), "{a}");
    let a = t.caller("How much are brakes?");
    assert!(
        a.contains("Brake inspection or Brake pad replacement"),
        "{a}"
    );

    let mut t = Talk::new(true);
    t.caller("The weather is lovely.");
    t.caller("Purple monkeys dishwasher.");
    assert_eq!(
        t.ended,
        Some((
            "transfer_to_service_desk",
            json!({"reason": "not_understood"})
        )),
        "two sentences not understood"
    );
    let mut t = Talk::new(true);
    t.caller("Can I talk to a person?");
    assert_eq!(
        t.ended,
        Some((
            "transfer_to_service_desk",
            json!({"reason": "caller_asked"})
        ))
    );
}

#[test]
fn is_my_car_ready_reads_where_it_stands_and_an_unknown_caller_goes_to_the_desk() {
    for asked in [
        "Is my car ready yet?",
        "Hi, I'm calling to check on my Honda.",
    ] {
        let mut t = Talk::new(true);
        let a = t.caller(asked);
        assert_eq!(
            a,
            "Your 2020 Honda Accord is waiting on parts. The desk notes: the gasket arrives \
             Thursday. Is there anything else I can help with?",
            "{asked}"
        );
        assert_eq!(
            t.tools.last().unwrap(),
            &("vehicle_status".to_string(), json!({"customer_id": 1}))
        );
    }
    // Nothing in the shop.
    let mut t = Talk::with_crm(|name, args| match name {
        "vehicle_status" => json!({"ok": true, "in_shop": []}),
        _ => crm(true, name, args),
    });
    let a = t.caller("Is my truck done?");
    assert!(
        a.starts_with("I don't see any of your vehicles in the shop"),
        "{a}"
    );
    let mut t = Talk::new(false);
    t.caller("Is my car ready?");
    assert_eq!(
        t.ended,
        Some(("transfer_to_service_desk", json!({"reason": "cannot_help"})))
    );
}

/// A call brought back from an unanswered transfer: the greeting offered a callback.
fn back_from_the_desk() -> Talk {
    let mut t = Talk::with_crm(|name, args| match name {
        "request_callback" => {
            json!({"requested": true, "window": args["window"], "reason": args["reason"]})
        }
        other => crm(true, other, args),
    });
    t.messages[1] = ChatMessage::assistant(
        "I'm sorry, nobody at the service desk could pick up just now. I can have an advisor \
         call you back: when would suit you, and what is it about?",
    );
    t
}

#[test]
fn back_from_the_desk_the_callers_answer_is_the_callback_request() {
    let mut t = back_from_the_desk();
    let said = t.caller("Tomorrow morning please, it's about the noise from my brakes.");
    assert_eq!(t.tools.len(), 1, "{:?}", t.tools);
    let (name, args) = &t.tools[0];
    assert_eq!(name, "request_callback");
    assert_eq!(args["window"], "tomorrow in the morning");
    assert_eq!(
        args["reason"],
        "Tomorrow morning please, it's about the noise from my brakes."
    );
    assert!(
        said.starts_with("Done: an advisor will call you back tomorrow in the morning."),
        "{said}"
    );
    // Done: "no, that's all" is a goodbye, not another request.
    t.caller("No, that's all, thanks. Bye.");
    assert_eq!(t.ended.as_ref().map(|(n, _)| *n), Some("end_call"));
    assert_eq!(t.tools.len(), 1);
}

#[test]
fn a_bare_yes_to_the_callback_is_asked_for_the_details_and_a_no_is_let_go() {
    let mut t = back_from_the_desk();
    let said = t.caller("Yes please.");
    assert!(t.tools.is_empty());
    assert!(
        said.contains("When should an advisor call you back"),
        "{said}"
    );
    t.caller("Friday at two, about my oil change.");
    assert_eq!(t.tools[0].0, "request_callback");
    assert_eq!(t.tools[0].1["window"], "Friday around 2 PM");

    let mut t = back_from_the_desk();
    let said = t.caller("No thanks.");
    assert!(t.tools.is_empty());
    assert!(said.contains("anything else"), "{said}");
}
