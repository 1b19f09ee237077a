//! Cuts a caller's audio into utterances for a recogniser that transcribes whole pieces of
//! audio (Whisper) rather than a live stream. Sans-IO: 16 kHz samples and controls in, steps
//! out; the stream task does the transcribing.
//!
//! Local voice activity ([`VoiceActivity`]) marks where speech starts and ends. A segment runs
//! from a little before the start (`pre_roll_ms`: the detector needs a few frames to be sure,
//! and a clipped first consonant costs words) to a little after the end (`tail_ms`). Its own
//! end of speech (`end_ms`, longer than the conversation's) is a backstop: normally the
//! conversation's `Finalize` arrives first and cuts the segment where the audio stands. What
//! the caller says after such a cut, while the detector still counts the same stretch of
//! speech, becomes a segment of its own only if it holds new speech.

use crate::audio::vad::{VadConfig, VadEvent, VoiceActivity};
use crate::audio::{AudioFormat, transcode::TranscodeError};

/// Samples per millisecond at 16 kHz.
const PER_MS: u64 = 16;

/// Tuning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmenterConfig {
    /// Voice activity; its `end_ms` is the silence that ends a segment on its own.
    pub vad: VadConfig,
    /// Audio kept before detected speech.
    pub pre_roll_ms: u64,
    /// Audio kept after detected speech.
    pub tail_ms: u64,
    /// A segment longer than this is cut (Whisper reads 30 s windows; a long monologue is
    /// transcribed in pieces rather than all at the end).
    pub max_segment_ms: u64,
    /// New speech after a cut shorter than this is not worth a segment (a breath, the
    /// detector's own hangover).
    pub min_speech_ms: u64,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self {
            vad: VadConfig {
                end_ms: 600,
                ..VadConfig::default()
            },
            pre_roll_ms: 300,
            tail_ms: 200,
            max_segment_ms: 20_000,
            min_speech_ms: 120,
        }
    }
}

/// A piece of the caller's audio to transcribe.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// 16 kHz samples, -1.0 to 1.0.
    pub samples: Vec<f32>,
    /// Where it starts in the stream, ms.
    pub start_ms: u64,
    /// Where it ends, ms.
    pub end_ms: u64,
    /// The caller has stopped (or was taken to have): the turn may be over.
    pub speech_final: bool,
    /// Cut because the conversation asked (`Finalize`).
    pub from_finalize: bool,
}

/// What the segmenter asks of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentStep {
    /// Speech began at this position (ms).
    SpeechStarted {
        /// Where.
        at_ms: u64,
    },
    /// Transcribe this.
    Transcribe(Segment),
    /// A `Finalize` found nothing new to transcribe: answer it with an empty final.
    NothingHeard {
        /// Where the audio stands, ms.
        at_ms: u64,
    },
}

/// Segments one caller's audio.
#[derive(Debug)]
pub struct Segmenter {
    config: SegmenterConfig,
    vad: VoiceActivity,
    /// Audio from `buffer_start` (a sample index) on.
    buffer: Vec<i16>,
    buffer_start: u64,
    /// Where the segment being heard starts (sample index), while there is one.
    open: Option<u64>,
    /// The detector's speech count when the open segment was last cut (0 if never).
    speech_ms_at_cut: u64,
}

impl Segmenter {
    /// A segmenter for 16 kHz audio.
    pub fn new(config: SegmenterConfig) -> Result<Self, TranscodeError> {
        Ok(Self {
            config,
            vad: VoiceActivity::new(config.vad, AudioFormat::LINEAR16_16K)?,
            buffer: Vec::new(),
            buffer_start: 0,
            open: None,
            speech_ms_at_cut: 0,
        })
    }

    fn end(&self) -> u64 {
        self.buffer_start + self.buffer.len() as u64
    }

    /// Takes 16 kHz samples.
    pub fn push(&mut self, samples: &[i16]) -> Vec<SegmentStep> {
        self.buffer.extend_from_slice(samples);
        let mut steps = Vec::new();
        for event in self.vad.push_pcm16k(samples) {
            match event {
                VadEvent::SpeechStarted { at_ms } => {
                    if self.open.is_none() {
                        let from =
                            (at_ms * PER_MS).saturating_sub(self.config.pre_roll_ms * PER_MS);
                        self.open = Some(from.max(self.buffer_start));
                        self.speech_ms_at_cut = 0;
                    }
                    steps.push(SegmentStep::SpeechStarted { at_ms });
                }
                VadEvent::SpeechEnded { at_ms, speech_ms } => {
                    let end = ((at_ms + self.config.tail_ms) * PER_MS).min(self.end());
                    if let Some(start) = self.open.take() {
                        let new_speech = speech_ms.saturating_sub(self.speech_ms_at_cut);
                        if new_speech >= self.config.min_speech_ms && end > start {
                            steps.push(self.cut(start, end, true, false));
                        }
                    }
                    self.speech_ms_at_cut = 0;
                }
                // Its detector reports no pauses (`pause_ms` 0): the call's own does.
                VadEvent::Paused { .. } | VadEvent::Resumed { .. } => {}
            }
        }
        if let Some(start) = self.open
            && self.end() - start >= self.config.max_segment_ms * PER_MS
        {
            let end = self.end();
            steps.push(self.cut(start, end, false, false));
            self.open = Some(end);
            self.speech_ms_at_cut = self.vad.speech_ms();
        }
        self.trim();
        steps
    }

    /// The conversation asks for what was heard so far.
    pub fn finalize(&mut self) -> SegmentStep {
        let end = self.end();
        let new_speech = self.vad.speech_ms().saturating_sub(self.speech_ms_at_cut);
        match self.open {
            Some(start) if end > start && new_speech >= self.config.min_speech_ms => {
                let step = self.cut(start, end, true, true);
                // The detector may still be in the same stretch of speech: what follows is a
                // segment only if it holds new speech.
                self.open = self.vad.is_speaking().then_some(end);
                self.speech_ms_at_cut = self.vad.speech_ms();
                self.trim();
                step
            }
            _ => SegmentStep::NothingHeard {
                at_ms: end / PER_MS,
            },
        }
    }

    /// No more audio: what is open, if anything, is transcribed.
    pub fn finish(&mut self) -> Option<SegmentStep> {
        match self.finalize() {
            SegmentStep::Transcribe(mut s) => {
                s.from_finalize = false;
                self.open = None;
                Some(SegmentStep::Transcribe(s))
            }
            _ => None,
        }
    }

    fn cut(&self, start: u64, end: u64, speech_final: bool, from_finalize: bool) -> SegmentStep {
        let from = (start - self.buffer_start) as usize;
        let to = (end - self.buffer_start) as usize;
        SegmentStep::Transcribe(Segment {
            samples: self.buffer[from..to]
                .iter()
                .map(|&s| f32::from(s) / 32768.0)
                .collect(),
            start_ms: start / PER_MS,
            end_ms: end / PER_MS,
            speech_final,
            from_finalize,
        })
    }

    /// Keeps only what a segment may still need: the open segment, or the pre-roll.
    fn trim(&mut self) {
        // Speech is reported `start_ms` (and up to a frame) after it began.
        let lag_ms = self.config.vad.start_ms + 32;
        let keep_from = self.open.unwrap_or_else(|| {
            self.end()
                .saturating_sub((self.config.pre_roll_ms + lag_ms) * PER_MS)
        });
        if keep_from > self.buffer_start {
            let drop = (keep_from - self.buffer_start) as usize;
            self.buffer.drain(..drop.min(self.buffer.len()));
            self.buffer_start += drop as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::transcode::Transcoder;
    use crate::audio::{pcm, wav};

    /// A caller clip at 16 kHz.
    fn clip(name: &str) -> Vec<i16> {
        let path = format!("{}/fixtures/calls/{name}.wav", env!("CARGO_MANIFEST_DIR"));
        let clip = wav::read(&std::fs::read(path).unwrap()).unwrap();
        let mut t = Transcoder::new(clip.format, AudioFormat::LINEAR16_16K).unwrap();
        let mut bytes = Vec::new();
        t.process(&clip.data, &mut bytes).unwrap();
        let mut out = Vec::new();
        pcm::decode_le(&bytes, &mut out);
        out
    }

    fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * 16]
    }

    /// Feeds `audio` in 20 ms frames, collecting the steps.
    fn feed(s: &mut Segmenter, audio: &[i16]) -> Vec<SegmentStep> {
        audio.chunks(320).flat_map(|f| s.push(f)).collect()
    }

    fn segments(steps: &[SegmentStep]) -> Vec<&Segment> {
        steps
            .iter()
            .filter_map(|s| match s {
                SegmentStep::Transcribe(seg) => Some(seg),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_utterance_then_silence_is_one_segment_around_the_speech() {
        let speech = clip("book_oil_change");
        let onset_ms = speech.iter().position(|s| s.unsigned_abs() > 1000).unwrap() as u64 / 16;
        let mut s = Segmenter::new(SegmenterConfig::default()).unwrap();
        let mut steps = feed(&mut s, &speech);
        steps.extend(feed(&mut s, &silence(1000)));
        assert!(
            matches!(steps[0], SegmentStep::SpeechStarted { .. }),
            "{steps:?}"
        );
        let segs = segments(&steps);
        assert_eq!(segs.len(), 1, "{steps:?}");
        let seg = segs[0];
        assert!(seg.speech_final && !seg.from_finalize);
        // The pre-roll reaches back before the first loud sample; the tail covers the end.
        assert!(
            seg.start_ms < onset_ms,
            "{} vs onset {onset_ms}",
            seg.start_ms
        );
        assert!(seg.end_ms > 2500 && seg.end_ms <= speech.len() as u64 / 16 + 1000);
        assert_eq!(seg.samples.len() as u64, (seg.end_ms - seg.start_ms) * 16);
        let loudest = seg.samples.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(loudest > 0.1 && loudest <= 1.0, "{loudest}");
    }

    #[test]
    fn finalize_cuts_at_once_and_the_detector_hangover_adds_nothing() {
        let speech = clip("yes_correct");
        let mut s = Segmenter::new(SegmenterConfig::default()).unwrap();
        let steps = feed(&mut s, &speech);
        assert!(
            segments(&steps).is_empty(),
            "its own end of speech has not come yet"
        );
        let SegmentStep::Transcribe(seg) = s.finalize() else {
            panic!("nothing was cut")
        };
        assert!(seg.from_finalize && seg.speech_final);
        assert_eq!(seg.end_ms, speech.len() as u64 / 16);
        // The detector then sees the silence, but there is no new speech to send.
        let later = feed(&mut s, &silence(1500));
        assert!(segments(&later).is_empty(), "{later:?}");
        assert!(matches!(s.finalize(), SegmentStep::NothingHeard { .. }));
    }

    #[test]
    fn finalize_without_speech_answers_nothing_heard() {
        let mut s = Segmenter::new(SegmenterConfig::default()).unwrap();
        assert!(feed(&mut s, &silence(2000)).is_empty());
        assert_eq!(s.finalize(), SegmentStep::NothingHeard { at_ms: 2000 });
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn two_utterances_are_two_segments_in_order() {
        let mut audio = clip("tuesday_morning");
        audio.extend(silence(800));
        audio.extend(clip("yes_correct"));
        audio.extend(silence(800));
        let mut s = Segmenter::new(SegmenterConfig::default()).unwrap();
        let steps = feed(&mut s, &audio);
        let segs = segments(&steps);
        assert_eq!(segs.len(), 2, "{steps:?}");
        assert!(segs[0].end_ms <= segs[1].start_ms);
        let started = steps
            .iter()
            .filter(|s| matches!(s, SegmentStep::SpeechStarted { .. }))
            .count();
        assert_eq!(started, 2);
    }

    #[test]
    fn long_speech_is_cut_into_pieces_and_finish_sends_the_rest() {
        let config = SegmenterConfig {
            max_segment_ms: 1000,
            ..SegmenterConfig::default()
        };
        let mut s = Segmenter::new(config).unwrap();
        let speech = clip("reschedule");
        let steps = feed(&mut s, &speech);
        let segs = segments(&steps);
        assert!(segs.len() >= 2, "{steps:?}");
        let (pieces, last) = segs.split_at(segs.len() - 1);
        // Each piece is a second (to the 20 ms frame it was noticed in).
        assert!(
            pieces
                .iter()
                .all(|g| !g.speech_final && (16_000..16_320).contains(&g.samples.len()))
        );
        for pair in segs.windows(2) {
            assert_eq!(
                pair[0].end_ms, pair[1].start_ms,
                "pieces join without a gap"
            );
        }
        // The rest is transcribed when the speech ends or, if the call ends first, at finish.
        let rest = if last[0].speech_final {
            last[0].clone()
        } else {
            match s.finish() {
                Some(SegmentStep::Transcribe(rest)) => rest,
                other => panic!("{other:?}"),
            }
        };
        assert!(rest.speech_final && !rest.from_finalize);
    }

    #[test]
    fn silence_does_not_pile_up() {
        let mut s = Segmenter::new(SegmenterConfig::default()).unwrap();
        feed(&mut s, &silence(30_000));
        assert!(s.buffer.len() <= 16 * 500, "{}", s.buffer.len());
        let mut with_speech = clip("hours");
        with_speech.extend(silence(5000));
        feed(&mut s, &with_speech);
        assert!(s.buffer.len() <= 16 * 500, "{}", s.buffer.len());
    }
}
