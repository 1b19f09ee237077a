//! A caller back from an unanswered transfer: the agent's greeting offered a callback (its
//! words "call you back"), and the caller's answer is the request: when (the day, part of
//! day and hour they named, or as soon as possible) and what about (their words). A bare yes
//! is asked for the details; a bare no is let go; the tool's answer is confirmed or, when it
//! failed, apologised for.

use serde_json::json;

use super::super::cues::answer_said;
use super::super::understand::words;
use super::state::State;
use super::{Step, call, markers, say};

/// Words at most in a bare yes or no ("yes please", "no thank you").
const BARE: usize = 3;

/// The step when the call is about a callback; `None` otherwise.
pub(super) fn step(s: &State) -> Option<Step> {
    if let Some(r) = &s.callback {
        return Some(if r["ok"] == false {
            say(format!(
                "I'm sorry, I couldn't note your callback request just now. Please call us \
                 back a little later. Is there {}?",
                markers::ANYTHING_ELSE
            ))
        } else {
            let window = r["window"].as_str().unwrap_or("soon");
            say(format!(
                "Done: an advisor will call you back {window}. Is there {}?",
                markers::ANYTHING_ELSE
            ))
        });
    }
    if !s.agent_said.contains(markers::CALLBACK) || s.last_user.trim().is_empty() {
        return None;
    }
    let bare = words(&s.last_user).len() <= BARE;
    let answer = answer_said(&s.last_user)
        .or_else(|| callbridge_core::misheard_answers::yes_or_no(&s.last_user));
    match answer {
        Some(false) if bare => {
            return Some(say(format!(
                "All right. Is there {}?",
                markers::ANYTHING_ELSE
            )));
        }
        Some(true) if bare => {
            return Some(say(format!(
                "Sure. When should an advisor {}, and what is it about?",
                markers::CALLBACK
            )));
        }
        _ => {}
    }
    Some(call(
        "request_callback",
        json!({ "window": window(s), "reason": s.last_user.trim() }),
    ))
}

/// When the caller would like the call, from what they named (their own words go with the
/// request as its reason, so a window said in words these rules miss is not lost).
fn window(s: &State) -> String {
    let mut parts = Vec::new();
    // "Any time" is the booking tools' "soonest": no day of its own.
    if let Some(day) = s.day.as_ref().filter(|d| d.as_str() != "soonest") {
        let mut letters = day.chars();
        let weekday = !matches!(day.as_str(), "today" | "tomorrow");
        parts.push(match letters.next() {
            Some(first) if weekday => first.to_uppercase().chain(letters).collect(),
            _ => day.clone(),
        });
    }
    if let Some(part) = s.part {
        parts.push(format!("in the {part}"));
    }
    if let Some(h) = s.hour {
        let (clock, period) = match h {
            0 => (12, "AM"),
            1..=11 => (h, "AM"),
            12 => (12, "PM"),
            _ => (h - 12, "PM"),
        };
        parts.push(format!("around {clock} {period}"));
    }
    if parts.is_empty() {
        "as soon as possible".to_string()
    } else {
        parts.join(" ")
    }
}
