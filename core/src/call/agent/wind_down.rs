//! Winding a call down while the instance drains: the turn in progress is finished (its
//! sentence, its tools and the answer about them), no new turn is taken, then the drain line
//! and the configured ending. A turn that does not end within the patience is cut short.

use std::time::Instant;

use super::{Action, Agent, Phase};
use crate::call::end::{DrainEnding, GoodbyeReason, TransferReason};

impl Agent {
    /// Ends a wound-down call once no turn is in progress (or the patience is spent): the
    /// drain line after whatever is already queued, then the desk or a goodbye.
    pub(super) fn wind_down_if_due(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some((ending, since)) = self.wind_down else {
            return;
        };
        if self.phase == Phase::Ending {
            return;
        }
        let idle = self.phase == Phase::Listening && self.barge_in_at.is_none();
        if !idle && now < since + self.config.wind_down_patience {
            return;
        }
        if self.phase == Phase::Thinking {
            // Out of patience mid-answer: what is queued plays, the rest is not asked for.
            out.push(Action::CancelLlm);
            if let Some(rest) = self.splitter.finish() {
                self.speak_sentence(rest, out);
            }
            self.close_reply(None, out);
            self.turn += 1;
        }
        self.splitter.clear();
        self.barge_in_at = None;
        match ending {
            DrainEnding::Transfer => {
                let line = self.config.drain_transfer_line.clone();
                self.say_all(&line, out);
                out.push(Action::Transfer {
                    reason: TransferReason::Draining,
                });
            }
            DrainEnding::Goodbye => {
                let line = self.config.drain_goodbye_line.clone();
                self.say_all(&line, out);
                out.push(Action::HangUp {
                    reason: GoodbyeReason::Draining,
                });
            }
        }
        self.phase = Phase::Ending;
    }
}
