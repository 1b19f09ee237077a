//! The stage clocks of one call's turns: when the caller stopped, when the model was asked,
//! when its first token, first sentence and first audio came. Each measurement comes out as an
//! [`Observation`] at the moment it is known; the caller's record carries the same numbers.

use std::time::{Duration, Instant};

use super::io::Outbox;
use super::observe::{Observation, Stage};

/// The clocks of the current turn.
#[derive(Debug, Default)]
pub(super) struct Clocks {
    /// Local voice activity saw the caller stop.
    speech_ended: Option<Instant>,
    /// The caller started speaking (for barge-in to silence).
    caller_started: Option<Instant>,
    /// The turn's final transcript came this long after the caller stopped.
    stt_final: Option<Duration>,
    /// The model was asked (this round), for first token and first sentence.
    llm_started: Option<Instant>,
    first_token: Option<Duration>,
    first_sentence_seen: bool,
    /// A sentence went to synthesis and its first audio has not come.
    tts_asked: Option<Instant>,
    tts_first_byte: Option<Duration>,
    /// The turn's answer has not been heard yet: voice-to-voice runs from here.
    awaiting_voice: Option<Instant>,
}

fn latency(stage: Stage, d: Duration) -> Observation {
    Observation::Latency(stage, d)
}

impl Clocks {
    pub(super) fn caller_started(&mut self, now: Instant) {
        self.caller_started = Some(now);
    }

    /// When the caller last started speaking (voice activity), if they have.
    pub(super) fn caller_began(&self) -> Option<Instant> {
        self.caller_started
    }

    pub(super) fn caller_stopped(&mut self, now: Instant) {
        self.speech_ended = Some(now);
    }

    /// A final transcript arrived: the first of the turn times recognition.
    pub(super) fn final_transcript(&mut self, now: Instant) {
        if self.stt_final.is_none() {
            self.stt_final = self.speech_ended.map(|t| now - t);
        }
    }

    pub(super) fn stt_final(&self) -> Option<Duration> {
        self.stt_final
    }

    pub(super) fn first_token(&self) -> Option<Duration> {
        self.first_token
    }

    pub(super) fn tts_first_byte(&self) -> Option<Duration> {
        self.tts_first_byte
    }

    /// The model is asked. A new turn's clocks start here (voice-to-voice runs from the end of
    /// the caller's speech, or from now when voice activity did not end the turn); another
    /// round of the same turn (after tools) gets its own time to first token.
    pub(super) fn model_asked(&mut self, now: Instant, new_turn: bool, out: &mut Outbox) {
        if new_turn {
            let speech_ended = self.speech_ended.take();
            if let Some(d) = self.stt_final.filter(|_| speech_ended.is_some()) {
                out.observe(latency(Stage::SttFinal, d));
            }
            *self = Clocks {
                llm_started: Some(now),
                awaiting_voice: Some(speech_ended.unwrap_or(now)),
                caller_started: self.caller_started,
                ..Clocks::default()
            };
        } else {
            self.llm_started = Some(now);
            self.first_token = None;
        }
    }

    /// The model said something (text or tool calls).
    pub(super) fn model_answered(&mut self, now: Instant, out: &mut Outbox) {
        if let Some(started) = self.llm_started
            && self.first_token.is_none()
        {
            let d = now - started;
            self.first_token = Some(d);
            out.observe(latency(Stage::LlmFirstToken, d));
        }
    }

    /// A sentence is to be spoken; `to_synthesis`: it goes to synthesis now (not already
    /// there since the webhook).
    pub(super) fn sentence(&mut self, now: Instant, to_synthesis: bool, out: &mut Outbox) {
        if let Some(started) = self.llm_started
            && !self.first_sentence_seen
        {
            self.first_sentence_seen = true;
            out.observe(latency(Stage::FirstSentence, now - started));
        }
        if to_synthesis {
            self.tts_asked.get_or_insert(now);
        }
    }

    /// The first audio of an utterance arrived.
    pub(super) fn first_audio(&mut self, now: Instant, out: &mut Outbox) {
        if let Some(asked) = self.tts_asked.take() {
            let d = now - asked;
            self.tts_first_byte.get_or_insert(d);
            out.observe(latency(Stage::TtsFirstByte, d));
        }
        if let Some(end) = self.awaiting_voice.take() {
            out.observe(latency(Stage::VoiceToVoice, now - end));
        }
    }

    /// The agent was stopped; `by_voice`: the caller's voice stopped it (not a key or a
    /// failure), which times barge-in to silence.
    pub(super) fn interrupted(&mut self, now: Instant, by_voice: bool, out: &mut Outbox) {
        if let Some(t) = self.caller_started
            && by_voice
        {
            out.observe(latency(Stage::BargeInToSilence, now - t));
        }
        self.awaiting_voice = None;
        self.tts_asked = None;
    }
}
