//! Preemptive generation: the model is asked at the local turn end, on what was transcribed
//! so far, at the moment the recogniser is asked for its final; the final usually says the
//! same, and the model's first words are then already on their way. Nothing the model says
//! for a transcript not yet confirmed reaches the caller: its events are held until the
//! final arrives. The same words (case, punctuation and fillers aside): the held events play
//! on as the turn's answer. Different words, the caller speaking on, or no words at all: the
//! request is cancelled, and a new one goes out for the final (counted as wasted).

use std::time::Instant;

use super::{Action, Agent, Phase};
use crate::call::observe::Observation;
use crate::chat::ChatMessage;
use crate::llm::LlmEvent;

/// Events held before the final beyond which the request is given up (a runaway stream).
const MAX_HELD: usize = 4096;

/// A request started before the caller's final transcript.
#[derive(Debug)]
pub(super) struct Preemption {
    turn: u64,
    text: String,
    held: Vec<LlmEvent>,
    asked_at: Instant,
}

/// Words that do not change what the caller said.
const FILLERS: &[&str] = &["um", "uh", "er", "erm", "hmm", "mm"];

/// The caller's words, compared: lower case, letters and digits, no fillers.
fn words_of(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty() && !FILLERS.contains(&w.as_str()))
        .collect()
}

/// Whether two transcripts of a turn say materially the same.
pub(super) fn same_words(a: &str, b: &str) -> bool {
    words_of(a) == words_of(b)
}

impl Agent {
    /// The caller's turn has ended locally and its final is asked for: start the model on
    /// the words heard so far.
    pub(super) fn preempt(&mut self, now: Instant, out: &mut Vec<Action>) {
        let tentative = [self.caller_text.trim(), self.interim.trim()]
            .iter()
            .filter(|t| !t.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let quiet_engine = self.wind_down.is_some()
            || !self.pending_tools.is_empty()
            || self.phone_entry.is_some()
            || self.preemption.is_some();
        if !self.config.preemptive_llm || quiet_engine || words_of(&tentative).is_empty() {
            return;
        }
        self.turn += 1;
        let mut history = self.history.clone();
        history.push(ChatMessage::user(tentative.clone()));
        out.push(Action::StartLlm {
            turn: self.turn,
            messages: history.trimmed_with(self.config.token_budget, &self.config.tokens),
            fallback: self.use_fallback,
        });
        self.preemption = Some(Preemption {
            turn: self.turn,
            text: tentative,
            held: Vec::new(),
            asked_at: now,
        });
    }

    /// Whether request `turn` was asked before the caller's final and is not yet confirmed.
    pub fn asked_early(&self, turn: u64) -> bool {
        self.preemption.as_ref().is_some_and(|p| p.turn == turn)
    }

    /// Whether an event of request `turn` is the unconfirmed preemptive request's (held).
    pub(super) fn holds(&self, turn: u64) -> bool {
        self.phase != Phase::Thinking && self.preemption.as_ref().is_some_and(|p| p.turn == turn)
    }

    /// Holds an event of the preemptive request until the final decides.
    pub(super) fn hold(&mut self, event: LlmEvent, out: &mut Vec<Action>) {
        let Some(p) = self.preemption.as_mut() else {
            return;
        };
        if p.held.len() >= MAX_HELD {
            self.drop_preemption(out);
        } else {
            p.held.push(event);
        }
    }

    /// The preemptive request is not the turn's: cancelled and counted.
    pub(super) fn drop_preemption(&mut self, out: &mut Vec<Action>) {
        if self.preemption.take().is_some() {
            out.push(Action::CancelLlm);
            out.push(Action::Observe(Observation::Preemptive { used: false }));
        }
    }

    /// The caller's final `text` is in (and in the history): the preemptive request answers
    /// it if it asked the same (true; its held events play now), else it is cancelled.
    pub(super) fn use_preemption(
        &mut self,
        text: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> bool {
        match self.preemption.take() {
            Some(p) if same_words(&p.text, text) => {
                out.push(Action::Observe(Observation::Preemptive { used: true }));
                self.resumable = None;
                self.asked_at = p.asked_at;
                self.llm_filler_due = true;
                self.reply.clear();
                self.spoken.clear();
                self.phase = Phase::Thinking;
                for event in p.held {
                    if self.turn != p.turn {
                        break; // the answer moved on (a failure retried on the fallback)
                    }
                    self.llm(event, now, out);
                }
                true
            }
            Some(p) => {
                self.preemption = Some(p);
                self.drop_preemption(out);
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_words;

    #[test]
    fn the_same_words_are_the_same_whatever_the_punctuation_case_and_fillers() {
        assert!(same_words(
            "I'd like an oil change",
            "I'd like an oil change."
        ));
        assert!(same_words("um, Tuesday morning", "Tuesday morning"));
        assert!(same_words("YES", "yes!"));
        assert!(!same_words("Tuesday morning", "Thursday morning"));
        assert!(!same_words("I'd like an oil", "I'd like an oil change"));
        assert!(!same_words("", "yes"));
    }
}
