//! What the agent does when time passes: barge-ins confirmed, a turn ended without its final
//! transcript, filler lines while the model or the tools are slow, re-prompts and the
//! goodbye on silence.

use std::time::Instant;

use super::{Action, Agent, Phase};
use crate::call::end::GoodbyeReason;

impl Agent {
    pub(super) fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Some(entry) = &mut self.phone_entry
            && now >= entry.deadline()
        {
            let typed = entry.expire().as_turn();
            self.keypad_turn(typed, now, out);
            return;
        }
        self.verdict_overdue(now, out);
        if let Some(at) = self.barge_in_at
            && now >= at
        {
            self.barge_in(now, out);
        }
        match self.phase {
            Phase::Thinking
                if self.llm_filler_due && now >= self.asked_at + self.config.llm_filler_after =>
            {
                // The model is slow to start: the caller hears that we are on it rather than
                // silence; the answer follows when it comes (or the fallback's).
                self.llm_filler_due = false;
                if !self.speaking {
                    let line = self.config.llm_filler_line.clone();
                    self.speak_sentence(line, out);
                }
            }
            Phase::AwaitingFinal(deadline) if now >= deadline => {
                // No final in time: go with what was transcribed so far.
                self.end_caller_turn(now, out);
                if self.phase == Phase::AwaitingFinal(deadline) {
                    self.phase = Phase::Listening;
                }
            }
            Phase::Tools(started)
                if !self.filler_said
                    && !self.speaking
                    && now >= started + self.config.filler_after =>
            {
                self.filler_said = true;
                let line = self.config.filler_line.clone();
                self.speak_sentence(line, out);
            }
            Phase::Listening
                if !self.speaking && now >= self.quiet_since + self.config.silence_reprompt =>
            {
                self.reprompts += 1;
                self.quiet_since = now;
                if self.reprompts > self.config.max_reprompts {
                    let line = self.config.goodbye_line.clone();
                    self.say_all(&line, out);
                    self.phase = Phase::Ending;
                    out.push(Action::HangUp {
                        reason: GoodbyeReason::Silence,
                    });
                } else {
                    let line = self.config.reprompt_line.clone();
                    self.say_all(&line, out);
                }
            }
            _ => {}
        }
    }
}
