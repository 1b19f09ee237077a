//! The agent side of one call: carries the [`Agent`]'s decisions to the providers, tools and
//! records as outputs, and feeds their results back. It owns the call's voice activity
//! detector, what the agent is saying ([`SpeechTrack`]), the provider-failover policy, the
//! stage clocks, the turn record held back until its first audio, and the agent's ending.
//! Sans-IO: the call machine hands it the media session and `now`.

use std::time::Instant;

use super::agent::{Agent, Input as AgentInput};
use super::clocks::Clocks;
use super::end::{DrainEnding, EndCause};
use super::hearing::Hearing;
use super::io::{ConversationConfig, Outbox, Output, Preparation, Slot};
use super::observe::Observation;
use super::record::{Speaker, Turn};
use super::session::MediaSession;
use super::speech::SpeechTrack;
use super::tool_runs::ToolRuns;
use super::transcript::Transcript;
use crate::audio::AudioFormat;
use crate::audio::vad::VadEvent;
use crate::chat::ChatMessage;
use crate::llm::LlmEvent;
use crate::provider::{ProviderError, ProviderKind};
use crate::stt::SttEvent;
use crate::tool::{BookingChange, ToolResult, timeout_answer};
use crate::tts::{TtsCommand, TtsEvent};

#[path = "conversation_actions.rs"]
mod actions;

/// One provider stream of the call: whether it is open, and from which slot.
#[derive(Debug, Clone, Copy)]
struct Stream {
    open: bool,
    slot: Slot,
}

/// The conversation of one call.
#[derive(Debug)]
pub(super) struct Conversation {
    config: ConversationConfig,
    agent: Agent,
    hearing: Hearing,
    tts: Stream,
    tts_format: AudioFormat,
    speech: SpeechTrack,
    /// The greeting already handed to synthesis at preparation.
    prewarmed: Option<String>,
    /// The running completion's request number.
    llm_turn: Option<u64>,
    /// Tool calls running.
    tools: ToolRuns,
    /// The order the transcript is written in.
    transcript: Transcript,
    /// Audio was queued and the agent has not been told it played out.
    speaking: bool,
    /// The agent decided how the call ends, at this time.
    ending: Option<(EndCause, Instant)>,
    clocks: Clocks,
    /// The last change the call made to the appointment book.
    change: Option<BookingChange>,
    /// The caller's turn was just recorded: the next completion starts a new turn's clocks
    /// (later rounds of the same turn, after tools, keep them).
    turn_opened: bool,
    /// The model was asked before the caller's final (preemptively), at this time, and its
    /// first token came at that one: the turn's clocks start from them once the final
    /// confirms the request.
    asked_early: Option<(Instant, Option<Instant>)>,
    /// When the last turn was recorded: a caller's turn is placed at the start of their
    /// speech when that came after it (a recording is played in step with the turns).
    last_recorded: Option<Instant>,
}

impl Conversation {
    /// A conversation from what was prepared, for caller audio in `inbound` format.
    pub(super) fn new(
        prep: Preparation,
        config: ConversationConfig,
        inbound: AudioFormat,
        now: Instant,
    ) -> Self {
        let tools = ToolRuns::new(config.tool_timeout);
        let hearing = Hearing::new(config.vad, inbound, prep.stt_open, config.stt_batch_frames);
        let mut speech = SpeechTrack::default();
        let prewarmed = (prep.tts_open && prep.greeting_sent).then(|| {
            speech.sent(prep.agent.greeting.clone());
            prep.agent.greeting.clone()
        });
        Self {
            tts_format: config
                .tts_format(Slot::Primary)
                .unwrap_or(AudioFormat::MULAW_8K),
            config,
            agent: Agent::new(prep.agent, now),
            hearing,
            tts: Stream {
                open: prep.tts_open,
                slot: Slot::Primary,
            },
            speech,
            prewarmed,
            last_recorded: None,
            llm_turn: None,
            tools,
            transcript: Transcript::default(),
            speaking: false,
            ending: None,
            clocks: Clocks::default(),
            change: None,
            turn_opened: false,
            asked_early: None,
        }
    }

    /// The media started and the call is prepared: the greeting plays. A stream the
    /// preparation could not open fails over now.
    pub(super) fn start(&mut self, session: &mut MediaSession, now: Instant, out: &mut Outbox) {
        if !self.hearing.is_open() {
            self.stt_failed(session, now, out);
        }
        if !self.tts.open {
            self.tts_failed("no speech synthesis was opened", session, now, out);
        }
        self.feed(AgentInput::Started, session, now, out);
    }

    /// Caller audio (the carrier's bytes): to voice activity and speech recognition.
    pub(super) fn caller_audio(
        &mut self,
        audio: Vec<u8>,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        let events = self.hearing.audio(audio, out);
        for e in events {
            match e {
                VadEvent::SpeechStarted { .. } => self.clocks.caller_started(now),
                VadEvent::SpeechEnded { .. } => self.clocks.caller_stopped(now),
                VadEvent::Paused { .. } | VadEvent::Resumed { .. } => {}
            }
            self.feed(AgentInput::Voice(e), session, now, out);
        }
    }

    /// The turn model's verdict on a pause.
    pub(super) fn turn_judged(
        &mut self,
        id: u64,
        complete: Option<bool>,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        self.feed(AgentInput::TurnJudged { id, complete }, session, now, out);
    }

    /// The instance drains: wind the conversation down (see [`AgentInput::WindDown`]).
    pub(super) fn wind_down(
        &mut self,
        ending: DrainEnding,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        self.feed(AgentInput::WindDown(ending), session, now, out);
    }

    /// A keypress.
    pub(super) fn dtmf(
        &mut self,
        digit: char,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        self.feed(AgentInput::Dtmf(digit), session, now, out);
    }

    pub(super) fn stt_event(
        &mut self,
        e: SttEvent,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        match e {
            SttEvent::Error(e) => {
                tracing::warn!(error = %e, "speech recognition failed");
                self.stt_failed(session, now, out);
            }
            e => {
                if matches!(e, SttEvent::Final { .. }) {
                    self.clocks.final_transcript(now);
                }
                self.feed(AgentInput::Transcript(e), session, now, out);
            }
        }
    }

    pub(super) fn stt_closed(
        &mut self,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        if self.hearing.is_open() && self.ending.is_none() {
            tracing::warn!("speech recognition stream ended");
            self.stt_failed(session, now, out);
        }
    }

    /// Recognition is gone: the fallback hears the rest of the call, or the call is handed on.
    fn stt_failed(&mut self, session: &mut MediaSession, now: Instant, out: &mut Outbox) {
        if !self.hearing.failed(self.config.stt_fallback, out) {
            self.feed(
                AgentInput::ProviderDown(ProviderKind::Stt),
                session,
                now,
                out,
            );
        }
    }

    pub(super) fn tts_event(
        &mut self,
        e: TtsEvent,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        match e {
            TtsEvent::Audio(audio) => {
                match self.speech.audio(session, now, &audio, self.tts_format) {
                    Ok(true) => {
                        // The held-back turn is being heard: it is recorded now, with its
                        // synthesis time when one was measured (not for the greeting
                        // synthesized at the webhook).
                        self.clocks.first_audio(now, out);
                        self.record_unvoiced_turn(out);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "synthesized audio cannot be played");
                        self.tts_failed("unplayable audio", session, now, out);
                    }
                }
            }
            TtsEvent::Flushed { sequence_id } => self.speech.flushed(session, now, sequence_id),
            TtsEvent::Cleared => self.speech.cleared(),
            TtsEvent::Warning(w) => tracing::warn!(warning = %w, "speech synthesis warning"),
            TtsEvent::Error(e) => {
                tracing::warn!(error = %e, "speech synthesis failed");
                self.tts_failed("speech synthesis failed", session, now, out);
            }
            TtsEvent::Closed => {}
        }
    }

    pub(super) fn tts_closed(
        &mut self,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        if !self.tts.open {
            return;
        }
        if self.ending.is_none() {
            self.tts_failed("the speech stream ended", session, now, out);
        } else {
            self.tts.open = false;
        }
    }

    /// Synthesis is gone: the fallback takes the unspoken sentences, or the call is handed on.
    fn tts_failed(
        &mut self,
        why: &str,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        let unspoken = self.speech.abandon(session, now);
        self.prewarmed = None;
        let fallback = self.config.tts_format(Slot::Fallback);
        match fallback {
            Some(format) if self.tts.slot == Slot::Primary => {
                tracing::info!(why, "speech synthesis moves to the fallback");
                out.push(Output::OpenTts(Slot::Fallback));
                for sentence in unspoken {
                    out.push(Output::Tts(TtsCommand::Speak(sentence.clone())));
                    out.push(Output::Tts(TtsCommand::Flush));
                    self.speech.sent(sentence);
                }
                self.tts = Stream {
                    open: true,
                    slot: Slot::Fallback,
                };
                self.tts_format = format;
            }
            _ => {
                tracing::warn!(why, "no speech synthesis left for this call");
                self.tts.open = false;
                self.feed(
                    AgentInput::ProviderDown(ProviderKind::Tts),
                    session,
                    now,
                    out,
                );
            }
        }
    }

    pub(super) fn llm_event(
        &mut self,
        turn: u64,
        event: LlmEvent,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        if self.llm_turn == Some(turn)
            && matches!(event, LlmEvent::TextDelta(_) | LlmEvent::ToolCalls(_))
        {
            match &mut self.asked_early {
                Some((_, first)) if self.agent.asked_early(turn) => {
                    first.get_or_insert(now);
                }
                _ => self.clocks.model_answered(now, out),
            }
        }
        self.feed(AgentInput::Llm { turn, event }, session, now, out);
    }

    /// A completion's stream ended; one that ended without finishing is a failure.
    pub(super) fn llm_closed(
        &mut self,
        turn: u64,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        if self.llm_turn == Some(turn) {
            self.llm_turn = None;
        }
        if self.agent.is_waiting_for(turn) {
            let event =
                LlmEvent::Error(ProviderError::Cut("the completion ended unfinished".into()));
            self.feed(AgentInput::Llm { turn, event }, session, now, out);
        }
    }

    pub(super) fn tool_done(
        &mut self,
        result: ToolResult,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        let Some(answered) = self.tools.answered(&result.id) else {
            return; // not ours, or already answered
        };
        if result.ok && answered.change.is_some() {
            self.change = answered.change;
        }
        if answered.awaited {
            let (id, content) = (result.id, result.content);
            self.feed(AgentInput::ToolDone { id, content }, session, now, out);
        }
    }

    /// Time passed: the agent's timers, and whether its audio has played out.
    pub(super) fn tick(&mut self, session: &mut MediaSession, now: Instant, out: &mut Outbox) {
        for (id, tool) in self.tools.overdue(now) {
            tracing::warn!(
                tool = tool.as_str(),
                "a tool did not answer in time; the model is told"
            );
            out.observe(Observation::ToolTimedOut(tool));
            let content = timeout_answer();
            self.feed(AgentInput::ToolDone { id, content }, session, now, out);
        }
        if self.agent.next_deadline().is_some_and(|d| d <= now) {
            self.feed(AgentInput::Tick, session, now, out);
        }
        if self.speaking && self.speech.is_quiet() && session.is_playback_idle(now) {
            self.speaking = false;
            self.speech.reset();
            self.feed(AgentInput::PlaybackIdle, session, now, out);
        }
    }

    /// When [`Conversation::tick`] is next due.
    pub(super) fn next_deadline(&self, session: &MediaSession, now: Instant) -> Option<Instant> {
        let playout = self
            .speaking
            .then(|| session.playback_ends_at(now))
            .flatten();
        let ending = self
            .ending
            .as_ref()
            .map(|(_, at)| *at + self.config.playout_limit);
        [
            self.agent.next_deadline(),
            playout,
            ending,
            self.tools.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// How the agent ended the call, once its last words have played (or could not, within
    /// the limit).
    pub(super) fn ending(&self, now: Instant) -> Option<EndCause> {
        let (cause, since) = self.ending.as_ref()?;
        let played = !self.speaking || !self.tts.open;
        (played || now >= *since + self.config.playout_limit).then(|| cause.clone())
    }

    /// How the agent decided to end the call, whether or not its last words have played.
    pub(super) fn decided_ending(&self) -> Option<EndCause> {
        self.ending.as_ref().map(|(cause, _)| cause.clone())
    }

    /// Tool calls still running.
    pub(super) fn has_running_tools(&self) -> bool {
        !self.tools.is_empty()
    }

    /// The last change the call made to the appointment book.
    pub(super) fn change(&self) -> Option<BookingChange> {
        self.change
    }

    /// The conversation as the model would see it now.
    pub(super) fn history(&self) -> Vec<ChatMessage> {
        self.agent.history().messages()
    }

    /// The call is over: the held-back turn is recorded, the streams close.
    pub(super) fn finish(&mut self, out: &mut Outbox) {
        self.record_unvoiced_turn(out);
        self.hearing.finish(out);
        if self.tts.open {
            out.push(Output::Tts(TtsCommand::Close));
            self.tts.open = false;
        }
        if self.llm_turn.take().is_some() {
            out.push(Output::CancelLlm);
        }
    }

    fn feed(
        &mut self,
        input: AgentInput,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        tracing::debug!(?input, "conversation input");
        for a in self.agent.handle(input, now) {
            tracing::debug!(action = ?a, "conversation action");
            self.act(a, session, now, out);
        }
    }

    fn end(&mut self, cause: EndCause, now: Instant, out: &mut Outbox) {
        let text = match &cause {
            EndCause::Transferred(r) => format!("transfer to the service desk: {}", r.describe()),
            EndCause::Goodbye(r) => format!("hang-up: {}", r.describe()),
            other => other.describe(),
        };
        self.transcript
            .system_line(Turn::new(Speaker::System, text, now), out);
        if self.ending.is_none() {
            self.ending = Some((cause, now));
        }
    }

    fn speak(&mut self, text: String, now: Instant, out: &mut Outbox) {
        self.speaking = true;
        if self.prewarmed.as_deref() == Some(text.as_str()) {
            self.prewarmed = None; // already with synthesis since the webhook
            self.clocks.sentence(now, false, out);
            return;
        }
        if !self.tts.open {
            self.clocks.sentence(now, false, out);
            tracing::warn!(%text, "nothing to say this with: no speech synthesis");
            return;
        }
        out.push(Output::Tts(TtsCommand::Speak(text.clone())));
        out.push(Output::Tts(TtsCommand::Flush));
        self.speech.sent(text);
        self.clocks.sentence(now, true, out);
    }

    fn start_llm(
        &mut self,
        turn: u64,
        messages: Vec<ChatMessage>,
        fallback: bool,
        session: &mut MediaSession,
        now: Instant,
        out: &mut Outbox,
    ) {
        // The agent asks for the fallback only when its configuration says there is one.
        if !fallback && !self.config.llm_primary {
            tracing::warn!("no language model to ask");
            self.feed(
                AgentInput::ProviderDown(ProviderKind::Llm),
                session,
                now,
                out,
            );
            return;
        }
        if self.agent.asked_early(turn) {
            // The turn's clocks wait for the final to confirm this request.
            self.asked_early = Some((now, None));
        } else {
            let new_turn = std::mem::take(&mut self.turn_opened);
            self.clocks.model_asked(now, new_turn, out);
        }
        self.llm_turn = Some(turn);
        let slot = if fallback {
            Slot::Fallback
        } else {
            Slot::Primary
        };
        out.push(Output::StartLlm {
            turn,
            messages,
            slot,
        });
    }
}
