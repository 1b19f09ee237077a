//! Local voice activity: when the caller starts and stops speaking, from their audio alone,
//! fast enough to end a turn before the speech provider's endpointing would and to notice a
//! barge-in while the agent talks.
//!
//! Scores come from `earshot` (pure Rust, 16 kHz, 256-sample frames, a few µs a frame). On
//! telephone audio it scores band-limited noise up to about 0.67 and speech 0.8-1.0 (measured
//! on the clips in `fixtures/calls/` and on white noise through a mu-law line), so a frame
//! counts as speech only when its score reaches `threshold` (0.7), its level reaches
//! `min_level_dbfs` (-45 dBFS; line hiss and the detector's own tail after speech stay
//! below) and it stands `above_floor_db` over the background level, tracked as a floor that
//! falls at once and rises slowly: steady noise, however loud, becomes the floor, while speech
//! dips between syllables keep the floor down. Speech starts after `start_ms` of speech frames and ends after `end_ms` of others,
//! so a pause between words does not end a turn. Times are positions in the audio (ms), not
//! clock readings.
//!
//! Telephone audio (8 kHz) is framed and levelled at its own rate and doubled to 16 kHz
//! ([`Upsampler2x`]) only for the frames the detector scores: a caller is quiet most of a call,
//! and a quiet frame then costs a level and nothing else.

use earshot::Detector;

use super::transcode::Transcoder;
use super::upsample::Upsampler2x;
use super::{AudioFormat, Encoding, SampleRate, g711, pcm};

/// Samples per detector frame (16 ms at 16 kHz).
const FRAME: usize = 256;
/// The same 16 ms at 8 kHz.
const NARROW_FRAME: usize = FRAME / 2;
/// Milliseconds per detector frame.
const FRAME_MS: u64 = 16;

/// Tuning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// Detector score a speech frame reaches.
    pub threshold: f32,
    /// Level a speech frame reaches, dBFS.
    pub min_level_dbfs: f32,
    /// Speech this long starts a turn.
    pub start_ms: u64,
    /// Silence this long ends it.
    pub end_ms: u64,
    /// How far over the background level a speech frame is, dB.
    pub above_floor_db: f32,
    /// Silence this long while speaking is a pause worth judging ([`VadEvent::Paused`]); 0:
    /// no pauses reported and no audio kept. With a turn model, `end_ms` is the longest
    /// pause an unfinished sentence may hold and the model ends the turn sooner.
    pub pause_ms: u64,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            threshold: 0.7,
            min_level_dbfs: -45.0,
            start_ms: 48,
            end_ms: 300,
            above_floor_db: 8.0,
            pause_ms: 0,
        }
    }
}

/// A change in the caller's voice activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// The caller started speaking at this position (ms of audio).
    SpeechStarted {
        /// Where the speech began.
        at_ms: u64,
    },
    /// The caller stopped: speech ended at `at_ms`, after `speech_ms` of speech frames.
    SpeechEnded {
        /// Where the speech ended.
        at_ms: u64,
        /// Speech frames in the turn, ms.
        speech_ms: u64,
    },
    /// The caller has been silent for `pause_ms` since `at_ms`, still within their turn:
    /// finished or only pausing? ([`VoiceActivity::turn_audio`] is what to judge.)
    Paused {
        /// Where the silence began.
        at_ms: u64,
    },
    /// Speech again after a [`VadEvent::Paused`], within the same turn.
    Resumed {
        /// Where it resumed.
        at_ms: u64,
    },
}

/// The audio of the caller's turn so far (its last [`TURN_AUDIO_MS`]), for a turn model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnAudio {
    /// 8 kHz or 16 kHz.
    pub rate: SampleRate,
    /// Mono PCM.
    pub samples: Vec<i16>,
}

/// The most of a turn kept for a turn model (what Smart Turn v3 reads).
pub const TURN_AUDIO_MS: u64 = 8_000;

/// How the caller's audio is framed for the detector.
enum Input {
    /// 16 kHz PCM, framed as it is.
    Wide,
    /// 8 kHz telephone audio (G.711 or PCM), framed at 8 kHz.
    Narrow(Encoding),
    /// Anything else: converted to 16 kHz PCM first.
    Transcoded(Box<Transcoder>),
}

/// A detector frame (16 ms): 16 kHz samples, or 8 kHz ones.
#[derive(Clone, Copy)]
enum Frame<'a> {
    Wide(&'a [i16]),
    Narrow(&'a [i16]),
}

impl Frame<'_> {
    fn samples(&self) -> &[i16] {
        match self {
            Frame::Wide(s) | Frame::Narrow(s) => s,
        }
    }
}

/// Decides whether each frame is voiced: its level against the floor, then the detector.
struct FrameJudge {
    detector: Box<Detector>,
    config: VadConfig,
    floor_db: f32,
    seen_any: bool,
    /// Doubles narrow frames for the detector, its history kept through quiet frames.
    up: Upsampler2x,
    wide: Vec<i16>,
    /// The detector has not seen the frames since the last loud one (they were too quiet to
    /// be speech whatever it said); these are the last two of them, to warm it up again.
    skipped: Vec<i16>,
    skipped_narrow: bool,
    detector_stale: bool,
}

impl FrameJudge {
    fn voiced(&mut self, frame: Frame<'_>) -> bool {
        let level = level_dbfs(frame.samples());
        // The floor drops to any quieter frame and creeps up over about a second and a half.
        self.floor_db = if !self.seen_any || level < self.floor_db {
            level
        } else {
            self.floor_db + (level - self.floor_db) * 0.01
        };
        self.seen_any = true;
        let loud = level >= self.config.min_level_dbfs
            && level >= self.floor_db + self.config.above_floor_db;
        if !loud {
            // The detector (most of the cost) only scores frames loud enough to be speech: a
            // caller is quiet most of a call.
            let samples = frame.samples();
            if let Frame::Narrow(s) = frame {
                self.up.prime(s);
            }
            let keep = 2 * samples.len();
            if self.skipped.len() + samples.len() > keep {
                let extra = self.skipped.len() + samples.len() - keep;
                self.skipped.drain(..extra.min(self.skipped.len()));
            }
            self.skipped.extend_from_slice(samples);
            self.skipped_narrow = matches!(frame, Frame::Narrow(_));
            self.detector_stale = true;
            return false;
        }
        if self.detector_stale {
            // Its window spans three frames: it is first shown the last two quiet ones.
            self.warm_up();
        }
        let wide: &[i16] = match frame {
            Frame::Wide(s) => s,
            Frame::Narrow(s) => {
                self.wide.clear();
                self.up.process(s, &mut self.wide);
                &self.wide
            }
        };
        self.detector.predict_i16(wide) >= self.config.threshold
    }

    fn warm_up(&mut self) {
        if self.skipped_narrow {
            let mut up = Upsampler2x::new();
            self.wide.clear();
            up.process(&self.skipped, &mut self.wide);
            for quiet in self.wide.chunks_exact(FRAME) {
                self.detector.predict_i16(quiet);
            }
        } else {
            for quiet in self.skipped.chunks_exact(FRAME) {
                self.detector.predict_i16(quiet);
            }
        }
        self.skipped.clear();
        self.detector_stale = false;
    }
}

/// Voice activity on one caller's audio.
pub struct VoiceActivity {
    input: Input,
    judge: FrameJudge,
    bytes: Vec<u8>,
    samples: Vec<i16>,
    /// Samples not yet framed (at 8 kHz for narrow input, 16 kHz otherwise).
    pending: Vec<i16>,
    position_ms: u64,
    speaking: bool,
    speech_run_ms: u64,
    silence_run_ms: u64,
    run_started_at: u64,
    silence_started_at: u64,
    speech_ms: u64,
    /// The current turn's audio (when pauses are judged), at the framing rate, bounded.
    turn: Vec<i16>,
    turn_narrow: bool,
    paused: bool,
}

impl std::fmt::Debug for VoiceActivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceActivity")
            .field("position_ms", &self.position_ms)
            .field("speaking", &self.speaking)
            .finish()
    }
}

/// RMS level of a frame in dBFS.
fn level_dbfs(frame: &[i16]) -> f32 {
    let energy: f64 = frame
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / frame.len().max(1) as f64;
    (20.0 * (energy.sqrt() / 32768.0).max(1e-9).log10()) as f32
}

impl VoiceActivity {
    /// A detector for audio in `format`.
    pub fn new(
        config: VadConfig,
        format: AudioFormat,
    ) -> Result<Self, super::transcode::TranscodeError> {
        let input = match (format.encoding, format.sample_rate) {
            _ if format == AudioFormat::LINEAR16_16K => Input::Wide,
            (
                e @ (Encoding::Mulaw | Encoding::Alaw | Encoding::Linear16 | Encoding::Linear16Be),
                SampleRate::Hz8000,
            ) => Input::Narrow(e),
            _ => Input::Transcoded(Box::new(Transcoder::new(
                format,
                AudioFormat::LINEAR16_16K,
            )?)),
        };
        Ok(Self {
            input,
            judge: FrameJudge {
                detector: Detector::default_boxed(),
                config,
                floor_db: -90.0,
                seen_any: false,
                up: Upsampler2x::new(),
                wide: Vec::with_capacity(FRAME),
                skipped: Vec::with_capacity(2 * FRAME),
                skipped_narrow: false,
                detector_stale: false,
            },
            bytes: Vec::new(),
            samples: Vec::new(),
            pending: Vec::new(),
            position_ms: 0,
            speaking: false,
            speech_run_ms: 0,
            silence_run_ms: 0,
            run_started_at: 0,
            silence_started_at: 0,
            speech_ms: 0,
            turn: Vec::new(),
            turn_narrow: false,
            paused: false,
        })
    }

    /// Whether the caller is speaking now.
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Speech heard since speech started (0 when silent): how sure a barge-in is.
    pub fn speech_ms(&self) -> u64 {
        if self.speaking { self.speech_ms } else { 0 }
    }

    /// Silence since the caller last spoke, within their turn (0 outside one): how long a
    /// pause has lasted, for work worth starting before the turn is known to be over.
    pub fn silent_ms(&self) -> u64 {
        if self.speaking {
            self.silence_run_ms
        } else {
            0
        }
    }

    /// Audio position, ms.
    pub fn position_ms(&self) -> u64 {
        self.position_ms
    }

    /// Feeds the caller's audio in the format given at creation.
    pub fn push(&mut self, audio: &[u8]) -> Vec<VadEvent> {
        let mut samples = std::mem::take(&mut self.samples);
        samples.clear();
        let narrow = match &mut self.input {
            Input::Wide => {
                pcm::decode_le(audio, &mut samples);
                false
            }
            Input::Narrow(encoding) => {
                match encoding {
                    Encoding::Mulaw => g711::decode_mulaw(audio, &mut samples),
                    Encoding::Alaw => g711::decode_alaw(audio, &mut samples),
                    Encoding::Linear16Be => pcm::decode_be(audio, &mut samples),
                    _ => pcm::decode_le(audio, &mut samples),
                }
                true
            }
            Input::Transcoded(t) => {
                self.bytes.clear();
                if t.process(audio, &mut self.bytes).is_ok() {
                    pcm::decode_le(&self.bytes, &mut samples);
                }
                false
            }
        };
        let events = self.push_samples(&samples, narrow);
        self.samples = samples;
        events
    }

    /// Feeds 16 kHz PCM.
    pub fn push_pcm16k(&mut self, samples: &[i16]) -> Vec<VadEvent> {
        self.push_samples(samples, false)
    }

    fn push_samples(&mut self, samples: &[i16], narrow: bool) -> Vec<VadEvent> {
        self.pending.extend_from_slice(samples);
        let size = if narrow { NARROW_FRAME } else { FRAME };
        let mut events = Vec::new();
        let mut at = 0;
        while self.pending.len() - at >= size {
            let s = &self.pending[at..at + size];
            let frame = if narrow {
                Frame::Narrow(s)
            } else {
                Frame::Wide(s)
            };
            let voiced = self.judge.voiced(frame);
            at += size;
            if self.judge.config.pause_ms > 0 {
                if self.speaking || voiced {
                    keep_turn_audio(&mut self.turn, s, narrow);
                    self.turn_narrow = narrow;
                } else if !self.turn.is_empty() {
                    // A burst too short to start a turn.
                    self.turn = Vec::new();
                }
            }
            if let Some(e) = self.step(voiced) {
                events.push(e);
            }
        }
        self.pending.drain(..at);
        events
    }

    /// The audio of the turn so far, for a turn model (empty when pauses are not judged).
    pub fn turn_audio(&self) -> TurnAudio {
        let (rate, per_ms) = if self.turn_narrow {
            (SampleRate::Hz8000, 8)
        } else {
            (SampleRate::Hz16000, 16)
        };
        let keep = (TURN_AUDIO_MS * per_ms) as usize;
        TurnAudio {
            rate,
            samples: self.turn[self.turn.len().saturating_sub(keep)..].to_vec(),
        }
    }

    /// A turn model judged the caller finished: the speech ends now, at the pause, rather
    /// than after `end_ms` of silence.
    pub fn end_speech(&mut self) -> Option<VadEvent> {
        if !self.speaking {
            return None;
        }
        self.end_turn();
        Some(VadEvent::SpeechEnded {
            at_ms: self.silence_started_at,
            speech_ms: std::mem::take(&mut self.speech_ms),
        })
    }

    fn end_turn(&mut self) {
        self.speaking = false;
        self.paused = false;
        // Freed, not kept: most of a call is not the caller's turn.
        self.turn = Vec::new();
    }

    fn step(&mut self, voiced: bool) -> Option<VadEvent> {
        let frame_start = self.position_ms;
        self.position_ms += FRAME_MS;
        if voiced {
            if self.speech_run_ms == 0 {
                self.run_started_at = frame_start;
            }
            self.speech_run_ms += FRAME_MS;
            self.silence_run_ms = 0;
            if self.speaking {
                self.speech_ms += FRAME_MS;
                if std::mem::take(&mut self.paused) {
                    return Some(VadEvent::Resumed { at_ms: frame_start });
                }
            } else if self.speech_run_ms >= self.judge.config.start_ms {
                self.speaking = true;
                self.speech_ms = self.speech_run_ms;
                return Some(VadEvent::SpeechStarted {
                    at_ms: self.run_started_at,
                });
            }
            return None;
        }
        if self.silence_run_ms == 0 {
            self.silence_started_at = frame_start;
        }
        self.silence_run_ms += FRAME_MS;
        self.speech_run_ms = 0;
        let pause_ms = self.judge.config.pause_ms;
        if self.speaking && pause_ms > 0 && !self.paused && self.silence_run_ms >= pause_ms {
            self.paused = true;
            if self.silence_run_ms < self.judge.config.end_ms {
                return Some(VadEvent::Paused {
                    at_ms: self.silence_started_at,
                });
            }
        }
        if self.speaking && self.silence_run_ms >= self.judge.config.end_ms {
            self.end_turn();
            return Some(VadEvent::SpeechEnded {
                at_ms: self.silence_started_at,
                speech_ms: std::mem::take(&mut self.speech_ms),
            });
        }
        None
    }
}

/// Appends a frame to the turn's audio, keeping at most [`TURN_AUDIO_MS`] (trimmed in
/// steps, so a long turn does not shift the buffer on every frame).
fn keep_turn_audio(turn: &mut Vec<i16>, frame: &[i16], narrow: bool) {
    let rate = if narrow { 8 } else { 16 };
    let cap = (TURN_AUDIO_MS * rate) as usize;
    if turn.len() + frame.len() > cap + cap / 4 {
        let extra = turn.len() + frame.len() - cap;
        turn.drain(..extra.min(turn.len()));
    }
    turn.extend_from_slice(frame);
}

#[cfg(test)]
#[path = "vad_tests.rs"]
mod tests;
