//! [`Call`]: one call as one state machine, in the shape of str0m's `Rtc`. Feed it with
//! [`Call::handle_input`], drain [`Call::poll_output`] after every input, and feed
//! [`Input::Timeout`] at [`Call::poll_timeout`]. It owns the media session (carrier framing,
//! transcoding, the playback ledger, the echo line), and for agent calls the conversation
//! (voice activity, the agent, what it is saying, failover, stage clocks); it decides
//! admission, preparation, the ending, the hand-off and the outcome. It never reads a clock,
//! touches a socket or spawns: the executor does what the outputs say and reports back.
//!
//! A call's life: `start` arrives → [`Output::Admit`] → (agent calls) [`Output::Prepare`] →
//! live → an ending (the agent's decision once its words have played, the maximum length, the
//! caller hanging up once running tools have answered, shutdown) → [`Output::HandOff`] when
//! the carrier must learn where the caller goes → [`Output::End`] with the one [`CallEnd`].
//! Every wait on the executor has a deadline here.

use std::collections::VecDeque;
use std::time::Instant;

use super::conversation::Conversation;
use super::end::{CallEnd, DrainEnding, EndCause, Handoff, TransferReason};
use super::io::{ConversationConfig, Input, Outbox, Output, Preparation, StartedCall};
use super::record::{Record, Speaker, Turn};
use super::session::{MediaSession, SessionConfig, SessionOutput};
use crate::chat::ChatMessage;

/// How one call is run.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// The media session: carrier, framing limits, playback pacing, the far end.
    pub session: SessionConfig,
    /// `Some` for an agent call; `None` for the echo line, which lives in the session.
    pub conversation: Option<ConversationConfig>,
}

/// Where the call is in its life.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Waiting for the carrier's `start`.
    Connecting,
    /// The stream started; waiting for [`Input::Admission`].
    Admitting,
    /// Admitted; waiting for [`Input::Prepared`] since then. `ended`: the stream ended
    /// meanwhile; the call ends with it once the preparation (and its call log) arrives.
    Preparing {
        since: Instant,
        ended: Option<EndCause>,
    },
    /// In conversation (or echoing).
    Live,
    /// The caller went away while tools run: their answers are waited for until `until`.
    DrainingTools { cause: EndCause, until: Instant },
    /// The carrier is being told where the caller goes; ends with `cause`.
    HandingOff { cause: EndCause, until: Instant },
    /// Over.
    Ended,
}

/// One call.
pub struct Call {
    config: CallConfig,
    session: MediaSession,
    /// The latest `now` given.
    now: Instant,
    phase: Phase,
    started: Option<StartedCall>,
    conversation: Option<Conversation>,
    /// Caller audio that came before the conversation existed.
    backlog: VecDeque<Vec<u8>>,
    backlog_dropped: u64,
    /// Asked to wind down before the conversation existed: applied once it does.
    wind_down: Option<DrainEnding>,
    out: Outbox,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("phase", &self.phase)
            .field("started", &self.started)
            .field("conversation", &self.conversation)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// A call on a socket opened at `now`.
    pub fn new(config: CallConfig, now: Instant) -> Self {
        Self {
            session: MediaSession::new(config.session.clone(), now),
            config,
            now,
            phase: Phase::Connecting,
            started: None,
            conversation: None,
            backlog: VecDeque::new(),
            backlog_dropped: 0,
            wind_down: None,
            out: Outbox::default(),
        }
    }

    /// Handles one input at `now`; then drain [`Call::poll_output`].
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        self.now = now;
        if self.phase == Phase::Ended {
            return;
        }
        match input {
            Input::CarrierText { text, unix_now } => self.session.handle_text(now, unix_now, text),
            Input::CarrierBinary(len) => self.session.handle_binary(len),
            Input::CarrierClosed => self.session.handle_disconnect(),
            Input::CarrierTooBig => self.session.handle_too_big(),
            Input::Admission(admitted) => self.admission(admitted, now),
            Input::AlreadyStreaming => {
                if self.phase == Phase::Admitting {
                    self.finish(EndCause::Rejected(
                        "this call is already streaming, or has streamed, on another socket \
                         (a stream token is good for one connection)"
                            .into(),
                    ));
                }
            }
            Input::Prepared(p) => self.prepared(*p, now),
            Input::Stt(e) => self.with_conversation(|c, s, out| c.stt_event(e, s, now, out)),
            Input::SttClosed => self.with_conversation(|c, s, out| c.stt_closed(s, now, out)),
            Input::Tts(e) => self.with_conversation(|c, s, out| c.tts_event(e, s, now, out)),
            Input::TtsClosed => self.with_conversation(|c, s, out| c.tts_closed(s, now, out)),
            Input::Llm { turn, event } => {
                self.with_conversation(|c, s, out| c.llm_event(turn, event, s, now, out))
            }
            Input::LlmClosed { turn } => {
                self.with_conversation(|c, s, out| c.llm_closed(turn, s, now, out))
            }
            Input::ToolDone(r) => self.with_conversation(|c, s, out| c.tool_done(r, s, now, out)),
            Input::TurnJudged { id, complete } => {
                self.with_conversation(|c, s, out| c.turn_judged(id, complete, s, now, out))
            }
            Input::HandedOff => {
                if let Phase::HandingOff { cause, .. } = &self.phase {
                    let cause = cause.clone();
                    self.finish_after_tools(cause, now);
                }
            }
            Input::WindDown(ending) => self.wind_down(ending, now),
            Input::Shutdown => match &self.phase {
                Phase::DrainingTools { cause, .. } | Phase::HandingOff { cause, .. } => {
                    let cause = cause.clone();
                    self.finish(cause);
                }
                _ => self.session.handle_shutdown(),
            },
            Input::Timeout => self.session.handle_timeout(now),
        }
        self.drain_session(now);
        self.tick(now);
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    /// When [`Input::Timeout`] is next due (`None`: the call has ended).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let now = self.now;
        let phase = match &self.phase {
            Phase::Ended => return None,
            Phase::Preparing { since, .. } => self
                .config
                .conversation
                .as_ref()
                .map(|c| *since + c.prepare_limit),
            Phase::DrainingTools { until, .. } | Phase::HandingOff { until, .. } => Some(*until),
            _ => None,
        };
        let conversation = self
            .conversation
            .as_ref()
            .filter(|_| self.phase == Phase::Live)
            .and_then(|c| c.next_deadline(&self.session, now));
        [self.session.next_timeout(now), phase, conversation]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the call has ended.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// Bytes run through a transcoder since the last call (a counter the executor reads).
    pub fn take_transcoded_bytes(&mut self) -> u64 {
        self.session.take_transcoded_bytes()
    }

    /// Caller audio frames dropped while the call was being prepared (a counter the
    /// executor reads).
    pub fn take_backlog_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.backlog_dropped)
    }

    /// The conversation as the model would see it now (agent calls).
    pub fn history(&self) -> Option<Vec<ChatMessage>> {
        self.conversation.as_ref().map(Conversation::history)
    }

    fn with_conversation(
        &mut self,
        f: impl FnOnce(&mut Conversation, &mut MediaSession, &mut Outbox),
    ) {
        let live = matches!(
            self.phase,
            Phase::Live | Phase::DrainingTools { .. } | Phase::HandingOff { .. }
        );
        if let Some(c) = self.conversation.as_mut().filter(|_| live) {
            f(c, &mut self.session, &mut self.out);
        }
    }

    fn admission(&mut self, admitted: bool, now: Instant) {
        if self.phase != Phase::Admitting {
            return;
        }
        if !admitted {
            self.finish(EndCause::Rejected("instance at its call cap".into()));
            return;
        }
        match (&self.config.conversation, &self.started) {
            (Some(_), Some(started)) => {
                self.out.push(Output::Prepare(started.clone()));
                self.phase = Phase::Preparing {
                    since: now,
                    ended: None,
                };
            }
            _ => {
                self.phase = Phase::Live;
                if self.wind_down.is_some() {
                    // An echo call admitted after the wind-down has nothing to finish.
                    self.session.handle_shutdown();
                }
            }
        }
    }

    fn prepared(&mut self, prep: Preparation, now: Instant) {
        let (Phase::Preparing { ended, .. }, Some(config), Some(started)) =
            (&self.phase, &self.config.conversation, &self.started)
        else {
            return;
        };
        if let Some(cause) = ended.clone() {
            // The caller left while the call was prepared: its log gets the outcome.
            self.finish(cause);
            return;
        }
        let mut c = Conversation::new(prep, config.clone(), started.inbound, now);
        self.phase = Phase::Live;
        c.start(&mut self.session, now, &mut self.out);
        for audio in std::mem::take(&mut self.backlog) {
            c.caller_audio(audio, &mut self.session, now, &mut self.out);
        }
        if let Some(ending) = self.wind_down {
            c.wind_down(ending, &mut self.session, now, &mut self.out);
        }
        self.conversation = Some(c);
    }

    /// The instance drains: a live conversation winds itself down; one still being set up
    /// does once it starts; an echo call (nothing to finish) ends now.
    fn wind_down(&mut self, ending: DrainEnding, now: Instant) {
        self.wind_down.get_or_insert(ending);
        match (&self.phase, self.conversation.is_some()) {
            (Phase::Live, true) => {
                self.with_conversation(|c, s, out| c.wind_down(ending, s, now, out))
            }
            (Phase::Live, false) => self.session.handle_shutdown(),
            _ => {}
        }
    }

    /// Carries the media session's outputs out, and its end into the call's.
    fn drain_session(&mut self, now: Instant) {
        while let Some(o) = self.session.poll_output() {
            match o {
                SessionOutput::Send(text) => self.out.push(Output::Send(text)),
                SessionOutput::Rejected(e) => self.out.push(Output::Rejected(e)),
                SessionOutput::Started(started) => {
                    self.started = Some(started.clone());
                    self.phase = Phase::Admitting;
                    self.out.push(Output::Admit(started));
                }
                SessionOutput::Dtmf(digit) => {
                    self.with_conversation(|c, s, out| c.dtmf(digit, s, now, out))
                }
                SessionOutput::CallerAudio(audio) => self.caller_audio(audio, now),
                SessionOutput::Cleared(report) => tracing::debug!(?report, "playback cleared"),
                SessionOutput::CarrierError { code, detail } => self.out.push(Output::Warning(
                    format!("the carrier reported a stream error ({code:?}): {detail}"),
                )),
                SessionOutput::Warning(w) => self.out.push(Output::Warning(w)),
                SessionOutput::Recording(bytes) => self.out.push(Output::Recording(bytes)),
                SessionOutput::End(cause) => self.session_ended(cause, now),
            }
        }
    }

    fn caller_audio(&mut self, audio: Vec<u8>, now: Instant) {
        match (&mut self.conversation, &self.config.conversation) {
            (Some(c), _) => c.caller_audio(audio, &mut self.session, now, &mut self.out),
            (None, Some(config)) => {
                if self.backlog.len() >= config.audio_backlog_frames {
                    self.backlog.pop_front();
                    self.backlog_dropped += 1;
                }
                self.backlog.push_back(audio);
            }
            (None, None) => {}
        }
    }

    /// The media stream is over (or cannot go on): the call ends, hands the caller on, or
    /// first waits for the tools the caller left running.
    fn session_ended(&mut self, cause: EndCause, now: Instant) {
        if let Phase::Preparing { ended, .. } = &mut self.phase
            && matches!(
                cause,
                EndCause::CallerHungUp | EndCause::Disconnected | EndCause::CarrierSilent
            )
        {
            *ended = Some(cause);
            return;
        }
        if self.phase != Phase::Live {
            if !matches!(
                self.phase,
                Phase::DrainingTools { .. } | Phase::HandingOff { .. } | Phase::Ended
            ) {
                self.finish(cause);
            }
            return;
        }
        let Some(c) = self.conversation.as_ref() else {
            self.finish(cause);
            return;
        };
        if let Some(decided) = c.decided_ending() {
            // The agent had already decided how the call ends (its last words were playing):
            // that is the call's end, whoever closed the stream.
            self.finish_after_tools(decided, now);
            return;
        }
        match cause {
            EndCause::MaxDuration => {
                // The caller is not dropped at the limit: a person takes over.
                let text = format!(
                    "transfer to the service desk: {}",
                    TransferReason::MaxDuration.describe()
                );
                self.out
                    .record(Record::Turn(Turn::new(Speaker::System, text, now)));
                self.hand_off(Handoff::Transfer, EndCause::MaxDuration, now);
            }
            cause @ (EndCause::CallerHungUp | EndCause::Disconnected | EndCause::CarrierSilent) => {
                self.finish_after_tools(cause, now);
            }
            cause => self.finish(cause),
        }
    }

    /// Ends the call, once the tools still running have answered (or their time is up): a
    /// booking being written when the call ends is kept, and the outcome says so.
    fn finish_after_tools(&mut self, cause: EndCause, now: Instant) {
        let running = self
            .conversation
            .as_ref()
            .is_some_and(Conversation::has_running_tools);
        match self.config.conversation.as_ref().filter(|_| running) {
            Some(config) => {
                tracing::info!("tools are still running; waiting for their answers");
                self.out.push(Output::CloseMedia);
                self.phase = Phase::DrainingTools {
                    cause,
                    until: now + config.tool_drain_limit,
                };
            }
            None => self.finish(cause),
        }
    }

    fn hand_off(&mut self, handoff: Handoff, cause: EndCause, now: Instant) {
        let limit = self
            .config
            .conversation
            .as_ref()
            .map(|c| c.handoff_limit)
            .unwrap_or_default();
        self.out.push(Output::HandOff(handoff));
        self.phase = Phase::HandingOff {
            cause,
            until: now + limit,
        };
    }

    /// Time-driven decisions: the agent's timers and ending, and the phases' deadlines.
    fn tick(&mut self, now: Instant) {
        match &self.phase {
            Phase::Preparing { since, ended } => {
                let limit = self.config.conversation.as_ref().map(|c| c.prepare_limit);
                if limit.is_some_and(|l| now >= *since + l) {
                    let cause = ended.clone().unwrap_or_else(|| {
                        EndCause::Failed("the call could not be prepared in time".into())
                    });
                    self.finish(cause);
                }
            }
            Phase::Live => {
                let Some(c) = self.conversation.as_mut() else {
                    return;
                };
                c.tick(&mut self.session, now, &mut self.out);
                let handoff = match c.ending(now) {
                    Some(cause @ EndCause::Transferred(_)) => Some((Handoff::Transfer, cause)),
                    Some(cause @ EndCause::Goodbye(_)) => Some((Handoff::HangUp, cause)),
                    Some(cause) => {
                        self.finish(cause);
                        None
                    }
                    None => None,
                };
                if let Some((handoff, cause)) = handoff {
                    self.hand_off(handoff, cause, now);
                }
            }
            Phase::DrainingTools { cause, until } => {
                let done = self
                    .conversation
                    .as_ref()
                    .is_none_or(|c| !c.has_running_tools());
                if done || now >= *until {
                    if !done {
                        tracing::warn!("tools still running when the call ended");
                    }
                    let cause = cause.clone();
                    self.finish(cause);
                }
            }
            Phase::HandingOff { cause, until } => {
                if now >= *until {
                    tracing::warn!("the hand-off was not confirmed in time; ending the call");
                    let cause = cause.clone();
                    self.finish(cause);
                }
            }
            Phase::Connecting | Phase::Admitting | Phase::Ended => {}
        }
    }

    fn finish(&mut self, cause: EndCause) {
        let change = self.conversation.as_mut().and_then(|c| {
            c.finish(&mut self.out);
            c.change()
        });
        // The recording ends with the call, before the executor is told it is over.
        self.session.finish_recording();
        while let Some(o) = self.session.poll_output() {
            match o {
                SessionOutput::Recording(bytes) => self.out.push(Output::Recording(bytes)),
                SessionOutput::Warning(w) => self.out.push(Output::Warning(w)),
                _ => {}
            }
        }
        self.out.push(Output::End(CallEnd { cause, change }));
        self.phase = Phase::Ended;
    }
}
