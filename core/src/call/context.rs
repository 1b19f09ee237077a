//! What the LLM is told: the system prompt and the conversation so far, trimmed to a token
//! budget from the oldest end.
//!
//! Tokens are counted by the model's own tokenizer when the service has one for the
//! configured model ([`Tokens::counted`]; OpenAI's models through their published BPE
//! vocabularies), so the budget is the model's measure. Otherwise they are estimated: one per
//! three characters plus a few per message. Real BPE tokenizers average about four characters
//! per token on English, so the estimate runs high and a trimmed history fits the model's
//! window with room to spare.
//!
//! An assistant message that calls tools and the tool results answering it are one unit:
//! trimming drops or keeps them together, because chat APIs refuse a tool result without its
//! call (and a call without its results).

use std::sync::Arc;

use crate::chat::{ChatMessage, Role};

/// Tokens a chat API adds around each message (role and separators: OpenAI's chat format
/// costs 3-4 a message).
const PER_MESSAGE: usize = 4;

/// Counts tokens as the model's tokenizer does.
pub trait TokenCounter: Send + Sync {
    /// Tokens in `text`.
    fn count(&self, text: &str) -> usize;
}

/// How a history's tokens are measured: the model's tokenizer, or the estimate.
#[derive(Clone, Default)]
pub struct Tokens(Option<Arc<dyn TokenCounter>>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Tokens(counted)"
        } else {
            "Tokens(estimated)"
        })
    }
}

impl Tokens {
    /// Counted by `counter`.
    pub fn counted(counter: Arc<dyn TokenCounter>) -> Self {
        Self(Some(counter))
    }

    /// Whether a tokenizer counts (rather than the estimate).
    pub fn is_counted(&self) -> bool {
        self.0.is_some()
    }

    /// Tokens one message costs.
    pub fn message(&self, m: &ChatMessage) -> usize {
        let Some(counter) = &self.0 else {
            return estimate_tokens(m);
        };
        let content = m.content.as_deref().map_or(0, |t| counter.count(t));
        let calls: usize = m
            .tool_calls
            .iter()
            .map(|c| {
                counter.count(&c.name) + counter.count(&c.raw_arguments) + counter.count(&c.id)
            })
            .sum();
        content + calls + PER_MESSAGE
    }
}

/// Tokens one message is assumed to cost.
pub fn estimate_tokens(m: &ChatMessage) -> usize {
    let chars = m.content.as_deref().map_or(0, str::len)
        + m.tool_calls
            .iter()
            .map(|c| c.name.len() + c.raw_arguments.len() + c.id.len())
            .sum::<usize>();
    chars.div_ceil(3) + 4
}

/// The conversation of one call, as the LLM sees it.
#[derive(Debug, Clone)]
pub struct History {
    system: ChatMessage,
    /// Units in order; each is one message, or an assistant tool-call message with its results.
    units: Vec<Vec<ChatMessage>>,
}

impl History {
    /// A conversation under `system` instructions.
    pub fn new(system: impl Into<String>) -> Self {
        Self {
            system: ChatMessage::system(system),
            units: Vec::new(),
        }
    }

    /// Adds a message. A tool result joins the unit of the call it answers (the newest unit
    /// with that call: a caller may have spoken while the tool ran, and the result still
    /// belongs before what they said); one that answers no call is dropped (chat APIs refuse
    /// the whole request over it).
    pub fn push(&mut self, m: ChatMessage) {
        if m.role != Role::Tool {
            self.units.push(vec![m]);
            return;
        }
        let unit = self.units.iter_mut().rev().find(|u| {
            u[0].tool_calls
                .iter()
                .any(|c| Some(&c.id) == m.tool_call_id.as_ref())
        });
        match unit {
            Some(unit) => unit.push(m),
            None => {
                tracing::warn!(tool_call_id = ?m.tool_call_id, "dropping a tool result with no call")
            }
        }
    }

    /// Every message, system first.
    pub fn messages(&self) -> Vec<ChatMessage> {
        std::iter::once(self.system.clone())
            .chain(self.units.iter().flatten().cloned())
            .collect()
    }

    /// The system message and the newest units that fit in `budget` tokens. The newest unit
    /// is always kept, however large: a model must see what it is answering.
    pub fn trimmed(&self, budget: usize) -> Vec<ChatMessage> {
        self.trimmed_with(budget, &Tokens::default())
    }

    /// [`History::trimmed`], its tokens measured by `tokens`.
    pub fn trimmed_with(&self, budget: usize, tokens: &Tokens) -> Vec<ChatMessage> {
        let mut used = tokens.message(&self.system);
        let mut keep = 0;
        for unit in self.units.iter().rev() {
            let cost: usize = unit.iter().map(|m| tokens.message(m)).sum();
            if keep > 0 && used + cost > budget {
                break;
            }
            used += cost;
            keep += 1;
        }
        let mut out = vec![self.system.clone()];
        out.extend(
            self.units[self.units.len() - keep..]
                .iter()
                .flatten()
                .cloned(),
        );
        out
    }

    /// After a barge-in: the last assistant message's text becomes what the caller heard
    /// (nothing heard removes the text; its tool calls, if any, stay with their results).
    pub fn cut_last_assistant(&mut self, heard: &str) {
        let Some(unit) = self
            .units
            .iter_mut()
            .rev()
            .find(|u| u[0].role == Role::Assistant)
        else {
            return;
        };
        let heard = heard.trim();
        let m = &mut unit[0];
        if heard.is_empty() {
            if m.tool_calls.is_empty() {
                m.content = Some("(interrupted before saying anything)".into());
            } else {
                m.content = None;
            }
        } else {
            m.content = Some(format!("{heard} (interrupted)"));
        }
    }

    /// Tool calls of the newest tool-calling assistant message that have no result yet.
    pub fn unanswered_calls(&self) -> Vec<String> {
        let Some(unit) = self
            .units
            .iter()
            .rev()
            .find(|u| !u[0].tool_calls.is_empty())
        else {
            return Vec::new();
        };
        unit[0]
            .tool_calls
            .iter()
            .filter(|c| {
                !unit[1..]
                    .iter()
                    .any(|r| r.tool_call_id.as_deref() == Some(c.id.as_str()))
            })
            .map(|c| c.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::ToolCall;

    fn call(id: &str) -> ToolCall {
        ToolCall::parse(
            id,
            "find_available_slots",
            "{\"service\":\"Oil change\",\"date\":\"Tuesday\"}",
        )
    }

    fn roles(ms: &[ChatMessage]) -> Vec<Role> {
        ms.iter().map(|m| m.role).collect()
    }

    #[test]
    fn the_estimate_is_conservative_for_english() {
        // ~4 characters per real token: the estimate must not be below chars/4.
        let m = ChatMessage::user(
            "I would like to book an oil change for my Honda on Tuesday morning.",
        );
        let chars = m.content.as_ref().unwrap().len();
        assert!(estimate_tokens(&m) >= chars / 4 + 4);
        assert!(estimate_tokens(&m) <= chars / 2 + 4);
    }

    #[test]
    fn trimming_drops_the_oldest_units_and_keeps_tool_calls_with_their_results() {
        let mut c = History::new("You are the service desk.");
        c.push(ChatMessage::assistant(
            "Thanks for calling, how can I help?",
        ));
        c.push(ChatMessage::user("I need an oil change on Tuesday."));
        c.push(ChatMessage::assistant_tool_calls(
            None,
            vec![call("a"), call("b")],
        ));
        c.push(ChatMessage::tool_result("a", "x".repeat(300)));
        c.push(ChatMessage::tool_result("b", "{\"ok\":true}"));
        c.push(ChatMessage::assistant("I have 9:00 or 11:00."));
        c.push(ChatMessage::user("Nine, please."));
        assert_eq!(c.messages().len(), 8);

        // A budget that holds the last two messages but not the tool unit.
        let small = c.trimmed(60);
        assert_eq!(roles(&small), [Role::System, Role::Assistant, Role::User]);
        // A larger one takes the whole tool unit or none of it.
        for budget in 0..400 {
            let t = c.trimmed(budget);
            let calls = t.iter().filter(|m| !m.tool_calls.is_empty()).count();
            let results = t.iter().filter(|m| m.role == Role::Tool).count();
            assert_eq!(results, calls * 2, "budget {budget}");
            assert_eq!(t[0].role, Role::System);
            assert_eq!(t.last().unwrap().content.as_deref(), Some("Nine, please."));
        }
        assert_eq!(c.trimmed(10_000).len(), 8);
        // The newest unit is kept even over budget.
        assert_eq!(roles(&c.trimmed(0)), [Role::System, Role::User]);
    }

    /// One token per word: what a tokenizer would say, far below the estimate.
    struct Words;

    impl TokenCounter for Words {
        fn count(&self, text: &str) -> usize {
            text.split_whitespace().count()
        }
    }

    #[test]
    fn a_tokenizer_measures_the_budget_when_there_is_one() {
        let mut c = History::new("You are the service desk.");
        for i in 0..20 {
            c.push(ChatMessage::user(format!(
                "Message number {i} about an oil change."
            )));
        }
        let counted = Tokens::counted(std::sync::Arc::new(Words));
        assert!(counted.is_counted() && !Tokens::default().is_counted());
        // "Message number N about an oil change." is 7 words + 4 a message: 11 each, the
        // system 5 + 4 = 9; a budget of 9 + 5 * 11 keeps exactly five.
        assert_eq!(c.trimmed_with(9 + 5 * 11, &counted).len(), 6);
        // The estimate (about 13 + 4 each) keeps fewer in the same budget.
        assert!(c.trimmed(9 + 5 * 11).len() < 6);
    }

    #[test]
    fn a_barge_in_cuts_the_assistant_to_what_was_heard_and_calls_are_tracked() {
        let mut c = History::new("s");
        c.push(ChatMessage::user("When are you open?"));
        c.push(ChatMessage::assistant(
            "We are open Monday to Friday from 7:30 to 6, and Saturday 8 to 2.",
        ));
        c.cut_last_assistant("We are open Monday to Friday");
        assert_eq!(
            c.messages()[2].content.as_deref(),
            Some("We are open Monday to Friday (interrupted)")
        );

        c.push(ChatMessage::assistant_tool_calls(
            Some("Let me check.".into()),
            vec![call("k")],
        ));
        assert_eq!(c.unanswered_calls(), ["k"]);
        c.cut_last_assistant("");
        assert_eq!(c.messages()[3].content, None);
        assert_eq!(c.messages()[3].tool_calls.len(), 1, "the call stays");
        // The caller speaks while the tool runs: its result still goes with its call.
        c.push(ChatMessage::user("Actually, wait."));
        c.push(ChatMessage::tool_result("k", "{}"));
        assert!(c.unanswered_calls().is_empty());
        let m = c.messages();
        assert_eq!(m[4].role, Role::Tool);
        assert_eq!(m[5].content.as_deref(), Some("Actually, wait."));
        // A stray result (no such call) is dropped, not attached to the wrong call.
        c.push(ChatMessage::tool_result("zzz", "{}"));
        assert_eq!(c.messages().len(), 6);
    }
}
