//! How the call hears the caller: local voice activity on every frame, and the speech
//! recognition stream the audio goes to (in small batches), with its failover to the fallback
//! recogniser. The conversation decides what a voice event or a transcript means; this owns
//! where the audio goes.

use super::io::{Outbox, Output, Slot};
use crate::audio::AudioFormat;
use crate::audio::vad::{TurnAudio, VadConfig, VadEvent, VoiceActivity};
use crate::stt::SttControl;

/// The caller's side of the call.
#[derive(Debug)]
pub(super) struct Hearing {
    vad: Option<VoiceActivity>,
    /// Recognition is open, from this slot.
    open: bool,
    slot: Slot,
    format: AudioFormat,
    /// Audio held for the next push, and how many frames it holds.
    held: Vec<u8>,
    held_frames: usize,
    batch_frames: usize,
}

impl Hearing {
    /// Hearing audio in `format`; `open`: the preparation opened the primary recogniser.
    pub(super) fn new(
        vad: VadConfig,
        format: AudioFormat,
        open: bool,
        batch_frames: usize,
    ) -> Self {
        let vad = match VoiceActivity::new(vad, format) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "no local voice activity for this format; turns end on transcripts alone");
                None
            }
        };
        Self {
            vad,
            open,
            slot: Slot::Primary,
            format,
            held: Vec::new(),
            held_frames: 0,
            batch_frames: batch_frames.max(1),
        }
    }

    /// Whether recognition is open.
    pub(super) fn is_open(&self) -> bool {
        self.open
    }

    /// Whether local voice activity hears the caller now.
    pub(super) fn caller_speaking(&self) -> bool {
        self.vad.as_ref().is_some_and(VoiceActivity::is_speaking)
    }

    /// The caller's turn so far, for the turn model.
    pub(super) fn turn_audio(&self) -> TurnAudio {
        match &self.vad {
            Some(v) => v.turn_audio(),
            None => TurnAudio {
                rate: self.format.sample_rate,
                samples: Vec::new(),
            },
        }
    }

    /// The turn model says the caller finished: their speech ends now.
    pub(super) fn end_speech(&mut self) -> Option<VadEvent> {
        self.vad.as_mut().and_then(VoiceActivity::end_speech)
    }

    /// A frame of the caller's audio: to recognition (batched), and what voice activity
    /// makes of it.
    pub(super) fn audio(&mut self, audio: Vec<u8>, out: &mut Outbox) -> Vec<VadEvent> {
        let events = match self.vad.as_mut() {
            Some(v) => v.push(&audio),
            None => Vec::new(),
        };
        if self.open {
            if self.held.is_empty() {
                self.held = audio;
            } else {
                self.held.extend_from_slice(&audio);
            }
            self.held_frames += 1;
            if self.held_frames >= self.batch_frames {
                self.send_held(out);
            }
        }
        events
    }

    fn send_held(&mut self, out: &mut Outbox) {
        self.held_frames = 0;
        if !self.held.is_empty() {
            out.push(Output::SttAudio(std::mem::take(&mut self.held)));
        }
    }

    /// Asks recognition for what it heard so far (the held audio first).
    pub(super) fn finalize(&mut self, out: &mut Outbox) {
        if self.open {
            self.send_held(out);
            out.push(Output::Stt(SttControl::Finalize));
        }
    }

    /// No more audio: recognition delivers what is pending and closes.
    pub(super) fn finish(&mut self, out: &mut Outbox) {
        if self.open {
            self.send_held(out);
            out.push(Output::Stt(SttControl::Finish));
            self.open = false;
        }
    }

    /// The recogniser failed: the fallback takes over (true) when there is one not yet
    /// tried, with the audio the failed one was not sent; otherwise recognition is gone.
    pub(super) fn failed(&mut self, fallback: bool, out: &mut Outbox) -> bool {
        if self.slot == Slot::Primary && fallback {
            tracing::info!("speech recognition moves to the fallback");
            out.push(Output::OpenStt {
                slot: Slot::Fallback,
                format: self.format,
            });
            self.slot = Slot::Fallback;
            self.open = true;
            self.send_held(out);
            true
        } else {
            self.open = false;
            self.held.clear();
            self.held_frames = 0;
            false
        }
    }
}
