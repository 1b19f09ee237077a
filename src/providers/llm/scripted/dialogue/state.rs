//! Where the conversation stands, read back from the history: what the caller asked and
//! named (service, day, part of day, hour, vehicle, which appointment), what the tools
//! answered, and what the agent itself last asked, so an answer is read against its question
//! ("yes" to "shall I book it?", "no" to "move that one instead?", "the second one" to a
//! choice).

use serde_json::{Value, json};

use super::super::classify::Classifier;
use super::super::cues::requests_named;
use super::super::understand::{Intent, service, understand, words};
use super::markers;
use crate::providers::llm::{ChatMessage, Role};

/// The hour (0-23) of a slot spoken as "Tuesday, November 24 at 2:00 PM".
pub(super) fn spoken_hour(spoken: &str) -> Option<u32> {
    let (_, time) = spoken.rsplit_once(" at ")?;
    let (clock, period) = time.split_once(' ')?;
    let h: u32 = clock.split(':').next()?.parse().ok()?;
    Some(match (h, period) {
        (12, "AM") => 0,
        (12, _) => 12,
        (h, "PM") => h + 12,
        (h, _) => h,
    })
}

/// Where the conversation stands.
#[derive(Debug, Default)]
pub(super) struct State {
    pub intent: Option<Intent>,
    /// Every caller sentence, latest last (services, vehicles and appointments are looked
    /// for in them, latest first).
    pub said: Vec<String>,
    pub day: Option<String>,
    pub part: Option<&'static str>,
    pub name: Option<String>,
    /// An hour the caller named, to prefer among the slots found.
    pub hour: Option<u32>,
    /// `lookup_customer` / `create_customer`'s answer.
    pub customer: Option<Value>,
    pub looked_up: bool,
    pub menu: Option<Vec<Value>>,
    pub hours: Option<Value>,
    /// `vehicle_status`'s answer: the caller's vehicles in the shop.
    pub in_shop: Option<Vec<Value>>,
    /// The last slot search: its slots, the service, and the closed days it reported.
    pub slots: Option<(Vec<Value>, String, Vec<Value>)>,
    /// The slot of that search the agent offered last.
    pub offered: Option<usize>,
    /// The caller asked for another slot than the one offered ("anything later?").
    pub another: bool,
    /// The slot found at the hour the caller's latest words named.
    pub wanted: Option<usize>,
    /// The caller's yes or no to the agent's question about a change.
    pub answer: Option<bool>,
    /// The caller's answer to "move that one instead?".
    pub move_instead: Option<bool>,
    /// The change made (tool name) and its answer.
    pub done: Option<(String, Value)>,
    /// The last tool error, to say.
    pub error: Option<String>,
    /// The last booking, move or cancellation asked for (kept when a goodbye follows), and
    /// the words that asked for it.
    pub task: Option<Intent>,
    pub task_said: Option<String>,
    /// The caller has made a request of any kind.
    pub requested: bool,
    /// The caller declined the agent's offer to book ("no, not right now").
    pub declined: bool,
    /// Sentences not understood in a row.
    pub lost: u32,
    pub last_user: String,
    /// The agent's last words.
    pub agent_said: String,
    /// `request_callback`'s answer, until the agent speaks after it.
    pub callback: Option<Value>,
    /// Today's weekday, from the system prompt ("Today is Sunday, ...").
    pub today: Option<String>,
}

impl State {
    pub fn from_history(messages: &[ChatMessage], classifier: Option<&Classifier>) -> Self {
        let mut s = State::default();
        let mut calls: Vec<(String, String)> = Vec::new();
        for m in messages {
            match m.role {
                Role::System => s.read_prompt(m.content.as_deref().unwrap_or_default()),
                Role::User => s.heard(m.content.as_deref().unwrap_or_default(), classifier),
                Role::Assistant => {
                    for c in &m.tool_calls {
                        calls.push((c.id.clone(), c.name.clone()));
                    }
                    if let Some(text) = m.content.as_deref().filter(|t| !t.is_empty()) {
                        s.agent_said = text.to_string();
                        s.callback = None;
                        s.offered = s.slots.as_ref().and_then(|(slots, _, _)| {
                            slots.iter().rposition(|slot| {
                                slot["spoken"].as_str().is_some_and(|t| text.contains(t))
                            })
                        });
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
        // The menu may arrive after the words that name a service: a service named with no
        // request heard is a wish to book it.
        if s.intent.is_none() && s.task.is_none() && !s.requested {
            let names = s.menu_names();
            if let Some(said) = s
                .said
                .iter()
                .rev()
                .find(|t| service(t, &names).is_ok_and(|x| x.is_some()))
            {
                s.task_said = Some(said.clone());
                s.intent = Some(Intent::Book);
                s.task = s.intent;
                s.lost = 0;
            }
        }
        // A move heard by resemblance alone ("could I get an oil change this Sunday" is near
        // "can we change the time") of a service the caller has not booked is a booking.
        if s.resembled_move() == Some(true) {
            s.intent = Some(Intent::Book);
            s.task = s.intent;
        }
        s
    }

    fn read_prompt(&mut self, prompt: &str) {
        let lower = prompt.to_lowercase();
        if let Some(at) = lower.find("today is ") {
            self.today = words(&lower[at + "today is ".len()..]).into_iter().next();
        }
    }

    fn asked(&self, marker: &str) -> bool {
        self.agent_said.contains(marker)
    }

    fn heard(&mut self, text: &str, classifier: Option<&Classifier>) {
        let mut u = understand(text, classifier);
        let w = words(text);
        // A service named with no request heard is a wish to book it ("a battery
        // replacement", "my car's due for an oil change").
        if u.intent.is_none()
            && self.intent.is_none()
            && service(text, &self.menu_names()).is_ok_and(|s| s.is_some())
        {
            u.intent = Some(Intent::Book);
        }
        // Details for the booking or move under way ("do you have something in the
        // afternoon?", "anything later?") refine it, whatever request the words resemble.
        let refines = matches!(self.intent, Some(Intent::Book | Intent::Reschedule))
            && self.done.is_none()
            && matches!(u.intent, Some(Intent::Book | Intent::Reschedule))
            && (u.day.is_some()
                || u.part_of_day.is_some()
                || u.hour.is_some()
                || markers::wants_another(&w));
        if refines {
            u.intent = self.intent;
        }
        let names_detail = self.names_detail(text);
        let picks = markers::ordinal(&w).is_some();
        let understood = u.intent.is_some()
            || u.answer.is_some()
            || u.day.is_some()
            || u.part_of_day.is_some()
            || u.name.is_some()
            || u.hour.is_some()
            || names_detail
            || picks;
        let question = self.agent_said.clone();
        // A yes to a change read back (or to booking what was priced) is that yes: a request
        // the words only resemble ("Sure, Monday is fine" is near an hours question; "let's do
        // mornings" near a move) does not replace it.
        // "Yeah, book it" to "I can book your ... Shall I book it?" names the very change read
        // back: it is the yes, whatever the dialogue had made of the request so far.
        let lower_question = question.to_lowercase();
        let names_the_change = match u.intent {
            Some(Intent::Book) => lower_question.contains("book"),
            Some(Intent::Reschedule) => lower_question.contains("move"),
            Some(Intent::Cancel) => lower_question.contains("cancel"),
            _ => false,
        };
        if (question.contains(markers::CONFIRM) || question.contains(markers::BOOK_ONE))
            && u.answer == Some(true)
            && u.intent
                .is_some_and(|i| !requests_named(text).contains(&i) || names_the_change)
        {
            u.intent = None;
        }
        self.last_user = text.to_string();
        self.error = None;
        // "Move that one instead?": a yes (or a request to move it: "could we do Friday
        // instead?") turns the booking into a move.
        if question.contains(markers::MOVE_INSTEAD) {
            if u.answer.is_some() {
                self.move_instead = u.answer;
            } else if u.intent == Some(Intent::Reschedule)
                || requests_named(text).contains(&Intent::Reschedule)
            {
                self.move_instead = Some(true);
                u.intent = None;
            }
        }
        let new_task = matches!(
            u.intent,
            Some(Intent::Book | Intent::Reschedule | Intent::Cancel)
        ) && u.intent != self.intent
            && !(self.move_instead == Some(true) && u.intent == Some(Intent::Reschedule));
        // After a change is made, an agreeing afterthought ("please do", "go ahead") is not a
        // new request.
        let afterthought = self.done.is_some()
            && u.answer == Some(true)
            && !new_task
            && matches!(
                u.intent,
                Some(Intent::Book | Intent::Reschedule | Intent::Cancel)
            );
        self.requested |= u.intent.is_some();
        if let Some(i) = u.intent.filter(|_| !afterthought) {
            if new_task || self.done.is_some() {
                self.slots = None;
                self.done = None;
                self.day = None;
                self.part = None;
                self.hour = None;
                self.move_instead = None;
            }
            // A yes with a request the caller already made is the yes, not a new request
            // ("yes, book it").
            let task = matches!(i, Intent::Book | Intent::Reschedule | Intent::Cancel);
            if !(task && u.answer == Some(true) && self.intent.is_some() && !new_task) {
                self.intent = Some(i);
            }
            if task && self.task != Some(i) {
                self.task = Some(i);
                self.task_said = Some(text.to_string());
            }
        }
        // "Would you like to book one?" after a price: a yes is a wish to book it, a no
        // ends the matter (whatever request the words resemble, unless it is another one).
        let same_matter = !matches!(
            u.intent,
            Some(Intent::Reschedule | Intent::Cancel | Intent::Human | Intent::Goodbye)
        );
        if question.contains(markers::BOOK_ONE) && u.answer == Some(true) && same_matter {
            self.intent = Some(Intent::Book);
        }
        self.declined =
            question.contains(markers::BOOK_ONE) && u.answer == Some(false) && same_matter;
        if self.declined {
            self.intent = None;
        }
        // "Anything else?" answered no: the caller is done.
        if question.contains(markers::ANYTHING_ELSE)
            && u.answer == Some(false)
            && u.intent.is_none()
        {
            self.intent = Some(Intent::Goodbye);
        }
        self.answer = if question.contains(markers::CONFIRM) {
            u.answer
        } else {
            None
        };
        self.another = markers::wants_another(&w);
        if self.another {
            self.answer = None;
        }
        // A new day, part of day or service ("no, Thursday, not Tuesday"; "yes, but in the
        // afternoon"; "make it the brake inspection") is a new search and a new offer, not an
        // answer to the old one.
        // ... and the day of the slot offered, named with the yes, is no new day.
        let offered_day = self
            .offered
            .and_then(|i| self.slots.as_ref()?.0.get(i)?["spoken"].as_str())
            .and_then(|t| words(t).into_iter().next());
        if u.day.is_some() && u.answer == Some(true) && u.day == offered_day {
            u.day = None;
        }
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
        self.wanted = None;
        if let Some(h) = u.hour {
            self.hour = Some(h);
            self.wanted = self.slot_at(h);
            // A yes naming another time than the one offered ("yes, two o'clock works") is
            // a wish for that time, to be read back; a time not found, a question.
            if self.wanted.is_none() || self.wanted != self.offered {
                self.answer = None;
            }
        }
        let before = self.service().ok().flatten();
        self.said.push(text.to_string());
        let after = self.service().ok().flatten();
        if after.is_some() && before.is_some() && after != before && self.done.is_none() {
            self.slots = None;
            self.answer = None;
        }
        if u.name.is_some() {
            self.name = u.name;
        } else if question.contains(markers::ASK_NAME) {
            self.name = markers::bare_name(text);
        }
        self.lost = if understood || self.name.is_some() && question.contains(markers::ASK_NAME) {
            0
        } else {
            self.lost + 1
        };
    }

    /// Whether `text` names a service on the menu, one of the caller's vehicles or
    /// appointments: details that answer the agent's questions though they make no request.
    fn names_detail(&self, text: &str) -> bool {
        service(text, &self.menu_names()).is_ok_and(|s| s.is_some())
            || !self.vehicles_named(text).is_empty()
    }

    fn result(&mut self, tool: &str, v: Value) {
        if tool == "request_callback" {
            self.callback = Some(v);
            return;
        }
        if v["needs_confirmation"] == true {
            // The engine's booking gate: the caller's yes was not to this change (it was
            // not what was read back), so it is read back and asked again.
            self.answer = None;
            return;
        }
        if v["ok"] == false {
            self.error = v["error"]["message"].as_str().map(str::to_string);
            if tool == "find_available_slots" {
                self.slots = Some((Vec::new(), String::new(), Vec::new()));
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
            "vehicle_status" => {
                self.in_shop = Some(v["in_shop"].as_array().cloned().unwrap_or_default())
            }
            "find_available_slots" => {
                let slots = v["slots"].as_array().cloned().unwrap_or_default();
                let service = v["service"].as_str().unwrap_or_default().to_string();
                let closed = v["closed_days"].as_array().cloned().unwrap_or_default();
                self.slots = Some((slots, service, closed));
                self.offered = None;
            }
            "book_appointment" | "reschedule_appointment" | "cancel_appointment" => {
                self.done = Some((tool.to_string(), v));
                self.answer = None;
            }
            _ => {}
        }
    }

    pub fn known_customer(&self) -> Option<&Value> {
        self.customer.as_ref().filter(|c| c["found"] == true)
    }

    pub fn menu_names(&self) -> Vec<String> {
        self.menu
            .iter()
            .flatten()
            .filter_map(|s| s["name"].as_str().map(str::to_string))
            .collect()
    }

    /// The service the caller asked for: the latest sentence that names one, or the option
    /// they picked ("the first one") when the agent asked which.
    pub fn service(&self) -> Result<Option<String>, Vec<String>> {
        let names = self.menu_names();
        for said in self.said.iter().rev() {
            if let Some(picked) = self.picked_option(said, &names) {
                return Ok(Some(picked));
            }
            match service(said, &names) {
                Ok(Some(s)) => return Ok(Some(s.clone())),
                Ok(None) => {}
                Err(options) => return Err(options.into_iter().cloned().collect()),
            }
        }
        Ok(None)
    }

    /// The option picked after "Did you mean A or B?": named ("the inspection" is the brake
    /// inspection when that and a brake pad replacement were offered) or by its place ("the
    /// first one", "the last").
    fn picked_option(&self, said: &str, names: &[String]) -> Option<String> {
        if said != self.last_user || !self.asked(markers::WHICH_SERVICE) {
            return None;
        }
        let mut offered: Vec<(usize, &String)> = names
            .iter()
            .filter_map(|n| self.agent_said.find(n.as_str()).map(|at| (at, n)))
            .collect();
        offered.sort();
        let options: Vec<String> = offered.iter().map(|(_, n)| (*n).clone()).collect();
        if let Ok(Some(named)) = service(said, &options) {
            return Some(named.clone());
        }
        let i = markers::ordinal(&words(said))?;
        let i = if i == usize::MAX {
            offered.len().checked_sub(1)?
        } else {
            i
        };
        offered.get(i).map(|(_, n)| (*n).clone())
    }

    /// The slot found at `hour` (0-23; 14 matches 2:00 PM and 2:30 PM).
    fn slot_at(&self, hour: u32) -> Option<usize> {
        let (slots, _, _) = self.slots.as_ref()?;
        slots
            .iter()
            .position(|s| s["spoken"].as_str().and_then(spoken_hour) == Some(hour))
    }

    /// The slot to offer from the last search: the next after the one offered when the
    /// caller asked for another (or said no without naming a day or time), else one at the
    /// hour they named, else the first.
    pub fn slot(&self) -> Option<(usize, Value)> {
        let (slots, _, _) = self.slots.as_ref()?;
        let index = match (self.offered, self.another || self.answer == Some(false)) {
            _ if self.wanted.is_some() => self.wanted.unwrap_or(0),
            (Some(i), true) => i + 1,
            (Some(i), false) => i,
            (None, _) => self.hour.and_then(|h| self.slot_at(h)).unwrap_or(0),
        };
        slots.get(index).map(|s| (index, s.clone()))
    }

    /// Whether the move asked for was heard by resemblance alone (no word of the request
    /// names a move) and names a service the caller has not booked, which makes it a booking;
    /// `None` until the menu and the caller are known.
    pub fn resembled_move(&self) -> Option<bool> {
        if self.intent != Some(Intent::Reschedule) || self.task != self.intent {
            return Some(false);
        }
        let said = self.task_said.as_deref()?;
        if requests_named(said).contains(&Intent::Reschedule) {
            return Some(false);
        }
        let named = service(said, &self.menu.as_ref().map(|_| self.menu_names())?)
            .ok()
            .flatten()
            .cloned();
        // (Looked up: a caller not on file has nothing booked.)
        if !self.looked_up && self.customer.is_none() {
            return None;
        }
        Some(named.is_some_and(|n| {
            !self
                .appointments()
                .iter()
                .any(|a| a["service"] == n.as_str())
        }))
    }

    /// The caller's vehicles (`lookup_customer`'s answer).
    pub fn vehicles(&self) -> Vec<Value> {
        self.known_customer()
            .and_then(|c| c["vehicles"].as_array().cloned())
            .unwrap_or_default()
    }

    /// The caller's vehicles whose make or model `text` names.
    fn vehicles_named(&self, text: &str) -> Vec<Value> {
        let said = words(text);
        self.vehicles()
            .into_iter()
            .filter(|v| {
                let d = words(v["description"].as_str().unwrap_or_default());
                // Year, make, model: the make or the model named.
                d.iter().skip(1).any(|w| said.contains(w))
            })
            .collect()
    }

    /// The vehicle the caller named most recently (`Err` with the choices when they have
    /// several and named none, or a word two of them share).
    pub fn vehicle(&self) -> Result<Option<Value>, Vec<Value>> {
        let all = self.vehicles();
        if all.len() <= 1 {
            return Ok(all.into_iter().next());
        }
        for said in self.said.iter().rev() {
            let named = self.vehicles_named(said);
            if named.len() == 1 {
                return Ok(named.into_iter().next());
            }
            if said == &self.last_user
                && self.asked(markers::WHICH_VEHICLE)
                && let Some(i) = markers::ordinal(&words(said))
            {
                let i = if i == usize::MAX { all.len() - 1 } else { i };
                if let Some(v) = all.get(i) {
                    return Ok(Some(v.clone()));
                }
            }
        }
        Err(all)
    }

    /// The caller's upcoming appointments.
    pub fn appointments(&self) -> Vec<Value> {
        self.known_customer()
            .and_then(|c| c["upcoming_appointments"].as_array().cloned())
            .unwrap_or_default()
    }

    /// The appointment the caller means: their only one, or the one whose service they
    /// named (`Err` with the choices otherwise).
    pub fn appointment(&self) -> Result<Option<Value>, Vec<Value>> {
        let all = self.appointments();
        if all.len() <= 1 {
            return Ok(all.into_iter().next());
        }
        let services: Vec<String> = all
            .iter()
            .filter_map(|a| a["service"].as_str().map(str::to_string))
            .collect();
        for said in self.said.iter().rev() {
            if let Ok(Some(named)) = service(said, &services)
                && let Some(a) = all.iter().find(|a| a["service"] == named.as_str())
            {
                return Ok(Some(a.clone()));
            }
            if said == &self.last_user
                && self.asked(markers::WHICH_APPOINTMENT)
                && let Some(i) = markers::ordinal(&words(said))
            {
                let i = if i == usize::MAX { all.len() - 1 } else { i };
                if let Some(a) = all.get(i) {
                    return Ok(Some(a.clone()));
                }
            }
        }
        Err(all)
    }
}
