//! The caller's side of a turn: transcripts as they come, pauses judged by the turn model,
//! and the moment the caller's words become a turn for the LLM.
//!
//! With a turn model, voice activity reports a short pause ([`VadEvent::Paused`]) and the
//! agent asks whether the caller is done (`Action::JudgeTurn`). Finished: the speech ends at
//! the pause (`Action::EndSpeech`), long before the fixed silence would have ended it.
//! Pausing mid-sentence: the turn stays open until speech resumes or the longer silence
//! ends it. A verdict that does not come within `turn_verdict_wait` (or a model that failed)
//! ends the turn as plain voice activity would; a verdict on audio the caller has since
//! spoken past is ignored.
//!
//! [`VadEvent::Paused`]: crate::audio::vad::VadEvent::Paused

use std::time::Instant;

use super::{Action, Agent, Phase, interrupt, words};
use crate::call::end::TransferReason;
use crate::call::observe::{Observation, TurnVerdict};
use crate::call::record::Speaker;
use crate::chat::ChatMessage;
use crate::stt::SttEvent;

/// A pause the turn model is judging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Judging {
    /// Which request (answers to older ones are ignored).
    id: u64,
    /// Past this the turn ends without the verdict.
    due: Instant,
}

impl Judging {
    pub(super) fn due(&self) -> Instant {
        self.due
    }
}

impl Agent {
    /// The caller paused within their turn: is it finished?
    pub(super) fn paused(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(wait) = self.config.turn_verdict_wait else {
            return;
        };
        if self.phase != Phase::CallerSpeaking {
            // Speech over the agent paused: it stopped, as far as a barge-in is concerned
            // (with a turn model the speech itself ends only after the longer silence).
            self.barge_in_at = None;
            self.overlap_since = None;
            return;
        }
        self.judgements += 1;
        self.judging = Some(Judging {
            id: self.judgements,
            due: now + wait,
        });
        out.push(Action::JudgeTurn {
            id: self.judgements,
        });
    }

    /// The caller spoke again: the pause being judged is over; over the agent, the speech
    /// counts towards a barge-in from now, as new speech would.
    pub(super) fn resumed(&mut self, now: Instant) {
        self.judging = None;
        if self.speaking || matches!(self.phase, Phase::Thinking | Phase::Tools(_)) {
            self.overlap_since = Some(now);
            let wait = self.config.barge_in_without_words;
            self.barge_in_at.get_or_insert(now + wait);
        }
    }

    /// The turn model's verdict on pause `id`: `Some(true)` finished, `Some(false)` only
    /// pausing, `None` the model could not say.
    pub(super) fn turn_judged(&mut self, id: u64, complete: Option<bool>, out: &mut Vec<Action>) {
        if self.judging.map(|j| j.id) != Some(id) {
            return;
        }
        self.judging = None;
        let verdict = match complete {
            Some(true) => TurnVerdict::Complete,
            Some(false) => TurnVerdict::Incomplete,
            None => TurnVerdict::Failed,
        };
        out.push(Action::Observe(Observation::TurnVerdict(verdict)));
        if verdict != TurnVerdict::Incomplete && self.phase == Phase::CallerSpeaking {
            out.push(Action::EndSpeech);
        }
    }

    /// Time passed: a verdict not back in time ends the turn as voice activity would have.
    pub(super) fn verdict_overdue(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Some(j) = self.judging
            && now >= j.due
        {
            self.judging = None;
            out.push(Action::Observe(Observation::TurnVerdict(TurnVerdict::Late)));
            if self.phase == Phase::CallerSpeaking {
                out.push(Action::EndSpeech);
            }
        }
    }

    pub(super) fn transcript(&mut self, e: SttEvent, now: Instant, out: &mut Vec<Action>) {
        match e {
            SttEvent::Interim { text } => {
                if !self.speaking && self.phase != Phase::Thinking {
                    self.interim.clone_from(&text);
                }
                if words(&text) > 0 {
                    self.quiet_since = now;
                    if self.speaking || self.phase == Phase::Thinking {
                        self.words_over_agent(&text, now, out);
                    }
                }
            }
            SttEvent::Final {
                text,
                speech_final,
                from_finalize,
                ..
            } => {
                self.interim.clear();
                let over_agent = self.speaking || self.phase == Phase::Thinking;
                if over_agent
                    && !text.trim().is_empty()
                    && interrupt::classify(&text, &self.agent_text()) != interrupt::Overlap::Words
                {
                    // "Uh-huh" or the agent's own echo: not the caller's turn.
                } else if !text.trim().is_empty() {
                    if !self.caller_text.is_empty() {
                        self.caller_text.push(' ');
                    }
                    self.caller_text.push_str(text.trim());
                    self.quiet_since = now;
                    if self.speaking || self.phase == Phase::Thinking {
                        self.barge_in(now, out);
                        self.barged_in_after_speech(now, out);
                    }
                }
                let turn_over = from_finalize
                    || (speech_final && !matches!(self.phase, Phase::CallerSpeaking))
                    || matches!(self.phase, Phase::AwaitingFinal(_)) && speech_final;
                if turn_over {
                    self.end_caller_turn(now, out);
                }
            }
            SttEvent::UtteranceEnd { .. } => {
                // With a turn model, the caller's open turn is the model's to end: the
                // recogniser's gap between words says nothing of an unfinished sentence.
                let judged =
                    self.config.turn_verdict_wait.is_some() && self.phase == Phase::CallerSpeaking;
                if !judged && !matches!(self.phase, Phase::Thinking | Phase::Tools(_)) {
                    self.end_caller_turn(now, out);
                }
            }
            SttEvent::SpeechStarted { .. } | SttEvent::Reconnected { .. } | SttEvent::Closed => {}
            SttEvent::Error(_) => {
                self.stop(out);
                self.end_with_transfer(TransferReason::SttDown, out);
            }
        }
    }

    /// The caller's words so far become a turn for the LLM.
    pub(super) fn end_caller_turn(&mut self, now: Instant, out: &mut Vec<Action>) {
        let text = std::mem::take(&mut self.caller_text);
        self.interim.clear();
        if self.resume_if_noise(&text, out) {
            self.drop_preemption(out);
            return;
        }
        if text.is_empty() {
            self.drop_preemption(out);
            if matches!(self.phase, Phase::AwaitingFinal(_) | Phase::CallerSpeaking) {
                self.phase = Phase::Listening;
            }
            return;
        }
        self.reprompts = 0;
        self.quiet_since = now;
        self.still_speaking(now);
        out.push(Action::Record {
            speaker: Speaker::Caller,
            text: text.clone(),
            heard: None,
        });
        let text_of_turn = text.clone();
        self.history.push(ChatMessage::user(text));
        self.round = 0;
        self.spoken.clear();
        if self.wind_down.is_some() && self.pending_tools.is_empty() {
            // No new turn while winding down: the desk (or a call back) answers it.
            self.drop_preemption(out);
            self.phase = Phase::Listening;
        } else if self.pending_tools.is_empty() {
            if !self.use_preemption(&text_of_turn, now, out) {
                self.ask_llm(now, out);
            }
        } else {
            // Tools from an interrupted turn are still running: their results join the
            // history first, then the LLM hears the new turn.
            self.phase = Phase::Tools(now);
            self.filler_said = true;
        }
    }
}
