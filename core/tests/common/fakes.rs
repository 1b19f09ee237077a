//! The fakes around a call: what synthesis, recognition and the model were asked, the caller
//! clips, and short names for outputs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use callbridge_core::audio::{AudioFormat, g711, wav};
use callbridge_core::call::{Output, Slot};
use callbridge_core::chat::ChatMessage;
use callbridge_core::tts::{TtsCommand, TtsEvent};

/// What the fake speech synthesizer does.
#[derive(Debug, Default)]
pub struct FakeTts {
    /// The slot of the open stream.
    pub slot: Option<Slot>,
    /// Text spoken since the last flush.
    pub(super) pending: Vec<String>,
    pub(super) next_flush: u64,
    /// Everything sent, in order, with the slot it went to.
    pub spoken: Vec<(Slot, String)>,
    /// Events to deliver, at their time.
    pub(super) queued: VecDeque<(Instant, TtsEvent)>,
    /// Audio per flush is delivered in this many pieces, `gap` apart.
    pub pieces: u64,
    pub latency: Duration,
    pub clears: usize,
    pub closed: bool,
}

/// What the fake speech recogniser saw.
#[derive(Debug, Default)]
pub struct FakeStt {
    pub slot: Option<Slot>,
    /// Audio frames pushed, per slot (primary, fallback).
    pub frames: [usize; 2],
    pub finalizes: usize,
    pub finished: bool,
}

/// What the fake language model was asked.
#[derive(Debug, Default)]
pub struct FakeLlm {
    /// The running request.
    pub turn: Option<u64>,
    pub slot: Option<Slot>,
    pub requests: Vec<(Slot, Vec<ChatMessage>)>,
    pub cancels: usize,
}

/// A loud 440 Hz tone in mu-law, `ms` long.
pub fn tone(ms: u64) -> Vec<u8> {
    let pcm: Vec<i16> = (0..ms * 8)
        .map(|n| ((n as f32 / 8000.0 * 440.0 * std::f32::consts::TAU).sin() * 8000.0) as i16)
        .collect();
    let mut out = Vec::new();
    g711::encode_mulaw(&pcm, &mut out);
    out
}

/// A caller clip from `fixtures/calls`, as 20 ms mu-law frames.
pub fn clip(name: &str) -> Vec<Vec<u8>> {
    let path = format!(
        "{}/../fixtures/calls/{name}.wav",
        env!("CARGO_MANIFEST_DIR")
    );
    let w = wav::read(&std::fs::read(path).expect("clip")).expect("wav");
    assert_eq!(w.format, AudioFormat::MULAW_8K);
    w.data.chunks(160).map(<[u8]>::to_vec).collect()
}

/// A short name for an output, for order assertions.
pub fn label(o: &Output) -> String {
    match o {
        Output::Send(_) => "send".into(),
        Output::Rejected(_) => "rejected".into(),
        Output::Warning(_) => "warning".into(),
        Output::Admit(_) => "admit".into(),
        Output::Prepare(_) => "prepare".into(),
        Output::OpenStt { slot, .. } => format!("open_stt:{slot:?}"),
        Output::SttAudio(_) => "stt_audio".into(),
        Output::Stt(c) => format!("stt:{c:?}"),
        Output::OpenTts(slot) => format!("open_tts:{slot:?}"),
        Output::Tts(TtsCommand::Speak(t)) => format!("speak:{t}"),
        Output::Tts(c) => format!("tts:{c:?}"),
        Output::StartLlm { slot, .. } => format!("llm:{slot:?}"),
        Output::CancelLlm => "cancel_llm".into(),
        Output::RunTool { request, .. } => format!("tool:{}", request.tool().as_str()),
        Output::Record(_) => "record".into(),
        Output::Recording(_) => "recording".into(),
        Output::Observe(_) => "observe".into(),
        Output::JudgeTurn { .. } => "judge_turn".into(),
        Output::HandOff(h) => format!("handoff:{}", h.as_str()),
        Output::CloseMedia => "close_media".into(),
        Output::End(e) => format!("end:{}", e.label()),
    }
}
