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
//!
//! A pause of `guess_ms` is a guess that the caller has finished: the segment so far is
//! handed out to be transcribed at once ([`SegmentStep::Guess`]), while the conversation
//! still waits for its longer silence. If the caller speaks again the guess is dropped; if
//! the segment is cut with nothing said since, the cut names the guess, whose transcript
//! (of the same words, less some trailing silence) is the segment's, already on its way.

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
    /// A pause this long starts transcribing the segment so far; 0: only cuts do.
    pub guess_ms: u64,
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
            guess_ms: 0,
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
    /// The [`SegmentStep::Guess`] whose transcript is this segment's, when nothing was said
    /// since it was made.
    pub guess: Option<u64>,
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
    /// The caller has paused: transcribe the segment so far, which a later cut may adopt.
    Guess {
        /// Named by the cut that adopts it.
        id: u64,
        /// The audio so far.
        samples: Vec<f32>,
    },
    /// The caller spoke again (or the segment came to nothing): that guess will not be used.
    DropGuess {
        /// Which.
        id: u64,
    },
}

/// A guess made and not yet used or dropped.
#[derive(Debug, Clone, Copy)]
struct Guess {
    id: u64,
    /// Where the segment it covers starts (sample index).
    start: u64,
    /// The detector's speech count when it was made: more means the caller spoke again.
    speech_ms: u64,
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
    /// The open segment's guess, while it may still be used.
    guess: Option<Guess>,
    /// Guesses made so far (the next one's id).
    guesses: u64,
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
            guess: None,
            guesses: 0,
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
        self.guess_or_drop(&mut steps);
        self.trim();
        steps
    }

    /// A guess when the caller has paused long enough; the guess dropped when they spoke
    /// again or the segment it covers is gone.
    fn guess_or_drop(&mut self, steps: &mut Vec<SegmentStep>) {
        if let Some(guess) = self.guess
            && (self.open != Some(guess.start) || self.vad.speech_ms() > guess.speech_ms)
        {
            self.guess = None;
            steps.push(SegmentStep::DropGuess { id: guess.id });
        }
        let Some(start) = self.open else { return };
        let new_speech = self.vad.speech_ms().saturating_sub(self.speech_ms_at_cut);
        if self.config.guess_ms > 0
            && self.guess.is_none()
            && new_speech >= self.config.min_speech_ms
            && self.vad.silent_ms() >= self.config.guess_ms
        {
            let id = self.guesses;
            self.guesses += 1;
            self.guess = Some(Guess {
                id,
                start,
                speech_ms: self.vad.speech_ms(),
            });
            steps.push(SegmentStep::Guess {
                id,
                samples: self.samples(start, self.end()),
            });
        }
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

    /// The segment from `start` to `end`, adopting the open segment's guess if nothing was
    /// said since it was made (the guess is used up either way: what follows is new).
    fn cut(
        &mut self,
        start: u64,
        end: u64,
        speech_final: bool,
        from_finalize: bool,
    ) -> SegmentStep {
        let guess = self
            .guess
            .take()
            .filter(|g| g.start == start && self.vad.speech_ms() <= g.speech_ms);
        SegmentStep::Transcribe(Segment {
            samples: self.samples(start, end),
            start_ms: start / PER_MS,
            end_ms: end / PER_MS,
            speech_final,
            from_finalize,
            guess: guess.map(|g| g.id),
        })
    }

    fn samples(&self, start: u64, end: u64) -> Vec<f32> {
        let from = (start - self.buffer_start) as usize;
        let to = (end - self.buffer_start) as usize;
        self.buffer[from..to]
            .iter()
            .map(|&s| f32::from(s) / 32768.0)
            .collect()
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

    fn guessing(guess_ms: u64) -> Segmenter {
        Segmenter::new(SegmenterConfig {
            guess_ms,
            ..SegmenterConfig::default()
        })
        .unwrap()
    }

    fn guesses(steps: &[SegmentStep]) -> Vec<(u64, usize)> {
        steps
            .iter()
            .filter_map(|s| match s {
                SegmentStep::Guess { id, samples } => Some((*id, samples.len())),
                _ => None,
            })
            .collect()
    }

    /// The steps without their audio, for messages.
    fn kinds(steps: &[SegmentStep]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                SegmentStep::SpeechStarted { at_ms } => format!("started {at_ms}"),
                SegmentStep::Transcribe(seg) => {
                    format!(
                        "segment {}-{} guess {:?}",
                        seg.start_ms, seg.end_ms, seg.guess
                    )
                }
                SegmentStep::NothingHeard { at_ms } => format!("nothing {at_ms}"),
                SegmentStep::Guess { id, samples } => format!("guess {id} of {}", samples.len()),
                SegmentStep::DropGuess { id } => format!("drop {id}"),
            })
            .collect()
    }

    /// Feeds `clip`, then silence until the guess at its end.
    fn until_guessed(s: &mut Segmenter, name: &str) -> Vec<SegmentStep> {
        let mut steps = feed(s, &clip(name));
        while !matches!(steps.last(), Some(SegmentStep::Guess { .. })) {
            assert!(steps.len() < 1000, "no guess: {:?}", kinds(&steps));
            steps.extend(s.push(&silence(20)));
        }
        steps
    }

    fn dropped(steps: &[SegmentStep]) -> Vec<u64> {
        steps
            .iter()
            .filter_map(|s| match s {
                SegmentStep::DropGuess { id } => Some(*id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_pause_starts_a_guess_that_the_cut_adopts() {
        let mut s = guessing(200);
        let mut steps = until_guessed(&mut s, "tuesday_morning");
        steps.extend(feed(&mut s, &silence(100)));
        let made = guesses(&steps);
        let last = *made.last().expect("a guess at the pause after the words");
        let SegmentStep::Transcribe(seg) = s.finalize() else {
            panic!("nothing was cut: {:?}", kinds(&steps))
        };
        assert_eq!(seg.guess, Some(last.0), "{:?}", kinds(&steps));
        // Any earlier guess (a pause between words) was dropped when speech went on.
        let earlier: Vec<u64> = made[..made.len() - 1].iter().map(|g| g.0).collect();
        assert_eq!(dropped(&steps), earlier);
        // The guess heard the same audio, less the silence since.
        assert!(last.1 < seg.samples.len());
        assert!(seg.samples.len() - last.1 <= 300 * 16);
        // The next segment starts afresh.
        let later = feed(&mut s, &silence(1000));
        assert!(later.is_empty(), "{:?}", kinds(&later));
    }

    #[test]
    fn speaking_on_drops_the_guess_and_the_cut_adopts_the_last_one() {
        let mut s = guessing(200);
        // A 500 ms pause: shorter than the segmenter's own end of speech (600 ms).
        let steps = until_guessed(&mut s, "pause_brakes");
        let made = guesses(&steps);
        assert!(
            made.len() >= 2,
            "one in the pause, one at the end: {:?}",
            kinds(&steps)
        );
        let earlier: Vec<u64> = made[..made.len() - 1].iter().map(|g| g.0).collect();
        assert_eq!(dropped(&steps), earlier);
        let SegmentStep::Transcribe(seg) = s.finalize() else {
            panic!("nothing was cut: {:?}", kinds(&steps))
        };
        assert_eq!(seg.guess, Some(made[made.len() - 1].0));
        // The guess in the pause held "I need new brakes and," only: less than half the audio.
        assert!(made[0].1 < seg.samples.len() / 2, "{:?}", kinds(&steps));
    }

    #[test]
    fn the_segmenters_own_end_of_speech_adopts_the_guess_too() {
        let mut s = guessing(200);
        let mut steps = feed(&mut s, &clip("tuesday_morning"));
        steps.extend(feed(&mut s, &silence(1000)));
        let made = guesses(&steps);
        let segs = segments(&steps);
        assert_eq!(segs.len(), 1, "{:?}", kinds(&steps));
        assert_eq!(
            segs[0].guess,
            made.last().map(|g| g.0),
            "{:?}",
            kinds(&steps)
        );
        assert!(!segs[0].from_finalize);
    }

    #[test]
    fn without_guesses_a_cut_names_none() {
        let mut s = guessing(0);
        let mut steps = feed(&mut s, &clip("tuesday_morning"));
        steps.extend(feed(&mut s, &silence(1000)));
        assert!(guesses(&steps).is_empty());
        assert_eq!(segments(&steps)[0].guess, None);
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
