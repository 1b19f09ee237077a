//! Carrying out what the call machine asks: frames to the socket, commands to the provider
//! streams, tasks for admission, preparation, tools and hand-offs, records to the writer,
//! observations to the metrics. Nothing here waits: tasks report back through the executor's
//! bounded result queue.

use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message};

use super::streams::provider;
use super::{Admitted, CallDriver, TaskDone};
use crate::call::{Close, Input, Output, StartedCall};
use crate::providers::ProviderError;
use crate::providers::llm::{CompletionRequest, LlmEvent, OfferedTools};
use crate::providers::tts::{TtsCommand, TtsEvent};
use crate::session_store::{CallState, LiveCall, unix_now};
use crate::telemetry;
use crate::tools::{CrmRequest, ToolContext, ToolResult};

/// Refused frames and warnings logged one by one before logging thins out.
const LOGGED_IN_FULL: u64 = 10;

/// Every tool offered to the model, as a completion request carries them: built once, so a
/// turn clones a pointer rather than a dozen schemas.
fn offered_tools() -> OfferedTools {
    static TOOLS: std::sync::OnceLock<OfferedTools> = std::sync::OnceLock::new();
    TOOLS
        .get_or_init(|| crate::tools::offered().to_vec().into())
        .clone()
}

/// Whether the `n`th of a kind of message is logged: the first few, then every hundredth
/// (a peer sending garbage on every frame must not flood the logs; the metric counts all).
fn worth_logging(n: u64) -> bool {
    n <= LOGGED_IN_FULL || n.is_multiple_of(100)
}

impl CallDriver {
    /// Carries out every output the call has, feeding back the answers that are known at
    /// once (admission, a provider that cannot be opened).
    pub(super) fn execute_outputs(&mut self, now: Instant) {
        while let Some(output) = self.call.poll_output() {
            self.execute(now, output);
        }
    }

    fn execute(&mut self, now: Instant, output: Output) {
        match output {
            Output::Send(text) => {
                self.counts.frames_out += 1;
                if !self.outgoing.push(Message::Text(text.into())) && self.incoming.is_some() {
                    tracing::warn!("the carrier has stopped reading the socket; ending the call");
                    self.socket_closed(now);
                }
            }
            Output::Rejected(e) => {
                metrics::counter!(telemetry::MALFORMED_FRAMES, "carrier" => self.carrier, "reason" => e.reason())
                    .increment(1);
                self.rejected += 1;
                if worth_logging(self.rejected) {
                    let error = e.to_string();
                    tracing::warn!(
                        reason = e.reason(),
                        error = crate::domain::text::clip(&error),
                        rejected = self.rejected,
                        "carrier frame refused; call continues"
                    );
                }
            }
            Output::Warning(w) => {
                self.warnings += 1;
                if worth_logging(self.warnings) {
                    let w: String = w.chars().take(200).collect();
                    tracing::warn!(warning = %w, warnings = self.warnings, "media session");
                }
            }
            Output::Admit(started) => self.admit(now, started),
            Output::Prepare(started) => self.prepare(started),
            Output::OpenStt { slot, format } => {
                self.streams.stt =
                    provider(&self.state.providers.stt, slot).map(|s| s.open(format));
                if self.streams.stt.is_none() {
                    self.call.handle_input(now, Input::SttClosed);
                }
            }
            Output::SttAudio(audio) => {
                if let Some(stt) = &self.streams.stt {
                    stt.push(audio);
                }
            }
            Output::Stt(control) => {
                if let Some(stt) = &self.streams.stt {
                    stt.control(control);
                }
            }
            Output::OpenTts(slot) => {
                self.streams.tts = provider(&self.state.providers.tts, slot).map(|t| t.open());
                if self.streams.tts.is_none() {
                    self.call.handle_input(now, Input::TtsClosed);
                }
            }
            Output::Tts(command) => self.tts(now, command),
            Output::StartLlm {
                turn,
                messages,
                slot,
            } => {
                let request = CompletionRequest {
                    messages,
                    tools: offered_tools(),
                };
                if !self
                    .streams
                    .start_llm(&self.state.providers, slot, turn, request)
                {
                    let event = LlmEvent::Error(ProviderError::NotConfigured("language model"));
                    self.call.handle_input(now, Input::Llm { turn, event });
                }
            }
            Output::CancelLlm => self.streams.llm = None,
            Output::RunTool { id, request } => self.run_tool(id, request),
            Output::JudgeTurn { id, audio } => self.judge_turn(now, id, audio),
            Output::Record(r) => {
                if let Some(records) = &mut self.records {
                    records.record(r);
                }
            }
            Output::Recording(bytes) => self.recording.push(bytes, self.clock.at(now)),
            Output::Observe(o) => {
                if let Some(admitted) = &mut self.admitted {
                    admitted.spans.observe(&o, super::wall_clock());
                }
                telemetry::observe(o);
            }
            Output::HandOff(handoff) => {
                let (tasks, handoffs) = (self.tasks.clone(), self.state.handoffs.clone());
                let mode = self.state.settings.conversation.call_control;
                let sid = self.call_sid().to_string();
                tokio::spawn(async move {
                    handoffs.carry_out(mode, &sid, handoff).await;
                    let _ = tasks.send(TaskDone::HandedOff).await;
                });
            }
            Output::CloseMedia => self.close_media(Close::Normal.code(), String::new()),
            Output::End(end) => self.end = Some(end),
        }
    }

    /// Closes the carrier's socket (once) and stops reading it.
    pub(super) fn close_media(&mut self, code: u16, reason: String) {
        if self.media_closed {
            return;
        }
        self.media_closed = true;
        self.incoming = None;
        let _ = self.outgoing.push(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })));
    }

    pub(super) fn call_sid(&self) -> &str {
        self.admitted.as_ref().map_or("", |a| a.call_sid.as_str())
    }

    /// A command for synthesis; a stream that refuses it (stuck or gone) has failed.
    fn tts(&mut self, now: Instant, command: TtsCommand) {
        let closing = command == TtsCommand::Close;
        let Some(tts) = &self.streams.tts else {
            return;
        };
        if !tts.send(command) && !closing {
            self.streams.tts = None;
            let e = ProviderError::Cut("the synthesis stream does not take commands".into());
            self.call.handle_input(now, Input::Tts(TtsEvent::Error(e)));
        }
    }

    /// The stream started: one media connection per call, so a stream token replayed on a
    /// second socket, while the call streams or after it ended, here or on another node, is
    /// refused before it takes a line. This node's memory answers at once; the cluster's
    /// claim (Redis) comes back as [`TaskDone::Claimed`].
    fn admit(&mut self, now: Instant, started: StartedCall) {
        tracing::Span::current().record("call_sid", started.call_id.as_str());
        if !self
            .state
            .local_calls
            .try_insert(&started.call_id, &started.stream_key, now)
        {
            self.call.handle_input(now, Input::AlreadyStreaming);
            return;
        }
        let (tasks, store) = (self.tasks.clone(), self.state.store.clone());
        let node = self.state.settings.node_id.clone();
        let ttl = self.state.settings.carrier.stream_token_ttl;
        tokio::spawn(async move {
            let claimed = store.claim_stream(&started.stream_key, &node, ttl).await;
            let _ = tasks
                .send(TaskDone::Claimed(Box::new(started), claimed))
                .await;
        });
    }

    /// The cluster's answer to the claim: taken elsewhere, refused; otherwise (or when the
    /// registry cannot answer: the node's own check stands) the call takes a place under the
    /// cap and is registered.
    pub(super) fn claimed(
        &mut self,
        now: Instant,
        started: StartedCall,
        claimed: Result<bool, crate::session_store::StoreError>,
    ) {
        match claimed {
            Ok(true) => {}
            Ok(false) => {
                self.state.local_calls.remove(&started.call_id);
                self.call.handle_input(now, Input::AlreadyStreaming);
                return;
            }
            Err(e) => {
                metrics::counter!(telemetry::STORE_ERRORS, "op" => "claim_stream").increment(1);
                tracing::warn!(error = %e, "could not claim the stream cluster-wide; admitting on this node's check");
            }
        }
        let Some(slot) = self.state.cap.try_start(&started.call_id, now) else {
            self.state.local_calls.remove(&started.call_id);
            self.call.handle_input(now, Input::Admission(false));
            return;
        };
        metrics::gauge!(telemetry::ACTIVE_CALLS).increment(1.0);
        tracing::info!(
            stream_id = %started.stream_id,
            inbound = started.inbound.encoding.as_str(),
            inbound_hz = started.inbound.sample_rate.hz(),
            outbound = started.outbound.encoding.as_str(),
            "call streaming"
        );
        let entry = LiveCall {
            call_sid: started.call_id.clone(),
            node: self.state.settings.node_id.clone(),
            state: CallState::Streaming,
            started_at: unix_now(),
        };
        let (tasks, store) = (self.tasks.clone(), self.state.store.clone());
        let ttl = self.state.settings.limits.call_ttl;
        tokio::spawn(async move {
            let r = store.register(&entry, ttl).await;
            let _ = tasks.send(TaskDone::Registered(r)).await;
        });
        self.admitted = Some(Admitted {
            spans: telemetry::traces::CallSpans::start(&started.call_id, super::wall_clock()),
            call_sid: started.call_id,
            _slot: slot,
            started: now,
        });
        self.call.handle_input(now, Input::Admission(true));
    }

    fn prepare(&mut self, started: StartedCall) {
        let (tasks, prepared) = (self.tasks.clone(), self.state.prepared.clone());
        tokio::spawn(async move {
            let returned = started
                .parameters
                .iter()
                .any(|(k, _)| k == crate::preparation::RETURNED_PARAMETER);
            let p = prepared
                .take(
                    &started.call_id,
                    started.from.as_deref(),
                    started.inbound,
                    returned,
                )
                .await;
            let _ = tasks.send(TaskDone::Prepared(Box::new(p))).await;
        });
    }

    /// Asks the turn model in a task; the call waits `TURN_VERDICT_WAIT_MS` at most, and a
    /// verdict that cannot start by then is not computed.
    fn judge_turn(&mut self, now: Instant, id: u64, audio: crate::audio::vad::TurnAudio) {
        let Some(judge) = self.state.turn_judge.clone() else {
            let input = Input::TurnJudged { id, complete: None };
            self.call.handle_input(now, input);
            return;
        };
        let deadline = tokio::time::Instant::now() + self.state.settings.turns.verdict_wait;
        let tasks = self.tasks.clone();
        tokio::spawn(async move {
            if let Some(complete) = judge.judge(audio, deadline).await {
                let _ = tasks.send(TaskDone::TurnJudged(id, complete)).await;
            }
        });
    }

    /// Runs a CRM tool in one task, to its end (the call decides when the model stops
    /// waiting for it).
    fn run_tool(&mut self, id: String, request: CrmRequest) {
        let ctx = ToolContext {
            caller: self.caller.clone(),
            call_sid: Some(self.call_sid().to_string()),
            now: self.clock.at(Instant::now()),
        };
        let (tasks, tools) = (self.tasks.clone(), self.state.tools.clone());
        let span_parent = self.admitted.as_ref().and_then(|a| a.spans.parent());
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let began = super::wall_clock();
            let reply = tools.run_request(&ctx, &id, &request).await;
            metrics::histogram!(telemetry::TOOL_LATENCY, "tool" => request.tool().as_str())
                .record(started.elapsed().as_secs_f64());
            if let Some(parent) = &span_parent {
                let name = request.tool().as_str();
                telemetry::traces::tool(parent, name, reply.is_ok(), began, super::wall_clock());
            }
            let result = ToolResult {
                id,
                ok: reply.is_ok(),
                content: reply.content.to_string(),
            };
            let _ = tasks.send(TaskDone::Tool(result)).await;
        });
    }
}
