//! A whole call run through [`Call`] alone, on a virtual clock: a fake carrier that plays the
//! agent's audio in (virtual) real time and echoes marks as Twilio does, a caller whose audio
//! comes from the recorded caller clips, and scripted speech recognition, synthesis, language
//! model and tools. No sockets, no sleeps: a call of a minute runs in milliseconds.

#![allow(dead_code)] // Each test binary uses part of the harness.
#![allow(clippy::disallowed_methods)] // Tests pick an arbitrary origin for the virtual clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use callbridge_core::call::observe::Observation;
use callbridge_core::call::record::{Record, Speaker};
use callbridge_core::call::{Call, CallConfig, CallEnd, Handoff, Input, Output, Preparation, Slot};
use callbridge_core::carrier::stream_token;
use callbridge_core::llm::{FinishReason, LlmEvent};
use callbridge_core::provider::ProviderError;
use callbridge_core::stt::{SttControl, SttEvent};
use callbridge_core::tool::{CrmRequest, ToolCall, ToolResult};

mod config;
mod fakes;
use callbridge_core::tts::{TtsCommand, TtsEvent};
pub use config::{agent, agent_config};
pub use fakes::{FakeLlm, FakeStt, FakeTts, clip, label, tone};

pub const SECRET: &str = "test-secret";
pub const UNIX_NOW: u64 = 1_700_000_000;
pub const GREETING: &str = "Thanks for calling Lone Star Auto Service. How can I help you today?";
/// The virtual clock's step.
const STEP: Duration = Duration::from_millis(5);
/// Synthesized speech per word.
const MS_PER_WORD: u64 = 250;

/// One call and everything around it.
pub struct Line {
    pub call: Call,
    pub t0: Instant,
    pub now: Instant,
    seq: u64,
    /// Answer admission with this.
    pub admit: bool,
    /// Answer preparation with this (`None`: never answer).
    pub preparation: Option<Preparation>,
    /// Caller frames still to send, one per 20 ms (silence when empty).
    caller: VecDeque<Vec<u8>>,
    next_frame: Instant,
    /// The caller's line is open (`stop` not sent).
    pub connected: bool,
    /// Every frame the caller's line sent, speech and silence, in order (mu-law).
    pub said: Vec<u8>,
    /// The call's recording file, as the call produced it.
    pub recording: Vec<u8>,
    /// When each `clear` reached the carrier.
    pub cleared_at: Vec<Instant>,
    // The fake carrier.
    /// Agent audio the carrier received.
    pub heard: Vec<u8>,
    playout_end: Instant,
    marks_due: Vec<(Instant, String)>,
    pub clears: usize,
    // The fakes.
    pub tts: FakeTts,
    pub stt: FakeStt,
    pub llm: FakeLlm,
    pub tools: Vec<(String, CrmRequest)>,
    pub records: Vec<Record>,
    pub observations: Vec<Observation>,
    pub handoffs: Vec<Handoff>,
    /// Answer hand-offs at once.
    pub confirm_handoffs: bool,
    pub warnings: Vec<String>,
    /// Every output, in order, as a short label (for order assertions).
    pub log: Vec<String>,
    pub end: Option<CallEnd>,
    /// What the turn model was asked: (request id, when, seconds of audio).
    pub judgements: Vec<(u64, Instant, f64)>,
    /// The fake turn model's answer, given at once (`None`: it never answers).
    pub turn_verdict: Option<Option<bool>>,
}

impl Line {
    /// An agent call whose socket opened now.
    pub fn new(config: CallConfig) -> Self {
        let t0 = Instant::now();
        Self {
            call: Call::new(config, t0),
            t0,
            now: t0,
            seq: 0,
            admit: true,
            preparation: Some(Preparation {
                agent: agent(),
                stt_open: true,
                tts_open: true,
                greeting_sent: true,
            }),
            caller: VecDeque::new(),
            next_frame: t0,
            connected: true,
            said: Vec::new(),
            recording: Vec::new(),
            cleared_at: Vec::new(),
            heard: Vec::new(),
            playout_end: t0,
            marks_due: Vec::new(),
            clears: 0,
            tts: FakeTts {
                pieces: 1,
                latency: Duration::from_millis(100),
                ..FakeTts::default()
            },
            stt: FakeStt::default(),
            llm: FakeLlm::default(),
            tools: Vec::new(),
            records: Vec::new(),
            observations: Vec::new(),
            handoffs: Vec::new(),
            confirm_handoffs: true,
            warnings: Vec::new(),
            log: Vec::new(),
            end: None,
            judgements: Vec::new(),
            turn_verdict: None,
        }
    }

    /// An agent call as a webhook prepared it.
    pub fn agent() -> Self {
        Self::new(agent_config())
    }

    /// An agent call started, its greeting played out.
    pub fn greeted() -> Self {
        let mut line = Self::agent();
        line.start();
        line.run_until_quiet();
        line
    }

    /// A greeted call in which the caller asked for an oil change, heard the agent read it
    /// back (Tuesday, December 8 at 9 AM) and said yes, as the booking gate requires: the
    /// model's completion for that yes is running.
    pub fn agreed() -> Self {
        Self::agreed_with("Yes, book it.")
    }

    /// [`Line::agreed`], the caller's yes being `yes`.
    pub fn agreed_with(yes: &str) -> Self {
        let mut line = Self::greeted();
        line.caller_turn(
            "book_oil_change",
            "I'd like an oil change on Tuesday at nine.",
        );
        line.llm_says(
            "I can book your oil change for Tuesday, December 8 at 9 AM. Shall I book it?",
        );
        line.run_until_quiet();
        line.caller_turn("yes_correct", yes);
        line
    }

    /// Milliseconds since the socket opened.
    pub fn ms(&self) -> u64 {
        (self.now - self.t0).as_millis() as u64
    }

    fn frame(&mut self, mut v: Value) -> String {
        self.seq += 1;
        v["sequenceNumber"] = json!(self.seq.to_string());
        v["streamSid"] = json!("MZ1");
        v.to_string()
    }

    /// The carrier sends a frame.
    pub fn carrier_sends(&mut self, v: Value) {
        let text = self.frame(v);
        self.input(Input::CarrierText {
            text: &text,
            unix_now: UNIX_NOW,
        });
    }

    /// Feeds an input at the current time and carries out what comes out.
    pub fn input(&mut self, input: Input<'_>) {
        self.call.handle_input(self.now, input);
        self.pump();
    }

    /// `connected` and `start` with a valid token; the call is admitted and prepared.
    pub fn start(&mut self) {
        self.carrier_sends(json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}));
        let token = stream_token::issue(SECRET, "CA1", UNIX_NOW + 60);
        self.carrier_sends(json!({
            "event": "start",
            "start": {"streamSid": "MZ1", "accountSid": "AC1", "callSid": "CA1",
                      "tracks": ["inbound"], "customParameters": {"token": token},
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}
        }));
    }

    /// The caller says the clip `name` from now on.
    pub fn caller_says(&mut self, name: &str) {
        self.caller.extend(clip(name));
    }

    /// Whether the caller is still saying something.
    pub fn caller_speaking(&self) -> bool {
        !self.caller.is_empty()
    }

    /// The caller presses a key.
    pub fn caller_presses(&mut self, digit: char) {
        self.carrier_sends(json!({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": digit.to_string()}}));
    }

    /// The caller hangs up: the carrier sends `stop` and no more audio.
    pub fn caller_hangs_up(&mut self) {
        self.carrier_sends(
            json!({"event": "stop", "stop": {"accountSid": "AC1", "callSid": "CA1"}}),
        );
        self.connected = false;
    }

    /// Speech recognition reports.
    pub fn stt(&mut self, e: SttEvent) {
        self.input(Input::Stt(e));
    }

    /// Speech recognition hears `text` as the final of the turn (answering `Finalize`).
    pub fn stt_final(&mut self, text: &str) {
        self.stt(SttEvent::Final {
            text: text.into(),
            speech_final: false,
            from_finalize: true,
            start: 0.0,
            end: 1.0,
            confidence: 0.9,
        });
    }

    /// The caller says clip `name`, heard as `text`: runs until the turn's `Finalize` and
    /// answers it.
    pub fn caller_turn(&mut self, name: &str, text: &str) {
        let finalizes = self.stt.finalizes;
        self.caller_says(name);
        let heard = self.run_until(Duration::from_secs(15), |l| l.stt.finalizes > finalizes);
        assert!(heard, "voice activity never ended the turn of {name}");
        self.run_for(80);
        self.stt_final(text);
    }

    /// The running completion says `text` and finishes.
    pub fn llm_says(&mut self, text: &str) {
        let turn = self.llm.turn.expect("a completion is running");
        self.input(Input::Llm {
            turn,
            event: LlmEvent::TextDelta(text.into()),
        });
        self.input(Input::Llm {
            turn,
            event: LlmEvent::Finished(FinishReason::Stop),
        });
    }

    /// The running completion streams `text` without finishing.
    pub fn llm_streams(&mut self, text: &str) {
        let turn = self.llm.turn.expect("a completion is running");
        self.input(Input::Llm {
            turn,
            event: LlmEvent::TextDelta(text.into()),
        });
    }

    /// The running completion calls a tool (after saying `text`, if any).
    pub fn llm_calls(&mut self, text: Option<&str>, id: &str, name: &str, args: Value) {
        let turn = self.llm.turn.expect("a completion is running");
        if let Some(t) = text {
            self.input(Input::Llm {
                turn,
                event: LlmEvent::TextDelta(t.into()),
            });
        }
        let call = ToolCall::parse(id, name, args.to_string());
        self.input(Input::Llm {
            turn,
            event: LlmEvent::ToolCalls(vec![call]),
        });
        self.input(Input::Llm {
            turn,
            event: LlmEvent::Finished(FinishReason::ToolCalls),
        });
    }

    /// The running completion fails.
    pub fn llm_fails(&mut self, e: ProviderError) {
        let turn = self.llm.turn.expect("a completion is running");
        self.input(Input::Llm {
            turn,
            event: LlmEvent::Error(e),
        });
    }

    /// A tool answers.
    pub fn tool_answers(&mut self, id: &str, ok: bool, content: Value) {
        self.input(Input::ToolDone(ToolResult {
            id: id.into(),
            ok,
            content: content.to_string(),
        }));
    }

    /// Runs the clock for `ms`.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now + Duration::from_millis(ms);
        while self.now < until && self.end.is_none() {
            self.step();
        }
    }

    /// Runs the clock until `done` or `limit`; whether `done` came.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Line) -> bool) -> bool {
        let until = self.now + limit;
        while self.now < until {
            if done(self) {
                return true;
            }
            if self.end.is_some() {
                break;
            }
            self.step();
        }
        done(self)
    }

    /// Runs until the agent has said everything it queued and the carrier played it.
    pub fn run_until_quiet(&mut self) {
        self.run_until(Duration::from_secs(30), |l| {
            l.tts.queued.is_empty() && l.now >= l.playout_end + Duration::from_millis(300)
        });
    }

    fn step(&mut self) {
        self.now += STEP;
        let now = self.now;
        while self.tts.queued.front().is_some_and(|(at, _)| *at <= now) {
            let (_, e) = self.tts.queued.pop_front().expect("checked");
            self.input(Input::Tts(e));
        }
        let (due, later): (Vec<_>, Vec<_>) =
            self.marks_due.drain(..).partition(|(at, _)| *at <= now);
        self.marks_due = later;
        for (_, name) in due {
            self.carrier_sends(json!({"event": "mark", "mark": {"name": name}}));
        }
        if self.connected && now >= self.next_frame {
            self.next_frame += Duration::from_millis(20);
            let frame = self.caller.pop_front().unwrap_or_else(|| vec![0xFF; 160]);
            self.said.extend_from_slice(&frame);
            let ts = self.ms();
            self.carrier_sends(json!({"event": "media", "media": {
                "track": "inbound", "chunk": self.seq.to_string(), "timestamp": ts.to_string(),
                "payload": STANDARD.encode(&frame)}}));
        }
        if self.call.poll_timeout().is_some_and(|t| t <= now) {
            self.input(Input::Timeout);
        }
    }

    /// What the agent said that went to synthesis, in order.
    pub fn spoken(&self) -> Vec<String> {
        self.tts.spoken.iter().map(|(_, t)| t.clone()).collect()
    }

    /// The transcript as recorded: (speaker, text, heard).
    pub fn transcript(&self) -> Vec<(Speaker, String, Option<String>)> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Turn(t) => Some((t.speaker, t.text.clone(), t.heard.clone())),
                Record::Heard(_) => None,
            })
            .collect()
    }

    /// Seconds of agent audio the carrier received.
    pub fn heard_ms(&self) -> u64 {
        self.heard.len() as u64 / 8
    }

    fn synthesize(&mut self) {
        let text = std::mem::take(&mut self.tts.pending).join(" ");
        let words = text.split_whitespace().count().max(1) as u64;
        let audio = tone(words * MS_PER_WORD);
        let n = self.tts.next_flush;
        self.tts.next_flush += 1;
        let start = self
            .now
            .max(self.tts.queued.back().map_or(self.now, |(at, _)| *at));
        let pieces = self.tts.pieces.max(1);
        let piece = audio.len().div_ceil(pieces as usize);
        for (i, chunk) in audio.chunks(piece).enumerate() {
            let at = start + self.tts.latency + Duration::from_millis(20 * i as u64);
            self.tts
                .queued
                .push_back((at, TtsEvent::Audio(chunk.to_vec())));
        }
        let at = start + self.tts.latency + Duration::from_millis(20 * pieces);
        self.tts
            .queued
            .push_back((at, TtsEvent::Flushed { sequence_id: n }));
    }

    /// Carries out the call's outputs as the executor would, with the fakes.
    pub fn pump(&mut self) {
        while let Some(o) = self.call.poll_output() {
            self.log.push(label(&o));
            match o {
                Output::Send(text) => self.carrier_receives(&text),
                Output::Rejected(e) => self.warnings.push(e.to_string()),
                Output::Warning(w) => self.warnings.push(w),
                Output::Admit(_) => {
                    let admit = self.admit;
                    self.call.handle_input(self.now, Input::Admission(admit));
                }
                Output::Prepare(_) => {
                    if let Some(p) = self.preparation.clone() {
                        if p.tts_open {
                            self.tts.slot = Some(Slot::Primary);
                            if p.greeting_sent {
                                self.tts
                                    .spoken
                                    .push((Slot::Primary, p.agent.greeting.clone()));
                                self.tts.pending.push(p.agent.greeting.clone());
                                self.synthesize();
                            }
                        }
                        if p.stt_open {
                            self.stt.slot = Some(Slot::Primary);
                        }
                        self.call
                            .handle_input(self.now, Input::Prepared(Box::new(p)));
                    }
                }
                Output::OpenStt { slot, .. } => self.stt.slot = Some(slot),
                Output::SttAudio(_) => {
                    let i = usize::from(self.stt.slot == Some(Slot::Fallback));
                    self.stt.frames[i] += 1;
                }
                Output::Stt(SttControl::Finalize) => self.stt.finalizes += 1,
                Output::Stt(SttControl::Finish) => self.stt.finished = true,
                Output::OpenTts(slot) => {
                    self.tts.slot = Some(slot);
                    self.tts.next_flush = 0;
                    self.tts.pending.clear();
                    self.tts.queued.clear();
                }
                Output::Tts(TtsCommand::Speak(t)) => {
                    let slot = self.tts.slot.expect("synthesis is open");
                    self.tts.spoken.push((slot, t.clone()));
                    self.tts.pending.push(t);
                }
                Output::Tts(TtsCommand::Flush) => self.synthesize(),
                Output::Tts(TtsCommand::Clear) => {
                    self.tts.clears += 1;
                    self.tts.pending.clear();
                    // Flush confirmations still come (Deepgram answers every flush); audio
                    // of the cleared text does not.
                    let flushed: Vec<_> = self
                        .tts
                        .queued
                        .drain(..)
                        .filter(|(_, e)| matches!(e, TtsEvent::Flushed { .. }))
                        .collect();
                    self.tts.queued.extend(flushed);
                    let at = self.now + self.tts.latency;
                    self.tts.queued.push_back((at, TtsEvent::Cleared));
                }
                Output::Tts(TtsCommand::Close) => self.tts.closed = true,
                Output::StartLlm {
                    turn,
                    messages,
                    slot,
                } => {
                    self.llm.turn = Some(turn);
                    self.llm.slot = Some(slot);
                    self.llm.requests.push((slot, messages));
                }
                Output::CancelLlm => {
                    self.llm.cancels += 1;
                    self.llm.turn = None;
                }
                Output::RunTool { id, request } => self.tools.push((id, request)),
                Output::Record(r) => self.records.push(r),
                Output::Recording(bytes) => self.recording.extend(bytes),
                Output::Observe(o) => self.observations.push(o),
                Output::JudgeTurn { id, audio } => {
                    let secs = audio.samples.len() as f64 / f64::from(audio.rate.hz());
                    self.judgements.push((id, self.now, secs));
                    if let Some(complete) = self.turn_verdict {
                        let now = self.now;
                        self.call
                            .handle_input(now, Input::TurnJudged { id, complete });
                    }
                }
                Output::HandOff(h) => {
                    self.handoffs.push(h);
                    if self.confirm_handoffs {
                        self.call.handle_input(self.now, Input::HandedOff);
                    }
                }
                Output::CloseMedia => self.connected = false,
                Output::End(e) => self.end = Some(e),
            }
        }
    }

    /// The fake carrier takes a frame: plays media in real time, echoes a mark once the audio
    /// before it has played, and on `clear` drops what has not played and echoes every
    /// pending mark at once.
    fn carrier_receives(&mut self, text: &str) {
        let v: Value = serde_json::from_str(text).expect("outbound JSON");
        assert_eq!(v["streamSid"], "MZ1");
        match v["event"].as_str() {
            Some("media") => {
                let payload = STANDARD
                    .decode(v["media"]["payload"].as_str().expect("payload"))
                    .expect("base64");
                let start = self.playout_end.max(self.now);
                self.playout_end = start + Duration::from_millis(payload.len() as u64 / 8);
                self.heard.extend(payload);
            }
            Some("mark") => {
                let name = v["mark"]["name"].as_str().expect("name").to_string();
                self.marks_due.push((self.playout_end, name));
            }
            Some("clear") => {
                self.clears += 1;
                self.cleared_at.push(self.now);
                let unplayed = self.playout_end.saturating_duration_since(self.now);
                self.heard.truncate(
                    self.heard.len() - (unplayed.as_millis() as usize * 8).min(self.heard.len()),
                );
                self.playout_end = self.now;
                for (at, _) in &mut self.marks_due {
                    *at = self.now;
                }
            }
            other => panic!("unexpected outbound event {other:?}: {text}"),
        }
    }
}
