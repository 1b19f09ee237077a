//! The one task of a call: an executor for its [`Call`] machine. Each loop turn reads the
//! clock once, waits in one `select!` (the carrier socket, the call's next timeout, its
//! provider streams, the results of its tasks, socket writes, shutdown), hands what happened
//! to the call, and carries out what the call asks. It decides nothing: admission comes from
//! the cap, preparation, tools, hand-offs and registry writes run as tasks whose results come
//! back as inputs, and the socket is read at all times.

#![allow(clippy::disallowed_methods)] // The executor is where the clock is read.

mod config;
mod execute;
pub mod recording;
pub mod records;
mod socket;
mod streams;

use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::call::{Call, CallEnd, Input};
use crate::carrier::CarrierKind;
use crate::preparation::PreparedCall;
use crate::session_store::unix_now;
use crate::state::{AppState, CallSlot};
use crate::telemetry;
use records::{CallRecorder, WallClock};
use socket::{Outgoing, Sink};
use streams::{Streams, next_llm, next_stt, next_tts};

pub use config::call_config;

/// Results of a call's tasks waiting for the executor. The tasks are bounded in number (one
/// preparation, one hand-off, one registration, at most `MAX_RUNNING_TOOLS` tools), and a
/// task waits for room rather than dropping its result.
const TASK_RESULTS: usize = 16;

/// Provider events already waiting that are handled in the same loop turn as the one that
/// woke the executor (a bounded batch, so the socket is read between bursts).
const BURST: usize = 32;

/// How long the last frames and the close frame get once the call has ended.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// How many frames go by between additions to the shared counters.
const COUNTS_EVERY: u64 = 250;

/// Frame and byte counts of one call not yet added to the metrics.
struct Counts {
    frames_in: u64,
    frames_out: u64,
    transcoded: u64,
    carrier: &'static str,
}

impl Counts {
    fn new(carrier: &'static str) -> Self {
        Self {
            frames_in: 0,
            frames_out: 0,
            transcoded: 0,
            carrier,
        }
    }

    /// Adds the counts to the metrics once `every` frames have gone by (0: now).
    fn flush_every(&mut self, every: u64) {
        if self.frames_in + self.frames_out < every {
            return;
        }
        let carrier = self.carrier;
        for (name, n) in [
            (telemetry::FRAMES_IN, std::mem::take(&mut self.frames_in)),
            (telemetry::FRAMES_OUT, std::mem::take(&mut self.frames_out)),
        ] {
            if n > 0 {
                metrics::counter!(name, "carrier" => carrier).increment(n);
            }
        }
        let bytes = std::mem::take(&mut self.transcoded);
        if bytes > 0 {
            metrics::counter!(telemetry::TRANSCODED_BYTES).increment(bytes);
        }
    }
}

/// A task's result, on its way back to the call.
#[derive(Debug)]
enum TaskDone {
    Prepared(Box<PreparedCall>),
    Tool(crate::tools::ToolResult),
    /// The turn model's verdict on pause `.0` (`None`: the model failed).
    TurnJudged(u64, Option<bool>),
    HandedOff,
    Registered(Result<(), crate::session_store::StoreError>),
    /// Whether the cluster let this socket have the call's one media connection.
    Claimed(
        Box<crate::call::StartedCall>,
        Result<bool, crate::session_store::StoreError>,
    ),
}

/// What woke the executor.
enum Wake {
    Socket(Option<Result<Message, axum::Error>>),
    Timeout,
    Stt(Option<crate::providers::stt::SttEvent>),
    Tts(Option<crate::providers::tts::TtsEvent>),
    Llm(u64, Option<crate::providers::llm::LlmEvent>),
    Task(TaskDone),
    Written(Result<(), axum::Error>),
    WindDown,
    Shutdown,
}

/// A call admitted on this node.
struct Admitted {
    call_sid: String,
    _slot: CallSlot,
    started: Instant,
    /// The call's spans in its trace (nothing when traces are off).
    spans: crate::telemetry::traces::CallSpans,
}

/// The executor of one call.
struct CallDriver {
    state: AppState,
    call: Call,
    carrier: &'static str,
    sink: Sink,
    /// `None` once the socket closed.
    incoming: Option<SplitStream<WebSocket>>,
    /// Our close frame has been queued.
    media_closed: bool,
    outgoing: Outgoing,
    streams: Streams,
    tasks: mpsc::Sender<TaskDone>,
    results: mpsc::Receiver<TaskDone>,
    /// The call's next timeout, one timer reset when the deadline moves (registering a new
    /// timer on every frame costs more than the frame's own work).
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    timer_at: Instant,
    /// Per-frame counts, added to the shared counters now and then (an atomic add on a
    /// counter every call shares, fifty times a second per call, is cache traffic between
    /// cores for nothing).
    counts: Counts,
    admitted: Option<Admitted>,
    records: Option<CallRecorder>,
    recording: recording::RecordingSink,
    caller: Option<crate::domain::PhoneNumber>,
    clock: WallClock,
    shutting_down: bool,
    /// The instance's wind-down (see `hard_stop`); `None` once told.
    wind_down: Option<std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>>,
    /// The instance's hard stop, registered once: a fresh wait per loop turn would take the
    /// lock every call shares, fifty times a second per call.
    hard_stop: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    /// Refused frames and warnings so far, for thinning the logs.
    rejected: u64,
    warnings: u64,
    end: Option<CallEnd>,
}

/// Whether a read failed because the carrier's message was over the socket's limit.
fn too_big(e: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    use tokio_tungstenite::tungstenite::error::CapacityError;
    matches!(
        e.into_inner().downcast_ref::<Error>(),
        Some(Error::Capacity(CapacityError::MessageTooLong { .. }))
    )
}

/// Runs one call over `socket` until it ends.
pub async fn run(socket: WebSocket, kind: CarrierKind, state: AppState) {
    let span = tracing::info_span!(
        "call",
        carrier = kind.as_str(),
        call_sid = tracing::field::Empty
    );
    async move {
        let (sink, incoming) = socket.split();
        let (tasks, results) = mpsc::channel(TASK_RESULTS);
        let clock = WallClock::now();
        let hard_stop = state.hard_stop.clone();
        let wind_down = state.wind_down.clone();
        let now = Instant::now();
        let idle = now + Duration::from_secs(3600);
        // Boxed: an async fn keeps its by-value argument twice in its state, and the driver
        // (the call machine with it) is the biggest thing a call owns.
        let driver = Box::new(CallDriver {
            call: Call::new(call_config(kind, &state), now),
            timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                idle,
            ))),
            timer_at: idle,
            counts: Counts::new(kind.as_str()),
            state,
            carrier: kind.as_str(),
            sink,
            incoming: Some(incoming),
            media_closed: false,
            outgoing: Outgoing::default(),
            streams: Streams::default(),
            tasks,
            results,
            admitted: None,
            records: None,
            recording: recording::RecordingSink::new(),
            caller: None,
            clock,
            shutting_down: false,
            wind_down: Some(Box::pin(wind_down.cancelled_owned())),
            hard_stop: Box::pin(hard_stop.cancelled_owned()),
            rejected: 0,
            warnings: 0,
            end: None,
        });
        driver.run().await;
    }
    .instrument(span)
    .await;
}

impl CallDriver {
    async fn run(mut self: Box<Self>) {
        let mut now = Instant::now();
        loop {
            self.execute_outputs(now);
            self.counts.transcoded += self.call.take_transcoded_bytes();
            self.counts.flush_every(COUNTS_EVERY);
            if self.end.is_some() {
                break;
            }
            let deadline = self
                .call
                .poll_timeout()
                .unwrap_or(now + Duration::from_secs(3600));
            let wake = self.wait(deadline).await;
            now = Instant::now();
            match wake {
                Wake::Socket(Some(Ok(Message::Text(text)))) => {
                    self.counts.frames_in += 1;
                    let input = Input::CarrierText {
                        text: text.as_str(),
                        unix_now: unix_now(),
                    };
                    self.call.handle_input(now, input);
                }
                Wake::Socket(Some(Ok(Message::Binary(bytes)))) => {
                    self.counts.frames_in += 1;
                    self.call
                        .handle_input(now, Input::CarrierBinary(bytes.len()));
                }
                Wake::Socket(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Wake::Socket(Some(Ok(Message::Close(_))) | None) => self.socket_closed(now),
                Wake::Socket(Some(Err(e))) => {
                    tracing::warn!(error = %e, "carrier socket failed");
                    if too_big(e) {
                        // The socket can still carry our close frame (1009).
                        self.call.handle_input(now, Input::CarrierTooBig);
                    } else {
                        self.socket_closed(now);
                    }
                }
                Wake::Timeout => self.call.handle_input(now, Input::Timeout),
                Wake::Stt(e) => self.stt_event(now, e),
                Wake::Tts(e) => self.tts_event(now, e),
                Wake::Llm(turn, e) => self.llm_event(now, turn, e),
                Wake::Task(done) => self.task_done(now, done),
                Wake::Written(Ok(())) => {}
                Wake::Written(Err(e)) => {
                    tracing::warn!(error = %e, "socket write failed");
                    self.outgoing = Outgoing::default();
                    self.socket_closed(now);
                }
                Wake::WindDown => {
                    self.wind_down = None;
                    let ending = self.state.settings.limits.drain_ending;
                    self.call.handle_input(now, Input::WindDown(ending));
                }
                Wake::Shutdown => {
                    self.shutting_down = true;
                    self.call.handle_input(now, Input::Shutdown);
                }
            }
        }
        // Boxed: the wind-down's futures (close frame, the last records) would otherwise size
        // this task for the whole call.
        Box::pin(self.close()).await;
    }

    /// The one place the executor waits.
    async fn wait(&mut self, deadline: Instant) -> Wake {
        if deadline != self.timer_at {
            self.timer_at = deadline;
            self.timer
                .as_mut()
                .reset(tokio::time::Instant::from_std(deadline));
        }
        let Self {
            sink,
            incoming,
            outgoing,
            streams,
            results,
            shutting_down,
            wind_down,
            hard_stop,
            timer,
            ..
        } = self;
        let writing = outgoing.is_pending();
        tokio::select! {
            m = async { incoming.as_mut()?.next().await }, if incoming.is_some() => Wake::Socket(m),
            _ = timer.as_mut() => Wake::Timeout,
            e = next_stt(&mut streams.stt), if streams.stt.is_some() => Wake::Stt(e),
            e = next_tts(&mut streams.tts), if streams.tts.is_some() => Wake::Tts(e),
            (turn, e) = next_llm(&mut streams.llm), if streams.llm.is_some() => Wake::Llm(turn, e),
            Some(done) = results.recv() => Wake::Task(done),
            r = outgoing.write(sink), if writing => Wake::Written(r),
            _ = async { wind_down.as_mut()?.as_mut().await; Some(()) }, if wind_down.is_some() => Wake::WindDown,
            _ = hard_stop.as_mut(), if !*shutting_down => Wake::Shutdown,
        }
    }

    fn socket_closed(&mut self, now: Instant) {
        self.incoming = None;
        self.call.handle_input(now, Input::CarrierClosed);
    }

    /// The recogniser's words so far, for the console's live view.
    fn show_hearing(&mut self, e: &crate::providers::stt::SttEvent) {
        use crate::providers::stt::SttEvent;
        let Some(records) = &mut self.records else {
            return;
        };
        match e {
            SttEvent::Interim { text } => records.hearing(text, false),
            SttEvent::Final { text, .. } => records.hearing(text, true),
            _ => {}
        }
    }

    fn stt_event(&mut self, now: Instant, e: Option<crate::providers::stt::SttEvent>) {
        match e {
            Some(e) => {
                self.show_hearing(&e);
                self.call.handle_input(now, Input::Stt(e));
                for _ in 0..BURST {
                    let Some(e) = self.streams.stt.as_mut().and_then(|t| t.try_next()) else {
                        break;
                    };
                    self.show_hearing(&e);
                    self.call.handle_input(now, Input::Stt(e));
                }
            }
            None => {
                self.streams.stt = None;
                self.call.handle_input(now, Input::SttClosed);
            }
        }
    }

    fn tts_event(&mut self, now: Instant, e: Option<crate::providers::tts::TtsEvent>) {
        match e {
            Some(e) => {
                self.call.handle_input(now, Input::Tts(e));
                // The rest of a burst, in the same loop turn.
                for _ in 0..BURST {
                    let Some(e) = self.streams.tts.as_mut().and_then(|t| t.try_next()) else {
                        break;
                    };
                    self.call.handle_input(now, Input::Tts(e));
                }
            }
            None => {
                self.streams.tts = None;
                self.call.handle_input(now, Input::TtsClosed);
            }
        }
    }

    fn llm_event(&mut self, now: Instant, turn: u64, e: Option<crate::providers::llm::LlmEvent>) {
        match e {
            Some(event) => self.call.handle_input(now, Input::Llm { turn, event }),
            None => {
                if self.streams.llm.as_ref().is_some_and(|(t, _)| *t == turn) {
                    self.streams.llm = None;
                }
                self.call.handle_input(now, Input::LlmClosed { turn });
            }
        }
    }

    fn task_done(&mut self, now: Instant, done: TaskDone) {
        match done {
            TaskDone::Prepared(p) => {
                let p = *p;
                let preparation = p.preparation();
                self.caller = p.caller.clone();
                let live = crate::live::CallFeed::new(&self.state.live, self.call_sid());
                live.started(
                    p.caller.as_ref().map(|c| c.as_str().to_string()),
                    p.caller_name.clone(),
                    p.vehicles.clone(),
                    self.clock.at(now),
                );
                self.records = Some(CallRecorder::spawn(
                    self.state.db.clone(),
                    p.call_log_id,
                    self.clock,
                    &self.state.calls,
                    live,
                ));
                let call_sid = self.call_sid().to_string();
                self.recording.open(
                    self.state.db.clone(),
                    &self.state.settings.recording.dir,
                    &call_sid,
                    &self.state.calls,
                );
                self.streams.stt = p.stt;
                self.streams.tts = p.tts;
                self.call
                    .handle_input(now, Input::Prepared(Box::new(preparation)));
            }
            TaskDone::Tool(result) => self.call.handle_input(now, Input::ToolDone(result)),
            TaskDone::TurnJudged(id, complete) => {
                self.call
                    .handle_input(now, Input::TurnJudged { id, complete });
            }
            TaskDone::HandedOff => self.call.handle_input(now, Input::HandedOff),
            TaskDone::Claimed(started, claimed) => self.claimed(now, *started, claimed),
            TaskDone::Registered(Ok(())) => {}
            TaskDone::Registered(Err(e)) => {
                metrics::counter!(telemetry::STORE_ERRORS, "op" => "register").increment(1);
                tracing::warn!(error = %e, "could not register the call");
            }
        }
    }

    /// Settles the books once the call has ended: the call's place under the cap and in the
    /// registry, the metrics, then the socket's close frame (the peer may be slow to take it)
    /// and the log's outcome (the database may be slow to take it).
    async fn close(mut self: Box<Self>) {
        self.counts.flush_every(0);
        let Some(end) = self.end.take() else {
            return;
        };
        metrics::counter!(telemetry::CALLS_TOTAL, "outcome" => end.label()).increment(1);
        if let Some(call) = self.admitted.take() {
            let Admitted {
                call_sid,
                started,
                _slot: slot,
                mut spans,
            } = call;
            drop(slot); // the call's place under the cap is free from here
            spans.end(end.outcome(), wall_clock());
            metrics::gauge!(telemetry::ACTIVE_CALLS).decrement(1.0);
            metrics::histogram!(telemetry::CALL_DURATION).record(started.elapsed().as_secs_f64());
            self.state.local_calls.remove(&call_sid);
            let store = self.state.store.clone();
            self.state.calls.spawn(async move {
                if let Err(e) = store.remove(&call_sid).await {
                    metrics::counter!(telemetry::STORE_ERRORS, "op" => "remove").increment(1);
                    tracing::warn!(error = %e, "could not remove the call from the registry");
                }
            });
        }
        let (close, reason) = end.close();
        self.close_media(close.code(), reason);
        let _ = tokio::time::timeout(CLOSE_WAIT, self.outgoing.write(&mut self.sink)).await;
        let _ = tokio::time::timeout(CLOSE_WAIT, self.sink.close()).await;
        // Last: the outcome may wait for room behind the call's other records (a slow
        // database); the call's place under the cap is already free by then.
        if let Some(records) = self.records.take() {
            records.finish(end.outcome()).await;
        }
        let detail = end.cause.describe();
        if end.is_fault() {
            tracing::warn!(outcome = end.label(), %detail, "call ended");
        } else {
            tracing::info!(outcome = end.label(), record = end.outcome(), %detail, "call ended");
        }
    }
}

/// Now on the wall clock, for the call's spans (an IO edge).
#[allow(clippy::disallowed_methods)]
pub(super) fn wall_clock() -> std::time::SystemTime {
    std::time::SystemTime::now()
}
