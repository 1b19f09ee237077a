//! What the agent is saying, between the text-to-speech stream and the media session: which
//! sentences were handed to TTS, which audio belongs to which of them, and, when the caller
//! barges in, how much of each sentence they heard. Sans-IO: the call sends the TTS
//! commands and feeds TTS events here with `now`.
//!
//! Every sentence goes to TTS followed by a `Flush`, numbered from 0 per stream; a
//! `Flushed { n }` closes the audio of every sentence up to flush `n` (a provider may merge
//! flushes). The audio between two confirmations becomes one ledger utterance, so the
//! ledger's marks say what was heard of it. After a clear, audio and confirmations of the
//! old text are dropped until the stream confirms the clear.

use std::collections::VecDeque;
use std::time::Instant;

use super::ledger::{Interruption, UtteranceId};
use super::session::MediaSession;
use crate::audio::AudioFormat;
use crate::audio::transcode::TranscodeError;

/// Sentences sent to TTS whose audio is not complete.
#[derive(Debug)]
struct Pending {
    flush: u64,
    text: String,
}

/// Audio that went to the carrier and the sentences it says.
#[derive(Debug)]
struct Said {
    sentences: Vec<String>,
    utterance: Option<UtteranceId>,
}

/// The bookkeeping of one call's synthesized speech.
#[derive(Debug, Default)]
pub struct SpeechTrack {
    next_flush: u64,
    pending: VecDeque<Pending>,
    /// The utterance receiving audio now.
    open: Option<UtteranceId>,
    /// Since the last reset, in order.
    said: Vec<Said>,
    /// A clear was sent; TTS has not confirmed it.
    discarding: bool,
}

impl SpeechTrack {
    /// Records a sentence handed to TTS (`speak` + `flush`, which the call sends).
    pub fn sent(&mut self, text: impl Into<String>) {
        self.pending.push_back(Pending {
            flush: self.next_flush,
            text: text.into(),
        });
        self.next_flush += 1;
    }

    /// Audio from TTS: into the current utterance. True when it was the first audio of an
    /// utterance (time to first byte).
    pub fn audio(
        &mut self,
        session: &mut MediaSession,
        now: Instant,
        audio: &[u8],
        format: AudioFormat,
    ) -> Result<bool, TranscodeError> {
        if self.discarding || self.pending.is_empty() {
            return Ok(false); // audio of cleared text, or of nothing we asked for
        }
        let first = self.open.is_none();
        let u = match self.open {
            Some(u) => u,
            None => match session.begin_utterance() {
                Some(u) => {
                    self.open = Some(u);
                    u
                }
                None => return Ok(false), // the stream has not started: nowhere to play
            },
        };
        session.push_utterance_audio(now, u, audio, format)?;
        Ok(first)
    }

    /// `Flushed { n }`: every sentence up to flush `n` has all its audio.
    pub fn flushed(&mut self, session: &mut MediaSession, now: Instant, n: u64) {
        if self.discarding {
            return;
        }
        let mut sentences = Vec::new();
        while self.pending.front().is_some_and(|p| p.flush <= n) {
            sentences.extend(self.pending.pop_front().map(|p| p.text));
        }
        let utterance = self.open.take();
        if let Some(u) = utterance {
            session.finish_utterance(now, u);
        }
        if !sentences.is_empty() {
            self.said.push(Said {
                sentences,
                utterance,
            });
        }
    }

    /// TTS confirmed a clear: what follows is new text's audio.
    pub fn cleared(&mut self) {
        self.discarding = false;
    }

    /// Whether the stream's text is all played or dropped (the ledger may still be playing).
    pub fn is_quiet(&self) -> bool {
        self.pending.is_empty() && self.open.is_none()
    }

    /// Barge-in: stops playback and drops what TTS still owes. Returns, per sentence since
    /// the last reset, in order, (ms heard, ms long); sentences never voiced count as unheard.
    /// The driver must send `Clear` to TTS.
    pub fn interrupt(&mut self, session: &mut MediaSession, now: Instant) -> Vec<(u64, u64)> {
        let report = session.clear_playback(now);
        let open = self.open.take();
        let mut heard = Vec::new();
        for said in std::mem::take(&mut self.said) {
            let (h, total) = said
                .utterance
                .map_or((0, 1), |u| utterance_heard(session, &report, u));
            split(&said.sentences, h, total, &mut heard);
        }
        let mut first_pending = true;
        for p in std::mem::take(&mut self.pending) {
            // Audio of the head sentence may have started playing.
            let (h, total) = match open {
                Some(u) if first_pending => utterance_heard(session, &report, u),
                _ => (0, 1),
            };
            first_pending = false;
            split(std::slice::from_ref(&p.text), h, total, &mut heard);
        }
        self.discarding = true;
        heard
    }

    /// The TTS stream is gone: what was playing plays on, and the sentences it still owed
    /// are returned for another stream (whose flushes count from 0 again).
    pub fn abandon(&mut self, session: &mut MediaSession, now: Instant) -> Vec<String> {
        if let Some(u) = self.open.take() {
            session.finish_utterance(now, u);
        }
        self.next_flush = 0;
        self.discarding = false;
        let unspoken: Vec<String> = self.pending.drain(..).map(|p| p.text).collect();
        unspoken
    }

    /// The agent's turn is over and played: later barge-ins concern later sentences.
    pub fn reset(&mut self) {
        self.said.clear();
    }
}

/// (heard, total) ms of utterance `u`: from the clear's report, else the ledger (fully heard
/// when it has forgotten a settled utterance).
fn utterance_heard(session: &MediaSession, report: &[Interruption], u: UtteranceId) -> (u64, u64) {
    if let Some(r) = report.iter().find(|r| r.utterance == u) {
        return (r.estimated_heard_ms.min(r.total_ms), r.total_ms.max(1));
    }
    match session.utterance_progress(u) {
        Some(p) if p.interrupted => (p.heard_ms, p.total_ms.max(1)),
        Some(p) => (p.total_ms.max(1), p.total_ms.max(1)),
        None => (1, 1),
    }
}

/// Shares an utterance's `heard` of `total` ms among its sentences by length, in order.
fn split(sentences: &[String], heard: u64, total: u64, out: &mut Vec<(u64, u64)>) {
    let chars: u64 = sentences.iter().map(|s| s.len() as u64).sum::<u64>().max(1);
    let mut left = heard;
    for s in sentences {
        let t = (total * s.len() as u64 / chars).max(1);
        let h = left.min(t);
        left -= h;
        out.push((h, t));
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // Tests pick an arbitrary origin for the virtual clock.
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::call::session::tests_support::{drain_sent, started_external};

    fn tone(ms: usize) -> Vec<u8> {
        vec![0x10; ms * 8] // loud mu-law
    }

    #[test]
    fn audio_between_confirmations_is_one_utterance_and_a_barge_in_reports_each_sentence() {
        let t0 = Instant::now();
        let mut s = started_external(t0);
        let mut track = SpeechTrack::default();
        track.sent("Hello there.");
        track.sent("How can I help?");
        assert!(!track.is_quiet());
        assert!(
            track
                .audio(&mut s, t0, &tone(500), AudioFormat::MULAW_8K)
                .unwrap()
        );
        track.flushed(&mut s, t0, 0);
        assert!(
            track
                .audio(&mut s, t0, &tone(600), AudioFormat::MULAW_8K)
                .unwrap(),
            "the second sentence starts a new utterance"
        );
        // 300 ms later the caller speaks over the agent.
        let later = t0 + Duration::from_millis(300);
        s.handle_timeout(later);
        drain_sent(&mut s);
        let heard = track.interrupt(&mut s, later);
        assert_eq!(heard.len(), 2);
        assert_eq!(heard[0].1, 500);
        assert!(heard[0].0 < 500, "{heard:?}");
        assert_eq!(
            heard[1].0, 0,
            "the second sentence was not reached: {heard:?}"
        );
        // Audio of the cleared text is dropped until TTS confirms the clear.
        assert!(
            !track
                .audio(&mut s, later, &tone(100), AudioFormat::MULAW_8K)
                .unwrap()
        );
        track.flushed(&mut s, later, 1);
        track.cleared();
        assert!(track.is_quiet());
        track.sent("Sure.");
        assert!(
            track
                .audio(&mut s, later, &tone(100), AudioFormat::MULAW_8K)
                .unwrap()
        );
        track.flushed(&mut s, later, 2);
        assert!(track.is_quiet());
    }

    #[test]
    fn a_merged_confirmation_closes_every_sentence_it_covers() {
        let t0 = Instant::now();
        let mut s = started_external(t0);
        let mut track = SpeechTrack::default();
        for text in ["One.", "Two two.", "Three three three."] {
            track.sent(text);
        }
        track
            .audio(&mut s, t0, &tone(900), AudioFormat::MULAW_8K)
            .unwrap();
        track.flushed(&mut s, t0, 2);
        assert!(track.is_quiet());
        let heard = track.interrupt(&mut s, t0);
        // Nothing played yet: three sentences, none heard, lengths shared by characters.
        assert_eq!(heard.len(), 3);
        assert!(heard.iter().all(|(h, _)| *h == 0), "{heard:?}");
        assert!(heard[0].1 < heard[1].1 && heard[1].1 < heard[2].1);
    }
}
