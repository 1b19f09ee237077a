//! The scripted agent's dialogue: where the conversation stands, read back from the history
//! the conversation engine sends (the caller's sentences, the agent's own questions, the
//! tools' answers), and what to do next: say something or call one tool. Stateless between
//! requests, so it needs nothing the LLM path does not already keep, and a barge-in or a
//! cut history changes it the same way it changes an LLM's view.
//!
//! It books, moves and cancels with the same tools and the same read-back-and-yes rule as
//! the LLM, answers hours and prices, and hands anything else to the service desk.

use serde_json::{Value, json};

use super::classify::Classifier;
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
    fn from_history(messages: &[ChatMessage], classifier: Option<&Classifier>) -> Self {
        let mut s = State::default();
        let mut calls: Vec<(String, String)> = Vec::new();
        for m in messages {
            match m.role {
                Role::System => {}
                Role::User => s.heard(m.content.as_deref().unwrap_or_default(), classifier),
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

    fn heard(&mut self, text: &str, classifier: Option<&Classifier>) {
        let u = understand(text, classifier);
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
        if v["needs_confirmation"] == true {
            // The engine's booking gate: the caller's yes was not to this change (it was
            // not what was read back), so it is read back and asked again.
            self.answer = None;
            return;
        }
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

/// The next step of the conversation in `messages`; `business` names the shop; the caller's
/// sentences are understood with `classifier` when there is one, else by keywords.
pub fn next_step(
    messages: &[ChatMessage],
    business: &str,
    classifier: Option<&Classifier>,
) -> Step {
    let s = State::from_history(messages, classifier);
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
#[path = "dialogue_tests.rs"]
mod tests;
