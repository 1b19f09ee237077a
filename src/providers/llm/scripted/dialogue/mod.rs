//! The scripted agent's dialogue: where the conversation stands, read back from the history
//! the conversation engine sends (the caller's sentences, the agent's own questions, the
//! tools' answers: [`state`]), and what to do next: say something or call one tool.
//! Stateless between requests, so it needs nothing the LLM path does not already keep, and a
//! barge-in or a cut history changes it the same way it changes an LLM's view.
//!
//! It books, moves and cancels with the same tools and the same read-back-and-yes rule as
//! the LLM ([`booking`]), answers hours and prices ([`info`]), takes a callback request when
//! the desk did not answer ([`callback`]), and hands anything else to the service desk,
//! saying why in the call log.

mod booking;
mod callback;
mod info;
pub(super) mod markers;
mod state;

use serde_json::{Value, json};

use super::classify::Classifier;
use super::understand::Intent;
use crate::providers::llm::ChatMessage;
use state::State;

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

/// Hands the caller to the desk, saying `why` (the tool's reason, for the call log).
fn transfer(words: Option<&str>, why: &str) -> Step {
    Step {
        say: words.map(str::to_string),
        call: Some(("transfer_to_service_desk", json!({ "reason": why }))),
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
    if s.intent == Some(Intent::Human) {
        return transfer(None, "caller_asked");
    }
    if s.lost >= 2 {
        return transfer(
            Some("I'm sorry, I'm not following. Let me connect you with our service desk."),
            "not_understood",
        );
    }
    if let Some(error) = &s.error
        && s.done.is_none()
        && s.slots.is_none()
    {
        tracing::info!(%error, "scripted agent: a tool refused");
    }
    // "Please do. Thanks, bye.": the yes to the change read back is carried out first; the
    // goodbye follows once it is done.
    let intent = match (s.intent, s.answer, &s.done) {
        (Some(Intent::Goodbye), Some(true), None) if s.task.is_some() => s.task,
        (intent, ..) => intent,
    };
    if intent == Some(Intent::Goodbye) {
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
    // Back from an unanswered transfer: the callback the greeting offered comes first.
    if let Some(step) = callback::step(&s) {
        return step;
    }
    if !s.looked_up && s.customer.is_none() {
        return call("lookup_customer", json!({}));
    }
    let unsure_move = intent == Some(Intent::Reschedule) && s.resembled_move().is_none();
    if (intent.is_none() || unsure_move) && s.menu.is_none() && !s.last_user.is_empty() {
        // Whether the caller named a service (a wish to book it) needs the menu.
        return call("list_services", json!({}));
    }
    // "Thanks." to "anything else?" once the change is made asks for nothing new: the change
    // is not announced again.
    if s.done.is_some()
        && s.agent_said.contains(markers::ANYTHING_ELSE)
        && matches!(
            intent,
            Some(Intent::Book | Intent::Reschedule | Intent::Cancel)
        )
    {
        return if s.last_user.to_lowercase().contains("thank") {
            say(format!(
                "You're welcome! Is there {}?",
                markers::ANYTHING_ELSE
            ))
        } else {
            say("Sure, what else can I do for you?")
        };
    }
    match intent {
        Some(Intent::Hours) => info::hours(&s),
        Some(Intent::Price) => info::price(&s),
        Some(Intent::Status) => info::status(&s),
        Some(Intent::Book) if s.move_instead == Some(true) => booking::reschedule(&s),
        Some(Intent::Book) => booking::book(&s),
        Some(Intent::Reschedule) => booking::reschedule(&s),
        Some(Intent::Cancel) => booking::cancel(&s),
        _ if s.last_user.is_empty() => say("How can I help you today?"),
        _ if s.declined => say(format!("All right. Is there {}?", markers::ANYTHING_ELSE)),
        _ if s.agent_said.contains(markers::ANYTHING_ELSE) && s.answer.is_none() => {
            say("Sure, what else can I do for you?")
        }
        _ => say(
            "I can book, move or cancel a service appointment, or tell you our hours and prices. \
             What would you like to do?",
        ),
    }
}

#[cfg(test)]
mod context_tests;
#[cfg(test)]
mod tests;
