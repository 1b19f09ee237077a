//! What goes into a [`super::Call`] and what comes out: the whole contract between the call
//! machine and the executor that runs it. Inputs are things that happened (a frame, a provider
//! event, a task's result, time); outputs are things to do (send a frame, command a provider,
//! run a tool, store a record, hand the call on) and things to count. Nothing here holds a
//! socket, a stream or a clock.

use std::collections::VecDeque;
use std::time::Duration;

use super::agent::AgentConfig;
use super::end::{CallEnd, Handoff};
use super::observe::Observation;
use super::record::Record;
use crate::audio::AudioFormat;
use crate::carrier::{CarrierKind, FrameError};
use crate::chat::ChatMessage;
use crate::llm::LlmEvent;
use crate::stt::{SttControl, SttEvent};
use crate::tool::{CrmRequest, ToolResult};
use crate::tts::{TtsCommand, TtsEvent};

/// Something that happened to the call.
#[derive(Debug)]
pub enum Input<'a> {
    /// A text frame from the carrier; `unix_now` (seconds) checks the stream token's expiry.
    CarrierText {
        /// The frame.
        text: &'a str,
        /// Wall-clock seconds, for the token.
        unix_now: u64,
    },
    /// A binary frame of this many bytes (carriers send text; it is refused and counted).
    CarrierBinary(usize),
    /// The carrier's socket closed or failed.
    CarrierClosed,
    /// The answer to [`Output::Admit`]: whether the call has room here.
    Admission(bool),
    /// The call is streaming, or has streamed, on another socket (its token is used): this
    /// one is refused.
    AlreadyStreaming,
    /// The answer to [`Output::Prepare`].
    Prepared(Box<Preparation>),
    /// Speech recognition reported.
    Stt(SttEvent),
    /// The speech recognition stream ended (no more events will come from it).
    SttClosed,
    /// Speech synthesis reported.
    Tts(TtsEvent),
    /// The speech synthesis stream ended.
    TtsClosed,
    /// The completion of request `turn` reported.
    Llm {
        /// Which request.
        turn: u64,
        /// What it said.
        event: LlmEvent,
    },
    /// The completion of request `turn` ended (no more events will come from it).
    LlmClosed {
        /// Which request.
        turn: u64,
    },
    /// A CRM tool answered.
    ToolDone(ToolResult),
    /// The turn model's answer to [`Output::JudgeTurn`] `id`: whether the caller finished
    /// (`None`: the model could not judge).
    TurnJudged {
        /// Which request.
        id: u64,
        /// Finished or not.
        complete: Option<bool>,
    },
    /// The hand-off asked for by [`Output::HandOff`] was carried out (or could not be).
    HandedOff,
    /// The carrier sent a message over the socket's hard limit: the socket cannot go on.
    CarrierTooBig,
    /// The instance is draining and the grace is nearly over: an agent call finishes its
    /// turn, says a short line and ends as told; an echo call ends now.
    WindDown(super::DrainEnding),
    /// The instance is shutting down and the call must end now.
    Shutdown,
    /// The time [`super::Call::poll_timeout`] asked for has come.
    Timeout,
}

/// What the preparation of an agent call produced (the parts the machine needs; the
/// executor keeps the streams it opened).
#[derive(Debug, Clone)]
pub struct Preparation {
    /// Prompt, greeting and tuning.
    pub agent: AgentConfig,
    /// The primary speech recognition stream is open for the call's format.
    pub stt_open: bool,
    /// The primary speech synthesis stream is open.
    pub tts_open: bool,
    /// The greeting was already sent to that stream (spoken and flushed as flush 0).
    pub greeting_sent: bool,
}

/// Which of a kind's providers a stream comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The one configured first.
    Primary,
    /// The one used when the primary fails.
    Fallback,
}

/// The stream whose start was accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedCall {
    /// Carrier call id.
    pub call_id: String,
    /// This stream of the call: the call id and its token's expiry (a call may stream twice:
    /// back to the agent after the desk did not answer). A token is good for one stream.
    pub stream_key: String,
    /// The stream's custom parameters other than the token (Twilio `<Parameter>`s we set).
    pub parameters: Vec<(String, String)>,
    /// Carrier stream id.
    pub stream_id: String,
    /// Caller number, when the carrier gave one.
    pub from: Option<String>,
    /// The caller's audio format.
    pub inbound: AudioFormat,
    /// The format played back.
    pub outbound: AudioFormat,
}

/// Something for the executor to do or count.
#[derive(Debug, PartialEq)]
pub enum Output {
    /// Send this text frame to the carrier.
    Send(String),
    /// An inbound frame was refused; count and log it (the call goes on).
    Rejected(FrameError),
    /// Something odd but harmless (an unknown mark, a carrier error report); log it.
    Warning(String),
    /// The stream started: check there is room for it and answer with [`Input::Admission`].
    Admit(StartedCall),
    /// Prepare the agent (or take what the webhook prepared) and answer with
    /// [`Input::Prepared`].
    Prepare(StartedCall),
    /// Open a speech recognition stream for audio in `format`, replacing the current one.
    OpenStt {
        /// Which provider.
        slot: Slot,
        /// The caller's audio format.
        format: AudioFormat,
    },
    /// Caller audio for speech recognition (never waited on: dropped and counted when the
    /// stream's queue is full).
    SttAudio(Vec<u8>),
    /// A control message for speech recognition.
    Stt(SttControl),
    /// Open a speech synthesis stream, replacing the current one.
    OpenTts(Slot),
    /// A command for speech synthesis.
    Tts(TtsCommand),
    /// Start a completion (replacing any running one).
    StartLlm {
        /// Request number; its events come back with it.
        turn: u64,
        /// The trimmed history.
        messages: Vec<ChatMessage>,
        /// Which model.
        slot: Slot,
    },
    /// Cancel the running completion.
    CancelLlm,
    /// Run a CRM tool and answer with [`Input::ToolDone`] (the tool runs to its end even if
    /// the call ends first: a booking is never cut in half).
    RunTool {
        /// The model's call id (part of the booking's idempotency key).
        id: String,
        /// What to run.
        request: CrmRequest,
    },
    /// Ask the turn model whether the caller finished, on the audio of their turn so far;
    /// answer with [`Input::TurnJudged`] (a late answer is ignored: the call decides how long
    /// it waits).
    JudgeTurn {
        /// Request number.
        id: u64,
        /// The turn's audio (the last 8 s of it).
        audio: crate::audio::vad::TurnAudio,
    },
    /// Store this, in order.
    Record(Record),
    /// Append these bytes to the call's recording file (Ogg Opus, caller left, agent right),
    /// in order; the first carry the file's headers.
    Recording(Vec<u8>),
    /// Count this.
    Observe(Observation),
    /// Tell the carrier where the caller goes after the stream and answer with
    /// [`Input::HandedOff`].
    HandOff(Handoff),
    /// The caller is done with the media stream (they hung up, or the carrier has been told
    /// where they go), while the call still waits for work in progress: close the socket now,
    /// so the carrier moves the caller on without waiting for it.
    CloseMedia,
    /// The call is over: close the socket, finish the log, release the call's place.
    End(CallEnd),
}

/// The deadlines and limits of one agent call.
#[derive(Debug, Clone)]
pub struct ConversationConfig {
    /// Local voice activity tuning.
    pub vad: crate::audio::vad::VadConfig,
    /// A fallback speech recogniser exists.
    pub stt_fallback: bool,
    /// The audio format of each speech synthesizer (`None`: not configured).
    pub tts_formats: [Option<AudioFormat>; 2],
    /// A primary language model exists.
    pub llm_primary: bool,
    /// Longest wait for the last words to play before a call is handed on regardless.
    pub playout_limit: Duration,
    /// Longest wait for the preparation before the call is given up as failed.
    pub prepare_limit: Duration,
    /// Longest wait for the carrier hand-off to be carried out.
    pub handoff_limit: Duration,
    /// How long the model waits for a tool before it is told the tool is slow (the tool
    /// goes on).
    pub tool_timeout: Duration,
    /// Longest wait for running tools after the caller hung up (their results are kept).
    pub tool_drain_limit: Duration,
    /// Caller audio (frames) kept for speech recognition while the call is being prepared;
    /// older frames are dropped first.
    pub audio_backlog_frames: usize,
    /// Carrier frames sent to speech recognition together: one push per frame wakes the
    /// recognition task fifty times a second per call, for audio a streaming recogniser
    /// handles as well in 60 ms pieces. Held audio goes out before every `Finalize`, so turn
    /// ends are not delayed.
    pub stt_batch_frames: usize,
}

impl ConversationConfig {
    /// The format of the synthesizer in `slot`.
    pub fn tts_format(&self, slot: Slot) -> Option<AudioFormat> {
        self.tts_formats[match slot {
            Slot::Primary => 0,
            Slot::Fallback => 1,
        }]
    }
}

/// Outputs waiting to be polled, in order.
#[derive(Debug, Default)]
pub(super) struct Outbox(VecDeque<Output>);

impl Outbox {
    pub(super) fn push(&mut self, o: Output) {
        self.0.push_back(o);
    }

    pub(super) fn observe(&mut self, o: Observation) {
        self.0.push_back(Output::Observe(o));
    }

    pub(super) fn record(&mut self, r: Record) {
        self.0.push_back(Output::Record(r));
    }

    pub(super) fn pop(&mut self) -> Option<Output> {
        self.0.pop_front()
    }
}

/// The media session's part of a call's configuration.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The carrier's dialect.
    pub carrier: CarrierKind,
    /// Larger inbound frames are refused.
    pub max_frame_bytes: usize,
    /// Verifies the stream token.
    pub token_secret: String,
    /// Whether `start` must carry our per-call token (Twilio). Telnyx sockets are
    /// authenticated at the upgrade by the carrier's streaming auth token instead.
    pub require_stream_token: bool,
    /// What we send back in (Twilio: always the inbound format; Telnyx: configured).
    pub outbound_format: Option<AudioFormat>,
    /// Playback lead.
    pub lead: Duration,
    /// Mark spacing.
    pub mark_interval: Duration,
    /// Echo delay.
    pub echo_delay: Duration,
    /// The format the echo line works in; `None` echoes the carrier's own format untouched.
    pub far_end_format: Option<AudioFormat>,
    /// Longest call.
    pub max_call_duration: Duration,
    /// A socket that has not sent `start` this long after opening is closed (refused): an
    /// idle or replayed handshake holds no descriptor for long.
    pub start_limit: Duration,
    /// A started stream from which no frame came for this long is over: carriers send media
    /// every 20 ms, so silence on the socket means the carrier is gone.
    pub idle_limit: Duration,
    /// The key that clears playback on the echo line.
    pub clear_digit: char,
    /// Who answers the caller.
    pub far_end: FarEnd,
    /// Record the call as the caller heard it ([`SessionOutput::Recording`]).
    pub record: bool,
}

/// Who answers the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FarEnd {
    /// The echo line, inside the session (a line test).
    Echo,
    /// Someone outside the session (the conversation engine): the caller's audio comes out as
    /// [`SessionOutput::CallerAudio`] and answers go in as utterances.
    External,
}
