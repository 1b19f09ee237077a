//! The conversation engine of one call, sans-IO: what the agent does about the caller's voice,
//! their transcript, the LLM's stream, tool results, DTMF, playback and time. The call's
//! conversation feeds [`Input`]s with `now` and carries out the [`Action`]s; nothing here
//! touches a socket or a clock, so every behaviour is tested on a virtual clock.
//!
//! A turn: the caller stops (local VAD → `FinalizeStt`, or the provider's `speech_final` /
//! `UtteranceEnd`), the transcript goes to the LLM, its text is cut into sentences that are
//! spoken as they complete, tool calls run (a filler line if they are slow; at most
//! `max_tool_rounds` rounds), and the answer is recorded. Caller speech over the agent with
//! words of their own (`interrupt.rs`: not a backchannel, not the agent's echo) stops the agent
//! once it has lasted `barge_in_min_speech` (speech with no words, after
//! `barge_in_without_words`); the history keeps only what the caller heard, and tools already
//! running finish and keep their results.

mod caller_turn;
mod config;
mod events;
pub mod gate;
mod heard;
mod interrupt;
mod keypad;
mod preempt;
#[cfg(test)]
mod tests;
mod timers;
mod wind_down;

use std::collections::HashSet;
use std::time::Instant;

use serde_json::json;

pub use config::AgentConfig;
pub use events::{Action, Input};

use crate::audio::vad::VadEvent;
use crate::call::context::History;
use crate::call::end::{DrainEnding, GoodbyeReason, TransferReason};
use crate::call::observe::Observation;
use crate::call::record::Speaker;
use crate::call::sentences::SentenceSplitter;
use crate::chat::ChatMessage;
use crate::llm::{FinishReason, LlmEvent};
use crate::provider::ProviderKind;
use crate::tool::args::TransferWhy;
use crate::tool::{ToolCall, ToolRequest};

/// Tool calls running at once for one call; more in one round are answered "not run", so
/// one model cannot flood the database or the call's result queue.
pub const MAX_RUNNING_TOOLS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the caller.
    Listening,
    /// The caller is speaking.
    CallerSpeaking,
    /// VAD saw the end; waiting for the final transcript until the deadline.
    AwaitingFinal(Instant),
    /// The LLM is writing.
    Thinking,
    /// Tools are running since then.
    Tools(Instant),
    /// Transferring or hanging up.
    Ending,
}

/// The engine.
#[derive(Debug)]
pub struct Agent {
    config: AgentConfig,
    history: History,
    phase: Phase,
    turn: u64,
    round: u32,
    use_fallback: bool,
    caller_text: String,
    /// The agent's text of the current LLM turn.
    reply: String,
    splitter: SentenceSplitter,
    /// Sentences spoken in the current agent turn (for what-was-heard on barge-in).
    spoken: Vec<String>,
    /// Audio queued or playing.
    speaking: bool,
    /// Barge-in confirmed at this time if the caller is still speaking.
    barge_in_at: Option<Instant>,
    /// When the caller's current speech over the agent began.
    overlap_since: Option<Instant>,
    /// Voice activity hears the caller (from its speech start to its end, pauses included),
    /// whatever the phase: a turn that ends or an interruption that comes while it is on is
    /// not the end of what the caller is saying.
    caller_voice: bool,
    /// What the caller did not hear of an interrupted reply, said again if the interruption
    /// turns out to be noise.
    resumable: Option<Vec<String>>,
    /// Tool calls running.
    pending_tools: HashSet<String>,
    filler_said: bool,
    /// Last moment anything was said by either side.
    quiet_since: Instant,
    reprompts: u32,
    /// A slow first token still earns the caller a filler line in this completion.
    llm_filler_due: bool,
    /// When the current completion was asked for (its filler is due from then).
    asked_at: Instant,
    /// Winding down since then (the instance drains): how the call will end.
    wind_down: Option<(DrainEnding, Instant)>,
    /// The booking gate's memory (unclear answers, the keypad offer).
    gate: gate::Gatekeeper,
    /// A phone number being typed on the keypad.
    phone_entry: Option<keypad::PhoneEntry>,
    /// The pause the turn model is judging, and how many it was asked about.
    judging: Option<caller_turn::Judging>,
    judgements: u64,
    /// The caller's latest interim transcript (what the final is likely to say).
    interim: String,
    /// A completion asked for before the caller's final transcript.
    preemption: Option<preempt::Preemption>,
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

impl Agent {
    /// An engine for one call starting at `now`.
    pub fn new(config: AgentConfig, now: Instant) -> Self {
        let first_clause = config.first_clause_words;
        Self {
            history: History::new(config.system_prompt.clone()),
            config,
            phase: Phase::Listening,
            turn: 0,
            round: 0,
            use_fallback: false,
            caller_text: String::new(),
            reply: String::new(),
            splitter: SentenceSplitter::default().with_first_clause(first_clause),
            spoken: Vec::new(),
            speaking: false,
            barge_in_at: None,
            pending_tools: HashSet::new(),
            filler_said: false,
            quiet_since: now,
            reprompts: 0,
            wind_down: None,
            gate: gate::Gatekeeper::default(),
            phone_entry: None,
            overlap_since: None,
            caller_voice: false,
            resumable: None,
            llm_filler_due: false,
            asked_at: now,
            judging: None,
            judgements: 0,
            interim: String::new(),
            preemption: None,
        }
    }

    /// The conversation as the LLM would see it now (for tests and the records).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Whether the completion of request `turn` is still awaited (its stream ending now
    /// would leave the caller without an answer).
    pub fn is_waiting_for(&self, turn: u64) -> bool {
        self.phase == Phase::Thinking && self.turn == turn
    }

    /// When the conversation should send a `Tick` next.
    pub fn next_deadline(&self) -> Option<Instant> {
        // Asked on every turn of the call loop: no allocation.
        let phase = match self.phase {
            Phase::AwaitingFinal(t) => Some(t),
            Phase::Tools(started) if !self.filler_said => Some(started + self.config.filler_after),
            Phase::Listening if !self.speaking => {
                Some(self.quiet_since + self.config.silence_reprompt)
            }
            Phase::Thinking if self.llm_filler_due => {
                Some(self.asked_at + self.config.llm_filler_after)
            }
            _ => None,
        };
        let patience = self
            .wind_down
            .map(|(_, since)| since + self.config.wind_down_patience);
        let entry = self.phone_entry.as_ref().map(keypad::PhoneEntry::deadline);
        let verdict = self.judging.as_ref().map(caller_turn::Judging::due);
        [self.barge_in_at, phase, patience, entry, verdict]
            .into_iter()
            .flatten()
            .min()
    }

    /// Handles one input.
    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.phase == Phase::Ending {
            if input == Input::PlaybackIdle {
                self.speaking = false;
            }
            return out;
        }
        match input {
            Input::Started => self.say_all(&self.config.greeting.clone(), &mut out),
            Input::Voice(VadEvent::SpeechStarted { .. }) => {
                self.quiet_since = now;
                self.caller_voice = true;
                if self.speaking || matches!(self.phase, Phase::Thinking | Phase::Tools(_)) {
                    // Speech over the agent interrupts once words show it is the caller's;
                    // without any transcript, only once it has gone on this long.
                    self.overlap_since = Some(now);
                    let wait = self.config.barge_in_without_words;
                    self.barge_in_at.get_or_insert(now + wait);
                } else {
                    self.phase = Phase::CallerSpeaking;
                    self.drop_preemption(&mut out);
                }
            }
            Input::Voice(VadEvent::Paused { .. }) => self.paused(now, &mut out),
            Input::Voice(VadEvent::Resumed { .. }) => self.resumed(now),
            Input::TurnJudged { id, complete } => self.turn_judged(id, complete, &mut out),
            Input::Voice(VadEvent::SpeechEnded { .. }) => {
                self.caller_voice = false;
                self.judging = None;
                self.quiet_since = now;
                self.barge_in_at = None;
                self.overlap_since = None;
                if self.phase == Phase::CallerSpeaking {
                    out.push(Action::FinalizeStt);
                    self.phase = Phase::AwaitingFinal(now + self.config.finalize_grace);
                    self.preempt(now, &mut out);
                }
            }
            Input::Transcript(e) => self.transcript(e, now, &mut out),
            Input::Llm { turn, event } if self.holds(turn) => self.hold(event, &mut out),
            Input::Llm { turn, event } if turn == self.turn => self.llm(event, now, &mut out),
            Input::Llm { .. } => {} // a cancelled turn's leftovers
            Input::ToolDone { id, content } => self.tool_done(id, content, now, &mut out),
            Input::PlaybackIdle => {
                self.speaking = false;
                self.quiet_since = now;
            }
            Input::Interrupted { heard } => self.cut_to_heard(&heard, &mut out),
            Input::Dtmf(d) if self.phone_entry.is_some() => {
                self.quiet_since = now;
                let entered = self.phone_entry.as_mut().and_then(|e| e.press(d, now));
                if let Some(entered) = entered {
                    self.keypad_turn(entered.as_turn(), now, &mut out);
                }
            }
            Input::Dtmf(d) if d == self.config.transfer_digit => {
                self.stop(&mut out);
                self.end_with_transfer(TransferReason::TransferDigit, &mut out);
            }
            Input::Dtmf(d) if self.gate.keypad_offered() => {
                if let Some(answer) = self.gate.keypad(d) {
                    self.keypad_turn(answer, now, &mut out);
                }
            }
            Input::Dtmf(_) => {}
            Input::ProviderDown(kind) => {
                // Speech both ways is needed to go on; the conversation engine above the
                // providers has already tried the fallbacks.
                self.stop(&mut out);
                self.end_with_transfer(
                    match kind {
                        ProviderKind::Stt => TransferReason::SttDown,
                        ProviderKind::Tts => TransferReason::TtsDown,
                        ProviderKind::Llm => TransferReason::LlmDown,
                    },
                    &mut out,
                );
            }
            Input::WindDown(ending) => {
                self.wind_down.get_or_insert((ending, now));
            }
            Input::Tick => self.tick(now, &mut out),
        }
        self.wind_down_if_due(now, &mut out);
        out
    }

    /// A key press (or the end of an entry) becomes the caller's turn, spoken over or not.
    fn keypad_turn(&mut self, text: String, now: Instant, out: &mut Vec<Action>) {
        self.phone_entry = None;
        self.stop(out);
        self.caller_text = text;
        self.end_caller_turn(now, out);
    }

    fn say_all(&mut self, text: &str, out: &mut Vec<Action>) {
        self.history.push(ChatMessage::assistant(text));
        out.push(Action::Speak(text.to_string()));
        out.push(Action::Record {
            speaker: Speaker::Agent,
            text: text.to_string(),
            heard: None,
        });
        self.spoken = vec![text.to_string()];
        self.speaking = true;
    }

    fn end_with_transfer(&mut self, reason: TransferReason, out: &mut Vec<Action>) {
        let line = self.config.transfer_line.clone();
        self.say_all(&line, out);
        out.push(Action::Transfer { reason });
        self.phase = Phase::Ending;
    }

    fn stop(&mut self, out: &mut Vec<Action>) {
        if self.speaking {
            out.push(Action::StopSpeaking);
        }
        if self.phase == Phase::Thinking {
            out.push(Action::CancelLlm);
            self.close_reply(None, out);
            // Events of the cancelled request may still be queued: they no longer match.
            self.turn += 1;
            self.phase = Phase::Listening;
        }
        self.splitter.clear();
        self.speaking = false;
    }

    fn ask_llm(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.turn += 1;
        self.resumable = None;
        self.asked_at = now;
        // Later rounds of a turn (after tools) had their filler already.
        self.llm_filler_due = self.round == 0;
        self.reply.clear();
        self.spoken.clear();
        self.phase = Phase::Thinking;
        out.push(Action::StartLlm {
            turn: self.turn,
            messages: self
                .history
                .trimmed_with(self.config.token_budget, &self.config.tokens),
            fallback: self.use_fallback,
        });
    }

    pub(super) fn speak_sentence(&mut self, s: String, out: &mut Vec<Action>) {
        self.spoken.push(s.clone());
        self.speaking = true;
        out.push(Action::Speak(s));
    }

    /// Ends the current reply: the rest of its text is spoken (unless interrupted) and it
    /// joins the history and the records.
    fn close_reply(&mut self, calls: Option<Vec<ToolCall>>, out: &mut Vec<Action>) {
        let text = std::mem::take(&mut self.reply);
        let text = text.trim().to_string();
        match calls {
            Some(calls) => self.history.push(ChatMessage::assistant_tool_calls(
                (!text.is_empty()).then(|| text.clone()),
                calls,
            )),
            None if !text.is_empty() => self.history.push(ChatMessage::assistant(text.clone())),
            None => {}
        }
        if !text.is_empty() {
            out.push(Action::Record {
                speaker: Speaker::Agent,
                text,
                heard: None,
            });
        }
    }

    fn llm(&mut self, event: LlmEvent, now: Instant, out: &mut Vec<Action>) {
        match event {
            LlmEvent::TextDelta(t) => {
                self.llm_filler_due = false;
                self.reply.push_str(&t);
                for s in self.splitter.push(&t) {
                    self.speak_sentence(s, out);
                }
            }
            LlmEvent::ToolCalls(calls) => {
                self.llm_filler_due = false;
                if let Some(rest) = self.splitter.finish() {
                    self.speak_sentence(rest, out);
                }
                self.tool_calls(calls, now, out);
            }
            LlmEvent::Finished(reason) => {
                if self.phase != Phase::Thinking {
                    return; // tool calls already moved us on
                }
                if let Some(rest) = self.splitter.finish() {
                    self.speak_sentence(rest, out);
                }
                self.close_reply(None, out);
                if reason == FinishReason::Length {
                    tracing::info!("LLM answer cut at the token limit");
                }
                self.phase = Phase::Listening;
                self.quiet_since = now;
            }
            LlmEvent::Usage(_) => {}
            LlmEvent::Error(e) => {
                tracing::warn!(error = %e, fallback = self.config.has_llm_fallback && !self.use_fallback, "LLM turn failed");
                self.splitter.clear();
                self.reply.clear();
                if self.config.has_llm_fallback && !self.use_fallback {
                    self.use_fallback = true;
                    let line = self.config.llm_retry_line.clone();
                    self.speak_sentence(line, out);
                    self.ask_llm(now, out);
                } else {
                    self.end_with_transfer(TransferReason::LlmDown, out);
                }
            }
        }
    }

    fn tool_calls(&mut self, calls: Vec<ToolCall>, now: Instant, out: &mut Vec<Action>) {
        self.close_reply(Some(calls.clone()), out);
        self.round += 1;
        let over_limit = self.round > self.config.max_tool_rounds;
        let mut ending: Option<ToolRequest> = None;
        let mut keypad_prompt = None;
        let answer = |ok: bool, message: &str| json!({"ok": ok, "message": message}).to_string();
        for c in calls {
            if over_limit {
                self.history.push(ChatMessage::tool_result(
                    &c.id,
                    answer(false, "not run: too many tool rounds in one turn"),
                ));
                continue;
            }
            match c.request {
                Err(why) => self
                    .history
                    .push(ChatMessage::tool_result(&c.id, why.to_json().to_string())),
                Ok(ToolRequest::EndCall) => {
                    self.history.push(ChatMessage::tool_result(
                        &c.id,
                        answer(true, "the call ends after your goodbye"),
                    ));
                    ending = Some(ToolRequest::EndCall);
                }
                Ok(ToolRequest::EnterPhoneOnKeypad) => {
                    self.history.push(ChatMessage::tool_result(
                        &c.id,
                        answer(
                            true,
                            "the caller is asked to type it; what they type follows",
                        ),
                    ));
                    self.phone_entry = Some(keypad::PhoneEntry::new(now));
                    keypad_prompt = Some(self.config.keypad_phone_line.clone());
                }
                Ok(ToolRequest::TransferToServiceDesk(why)) => {
                    self.history.push(ChatMessage::tool_result(
                        &c.id,
                        answer(true, "transferring"),
                    ));
                    ending = Some(ToolRequest::TransferToServiceDesk(why));
                }
                Ok(ToolRequest::Crm(_)) if self.pending_tools.len() >= MAX_RUNNING_TOOLS => {
                    self.history.push(ChatMessage::tool_result(
                        &c.id,
                        answer(false, "not run: too many tool calls at once; call fewer"),
                    ))
                }
                Ok(ToolRequest::Crm(request)) => {
                    // A booking, move or cancel needs the caller's yes to its read-back.
                    let refusal = match self.gate.judge(&request, &self.history.messages()) {
                        gate::Verdict::Run => {
                            self.pending_tools.insert(c.id.clone());
                            out.push(Action::RunTool { id: c.id, request });
                            continue;
                        }
                        gate::Verdict::Refuse(result) => result,
                        gate::Verdict::Keypad { prompt, result } => {
                            keypad_prompt = Some(prompt);
                            result
                        }
                    };
                    out.push(Action::Observe(Observation::NeedsConfirmation(
                        request.tool(),
                    )));
                    self.history.push(ChatMessage::tool_result(&c.id, refusal));
                }
            }
        }
        if over_limit {
            let line = self.config.apology_line.clone();
            self.speak_sentence(line, out);
            out.push(Action::Transfer {
                reason: TransferReason::TooManyToolRounds,
            });
            self.phase = Phase::Ending;
            return;
        }
        match ending {
            Some(ToolRequest::EndCall) => {
                // The goodbye was in the reply's text; the call hangs up once it has played.
                self.phase = Phase::Ending;
                out.push(Action::HangUp {
                    reason: GoodbyeReason::CallerDone,
                });
                return;
            }
            Some(ToolRequest::TransferToServiceDesk(why)) => {
                let reason = match why {
                    None | Some(TransferWhy::CallerAsked) => TransferReason::CallerAsked,
                    Some(TransferWhy::NotUnderstood) => TransferReason::NotUnderstood,
                    Some(TransferWhy::CannotHelp) => TransferReason::CannotHelp,
                };
                self.end_with_transfer(reason, out);
                return;
            }
            Some(_) => {
                self.end_with_transfer(TransferReason::CallerAsked, out);
                return;
            }
            None => {}
        }
        if let Some(prompt) = keypad_prompt {
            // The agent asks for the key itself; the model hears the answer as the caller's.
            self.say_all(&prompt, out);
            if self.pending_tools.is_empty() {
                self.phase = Phase::Listening;
                return;
            }
        }
        if self.pending_tools.is_empty() {
            self.ask_llm(now, out);
        } else {
            self.phase = Phase::Tools(now);
            self.filler_said = false;
        }
    }

    fn tool_done(&mut self, id: String, content: String, now: Instant, out: &mut Vec<Action>) {
        if !self.pending_tools.remove(&id) {
            return; // not ours, or already answered
        }
        // Whatever happened meanwhile, the result is kept: the booking it reports is real.
        self.history.push(ChatMessage::tool_result(id, content));
        if self.pending_tools.is_empty() && matches!(self.phase, Phase::Tools(_)) {
            self.ask_llm(now, out);
        }
    }
}
