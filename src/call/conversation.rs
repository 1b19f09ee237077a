//! The conversation side of a call: carries out what the [`Agent`] decides with the real
//! providers, tools and records, and feeds their results back. It owns the per-call streams
//! (speech recognition, synthesis, the running completion, running tools) and the local voice
//! activity detector; the driver hands it the caller's audio and keypresses, polls
//! [`Conversation::next_event`] beside the carrier socket, and asks [`Conversation::ending`]
//! whether to hand the call on.
//!
//! Every step here is synchronous and never waits: provider commands go down channels, tools
//! run in their own tasks, records go to the recorder. Latencies of each stage are measured
//! here, where the events meet the clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::agent::{Action, Agent, Input, control_tools};
use super::prepare::PreparedCall;
use super::records::CallRecorder;
use super::session::MediaSession;
use super::speech::SpeechTrack;
use crate::audio::AudioFormat;
use crate::audio::vad::{VadConfig, VadEvent, VoiceActivity};
use crate::crm::calls::{Speaker, TurnRecord};
use crate::domain::PhoneNumber;
use crate::providers::llm::{CompletionRequest, LlmEvent, LlmStream};
use crate::providers::stt::{SttControl, SttEvent, SttStream};
use crate::providers::tts::{TtsEvent, TtsStream};
use crate::providers::{ProviderKind, Providers};
use crate::telemetry;
use crate::tools::{ToolContext, ToolName, Tools};

/// Longest wait for the last words to play before a call is handed on regardless.
const ENDING_PLAYOUT_LIMIT: Duration = Duration::from_secs(20);

/// Something a provider or tool reported.
#[derive(Debug)]
pub enum Event {
    /// Speech recognition (`None`: the stream ended).
    Stt(Option<SttEvent>),
    /// Speech synthesis (`None`: the stream ended).
    Tts(Option<TtsEvent>),
    /// The completion of a turn (`None`: the stream ended).
    Llm(u64, Option<LlmEvent>),
    /// A tool call's answer.
    Tool(ToolDone),
}

/// A tool call's answer.
#[derive(Debug)]
pub struct ToolDone {
    id: String,
    content: String,
    /// The appointment-book change it made, if it made one.
    change: Option<&'static str>,
}

/// How the agent wants the call to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// To the service desk.
    Transfer(&'static str),
    /// Goodbye.
    HangUp(&'static str),
}

/// Per-turn stage clocks.
#[derive(Debug, Default)]
struct Timing {
    /// Local VAD saw the caller stop.
    speech_ended: Option<Instant>,
    /// The turn went to the LLM, for the first-token and first-sentence clocks.
    llm_started: Option<Instant>,
    first_token: Option<Duration>,
    first_sentence_seen: bool,
    /// A sentence went to TTS and its first audio has not come.
    tts_asked: Option<Instant>,
    tts_first_byte: Option<Duration>,
    /// The turn's answer has not been heard yet: voice-to-voice is running.
    awaiting_voice: Option<Instant>,
    /// The caller started speaking (for barge-in to silence).
    caller_started: Option<Instant>,
    stt_final: Option<Duration>,
}

fn ms(d: Option<Duration>) -> Option<i32> {
    d.map(|d| d.as_millis().min(i32::MAX as u128) as i32)
}

/// The conversation of one call.
pub struct Conversation {
    agent: Agent,
    vad: Option<VoiceActivity>,
    stt: Option<SttStream>,
    stt_format: AudioFormat,
    stt_on_fallback: bool,
    tts: Option<TtsStream>,
    tts_on_fallback: bool,
    speech: SpeechTrack,
    /// The greeting already handed to TTS at preparation.
    prewarmed: Option<String>,
    llm: Option<(u64, LlmStream)>,
    tool_tx: mpsc::UnboundedSender<ToolDone>,
    tool_rx: mpsc::UnboundedReceiver<ToolDone>,
    tools: Tools,
    tool_timeout: Duration,
    caller: Option<PhoneNumber>,
    call_sid: String,
    providers: Arc<Providers>,
    records: CallRecorder,
    /// The agent's latest turn, held until its first audio so the record carries how long
    /// synthesis took (the agent's words are settled before they are heard).
    unvoiced_turn: Option<TurnRecord>,
    /// Audio was queued and the agent has not been told it played out.
    speaking: bool,
    started: bool,
    ending: Option<(Ending, Instant)>,
    timing: Timing,
    /// The last change the call made to the appointment book.
    booked: Option<&'static str>,
    /// The caller's turn was just recorded: the next completion starts a new turn's clocks
    /// (later rounds of the same turn, after tools, keep them).
    turn_opened: bool,
}

impl Conversation {
    /// A conversation for `call_sid` from what was prepared, with the caller's audio in
    /// `inbound` format.
    pub fn new(
        prepared: PreparedCall,
        call_sid: &str,
        inbound: AudioFormat,
        state: &crate::app::AppState,
        now: Instant,
    ) -> Self {
        let vad = match VoiceActivity::new(VadConfig::default(), inbound) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "no local voice activity for this format; turns end on transcripts alone");
                None
            }
        };
        let (tool_tx, tool_rx) = mpsc::unbounded_channel();
        let mut speech = SpeechTrack::default();
        let prewarmed = prepared.greeting_sent.then(|| {
            speech.sent(prepared.agent.greeting.clone());
            prepared.agent.greeting.clone()
        });
        Self {
            agent: Agent::new(prepared.agent, now),
            vad,
            stt: prepared.stt,
            stt_format: prepared.stt_format,
            stt_on_fallback: false,
            tts: prepared.tts,
            tts_on_fallback: false,
            speech,
            prewarmed,
            llm: None,
            tool_tx,
            tool_rx,
            tools: Tools::new(state.db.clone(), state.settings.business.clone()),
            tool_timeout: state.settings.conversation.tool_timeout,
            caller: prepared.caller,
            call_sid: call_sid.to_string(),
            providers: state.providers.clone(),
            records: CallRecorder::spawn(state.db.clone(), prepared.call_log_id),
            unvoiced_turn: None,
            speaking: false,
            started: false,
            ending: None,
            timing: Timing::default(),
            booked: None,
            turn_opened: false,
        }
    }

    /// The next provider or tool event. Synthesis is not read before the media starts, so
    /// the prepared greeting's audio waits in its stream.
    pub async fn next_event(&mut self) -> Event {
        let started = self.started;
        let turn = self.llm.as_ref().map_or(0, |(t, _)| *t);
        tokio::select! {
            e = async { self.stt.as_mut()?.next().await.map(Some) }, if self.stt.is_some() => {
                Event::Stt(e.flatten())
            }
            e = async { self.tts.as_mut()?.next().await.map(Some) }, if started && self.tts.is_some() => {
                Event::Tts(e.flatten())
            }
            e = async { self.llm.as_mut()?.1.next().await.map(Some) }, if self.llm.is_some() => {
                Event::Llm(turn, e.flatten())
            }
            Some(done) = self.tool_rx.recv() => Event::Tool(done),
        }
    }

    /// The media stream started: the greeting plays.
    pub fn start(&mut self, session: &mut MediaSession, now: Instant) {
        self.started = true;
        self.feed(Input::Started, session, now);
    }

    /// Caller audio (the carrier's bytes): to speech recognition and voice activity.
    pub fn caller_audio(&mut self, audio: Vec<u8>, session: &mut MediaSession, now: Instant) {
        let events = match self.vad.as_mut() {
            Some(v) => v.push(&audio),
            None => Vec::new(),
        };
        if let Some(stt) = &self.stt {
            stt.push(audio);
        }
        for e in events {
            match e {
                VadEvent::SpeechStarted { .. } => self.timing.caller_started = Some(now),
                VadEvent::SpeechEnded { .. } => self.timing.speech_ended = Some(now),
            }
            self.feed(Input::Voice(e), session, now);
        }
    }

    /// A keypress.
    pub fn dtmf(&mut self, digit: char, session: &mut MediaSession, now: Instant) {
        self.feed(Input::Dtmf(digit), session, now);
    }

    /// Handles what [`Conversation::next_event`] returned.
    pub fn handle(&mut self, event: Event, session: &mut MediaSession, now: Instant) {
        match event {
            Event::Stt(Some(SttEvent::Error(e))) => {
                tracing::warn!(error = %e, "speech recognition failed");
                if !self.stt_on_fallback
                    && let Some(fallback) = &self.providers.stt.fallback
                {
                    tracing::info!(
                        provider = fallback.name(),
                        "speech recognition moves to the fallback"
                    );
                    self.stt = Some(fallback.open(self.stt_format));
                    self.stt_on_fallback = true;
                } else {
                    self.stt = None;
                    self.feed(Input::ProviderDown(ProviderKind::Stt), session, now);
                }
            }
            Event::Stt(Some(e)) => {
                if matches!(e, SttEvent::Final { .. }) && self.timing.stt_final.is_none() {
                    self.timing.stt_final = self.timing.speech_ended.map(|t| now - t);
                }
                self.feed(Input::Transcript(e), session, now);
            }
            Event::Stt(None) => {
                if !self.is_ending() {
                    tracing::warn!("speech recognition stream ended");
                    self.stt = None;
                    self.feed(Input::ProviderDown(ProviderKind::Stt), session, now);
                }
            }
            Event::Tts(Some(e)) => self.tts_event(e, session, now),
            Event::Tts(None) => {
                self.tts = None;
                if !self.is_ending() {
                    self.tts_failed("the speech stream ended", session, now);
                }
            }
            Event::Llm(turn, Some(e)) => {
                if let Some(started) = self.timing.llm_started
                    && self.timing.first_token.is_none()
                    && matches!(e, LlmEvent::TextDelta(_) | LlmEvent::ToolCalls(_))
                {
                    let d = now - started;
                    self.timing.first_token = Some(d);
                    metrics::histogram!(telemetry::LLM_FIRST_TOKEN).record(d.as_secs_f64());
                }
                self.feed(Input::Llm { turn, event: e }, session, now);
            }
            Event::Llm(turn, None) => {
                if self.llm.as_ref().is_some_and(|(t, _)| *t == turn) {
                    self.llm = None;
                }
            }
            Event::Tool(done) => {
                if done.change.is_some() {
                    self.booked = done.change;
                }
                let (id, content) = (done.id, done.content);
                self.feed(Input::ToolDone { id, content }, session, now);
            }
        }
    }

    fn tts_event(&mut self, e: TtsEvent, session: &mut MediaSession, now: Instant) {
        match e {
            TtsEvent::Audio(audio) => {
                let format = self
                    .tts
                    .as_ref()
                    .map_or(AudioFormat::MULAW_8K, |t| t.format());
                match self.speech.audio(session, now, &audio, format) {
                    Ok(true) => self.first_audio(now),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "synthesized audio cannot be played");
                        self.tts_failed("unplayable audio", session, now);
                    }
                }
            }
            TtsEvent::Flushed { sequence_id } => self.speech.flushed(session, now, sequence_id),
            TtsEvent::Cleared => self.speech.cleared(),
            TtsEvent::Warning(w) => tracing::warn!(warning = %w, "speech synthesis warning"),
            TtsEvent::Error(e) => {
                tracing::warn!(error = %e, "speech synthesis failed");
                self.tts_failed("speech synthesis failed", session, now);
            }
            TtsEvent::Closed => {}
        }
    }

    fn first_audio(&mut self, now: Instant) {
        if let Some(asked) = self.timing.tts_asked.take() {
            let d = now - asked;
            self.timing.tts_first_byte.get_or_insert(d);
            metrics::histogram!(telemetry::TTS_FIRST_BYTE).record(d.as_secs_f64());
            self.record_unvoiced_turn();
        }
        if let Some(end) = self.timing.awaiting_voice.take() {
            metrics::histogram!(telemetry::VOICE_TO_VOICE).record((now - end).as_secs_f64());
        }
    }

    /// Synthesis is gone: the fallback takes the unspoken sentences, or the call is handed on.
    fn tts_failed(&mut self, why: &str, session: &mut MediaSession, now: Instant) {
        let unspoken = self.speech.abandon(session, now);
        self.prewarmed = None;
        match (&self.providers.tts.fallback, self.tts_on_fallback) {
            (Some(fallback), false) => {
                tracing::info!(
                    provider = fallback.name(),
                    why,
                    "speech synthesis moves to the fallback"
                );
                let tts = fallback.open();
                for sentence in unspoken {
                    tts.speak(sentence.clone());
                    tts.flush();
                    self.speech.sent(sentence);
                }
                self.tts = Some(tts);
                self.tts_on_fallback = true;
            }
            _ => {
                tracing::warn!(why, "no speech synthesis left for this call");
                self.tts = None;
                self.feed(Input::ProviderDown(ProviderKind::Tts), session, now);
            }
        }
    }

    /// Time passed: the agent's timers, and whether the agent's audio has played out.
    pub fn tick(&mut self, session: &mut MediaSession, now: Instant) {
        if self.agent.next_deadline().is_some_and(|d| d <= now) {
            self.feed(Input::Tick, session, now);
        }
        if self.speaking && self.speech.is_quiet() && session.is_playback_idle(now) {
            self.speaking = false;
            self.speech.reset();
            self.feed(Input::PlaybackIdle, session, now);
        }
    }

    /// When [`Conversation::tick`] is next due.
    pub fn next_deadline(&self, session: &MediaSession, now: Instant) -> Option<Instant> {
        let playout = self
            .speaking
            .then(|| session.playback_ends_at(now))
            .flatten();
        let ending = self.ending.map(|(_, at)| at + ENDING_PLAYOUT_LIMIT);
        [self.agent.next_deadline(), playout, ending]
            .into_iter()
            .flatten()
            .min()
    }

    fn is_ending(&self) -> bool {
        self.ending.is_some()
    }

    /// The call should be handed on now: the agent decided and its last words have played
    /// (or could not, within a limit).
    pub fn ending(&self, now: Instant) -> Option<Ending> {
        let (ending, since) = self.ending?;
        let played = !self.speaking || self.tts.is_none();
        (played || now >= since + ENDING_PLAYOUT_LIMIT).then_some(ending)
    }

    /// The call is over: the log gets its outcome, the streams close.
    pub fn finish(&mut self, outcome: &str) {
        let outcome = match (self.ending, self.booked) {
            (Some((Ending::Transfer(_), _)), _) => "transferred",
            (_, Some(change)) => change,
            (Some((Ending::HangUp(_), _)), None) => "completed",
            (None, None) => outcome,
        };
        self.record_unvoiced_turn();
        self.records.finish(outcome);
        if let Some(stt) = &self.stt {
            stt.control(SttControl::Finish);
        }
        if let Some(tts) = &self.tts {
            tts.send(crate::providers::tts::TtsCommand::Close);
        }
        self.llm = None;
    }

    fn feed(&mut self, input: Input, session: &mut MediaSession, now: Instant) {
        tracing::debug!(?input, "conversation input");
        let actions = self.agent.handle(input, now);
        for a in actions {
            tracing::debug!(action = ?a, "conversation action");
            self.act(a, session, now);
        }
    }

    fn act(&mut self, action: Action, session: &mut MediaSession, now: Instant) {
        match action {
            Action::Speak(text) => self.speak(text, now),
            Action::StopSpeaking => {
                let heard = self.speech.interrupt(session, now);
                if let Some(tts) = &self.tts {
                    tts.clear();
                }
                self.prewarmed = None;
                self.speaking = false;
                // Barge-in to silence: from the start of the caller's speech, when it was
                // their voice that stopped the agent (not a key or a failure).
                if let Some(t) = self.timing.caller_started
                    && self.vad.as_ref().is_some_and(VoiceActivity::is_speaking)
                {
                    metrics::histogram!(telemetry::BARGE_IN_TO_SILENCE)
                        .record((now - t).as_secs_f64());
                }
                self.timing.awaiting_voice = None;
                self.timing.tts_asked = None;
                self.feed(Input::Interrupted { heard }, session, now);
            }
            Action::FinalizeStt => {
                if let Some(stt) = &self.stt {
                    stt.control(SttControl::Finalize);
                }
            }
            Action::StartLlm {
                turn,
                messages,
                fallback,
            } => self.start_llm(turn, messages, fallback, session, now),
            Action::CancelLlm => self.llm = None,
            Action::RunTool {
                id,
                name,
                arguments,
            } => self.run_tool(id, name, arguments),
            Action::Transfer { reason } => {
                tracing::info!(reason, "the agent transfers the call");
                self.end(Ending::Transfer(reason), now);
            }
            Action::HangUp { reason } => {
                tracing::info!(reason, "the agent ends the call");
                self.end(Ending::HangUp(reason), now);
            }
            Action::Record {
                speaker,
                text,
                heard,
            } => {
                let mut turn = TurnRecord {
                    text,
                    heard_text: heard,
                    started_at: chrono::Utc::now(),
                    ..TurnRecord::default()
                };
                match speaker {
                    Speaker::Caller => {
                        self.turn_opened = true;
                        metrics::counter!(telemetry::TURNS, "outcome" => "answered").increment(1);
                        turn.stt_ms = ms(self.timing.stt_final);
                    }
                    Speaker::Agent => {
                        turn.llm_first_token_ms = ms(self.timing.first_token);
                        turn.tts_first_byte_ms = ms(self.timing.tts_first_byte);
                    }
                    Speaker::System => {}
                }
                self.record_unvoiced_turn();
                if speaker == Speaker::Agent && turn.tts_first_byte_ms.is_none() && self.speaking {
                    self.unvoiced_turn = Some(turn);
                } else {
                    self.records.turn(speaker, turn);
                }
            }
            Action::RecordHeard(heard) => {
                self.record_unvoiced_turn();
                self.records.heard(heard);
            }
        }
    }

    /// Records the agent turn held for its first audio, with or without it.
    fn record_unvoiced_turn(&mut self) {
        if let Some(mut turn) = self.unvoiced_turn.take() {
            turn.tts_first_byte_ms = ms(self.timing.tts_first_byte);
            self.records.turn(Speaker::Agent, turn);
        }
    }

    fn end(&mut self, ending: Ending, now: Instant) {
        let (Ending::Transfer(reason) | Ending::HangUp(reason)) = ending;
        self.record_unvoiced_turn();
        self.records.turn(
            Speaker::System,
            TurnRecord {
                text: match ending {
                    Ending::Transfer(_) => format!("transfer to the service desk: {reason}"),
                    Ending::HangUp(_) => format!("hang-up: {reason}"),
                },
                started_at: chrono::Utc::now(),
                ..TurnRecord::default()
            },
        );
        self.ending.get_or_insert((ending, now));
    }

    fn speak(&mut self, text: String, now: Instant) {
        self.speaking = true;
        if let Some(started) = self.timing.llm_started
            && !self.timing.first_sentence_seen
        {
            self.timing.first_sentence_seen = true;
            metrics::histogram!(telemetry::FIRST_SENTENCE).record((now - started).as_secs_f64());
        }
        if self.prewarmed.as_deref() == Some(text.as_str()) {
            self.prewarmed = None; // already with TTS since the webhook
            return;
        }
        let Some(tts) = &self.tts else {
            tracing::warn!(%text, "nothing to say this with: no speech synthesis");
            return;
        };
        tts.speak(text.clone());
        tts.flush();
        self.speech.sent(text);
        self.timing.tts_asked.get_or_insert(now);
    }

    fn start_llm(
        &mut self,
        turn: u64,
        messages: Vec<crate::providers::llm::ChatMessage>,
        fallback: bool,
        session: &mut MediaSession,
        now: Instant,
    ) {
        let pair = &self.providers.llm;
        let model = if fallback {
            pair.fallback.as_ref()
        } else {
            pair.primary.as_ref()
        };
        let Some(model) = model.cloned() else {
            tracing::warn!(fallback, "no language model to ask");
            self.feed(Input::ProviderDown(ProviderKind::Llm), session, now);
            return;
        };
        if std::mem::take(&mut self.turn_opened) {
            // A new turn's clocks: voice-to-voice runs from the end of the caller's speech
            // (or from now when the turn was not ended by voice activity).
            let speech_ended = self.timing.speech_ended.take();
            if let Some(d) = self.timing.stt_final.filter(|_| speech_ended.is_some()) {
                metrics::histogram!(telemetry::STT_FINAL_LATENCY).record(d.as_secs_f64());
            }
            self.timing = Timing {
                llm_started: Some(now),
                awaiting_voice: Some(speech_ended.unwrap_or(now)),
                caller_started: self.timing.caller_started,
                ..Timing::default()
            };
        } else {
            // Another round of the same turn (after tools): its own time to first token.
            self.timing.llm_started = Some(now);
            self.timing.first_token = None;
        }
        let mut tools = crate::tools::definitions();
        tools.extend(control_tools());
        let stream = model.stream(CompletionRequest { messages, tools });
        self.llm = Some((turn, stream));
    }

    fn run_tool(&mut self, id: String, name: String, arguments: String) {
        let tools = self.tools.clone();
        let ctx = ToolContext {
            caller: self.caller.clone(),
            call_sid: Some(self.call_sid.clone()),
            now: chrono::Utc::now(),
        };
        let tx = self.tool_tx.clone();
        let deadline = self.tool_timeout;
        let change = ToolName::parse(&name).and_then(|t| match t {
            ToolName::BookAppointment => Some("booked"),
            ToolName::RescheduleAppointment => Some("rescheduled"),
            ToolName::CancelAppointment => Some("cancelled"),
            _ => None,
        });
        tokio::spawn(async move {
            let reply = tools
                .run_bounded(&ctx, &id, &name, &arguments, deadline)
                .await;
            let change = change.filter(|_| reply.is_ok());
            let _ = tx.send(ToolDone {
                id,
                content: reply.content.to_string(),
                change,
            });
        });
    }
}
