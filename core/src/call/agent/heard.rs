//! What the caller heard of a reply they interrupted: the history and the record keep only
//! that, so the model does not believe it said what was never played.

use super::{Action, Agent};

impl Agent {
    pub(super) fn cut_to_heard(&mut self, heard: &[(u64, u64)], out: &mut Vec<Action>) {
        if self.spoken.is_empty() {
            return; // interrupted before the reply said anything: nothing to cut
        }
        // The driver reports the sentences it played; the last ones are this reply's.
        let heard = &heard[heard.len().saturating_sub(self.spoken.len())..];
        let mut said = Vec::new();
        for (sentence, (h, total)) in self.spoken.iter().zip(heard) {
            if h >= total {
                said.push(sentence.clone());
                continue;
            }
            let w: Vec<&str> = sentence.split_whitespace().collect();
            let n = (w.len() as u64 * h / (*total).max(1)) as usize;
            if n > 0 {
                said.push(w[..n].join(" "));
            }
            break;
        }
        let heard_text = said.join(" ");
        self.history.cut_last_assistant(&heard_text);
        self.spoken.clear();
        out.push(Action::RecordHeard(heard_text));
    }
}
