//! The media session of one call: carrier frames in, carrier frames out, with the stream token
//! check, transcoding both ways, the echo line (when it is the far end), and the playback
//! ledger. Part of [`super::Call`], which hands an agent call's audio to the conversation.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::echo::{EchoLine, EchoOutput};
use super::end::EndCause;
pub use super::io::{FarEnd, SessionConfig, StartedCall};
use super::ledger::{
    Interruption, LedgerConfig, LedgerOutput, PlaybackLedger, UtteranceId, UtteranceProgress,
};
use super::recorder::AudioRecorder;
use crate::audio::transcode::Transcoder;
use crate::audio::{AudioFormat, Encoding};
use crate::carrier::{
    CarrierCommand, CarrierEvent, CarrierKind, FrameError, InboundStream, StreamStart, Track,
    stream_token,
};

/// The format the far end works in by default: what speech engines take and give.
pub const FAR_END_FORMAT: AudioFormat = AudioFormat::LINEAR16_16K;

/// What the session asks its driver to do or record.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionOutput {
    /// Send this text frame to the carrier.
    Send(String),
    /// An inbound frame was refused; count and log it, the call goes on.
    Rejected(FrameError),
    /// The stream started and its token checked out.
    Started(StartedCall),
    /// A key was pressed.
    Dtmf(char),
    /// The caller's audio, in the far-end format (the carrier's own when it has a constant
    /// rate and no far-end format is set): for speech recognition and voice activity.
    CallerAudio(Vec<u8>),
    /// Playback was cleared; what each utterance got to.
    Cleared(Vec<Interruption>),
    /// The carrier reported an error on the stream.
    CarrierError {
        /// Carrier code.
        code: Option<i64>,
        /// Detail.
        detail: String,
    },
    /// Something odd but harmless (an unknown mark); log it.
    Warning(String),
    /// The recording file's next bytes (Ogg Opus), to append in order.
    Recording(Vec<u8>),
    /// The media stream is over (or cannot go on), and why.
    End(EndCause),
}

struct Media {
    stream_id: String,
    inbound: Transcoder,
    outbound: Transcoder,
    echo: Option<EchoLine>,
    /// Converts answers to the outbound format, built for the format they come in.
    answers: Option<(AudioFormat, Transcoder)>,
    outbound_format: AudioFormat,
    ledger: PlaybackLedger,
    utterance: Option<UtteranceId>,
    scratch: Vec<u8>,
    recorder: Option<AudioRecorder>,
}

/// One call's media session. Feed it with `handle_*`, drain [`MediaSession::poll_output`],
/// and call [`MediaSession::handle_timeout`] at [`MediaSession::next_timeout`].
pub struct MediaSession {
    config: SessionConfig,
    inbound: InboundStream,
    opened_at: Instant,
    /// The last frame of any kind.
    last_frame_at: Instant,
    /// The latest time the session was told: where a recording ends when the session ends
    /// without being told the time (a disconnect).
    clock: Instant,
    /// When the idle check is next due: moved only when it comes, so the deadline does not
    /// change (and re-arm the executor's timer) on every frame.
    idle_check_at: Instant,
    media: Option<Media>,
    ended: bool,
    transcoded_bytes: u64,
    out: VecDeque<SessionOutput>,
}

impl MediaSession {
    /// A session for a socket opened at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        MediaSession {
            inbound: InboundStream::new(config.carrier, config.max_frame_bytes),
            opened_at: now,
            last_frame_at: now,
            clock: now,
            idle_check_at: now + config.idle_limit,
            media: None,
            ended: false,
            transcoded_bytes: 0,
            out: VecDeque::new(),
            config,
        }
    }

    /// Whether the session has ended.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Bytes run through a non-passthrough transcoder since the last call.
    pub fn take_transcoded_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.transcoded_bytes)
    }

    fn end(&mut self, cause: EndCause) {
        if !self.ended {
            self.ended = true;
            self.finish_recording();
            self.out.push_back(SessionOutput::End(cause));
        }
    }

    /// Writes the recording's last page, ending it where the session's clock stands (the
    /// call is over even if the carrier has not said so). Later calls do nothing.
    pub fn finish_recording(&mut self) {
        let Some(recorder) = self.media.as_mut().and_then(|m| m.recorder.take()) else {
            return;
        };
        let losses = recorder.losses();
        match recorder.finish(self.clock) {
            Ok(bytes) => self.out.push_back(SessionOutput::Recording(bytes)),
            Err(e) => self.out.push_back(SessionOutput::Warning(e.to_string())),
        }
        if losses != Default::default() {
            self.out.push_back(SessionOutput::Warning(format!(
                "recording could not place some audio: {losses:?}"
            )));
        }
    }

    /// Stops recording after a failure; the call goes on.
    fn recording_failed(&mut self, e: super::recorder::RecorderError) {
        if let Some(m) = self.media.as_mut() {
            m.recorder = None;
        }
        self.out
            .push_back(SessionOutput::Warning(format!("recording stopped: {e}")));
    }

    /// A text frame at `now`; `unix_now` (seconds) checks the token's expiry.
    pub fn handle_text(&mut self, now: Instant, unix_now: u64, text: &str) {
        if self.ended {
            return;
        }
        self.clock = self.clock.max(now);
        self.last_frame_at = now;
        if let Err(e) = self.inbound.handle_text(text) {
            self.out.push_back(SessionOutput::Rejected(e));
        }
        while let Some(event) = self.inbound.poll_event() {
            self.handle_event(now, unix_now, event);
            if self.ended {
                return;
            }
        }
        self.pump(now);
    }

    /// A binary frame of `len` bytes: refused and counted.
    pub fn handle_binary(&mut self, len: usize) {
        if !self.ended {
            let e = self.inbound.handle_binary(len);
            self.out.push_back(SessionOutput::Rejected(e));
        }
    }

    /// The socket closed at the carrier's end.
    pub fn handle_disconnect(&mut self) {
        self.end(EndCause::Disconnected);
    }

    /// The carrier sent a message over the socket's hard limit.
    pub fn handle_too_big(&mut self) {
        self.end(EndCause::MessageTooBig);
    }

    /// The instance is shutting down and the grace period is over.
    pub fn handle_shutdown(&mut self) {
        self.end(EndCause::Drained);
    }

    /// Time passed; releases due audio and enforces the maximum call length.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ended {
            return;
        }
        self.clock = self.clock.max(now);
        if now >= self.opened_at + self.config.max_call_duration {
            self.end(EndCause::MaxDuration);
            return;
        }
        if self.media.is_none() && now >= self.opened_at + self.config.start_limit {
            let secs = self.config.start_limit.as_secs_f32();
            self.end(EndCause::Rejected(format!(
                "no start message within {secs} s of the socket opening"
            )));
            return;
        }
        if self.media.is_some() && now >= self.idle_check_at {
            if now >= self.last_frame_at + self.config.idle_limit {
                self.end(EndCause::CarrierSilent);
                return;
            }
            self.idle_check_at = self.last_frame_at + self.config.idle_limit;
        }
        self.pump(now);
    }

    /// When [`MediaSession::handle_timeout`] is next needed.
    pub fn next_timeout(&self, now: Instant) -> Option<Instant> {
        if self.ended {
            return None;
        }
        let watch = if self.media.is_none() {
            self.opened_at + self.config.start_limit
        } else {
            self.idle_check_at
        };
        let limit = (self.opened_at + self.config.max_call_duration).min(watch);
        let media = self.media.as_ref().and_then(|m| {
            // Echoed audio is only worth releasing when the ledger would send it: waking for
            // every 20 ms frame in between costs a timer wakeup each and changes nothing the
            // caller hears.
            let echo = m
                .echo
                .as_ref()
                .and_then(EchoLine::next_timeout)
                .map(|t| t.max(m.ledger.refill_at(now)));
            [echo, m.ledger.next_timeout(now)]
                .into_iter()
                .flatten()
                .min()
        });
        Some(media.map_or(limit, |t| t.min(limit)))
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<SessionOutput> {
        self.out.pop_front()
    }

    /// Starts an answer to play (external far end); `None` before the stream started.
    pub fn begin_utterance(&mut self) -> Option<UtteranceId> {
        self.media.as_mut().map(|m| m.ledger.begin_utterance())
    }

    /// Adds audio in `format` to utterance `u`, converted to the carrier's format and paced
    /// out by the ledger.
    pub fn push_utterance_audio(
        &mut self,
        now: Instant,
        u: UtteranceId,
        audio: &[u8],
        format: AudioFormat,
    ) -> Result<(), crate::audio::transcode::TranscodeError> {
        let Some(m) = self.media.as_mut() else {
            return Ok(());
        };
        if m.answers.as_ref().is_none_or(|(f, _)| *f != format) {
            m.answers = Some((format, Transcoder::new(format, m.outbound_format)?));
        }
        let (_, tc) = m.answers.as_mut().expect("just set");
        m.scratch.clear();
        tc.process(audio, &mut m.scratch)?;
        if !tc.is_passthrough() {
            self.transcoded_bytes += audio.len() as u64;
        }
        m.ledger.push_audio(u, &m.scratch);
        self.pump(now);
        Ok(())
    }

    /// No more audio for utterance `u`.
    pub fn finish_utterance(&mut self, now: Instant, u: UtteranceId) {
        if let Some(m) = self.media.as_mut() {
            m.ledger.finish_utterance(u);
        }
        self.pump(now);
    }

    /// Stops playback now (barge-in): the carrier is told to `clear`, and the report says
    /// how much of each utterance the caller heard.
    pub fn clear_playback(&mut self, now: Instant) -> Vec<Interruption> {
        let Some(m) = self.media.as_mut() else {
            return Vec::new();
        };
        if let Some((_, tc)) = m.answers.as_mut() {
            tc.reset();
        }
        if let Some(r) = m.recorder.as_mut() {
            r.clear(now);
        }
        let report = m.ledger.clear(now);
        self.pump(now);
        report
    }

    /// How far utterance `u` got.
    pub fn utterance_progress(&self, u: UtteranceId) -> Option<UtteranceProgress> {
        self.media.as_ref()?.ledger.progress(u)
    }

    /// When the carrier's buffer runs dry by the clock, if audio is playing.
    pub fn playback_ends_at(&self, now: Instant) -> Option<Instant> {
        let m = self.media.as_ref()?;
        let ahead = m.ledger.ahead(now);
        (!ahead.is_zero()).then(|| now + ahead)
    }

    /// Whether everything queued has been sent and played out.
    pub fn is_playback_idle(&self, now: Instant) -> bool {
        self.media.as_ref().is_none_or(|m| m.ledger.is_idle(now))
    }

    fn handle_event(&mut self, now: Instant, unix_now: u64, event: CarrierEvent) {
        match event {
            CarrierEvent::Connected { .. } => {}
            CarrierEvent::Start(start) => self.handle_start(unix_now, start),
            CarrierEvent::Media(chunk) => {
                if chunk.track != Track::Inbound {
                    return;
                }
                let Some(m) = self.media.as_mut() else {
                    return;
                };
                if let Some(r) = m.recorder.as_mut()
                    && let Err(e) = r.caller(now, &chunk.payload)
                {
                    m.recorder = None;
                    self.out
                        .push_back(SessionOutput::Warning(format!("recording stopped: {e}")));
                }
                let mut pcm = Vec::with_capacity(chunk.payload.len() * 4);
                match m.inbound.process(&chunk.payload, &mut pcm) {
                    Ok(()) => {
                        if !m.inbound.is_passthrough() {
                            self.transcoded_bytes += chunk.payload.len() as u64;
                        }
                        match m.echo.as_mut() {
                            Some(echo) => echo.handle_audio(now, pcm),
                            None => self.out.push_back(SessionOutput::CallerAudio(pcm)),
                        }
                    }
                    Err(e) => self
                        .out
                        .push_back(SessionOutput::Rejected(FrameError::BadPayload(
                            e.to_string(),
                        ))),
                }
            }
            CarrierEvent::Dtmf { digit } => {
                self.out.push_back(SessionOutput::Dtmf(digit));
                if digit == self.config.clear_digit
                    && let Some(m) = self.media.as_mut()
                    && let Some(echo) = m.echo.as_mut()
                {
                    echo.clear();
                    m.outbound.reset();
                    m.utterance = None;
                    if let Some(r) = m.recorder.as_mut() {
                        r.clear(now);
                    }
                    let report = m.ledger.clear(now);
                    self.out.push_back(SessionOutput::Cleared(report));
                }
            }
            CarrierEvent::Mark { name } => {
                if let Some(m) = self.media.as_mut() {
                    if let Err(e) = m.ledger.handle_mark(now, &name) {
                        self.out.push_back(SessionOutput::Warning(e.to_string()));
                    }
                    m.ledger.forget_settled();
                }
            }
            CarrierEvent::Error { code, detail } => {
                self.out
                    .push_back(SessionOutput::CarrierError { code, detail });
            }
            CarrierEvent::Stop => self.end(EndCause::CallerHungUp),
        }
    }

    fn handle_start(&mut self, unix_now: u64, start: StreamStart) {
        let token = start
            .custom_parameters
            .get(stream_token::PARAMETER_NAME)
            .map(String::as_str);
        // Sockets authenticated at the upgrade (Telnyx) need no token, but one sent anyway is
        // still checked.
        let check_token = self.config.require_stream_token || token.is_some();
        if check_token
            && let Err(e) =
                stream_token::verify(&self.config.token_secret, token, &start.call_id, unix_now)
        {
            self.end(EndCause::Rejected(format!("{}: {e}", e.reason())));
            return;
        }
        let outbound = match self.config.carrier {
            CarrierKind::Twilio => start.format,
            CarrierKind::Telnyx => self.config.outbound_format.unwrap_or(start.format),
        };
        let Some(bytes_per_ms) = outbound
            .bytes_per_ms()
            .filter(|_| outbound.encoding != Encoding::Opus)
        else {
            self.end(EndCause::Failed(format!(
                "outbound {} cannot be paced",
                outbound.encoding.as_str()
            )));
            return;
        };
        // Echoing untouched needs a constant-rate format; Opus is decoded to PCM regardless.
        let far_end = match self.config.far_end_format {
            Some(format) => format,
            None if start.format.bytes_per_ms().is_some() => start.format,
            None => FAR_END_FORMAT,
        };
        let built = Transcoder::new(start.format, far_end)
            .and_then(|i| Ok((i, Transcoder::new(far_end, outbound)?)));
        let (inbound, outbound_tc) = match built {
            Ok(pair) => pair,
            Err(e) => {
                self.end(EndCause::Failed(format!("cannot transcode: {e}")));
                return;
            }
        };
        let Some(far_bpm) = far_end.bytes_per_ms() else {
            self.end(EndCause::Failed(format!(
                "the echo line cannot work in {}",
                far_end.encoding.as_str()
            )));
            return;
        };
        self.media = Some(Media {
            stream_id: start.stream_id.clone(),
            inbound,
            outbound: outbound_tc,
            echo: (self.config.far_end == FarEnd::Echo)
                .then(|| EchoLine::new(self.config.echo_delay, far_bpm)),
            answers: None,
            outbound_format: outbound,
            ledger: PlaybackLedger::new(LedgerConfig {
                bytes_per_ms,
                lead: self.config.lead,
                mark_interval: self.config.mark_interval,
            }),
            utterance: None,
            scratch: Vec::with_capacity(640),
            recorder: None,
        });
        if self.config.record {
            match AudioRecorder::new(self.clock, start.format, outbound, &start.call_id) {
                Ok(r) => self.media.as_mut().expect("just set").recorder = Some(r),
                Err(e) => self
                    .out
                    .push_back(SessionOutput::Warning(format!("not recording: {e}"))),
            }
        }
        let stream_key = match token.and_then(stream_token::expiry) {
            Some(expiry) => format!("{}.{expiry}", start.call_id),
            None => start.call_id.clone(),
        };
        let mut parameters: Vec<(String, String)> = start
            .custom_parameters
            .iter()
            .filter(|(k, _)| k.as_str() != stream_token::PARAMETER_NAME)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        parameters.sort();
        self.out.push_back(SessionOutput::Started(StartedCall {
            stream_key,
            parameters,
            call_id: start.call_id,
            stream_id: start.stream_id,
            from: start.from,
            inbound: start.format,
            outbound,
        }));
    }

    /// Moves due echo audio into the ledger and due ledger output onto the wire.
    fn pump(&mut self, now: Instant) {
        let Some(m) = self.media.as_mut() else {
            return;
        };
        while let Some(o) = m.echo.as_mut().and_then(|e| e.poll_output(now)) {
            match o {
                EchoOutput::Begin => m.utterance = Some(m.ledger.begin_utterance()),
                EchoOutput::Audio(pcm) => {
                    let Some(u) = m.utterance else { continue };
                    m.scratch.clear();
                    match m.outbound.process(&pcm, &mut m.scratch) {
                        Ok(()) => {
                            if !m.outbound.is_passthrough() {
                                self.transcoded_bytes += pcm.len() as u64;
                            }
                            m.ledger.push_audio(u, &m.scratch);
                        }
                        Err(e) => self
                            .out
                            .push_back(SessionOutput::Warning(format!("outbound audio: {e}"))),
                    }
                }
                EchoOutput::End => {
                    if let Some(u) = m.utterance.take() {
                        m.ledger.finish_utterance(u);
                    }
                }
            }
        }
        // Released audio plays once what the carrier already holds has played.
        let mut plays_at = now + m.ledger.ahead(now);
        let mut failed = None;
        while let Some(o) = m.ledger.poll_transmit(now) {
            let text = match &o {
                LedgerOutput::Media(audio) => {
                    if let Some(r) = m.recorder.as_mut()
                        && let Err(e) = r.agent(now, plays_at, audio)
                    {
                        failed = Some(e);
                    }
                    plays_at += Duration::from_millis(m.outbound_format.duration_ms(audio.len()));
                    self.config
                        .carrier
                        .encode(&m.stream_id, &CarrierCommand::Media(audio))
                }
                LedgerOutput::Mark(name) => self
                    .config
                    .carrier
                    .encode(&m.stream_id, &CarrierCommand::Mark(name)),
                LedgerOutput::Clear => self
                    .config
                    .carrier
                    .encode(&m.stream_id, &CarrierCommand::Clear),
            };
            self.out.push_back(SessionOutput::Send(text));
        }
        match m.recorder.as_mut().map(|r| r.advance(now)) {
            Some(Ok(bytes)) if !bytes.is_empty() => {
                self.out.push_back(SessionOutput::Recording(bytes))
            }
            Some(Err(e)) => failed = Some(e),
            _ => {}
        }
        if let Some(e) = failed {
            self.recording_failed(e);
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

/// A started session for tests of what sits on top of it.
#[cfg(test)]
#[path = "session_test_support.rs"]
pub(crate) mod tests_support;
