//! Carrying out the agent's decisions: each [`Action`] becomes outputs for the executor,
//! state of the conversation, or an input fed back to the agent (an interruption's report,
//! the end of speech a turn model decided). The turn records are held here until the agent's
//! first audio, so a turn's latencies go with it.

use std::time::Instant;

use super::{AgentInput, Conversation};
use crate::call::agent::Action;
use crate::call::end::EndCause;
use crate::call::io::{Outbox, Output};
use crate::call::observe::Observation;
use crate::call::record::{Record, Speaker, Turn};
use crate::call::session::MediaSession;
use crate::tts::TtsCommand;

impl Conversation {
    pub(super) fn act(
        &mut self,
        action: Action,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        match action {
            Action::Speak(text) => self.speak(text, now, out),
            Action::StopSpeaking => {
                let heard = self.speech.interrupt(session, now);
                if self.tts.open {
                    out.push(Output::Tts(TtsCommand::Clear));
                }
                self.prewarmed = None;
                self.speaking = false;
                let by_voice = self.hearing.caller_speaking();
                self.clocks.interrupted(now, by_voice, out);
                self.feed(AgentInput::Interrupted { heard }, session, now, out);
            }
            Action::FinalizeStt => self.hearing.finalize(out),
            Action::JudgeTurn { id } => out.push(Output::JudgeTurn {
                id,
                audio: self.hearing.turn_audio(),
            }),
            Action::EndSpeech => {
                if let Some(ended) = self.hearing.end_speech() {
                    self.clocks.caller_stopped(now);
                    self.feed(AgentInput::Voice(ended), session, now, out);
                }
            }
            Action::StartLlm {
                turn,
                messages,
                fallback,
            } => self.start_llm(turn, messages, fallback, session, now, out),
            Action::CancelLlm => {
                if self.llm_turn.take().is_some() {
                    out.push(Output::CancelLlm);
                }
            }
            Action::RunTool { id, request } => {
                self.tools.started(id.clone(), request.tool(), now);
                out.push(Output::RunTool { id, request });
            }
            Action::Transfer { reason } => {
                tracing::info!(reason = reason.describe(), "the agent transfers the call");
                self.end(EndCause::Transferred(reason), now, out);
            }
            Action::HangUp { reason } => {
                tracing::info!(reason = reason.describe(), "the agent ends the call");
                self.end(EndCause::Goodbye(reason), now, out);
            }
            Action::Record {
                speaker,
                text,
                heard,
            } => self.record(speaker, text, heard, now, out),
            Action::RecordHeard(heard) => {
                self.record_unvoiced_turn(out);
                out.record(Record::Heard(heard));
            }
            Action::Observe(o) => {
                if let Observation::Preemptive { used } = o {
                    self.settle_early_ask(used, out);
                }
                out.observe(o);
            }
        }
    }

    fn record(
        &mut self,
        speaker: Speaker,
        text: String,
        heard: Option<String>,
        now: Instant,
        out: &mut Outbox,
    ) {
        // A caller's turn was said from when their (last stretch of) speech began.
        let began = self.clocks.caller_began().filter(|t| {
            speaker == Speaker::Caller && *t <= now && self.last_recorded.is_none_or(|l| *t >= l)
        });
        self.last_recorded = Some(now);
        let mut turn = Turn::new(speaker, text, began.unwrap_or(now));
        turn.heard = heard;
        match speaker {
            Speaker::Caller => {
                self.turn_opened = true;
                out.observe(Observation::TurnAnswered);
                turn.stt = self.clocks.stt_final();
            }
            Speaker::Agent => {
                turn.llm_first_token = self.clocks.first_token();
                turn.tts_first_byte = self.clocks.tts_first_byte();
            }
            Speaker::System => {}
        }
        let tts_first_byte = self.clocks.tts_first_byte();
        self.transcript
            .turn(turn, self.speaking, tts_first_byte, out);
    }

    /// Records the agent turn held for its first audio, with or without it.
    /// The final transcript decided on the request asked before it: used, the turn's clocks
    /// start from when it was asked (and its first token); wasted, the next request starts
    /// them as usual.
    fn settle_early_ask(&mut self, used: bool, out: &mut Outbox) {
        let Some((asked, first_token)) = self.asked_early.take() else {
            return;
        };
        if used {
            self.turn_opened = false;
            self.clocks.model_asked(asked, true, out);
            if let Some(at) = first_token {
                self.clocks.model_answered(at, out);
            }
        }
    }

    pub(super) fn record_unvoiced_turn(&mut self, out: &mut Outbox) {
        self.transcript.release(self.clocks.tts_first_byte(), out);
    }
}
