//! The booking gate: a booking, a move or a cancellation runs only after the caller heard it
//! read back and said yes. A rule in the prompt is only a request to the model; this is the
//! engine's check, made on the conversation as the caller heard it (the history is cut to what
//! was played at a barge-in), so no model can book what the caller did not agree to.
//!
//! The change is confirmed when, before the caller's latest words, the agent's last words
//! named it (the service and the day and time for a booking, the new day and time for a move,
//! a cancellation for a cancel) and the caller's latest words affirm without taking it back.
//! Otherwise the tool is not run: its result tells the model to read the change back, with a
//! read-back it may use, and to call again once the caller said yes.

use serde_json::json;

use crate::calendar_words::{MONTHS, WEEKDAYS};
use crate::chat::{ChatMessage, Role};
use crate::tool::CrmRequest;

/// What the gate decides about one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Not a change, or a confirmed one: run it.
    Run,
    /// Not run: the caller has to confirm first.
    Confirm {
        /// A read-back of the change the model may speak.
        read_back: String,
        /// Why it was not run, for the model.
        why: &'static str,
    },
}

impl Gate {
    /// The tool result the model gets instead of running the change.
    pub fn tool_result(&self) -> Option<String> {
        match self {
            Gate::Run => None,
            Gate::Confirm { read_back, why } => Some(
                json!({
                    "ok": false,
                    "needs_confirmation": true,
                    "message": format!(
                        "Not done: {why}. Read the change back to the caller and ask whether \
                         it is right; call this tool again only after they say yes."
                    ),
                    "read_back": read_back,
                })
                .to_string(),
            ),
        }
    }
}

/// The gate over a call: it also remembers answers it could not understand, and after
/// [`KEYPAD_AFTER`] of them to the same change offers the keypad ("press 1 to confirm, 2 to
/// change it"), since a caller a recogniser keeps mishearing can still press a key.
#[derive(Debug, Default)]
pub struct Gatekeeper {
    /// The change whose read-back got answers not understood, and how many.
    unclear: Option<(String, u32)>,
    /// The keypad offer waiting for a digit: the change and its read-back.
    offer: Option<(String, String)>,
    /// A change confirmed with 1: its next call runs.
    confirmed: Option<String>,
}

/// Unclear answers to one change's read-back before the keypad is offered.
pub const KEYPAD_AFTER: u32 = 2;

/// The gatekeeper's decision on one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run it.
    Run,
    /// Do not: the model gets this tool result.
    Refuse(String),
    /// Do not: the model gets `result`, and the agent itself says `prompt` and waits for a key.
    Keypad {
        /// What the caller hears.
        prompt: String,
        /// The tool result.
        result: String,
    },
}

impl Gatekeeper {
    /// Judges a tool call as [`judge`] does, counting unclear answers and honouring a keypad
    /// confirmation of exactly this change.
    pub fn judge(&mut self, request: &CrmRequest, history: &[ChatMessage]) -> Verdict {
        let Some(change) = Change::of(request) else {
            return Verdict::Run;
        };
        let print = change.fingerprint();
        if self.confirmed.as_deref() == Some(print.as_str()) {
            self.confirmed = None;
            self.unclear = None;
            return Verdict::Run;
        }
        let (gate, answer) = assess(&change, history);
        let Gate::Confirm { read_back, .. } = &gate else {
            self.unclear = None;
            return Verdict::Run;
        };
        if answer != Some(Answer::Unclear) {
            return Verdict::Refuse(gate.tool_result().unwrap_or_default());
        }
        let count = match &self.unclear {
            Some((p, n)) if *p == print => n + 1,
            _ => 1,
        };
        self.unclear = Some((print.clone(), count));
        if count < KEYPAD_AFTER {
            return Verdict::Refuse(gate.tool_result().unwrap_or_default());
        }
        let question = read_back.trim_end_matches('?').replacen("Shall I ", "", 1);
        let prompt = format!("To {question}, press 1. To change it, press 2.");
        self.offer = Some((print, question));
        self.unclear = None;
        let result = json!({
            "ok": false,
            "needs_confirmation": true,
            "message": "Not done: the caller's answers were not understood, so they are being \
                        asked to confirm on the keypad. Say nothing now; their key press follows.",
        })
        .to_string();
        Verdict::Keypad { prompt, result }
    }

    /// Whether a keypad answer is awaited.
    pub fn keypad_offered(&self) -> bool {
        self.offer.is_some()
    }

    /// A key pressed while the keypad offer waits: 1 confirms the change, 2 declines it; what
    /// the caller's turn says for the model. Other keys: None (the offer still waits).
    pub fn keypad(&mut self, digit: char) -> Option<String> {
        let (print, question) = match digit {
            '1' | '2' => self.offer.take()?,
            _ => return None,
        };
        if digit == '1' {
            self.confirmed = Some(print);
            Some(format!("(pressed 1 on the keypad: yes, {question})"))
        } else {
            Some(format!(
                "(pressed 2 on the keypad: no, they want to change it: {question})"
            ))
        }
    }
}

/// Whether `request` may run now, given the conversation so far (ending with the model's
/// message that calls it).
pub fn judge(request: &CrmRequest, history: &[ChatMessage]) -> Gate {
    match Change::of(request) {
        Some(change) => assess(&change, history).0,
        None => Gate::Run,
    }
}

/// The gate's decision on `change`, and the caller's answer when there was a read-back to
/// answer.
fn assess(change: &Change, history: &[ChatMessage]) -> (Gate, Option<Answer>) {
    let Some((read_back, reply)) = last_exchange(history) else {
        return (
            change.confirm("the caller has not heard this change read back"),
            None,
        );
    };
    if !change.named_in(&words(&read_back)) {
        return (
            change.confirm("the caller has not heard this change read back"),
            None,
        );
    }
    let answer = answer(&reply);
    let gate = match answer {
        Answer::Yes => Gate::Run,
        Answer::No => change.confirm("the caller did not confirm it"),
        Answer::Unclear => change.confirm("the caller has not said yes to it"),
    };
    (gate, Some(answer))
}

impl Change {
    fn of(request: &CrmRequest) -> Option<Change> {
        Some(match request {
            CrmRequest::BookAppointment(b) => Change::Book {
                service: b.service.clone(),
                start: Start::parse(&b.start),
            },
            CrmRequest::RescheduleAppointment(r) => Change::Move {
                appointment: r.appointment_id,
                start: Start::parse(&r.new_start),
            },
            CrmRequest::CancelAppointment(c) => Change::Cancel {
                appointment: c.appointment_id,
            },
            _ => return None,
        })
    }

    /// What identifies the change (a keypad confirmation is for exactly this one).
    fn fingerprint(&self) -> String {
        match self {
            Change::Book { service, start } => format!("book {} {start:?}", service.to_lowercase()),
            Change::Move { appointment, start } => format!("move {appointment} {start:?}"),
            Change::Cancel { appointment } => format!("cancel {appointment}"),
        }
    }
}

/// The agent's last words before the caller's latest turn, and that turn (consecutive caller
/// messages joined: a "Yes, go ahead" cut at its comma is one answer).
fn last_exchange(history: &[ChatMessage]) -> Option<(String, String)> {
    let mut i = history.len();
    // This turn's own tool calls and results come after the caller's words.
    while i > 0 && matches!(history[i - 1].role, Role::Assistant | Role::Tool) {
        if history[i - 1].role == Role::Assistant && history[i - 1].tool_calls.is_empty() {
            break;
        }
        i -= 1;
    }
    let end = i;
    while i > 0 && history[i - 1].role == Role::User {
        i -= 1;
    }
    if i == end {
        return None;
    }
    let reply: Vec<&str> = history[i..end]
        .iter()
        .filter_map(|m| m.content.as_deref())
        .collect();
    let before = history[..i].last()?;
    if before.role != Role::Assistant {
        return None;
    }
    Some((before.content.clone()?, reply.join(" ")))
}

#[derive(Debug)]
enum Change {
    Book {
        service: String,
        start: Option<Start>,
    },
    Move {
        appointment: i32,
        start: Option<Start>,
    },
    Cancel {
        appointment: i32,
    },
}

impl Change {
    fn named_in(&self, said: &[String]) -> bool {
        match self {
            Change::Book { service, start } => {
                let service_words: Vec<String> = words(service)
                    .into_iter()
                    .filter(|w| w.len() >= 3)
                    .collect();
                let service_named =
                    service_words.is_empty() || service_words.iter().any(|w| said.contains(w));
                service_named && start.as_ref().is_some_and(|s| s.named_in(said))
            }
            Change::Move { start, .. } => start.as_ref().is_some_and(|s| s.named_in(said)),
            Change::Cancel { .. } => said.iter().any(|w| w.starts_with("cancel")),
        }
    }

    fn confirm(&self, why: &'static str) -> Gate {
        let read_back = match self {
            Change::Book { service, start } => match start {
                Some(s) => format!(
                    "Shall I book {} for {}?",
                    service.to_lowercase(),
                    s.spoken()
                ),
                None => format!("Shall I book {}, and for when?", service.to_lowercase()),
            },
            Change::Move { start, .. } => match start {
                Some(s) => format!("Shall I move the appointment to {}?", s.spoken()),
                None => "Shall I move the appointment, and to when?".to_string(),
            },
            Change::Cancel { .. } => "Shall I cancel that appointment?".to_string(),
        };
        Gate::Confirm { read_back, why }
    }
}

const HOURS: [&str; 12] = [
    "twelve", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven",
];

/// A start time as the tools give it: `YYYY-MM-DDTHH:MM`, the shop's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Start {
    month: u32,
    day: u32,
    weekday: usize,
    hour: u32,
    minute: u32,
}

impl Start {
    fn parse(s: &str) -> Option<Start> {
        let (date, time) = s.trim().split_once('T')?;
        let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
        let (year, month, day) = (d.next()??, d.next()??, d.next()??);
        let mut t = time.split(':').map(|p| p.parse::<u32>().ok());
        let (hour, minute) = (t.next()??, t.next()??);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
            return None;
        }
        // Days since 1970-01-01 (a Thursday), Howard Hinnant's civil calendar algorithm.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let weekday = (days + 3).rem_euclid(7) as usize; // 0 = Monday
        Some(Start {
            month: month as u32,
            day: day as u32,
            weekday,
            hour,
            minute,
        })
    }

    fn hour12(&self) -> u32 {
        match self.hour % 12 {
            0 => 12,
            h => h,
        }
    }

    /// "Tuesday, December 1 at 9:00 AM".
    fn spoken(&self) -> String {
        let mut weekday = WEEKDAYS[self.weekday].to_string();
        weekday[..1].make_ascii_uppercase();
        let mut month = MONTHS[self.month as usize - 1].to_string();
        month[..1].make_ascii_uppercase();
        let half = if self.hour < 12 { "AM" } else { "PM" };
        format!(
            "{weekday}, {month} {} at {}:{:02} {half}",
            self.day,
            self.hour12(),
            self.minute
        )
    }

    /// The day (its weekday, or its month and date) and the time (as digits or, on the hour,
    /// a number word; noon) are both in what was said.
    fn named_in(&self, said: &[String]) -> bool {
        let day = said.iter().any(|w| w == WEEKDAYS[self.weekday])
            || (said.iter().any(|w| w == MONTHS[self.month as usize - 1])
                && said.iter().any(|w| {
                    w.trim_end_matches(|c: char| c.is_ascii_alphabetic()) == self.day.to_string()
                }));
        let h = self.hour12();
        let exact = format!("{h}:{:02}", self.minute);
        let time = said
            .iter()
            .any(|w| w.trim_end_matches(['a', 'p', 'm']) == exact)
            || (self.minute == 0
                && said.iter().any(|w| {
                    let bare = w.trim_end_matches(['a', 'p', 'm']);
                    bare == h.to_string() || w == HOURS[(h % 12) as usize]
                }))
            || (self.minute == 0 && self.hour == 12 && said.iter().any(|w| w == "noon"))
            || (self.minute == 30
                && said
                    .windows(3)
                    .any(|w| w[0] == "half" && w[1] == "past" && w[2] == HOURS[(h % 12) as usize]));
        day && time
    }
}

/// Lowercase words; a colon between digits is kept ("9:30"), other punctuation splits.
fn words(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    let kept: String = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let digit_colon = c == ':'
                && i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if c.is_alphanumeric() || c == '\'' || digit_colon {
                c
            } else {
                ' '
            }
        })
        .collect();
    kept.split_whitespace().map(str::to_string).collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    Unclear,
}

/// Whether the caller's words affirm: a yes, and nothing that takes it back or changes it.
fn answer(reply: &str) -> Answer {
    let w = words(reply);
    let has = |list: &[&str]| w.iter().any(|x| list.contains(&x.as_str()));
    let phrase = |p: &str| format!(" {} ", w.join(" ")).contains(&format!(" {p} "));
    let against = has(&[
        "no",
        "nope",
        "not",
        "don't",
        "dont",
        "doesn't",
        "won't",
        "can't",
        "never",
        "wait",
        "actually",
        "instead",
        "change",
        "wrong",
        "different",
        "hold",
        "hmm",
        "but",
    ]) || phrase("rather not");
    let yes = has(&[
        "yes",
        "yeah",
        "yep",
        "yup",
        "sure",
        "correct",
        "right",
        "ok",
        "okay",
        "perfect",
        "great",
        "absolutely",
        "definitely",
        "please",
        "fine",
        "works",
    ]) || [
        "go ahead",
        "sounds good",
        "that works",
        "do it",
        "book it",
        "works for me",
    ]
    .iter()
    .any(|p| phrase(p));
    match (yes, against) {
        (_, true) => Answer::No,
        (true, false) => Answer::Yes,
        // A bare "Share." to a read-back is a misheard "Sure.".
        (false, false) => match crate::misheard_answers::yes_or_no(reply) {
            Some(true) => Answer::Yes,
            Some(false) => Answer::No,
            None => Answer::Unclear,
        },
    }
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
