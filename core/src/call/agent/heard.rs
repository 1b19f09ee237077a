//! What the caller heard of a reply they interrupted: the history and the record keep only
//! that, so the model does not believe it said what was never played. And when the
//! interruption turns out to be noise (the caller's turn ends with no words, or only "uh-huh"),
//! the agent picks its reply up again from the sentence it was cut in.

use super::interrupt::{Overlap, classify};
use super::{Action, Agent, Phase};
use crate::call::observe::Observation;
use crate::call::record::Speaker;
use crate::chat::ChatMessage;

impl Agent {
    pub(super) fn cut_to_heard(&mut self, heard: &[(u64, u64)], out: &mut Vec<Action>) {
        if self.spoken.is_empty() {
            return; // interrupted before the reply said anything: nothing to cut
        }
        // The driver reports the sentences it played; the last ones are this reply's.
        let heard = &heard[heard.len().saturating_sub(self.spoken.len())..];
        let mut said = Vec::new();
        let mut cut_at = self.spoken.len();
        for (i, (sentence, (h, total))) in self.spoken.iter().zip(heard).enumerate() {
            if h >= total {
                said.push(sentence.clone());
                continue;
            }
            cut_at = i;
            let w: Vec<&str> = sentence.split_whitespace().collect();
            let n = (w.len() as u64 * h / (*total).max(1)) as usize;
            if n > 0 {
                said.push(w[..n].join(" "));
            }
            break;
        }
        let heard_text = said.join(" ");
        self.history.cut_last_assistant(&heard_text);
        let unheard = self.spoken.split_off(cut_at.min(self.spoken.len()));
        self.resumable = (!unheard.is_empty()).then_some(unheard);
        self.spoken.clear();
        out.push(Action::RecordHeard(heard_text));
    }

    /// The caller's turn after an interruption: if it was noise, the agent says again what
    /// the caller did not hear (from the start of the sentence it was cut in) and true.
    pub(super) fn resume_if_noise(&mut self, caller: &str, out: &mut Vec<Action>) -> bool {
        let noise = caller.trim().is_empty() || classify(caller, "") == Overlap::Backchannel;
        let Some(rest) = self.resumable.take() else {
            return false;
        };
        if !noise {
            return false;
        }
        out.push(Action::Observe(Observation::FalseInterruption));
        let text = rest.join(" ");
        self.history.push(ChatMessage::assistant(text.clone()));
        out.push(Action::Record {
            speaker: Speaker::Agent,
            text,
            heard: None,
        });
        for sentence in rest {
            self.speak_sentence(sentence, out);
        }
        self.phase = Phase::Listening;
        true
    }
}
