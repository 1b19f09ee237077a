//! A call's recording as the caller lived it: the caller on the left channel, the agent on
//! the right, on one timeline whose origin is the moment recording started.
//!
//! The caller's frames are laid end to end as they arrive (carriers send one every 20 ms in
//! real time; after a gap in the stream they are placed at the clock again). The agent's audio
//! is placed where the playback ledger says it plays: released audio sits in the carrier's
//! buffer for up to the playback lead, so it is held here until its time has come, and a
//! `clear` drops whatever had not played by then, the same reckoning as the ledger's
//! [`super::ledger::Interruption::estimated_heard_ms`]. What is settled (both channels final)
//! is encoded at once, so memory holds only the lead plus the jitter allowance, never the call.
//!
//! Sans-IO: audio and `now` in, Ogg Opus bytes out (see [`crate::audio::ogg_opus`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::audio::ogg_opus::{OggOpusError, OggOpusStream};
use crate::audio::transcode::{TranscodeError, Transcoder};
use crate::audio::{AudioFormat, Encoding, SampleRate};

/// Recordings are telephone audio: 8 kHz whatever the carrier or the speech engines use.
const RATE: SampleRate = SampleRate::Hz8000;
const SAMPLES_PER_MS: u64 = 8;
const FRAME: usize = 160;
/// How long the caller's channel may lag the clock before the timeline moves on without it
/// (frames arriving later than that are dropped): network jitter, not a stalled stream.
const CALLER_LAG: Duration = Duration::from_millis(600);
/// How far the caller's frames may run ahead of the clock (a carrier bursting after a stall);
/// beyond it they are dropped, so a flood cannot grow the buffer.
const CALLER_AHEAD: Duration = Duration::from_secs(5);
/// How far ahead of the clock agent audio may be placed: the carrier's buffer is the playback
/// lead, a few hundred ms; more is a bug upstream and is dropped rather than held.
const AGENT_AHEAD: Duration = Duration::from_secs(10);

/// Why a recording stopped (the call goes on without it).
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// The caller's or agent's audio could not be brought to 8 kHz PCM.
    #[error("recording transcode: {0}")]
    Transcode(#[from] TranscodeError),
    /// The encoder failed.
    #[error("recording encode: {0}")]
    Encode(#[from] OggOpusError),
}

/// One channel's samples from the committed point on.
#[derive(Debug, Default)]
struct Channel {
    samples: VecDeque<i16>,
}

impl Channel {
    /// Writes `pcm` at `offset` samples past the committed point, padding with silence.
    fn put(&mut self, offset: usize, pcm: &[i16]) {
        let end = offset + pcm.len();
        if self.samples.len() < end {
            self.samples.resize(end, 0);
        }
        for (slot, &s) in self.samples.range_mut(offset..end).zip(pcm) {
            *slot = s;
        }
    }

    fn pop_frame(&mut self, out: &mut [i16; FRAME]) {
        for slot in out.iter_mut() {
            *slot = self.samples.pop_front().unwrap_or(0);
        }
    }
}

/// Counts of audio the recording could not place, for the call's log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderLosses {
    /// Caller samples that came after their place was encoded, or too far ahead.
    pub caller_samples: u64,
    /// Agent samples placed too far ahead.
    pub agent_samples: u64,
}

/// One call's two-channel recording.
pub struct AudioRecorder {
    origin: Instant,
    caller_pcm: Transcoder,
    agent_pcm: Transcoder,
    scratch: Vec<u8>,
    samples: Vec<i16>,
    /// Samples since the origin already encoded.
    committed: u64,
    /// Where the caller's next frame goes, in samples since the origin.
    caller_end: u64,
    caller: Channel,
    agent: Channel,
    stream: OggOpusStream,
    losses: RecorderLosses,
}

impl std::fmt::Debug for AudioRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioRecorder")
            .field("committed", &self.committed)
            .field("caller_end", &self.caller_end)
            .finish()
    }
}

fn pcm_8k() -> AudioFormat {
    AudioFormat::new(Encoding::Linear16, RATE)
}

impl AudioRecorder {
    /// A recording starting at `now`, of a caller heard in `inbound` and an agent sent in
    /// `outbound`; `call_id` is written into the file's tags.
    pub fn new(
        now: Instant,
        inbound: AudioFormat,
        outbound: AudioFormat,
        call_id: &str,
    ) -> Result<Self, RecorderError> {
        let serial = call_id.bytes().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        let stream = OggOpusStream::new(
            RATE,
            serial,
            "callbridge",
            &[("CALL", call_id), ("LEFT", "caller"), ("RIGHT", "agent")],
        )?;
        Ok(AudioRecorder {
            origin: now,
            caller_pcm: Transcoder::new(inbound, pcm_8k())?,
            agent_pcm: Transcoder::new(outbound, pcm_8k())?,
            scratch: Vec::new(),
            samples: Vec::new(),
            committed: 0,
            caller_end: 0,
            caller: Channel::default(),
            agent: Channel::default(),
            stream,
            losses: RecorderLosses::default(),
        })
    }

    fn index(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_millis() as u64 * SAMPLES_PER_MS
    }

    fn samples_of(d: Duration) -> u64 {
        d.as_millis() as u64 * SAMPLES_PER_MS
    }

    fn decode(
        tc: &mut Transcoder,
        scratch: &mut Vec<u8>,
        audio: &[u8],
        out: &mut Vec<i16>,
    ) -> Result<(), TranscodeError> {
        scratch.clear();
        tc.process(audio, scratch)?;
        out.clear();
        out.extend(
            scratch
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
        Ok(())
    }

    /// The caller's audio (in the inbound format), arrived at `now`.
    pub fn caller(&mut self, now: Instant, audio: &[u8]) -> Result<(), RecorderError> {
        Self::decode(
            &mut self.caller_pcm,
            &mut self.scratch,
            audio,
            &mut self.samples,
        )?;
        let clock = self.index(now);
        if self.caller_end + Self::samples_of(CALLER_LAG) < clock {
            // The stream stalled: start again at the clock, this frame just heard.
            self.caller_end = clock.saturating_sub(self.samples.len() as u64);
        }
        let n = self.samples.len() as u64;
        let start = self.caller_end;
        if start > clock + Self::samples_of(CALLER_AHEAD) {
            self.losses.caller_samples += n;
            return Ok(());
        }
        self.caller_end = start + n;
        let skip = self.committed.saturating_sub(start).min(n);
        self.losses.caller_samples += skip;
        let offset = (start + skip - self.committed) as usize;
        self.caller.put(offset, &self.samples[skip as usize..]);
        Ok(())
    }

    /// The agent's audio (in the outbound format), playing from `plays_at`.
    pub fn agent(
        &mut self,
        now: Instant,
        plays_at: Instant,
        audio: &[u8],
    ) -> Result<(), RecorderError> {
        Self::decode(
            &mut self.agent_pcm,
            &mut self.scratch,
            audio,
            &mut self.samples,
        )?;
        let n = self.samples.len() as u64;
        let start = self.index(plays_at).max(self.committed);
        if start > self.index(now) + Self::samples_of(AGENT_AHEAD) {
            self.losses.agent_samples += n;
            return Ok(());
        }
        let offset = (start - self.committed) as usize;
        self.agent.put(offset, &self.samples);
        Ok(())
    }

    /// Playback was cleared at `now`: agent audio that had not played by then never reached
    /// the caller, so it leaves the recording too.
    pub fn clear(&mut self, now: Instant) {
        self.agent_pcm.reset();
        let keep = self.index(now).saturating_sub(self.committed) as usize;
        self.agent.samples.truncate(keep);
    }

    /// Encodes what is settled at `now` and returns the file's next bytes (empty until a page
    /// completes: about once a second).
    pub fn advance(&mut self, now: Instant) -> Result<Vec<u8>, RecorderError> {
        let clock = self.index(now);
        let settled = clock
            .min(self.caller_end)
            .max(clock.saturating_sub(Self::samples_of(CALLER_LAG)));
        let mut left = [0i16; FRAME];
        let mut right = [0i16; FRAME];
        let mut frame = [0i16; FRAME * 2];
        while self.committed + FRAME as u64 <= settled {
            self.caller.pop_frame(&mut left);
            self.agent.pop_frame(&mut right);
            for (i, pair) in frame.chunks_exact_mut(2).enumerate() {
                pair[0] = left[i];
                pair[1] = right[i];
            }
            self.stream.push_frame(&frame)?;
            self.committed += FRAME as u64;
        }
        Ok(self.stream.take_bytes())
    }

    /// Ends the file at `now`: what was heard up to then is encoded (agent audio still queued
    /// at the carrier was not heard and is dropped) and the last page marks the stream's end.
    pub fn finish(mut self, now: Instant) -> Result<Vec<u8>, RecorderError> {
        self.clear(now);
        let clock = self.index(now);
        self.caller_end = self.caller_end.max(clock);
        let mut bytes = self.advance(now)?;
        let rest = clock.saturating_sub(self.committed) as usize;
        let mut last = Vec::with_capacity(rest * 2);
        for _ in 0..rest.min(FRAME) {
            last.push(self.caller.samples.pop_front().unwrap_or(0));
            last.push(self.agent.samples.pop_front().unwrap_or(0));
        }
        self.stream.finish(&last)?;
        bytes.extend(self.stream.take_bytes());
        Ok(bytes)
    }

    /// Audio that could not be placed so far.
    pub fn losses(&self) -> RecorderLosses {
        self.losses
    }

    /// Samples held waiting to be settled (both channels): bounded by the lead and the lag.
    pub fn held_samples(&self) -> usize {
        self.caller.samples.len() + self.agent.samples.len()
    }
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
