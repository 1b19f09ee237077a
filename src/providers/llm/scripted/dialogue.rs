//! The scripted agent's dialogue: where the conversation stands, read back from the history
//! the conversation engine sends (the caller's sentences, the agent's own questions, the
//! tools' answers), and what to do next: say something or call one tool. Stateless between
//! requests, so it needs nothing the LLM path does not already keep, and a barge-in or a
//! cut history changes it the same way it changes an LLM's view.
//!
//! It books, moves and cancels with the same tools and the same read-back-and-yes rule as
//! the LLM, answers hours and prices, and hands anything else to the service desk.

use serde_json::{Value, json};

use super::understand::{Intent, service, understand, words};
use crate::providers::llm::{ChatMessage, Role};

/// The marker of a yes/no question about a change: the next "yes" carries it out.
const CONFIRM: &str = "Shall I";

/// What the agent does now.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Words to say first.
    pub say: Option<String>,
    /// A tool to call: name and arguments.
    pub call: Option<(&'static str, Value)>,
}

fn say(text: impl Into<String>) -> Step {
    Step {
        say: Some(text.into()),
        call: None,
    }
}

fn call(name: &'static str, arguments: Value) -> Step {
    Step {
        say: None,
        call: Some((name, arguments)),
    }
}

/// Where the conversation stands.
#[derive(Debug, Default)]
struct State {
    intent: Option<Intent>,
    /// The caller's sentences that may name a service, latest last.
    service_said: Vec<String>,
    day: Option<String>,
    part: Option<&'static str>,
    name: Option<String>,
    /// An hour the caller named, to prefer among the slots found.
    hour: Option<u32>,
    /// `lookup_customer` / `create_customer`'s answer.
    customer: Option<Value>,
    looked_up: bool,
    menu: Option<Vec<Value>>,
    hours: Option<Value>,
    /// The last slot search and what it was for.
    slots: Option<(Vec<Value>, String)>,
    /// The agent asked a yes/no about a change; the caller's answer.
    asked: bool,
    answer: Option<bool>,
    /// The change made (tool name) and its answer.
    done: Option<(String, Value)>,
    /// The last tool error, to say.
    error: Option<String>,
    /// Sentences not understood in a row.
    lost: u32,
    last_user: String,
}

impl State {
    fn from_history(messages: &[ChatMessage]) -> Self {
        let mut s = State::default();
        let mut calls: Vec<(String, String)> = Vec::new();
        for m in messages {
            match m.role {
                Role::System => {}
                Role::User => s.heard(m.content.as_deref().unwrap_or_default()),
                Role::Assistant => {
                    for c in &m.tool_calls {
                        calls.push((c.id.clone(), c.name.clone()));
                    }
                    if let Some(text) = &m.content {
                        s.asked = text.contains(CONFIRM);
                    }
                }
                Role::Tool => {
                    let name = m
                        .tool_call_id
                        .as_ref()
                        .and_then(|id| calls.iter().find(|(c, _)| c == id).map(|(_, n)| n.clone()));
                    let content: Value = m
                        .content
                        .as_deref()
                        .and_then(|c| serde_json::from_str(c).ok())
                        .unwrap_or(Value::Null);
                    s.result(name.as_deref().unwrap_or_default(), content);
                }
            }
        }
        s
    }

    fn heard(&mut self, text: &str) {
        let u = understand(text);
        let understood = u.intent.is_some()
            || u.answer.is_some()
            || u.day.is_some()
            || u.part_of_day.is_some()
            || u.name.is_some();
        self.last_user = text.to_string();
        self.error = None;
        let new_task = matches!(
            u.intent,
            Some(Intent::Book | Intent::Reschedule | Intent::Cancel)
        ) && u.intent != self.intent;
        if let Some(i) = u.intent {
            if new_task || self.done.is_some() {
                self.slots = None;
                self.done = None;
                self.day = None;
                self.part = None;
            }
            self.intent = Some(i);
        }
        // A yes after a price is a wish to book it.
        if self.intent == Some(Intent::Price) && u.answer == Some(true) && u.intent.is_none() {
            self.intent = Some(Intent::Book);
        }
        self.answer = if self.asked { u.answer } else { None };
        // A new day or part of day ("no, Thursday, not Tuesday"; "yes, but in the
        // afternoon") is a new search and a new offer, not an answer to the old one.
        if u.day.is_some() && u.day != self.day {
            self.day = u.day;
            self.slots = None;
            self.answer = None;
        }
        if u.part_of_day.is_some() && u.part_of_day != self.part {
            self.part = u.part_of_day;
            self.slots = None;
            self.answer = None;
        }
        if u.name.is_some() {
            self.name = u.name;
        }
        if u.hour.is_some() {
            self.hour = u.hour;
        }
        self.service_said.push(text.to_string());
        self.lost = if understood { 0 } else { self.lost + 1 };
        self.asked = false;
    }

    fn result(&mut self, tool: &str, v: Value) {
        if v["ok"] == false {
            self.error = v["error"]["message"].as_str().map(str::to_string);
            if tool == "find_available_slots" {
                self.slots = Some((Vec::new(), String::new()));
            }
            return;
        }
        match tool {
            "lookup_customer" => {
                self.looked_up = true;
                self.customer = Some(v);
            }
            "create_customer" => {
                self.customer = Some(json!({"found": true, "customer": v["customer"],
                    "vehicles": [], "upcoming_appointments": []}));
            }
            "list_services" => self.menu = v["services"].as_array().cloned(),
            "business_info" => self.hours = Some(v),
            "find_available_slots" => {
                let slots = v["slots"].as_array().cloned().unwrap_or_default();
                let service = v["service"].as_str().unwrap_or_default().to_string();
                self.slots = Some((slots, service));
            }
            "book_appointment" | "reschedule_appointment" | "cancel_appointment" => {
                self.done = Some((tool.to_string(), v));
                self.answer = None;
            }
            _ => {}
        }
    }

    fn known_customer(&self) -> Option<&Value> {
        self.customer.as_ref().filter(|c| c["found"] == true)
    }

    fn menu_names(&self) -> Vec<String> {
        self.menu
            .iter()
            .flatten()
            .filter_map(|s| s["name"].as_str().map(str::to_string))
            .collect()
    }

    /// The service the caller asked for: the latest sentence that names one.
    fn service(&self) -> Result<Option<String>, Vec<String>> {
        let names = self.menu_names();
        for said in self.service_said.iter().rev() {
            match service(said, &names) {
                Ok(Some(s)) => return Ok(Some(s.clone())),
                Ok(None) => continue,
                Err(options) => return Err(options.into_iter().cloned().collect()),
            }
        }
        Ok(None)
    }

    /// The slot to offer from the last search: one at the hour the caller named, else the
    /// first.
    fn slot(&self) -> Option<Value> {
        let (slots, _) = self.slots.as_ref()?;
        let named = self.hour.and_then(|h| {
            slots.iter().find(|s| {
                s["spoken"]
                    .as_str()
                    .is_some_and(|t| t.contains(&format!(" {h}:")))
            })
        });
        named.or(slots.first()).cloned()
    }

    fn first_appointment(&self) -> Option<&Value> {
        self.known_customer()?["upcoming_appointments"]
            .as_array()?
            .first()
    }
}

/// The next step of the conversation in `messages`; `business` names the shop.
pub fn next_step(messages: &[ChatMessage], business: &str) -> Step {
    let s = State::from_history(messages);
    if s.intent == Some(Intent::Human) || s.lost >= 2 {
        return call("transfer_to_service_desk", json!({}));
    }
    if let Some(error) = &s.error
        && s.done.is_none()
        && s.slots.is_none()
    {
        tracing::info!(%error, "scripted agent: a tool refused");
    }
    if s.intent == Some(Intent::Goodbye) {
        let shop = if business.is_empty() {
            String::new()
        } else {
            format!(" {business}")
        };
        return Step {
            say: Some(format!("Thanks for calling{shop}. Goodbye!")),
            call: Some(("end_call", json!({}))),
        };
    }
    if !s.looked_up && s.customer.is_none() {
        return call("lookup_customer", json!({}));
    }
    match s.intent {
        Some(Intent::Hours) => hours(&s),
        Some(Intent::Price) => price(&s),
        Some(Intent::Book) => book(&s),
        Some(Intent::Reschedule) => reschedule(&s),
        Some(Intent::Cancel) => cancel(&s),
        _ if s.last_user.is_empty() => say("How can I help you today?"),
        _ => say(
            "I can book, move or cancel a service appointment, or tell you our hours and prices. \
             What would you like to do?",
        ),
    }
}

fn hours(s: &State) -> Step {
    let Some(info) = &s.hours else {
        return call("business_info", json!({}));
    };
    let asked: Vec<String> = words(&s.last_user);
    let days = info["hours"].as_array().cloned().unwrap_or_default();
    let line = |d: &Value| match d["closed"].as_bool() {
        Some(true) => format!("we are closed on {}", d["day"].as_str().unwrap_or_default()),
        _ => format!(
            "on {} we are open from {} to {}",
            d["day"].as_str().unwrap_or_default(),
            d["opens"].as_str().unwrap_or_default(),
            d["closes"].as_str().unwrap_or_default()
        ),
    };
    let wanted: Vec<String> = days
        .iter()
        .filter(|d| {
            d["day"]
                .as_str()
                .is_some_and(|n| asked.contains(&n.to_lowercase()))
        })
        .map(line)
        .collect();
    let text = if wanted.is_empty() {
        days.iter().map(line).collect::<Vec<_>>().join("; ")
    } else {
        wanted.join("; ")
    };
    let mut first = text.chars();
    let text = first
        .next()
        .map(|c| c.to_uppercase().chain(first).collect::<String>())
        .unwrap_or_default();
    say(format!("{text}. Is there anything else I can help with?"))
}

fn price(s: &State) -> Step {
    if s.menu.is_none() {
        return call("list_services", json!({}));
    }
    match s.service() {
        Ok(Some(name)) => {
            let item = s
                .menu
                .iter()
                .flatten()
                .find(|m| m["name"] == name.as_str())
                .cloned()
                .unwrap_or(Value::Null);
            say(format!(
                "A {} is {} and takes about {} minutes. Would you like to book one?",
                name.to_lowercase(),
                item["price"].as_str().unwrap_or("priced at the desk"),
                item["duration_minutes"]
            ))
        }
        Ok(None) => say("Which service would you like a price for?"),
        Err(options) => say(format!("Did you mean {}?", options.join(" or "))),
    }
}

/// The slot to offer for `service` on `day`, or the step that gets one (a search, or
/// telling the caller nothing is free).
fn slot_for(s: &State, service: Value, day: &str) -> Result<Value, Step> {
    if s.slots.is_none() {
        let mut args = json!({"service": service, "date": day});
        if let Some(p) = s.part {
            args["part_of_day"] = json!(p);
        }
        return Err(call("find_available_slots", args));
    }
    s.slot()
        .ok_or_else(|| say("I'm sorry, nothing is free then. Would another day work?"))
}

fn ask_service(s: &State) -> Step {
    let names = s.menu_names();
    let some: Vec<String> = names.iter().take(4).map(|n| n.to_lowercase()).collect();
    say(format!(
        "Which service would you like? For example {}.",
        some.join(", ")
    ))
}

fn book(s: &State) -> Step {
    let Some(customer) = s.known_customer() else {
        return match &s.name {
            Some(name) => call("create_customer", json!({"name": name})),
            None => say("I don't have this number on file yet. May I have your name, please?"),
        };
    };
    if let Some((_, v)) = &s.done {
        let a = &v["appointment"];
        return say(format!(
            "You're all set: your {} is booked for {}. Is there anything else I can help with?",
            a["service"]
                .as_str()
                .unwrap_or("appointment")
                .to_lowercase(),
            a["spoken"].as_str().unwrap_or_default()
        ));
    }
    if s.menu.is_none() {
        return call("list_services", json!({}));
    }
    let service = match s.service() {
        Ok(Some(name)) => name,
        Ok(None) => return ask_service(s),
        Err(options) => return say(format!("Did you mean {}?", options.join(" or "))),
    };
    let Some(day) = &s.day else {
        return say(format!(
            "What day would suit you for the {}, and do you prefer morning or afternoon?",
            service.to_lowercase()
        ));
    };
    let slot = match slot_for(s, json!(service), day) {
        Ok(slot) => slot,
        Err(step) => return step,
    };
    match s.answer {
        Some(true) => {
            let mut args = json!({
                "customer_id": customer["customer"]["id"],
                "service": service,
                "start": slot["start"],
            });
            if let Some(v) = customer["vehicles"].as_array().and_then(|v| v.first()) {
                args["vehicle_id"] = v["id"].clone();
            }
            call("book_appointment", args)
        }
        Some(false) => say("What day or time would suit you better?"),
        None => say(format!(
            "I can book your {} for {}. {CONFIRM} book it?",
            service.to_lowercase(),
            slot["spoken"].as_str().unwrap_or_default()
        )),
    }
}

fn no_appointment(s: &State) -> Option<Step> {
    if s.known_customer().is_none() {
        return Some(say(
            "I can't find an appointment for this phone number. Let me connect you with our service desk.",
        ))
        .map(|mut st| {
            st.call = Some(("transfer_to_service_desk", json!({})));
            st
        });
    }
    s.first_appointment()
        .is_none()
        .then(|| say("I don't see any upcoming appointments for you. Would you like to book one?"))
}

fn reschedule(s: &State) -> Step {
    if let Some((_, v)) = &s.done {
        return say(format!(
            "Done: your appointment is now on {}. Is there anything else I can help with?",
            v["appointment"]["spoken"].as_str().unwrap_or_default()
        ));
    }
    if let Some(step) = no_appointment(s) {
        return step;
    }
    let customer = s.known_customer().cloned().unwrap_or_default();
    let appt = s.first_appointment().cloned().unwrap_or_default();
    let Some(day) = &s.day else {
        return say(format!(
            "Your {} is on {}. What day would you like to move it to?",
            appt["service"]
                .as_str()
                .unwrap_or("appointment")
                .to_lowercase(),
            appt["spoken"].as_str().unwrap_or_default()
        ));
    };
    let slot = match slot_for(s, appt["service"].clone(), day) {
        Ok(slot) => slot,
        Err(step) => return step,
    };
    match s.answer {
        Some(true) => call(
            "reschedule_appointment",
            json!({"customer_id": customer["customer"]["id"], "appointment_id": appt["id"], "new_start": slot["start"]}),
        ),
        Some(false) => say("What day or time would suit you better?"),
        None => say(format!(
            "I can move your {} from {} to {}. {CONFIRM} do that?",
            appt["service"]
                .as_str()
                .unwrap_or("appointment")
                .to_lowercase(),
            appt["spoken"].as_str().unwrap_or_default(),
            slot["spoken"].as_str().unwrap_or_default()
        )),
    }
}

fn cancel(s: &State) -> Step {
    if s.done.is_some() {
        return say("It's cancelled. Is there anything else I can help with?");
    }
    if let Some(step) = no_appointment(s) {
        return step;
    }
    let customer = s.known_customer().cloned().unwrap_or_default();
    let appt = s.first_appointment().cloned().unwrap_or_default();
    match s.answer {
        Some(true) => call(
            "cancel_appointment",
            json!({"customer_id": customer["customer"]["id"], "appointment_id": appt["id"]}),
        ),
        Some(false) => say("All right, I've left it as it is. Is there anything else?"),
        None => say(format!(
            "You have a {} on {}. {CONFIRM} cancel it?",
            appt["service"]
                .as_str()
                .unwrap_or("appointment")
                .to_lowercase(),
            appt["spoken"].as_str().unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::providers::llm::ToolCall;

    /// A pretend CRM answering the tools like the real ones (shapes from `src/tools`).
    fn crm(known: bool, name: &str, args: &Value) -> Value {
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
                "upcoming_appointments": [{"id": 42, "service": "Oil change", "start": "2026-11-23T08:00", "spoken": "Monday, November 23 at 8:00 AM"}]}),
            "lookup_customer" => json!({"ok": true, "found": false, "phone": "+15125550177"}),
            "create_customer" => json!({"ok": true, "customer": {"id": 11, "name": args["name"]}}),
            "list_services" => json!({"ok": true, "services": [
                {"name": "Oil change", "price": "$89.99", "duration_minutes": 45},
                {"name": "Brake inspection", "price": "$69.99", "duration_minutes": 60},
                {"name": "Brake pad replacement", "price": "$249.00", "duration_minutes": 120}]}),
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
            other => panic!("unexpected tool {other}"),
        }
    }

    /// A conversation: runs the agent's steps (tools answered by `crm`) until it waits for
    /// the caller; returns what it said and the tools it called with their arguments.
    struct Talk {
        messages: Vec<ChatMessage>,
        known: bool,
        tools: Vec<(String, Value)>,
        ended: Option<&'static str>,
    }

    impl Talk {
        fn new(known: bool) -> Self {
            Self {
                messages: vec![
                    ChatMessage::system("prompt"),
                    ChatMessage::assistant("Thanks for calling."),
                ],
                known,
                tools: Vec::new(),
                ended: None,
            }
        }

        fn caller(&mut self, text: &str) -> String {
            self.messages.push(ChatMessage::user(text));
            let mut said = Vec::new();
            for _ in 0..10 {
                let step = next_step(&self.messages, "Lone Star Auto Service");
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
                    self.ended = Some(name);
                    return said.join(" ");
                }
                self.tools.push((name.to_string(), args.clone()));
                let result = crm(self.known, name, &args);
                self.messages
                    .push(ChatMessage::tool_result(id, result.to_string()));
            }
            panic!("the agent never waited for the caller");
        }

        fn last_tool(&self, name: &str) -> Value {
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
        assert_eq!(t.ended, Some("end_call"));
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
            json!({"service": "Oil change", "date": "thursday", "part_of_day": "afternoon"})
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
        assert_eq!(t.ended, Some("transfer_to_service_desk"));
        let mut t = Talk::new(true);
        t.caller("Can I talk to a person?");
        assert_eq!(t.ended, Some("transfer_to_service_desk"));
    }
}
