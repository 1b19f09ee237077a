//! The built-in speech synthesizer: CMU Flite (BSD-style licence, Debian `flite1-dev`) linked
//! through a few lines of FFI, with its `rms` voice (a male US English clustergen voice at
//! 16 kHz; its audio is resampled to the carrier's rate on the way out). Used when no cloud
//! TTS is configured, as a fallback, and where audio must stay on premises.
//!
//! The voice was chosen by ear of the built-in recogniser: six of the agent's sentences, read
//! by each of Flite's voices at 8 kHz mu-law and transcribed by Whisper tiny.en, came back
//! with 2 words wrong in `rms`, against 8 in `kal` (the 8 kHz diphone voice: "Your brake
//! inspection" heard as "No rebreatens' section", "book" as "work"). It costs more: 90 ms for
//! a 5 s sentence against 10 ms, still fifty times faster than it speaks.
//!
//! Each flush synthesizes the text spoken since the last one on a blocking thread and streams
//! it back in 20 ms chunks. Flite wraps everything it says in about 180 ms of silence either
//! side, so a reply spoken in pieces (a first clause, then the rest) had 360 ms of silence
//! after a comma: long enough for a caller to take it as their turn and talk over the rest
//! (the conversation benchmark's callers did, and a read-back cut that way never confirms a
//! booking). The edges are cut to what a speaker leaves: [`LEAD_MS`] before the words,
//! [`CLAUSE_TAIL_MS`] after a piece that ends mid-sentence, [`SENTENCE_TAIL_MS`] after a
//! sentence. Flite keeps process-wide state (its lexicon and voice), so
//! syntheses take turns behind one lock.

use std::collections::VecDeque;
use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::{Mutex, OnceLock};

use tokio::sync::mpsc;

use super::{TextToSpeech, TtsCommand, TtsEvent, TtsStream};
use crate::audio::{AudioFormat, Encoding, SampleRate};
use crate::providers::{ProviderError, ProviderHealth, ProviderKind};

/// Flite's `cst_wave` (cst_wave.h).
#[repr(C)]
struct CstWave {
    kind: *const c_char,
    sample_rate: c_int,
    num_samples: c_int,
    num_channels: c_int,
    samples: *mut i16,
}

#[link(name = "flite_cmu_us_rms")]
#[link(name = "flite_usenglish")]
#[link(name = "flite_cmulex")]
#[link(name = "flite")]
unsafe extern "C" {
    fn flite_init() -> c_int;
    fn register_cmu_us_rms(voxdir: *const c_char) -> *mut c_void;
    fn flite_text_to_wave(text: *const c_char, voice: *mut c_void) -> *mut CstWave;
    fn delete_wave(wave: *mut CstWave);
}

/// The registered voice; only used while holding the lock.
struct Voice(*mut c_void);

// SAFETY: the voice pointer is only dereferenced by Flite inside `synthesize`, which holds
// the mutex, so no two threads use Flite at once.
unsafe impl Send for Voice {}

fn voice() -> &'static Mutex<Voice> {
    static VOICE: OnceLock<Mutex<Voice>> = OnceLock::new();
    VOICE.get_or_init(|| {
        // SAFETY: called once, before any other Flite function; the voice directory argument
        // may be null for a compiled-in voice.
        let v = unsafe {
            flite_init();
            register_cmu_us_rms(std::ptr::null())
        };
        Mutex::new(Voice(v))
    })
}

/// The voice's output: 16-bit PCM at 16 kHz.
pub const FORMAT: AudioFormat = AudioFormat::new(Encoding::Linear16, SampleRate::Hz16000);

/// Synthesizes `text` to 16 kHz samples. Blocking: call it off the async runtime.
pub fn synthesize(text: &str) -> Result<Vec<i16>, ProviderError> {
    // Flite reads a C string; interior NULs cannot be spoken anyway.
    let text = CString::new(text.replace('\0', " "))
        .map_err(|e| ProviderError::Protocol(e.to_string()))?;
    let guard = voice().lock().unwrap_or_else(|p| p.into_inner());
    if guard.0.is_null() {
        return Err(ProviderError::Upstream(
            "the Flite voice did not load".into(),
        ));
    }
    // SAFETY: the voice is valid for the process's life, the text is NUL-terminated, and the
    // wave Flite returns is read within its bounds and freed once, all under the lock.
    unsafe {
        let wave = flite_text_to_wave(text.as_ptr(), guard.0);
        if wave.is_null() {
            return Err(ProviderError::Upstream("Flite produced no audio".into()));
        }
        let w = &*wave;
        let result = if w.sample_rate != 16_000 || w.num_channels != 1 {
            Err(ProviderError::Upstream(format!(
                "Flite spoke at {} Hz x{}, not 16 kHz mono",
                w.sample_rate, w.num_channels
            )))
        } else if w.samples.is_null() || w.num_samples <= 0 {
            Ok(Vec::new())
        } else {
            Ok(std::slice::from_raw_parts(w.samples, w.num_samples as usize).to_vec())
        };
        delete_wave(wave);
        result
    }
}

const NAME: &str = "builtin";

/// Silence kept before the words, ms.
const LEAD_MS: usize = 30;
/// Silence kept after a piece that ends mid-sentence (at a comma), ms.
const CLAUSE_TAIL_MS: usize = 70;
/// Silence kept after a sentence, ms: with the next piece's lead, a pause a listener hears
/// as a full stop but not as the end of the turn.
const SENTENCE_TAIL_MS: usize = 150;
// The gap a caller hears between two pieces stays under the 200 ms that reads as a finished
// turn.
const _: () = assert!(CLAUSE_TAIL_MS + LEAD_MS < 200 && SENTENCE_TAIL_MS + LEAD_MS < 200);
/// A sample this loud (about -40 dBFS) is the voice, not its silence.
const VOICED: i16 = 300;

/// `samples` with Flite's silence at the edges cut to [`LEAD_MS`] before and, after, to
/// [`SENTENCE_TAIL_MS`] when `text` ends a sentence or [`CLAUSE_TAIL_MS`] when it does not.
fn trimmed(samples: Vec<i16>, text: &str) -> Vec<i16> {
    let per_ms = 16;
    let voiced = |s: &i16| s.unsigned_abs() >= VOICED.unsigned_abs();
    let (Some(first), Some(last)) = (
        samples.iter().position(voiced),
        samples.iter().rposition(voiced),
    ) else {
        return samples;
    };
    let ends_sentence = text.trim_end().ends_with(['.', '?', '!']);
    let tail = if ends_sentence {
        SENTENCE_TAIL_MS
    } else {
        CLAUSE_TAIL_MS
    };
    let from = first.saturating_sub(LEAD_MS * per_ms);
    let to = (last + 1 + tail * per_ms).min(samples.len());
    samples[from..to].to_vec()
}

/// Bytes of 20 ms of the voice's PCM.
const CHUNK: usize = 640;

/// The built-in TTS provider.
#[derive(Debug, Clone)]
pub struct FliteTts {
    health: ProviderHealth,
}

impl FliteTts {
    /// The built-in synthesizer, reporting to `health`.
    pub fn new(health: ProviderHealth) -> Self {
        health.register(ProviderKind::Tts, NAME);
        Self { health }
    }
}

impl TextToSpeech for FliteTts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn format(&self) -> AudioFormat {
        FORMAT
    }

    fn open(&self) -> TtsStream {
        let (cmd_tx, cmd_rx) = mpsc::channel(super::COMMAND_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(256);
        let task = tokio::spawn(serve(cmd_rx, ev_tx, self.health.clone()));
        TtsStream::new(FORMAT, cmd_tx, ev_rx, task)
    }
}

/// One stream: text gathers until a flush, which is synthesized and streamed back in order.
/// Commands that arrive while audio streams wait their turn; a clear drops them, the text
/// gathered and the rest of the audio, and is confirmed with `Cleared`.
async fn serve(
    mut commands: mpsc::Receiver<TtsCommand>,
    events: mpsc::Sender<TtsEvent>,
    health: ProviderHealth,
) {
    let mut text = String::new();
    // Every flush asked for is numbered, including those a clear drops.
    let mut flushes: u64 = 0;
    let mut backlog: VecDeque<TtsCommand> = VecDeque::new();
    loop {
        let command = match backlog.pop_front() {
            Some(c) => c,
            None => match commands.recv().await {
                Some(c) => c,
                None => return,
            },
        };
        match command {
            TtsCommand::Speak(t) => text.push_str(&t),
            TtsCommand::Flush => {
                let sequence_id = flushes;
                flushes += 1;
                let said = std::mem::take(&mut text);
                let mut cleared = false;
                if !said.trim().is_empty() {
                    health.request(ProviderKind::Tts, NAME);
                    let started = tokio::time::Instant::now();
                    let samples = match tokio::task::spawn_blocking(move || {
                        synthesize(&said).map(|s| trimmed(s, &said))
                    })
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            health.error(ProviderKind::Tts, NAME, &e);
                            let _ = events.send(TtsEvent::Error(e)).await;
                            return;
                        }
                        Err(join) => {
                            let e = ProviderError::Upstream(join.to_string());
                            health.error(ProviderKind::Tts, NAME, &e);
                            let _ = events.send(TtsEvent::Error(e)).await;
                            return;
                        }
                    };
                    health.first_result(ProviderKind::Tts, NAME, started.elapsed());
                    let mut bytes = Vec::with_capacity(samples.len() * 2);
                    crate::audio::pcm::encode_le(&samples, &mut bytes);
                    for chunk in bytes.chunks(CHUNK) {
                        while let Ok(c) = commands.try_recv() {
                            if c == TtsCommand::Clear {
                                cleared = true;
                            } else {
                                backlog.push_back(c);
                            }
                        }
                        if cleared {
                            break;
                        }
                        if events.send(TtsEvent::Audio(chunk.to_vec())).await.is_err() {
                            return;
                        }
                    }
                }
                let done = if cleared {
                    // Everything asked before the clear is dropped, flushes still counted.
                    flushes += backlog.iter().filter(|c| **c == TtsCommand::Flush).count() as u64;
                    let close = backlog.contains(&TtsCommand::Close);
                    backlog.clear();
                    text.clear();
                    if close {
                        backlog.push_back(TtsCommand::Close);
                    }
                    TtsEvent::Cleared
                } else {
                    TtsEvent::Flushed { sequence_id }
                };
                if events.send(done).await.is_err() {
                    return;
                }
            }
            TtsCommand::Clear => {
                text.clear();
                if events.send(TtsEvent::Cleared).await.is_err() {
                    return;
                }
            }
            TtsCommand::Close => {
                let _ = events.send(TtsEvent::Closed).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(samples: &[i16]) -> f64 {
        (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64)
            .sqrt()
    }

    #[test]
    fn a_sentence_is_spoken_at_the_voice_rate() {
        let samples = synthesize("Your oil change is booked for Tuesday at nine.").unwrap();
        let secs = samples.len() as f64 / 16_000.0;
        assert!((1.5..5.0).contains(&secs), "{secs} s");
        assert!(rms(&samples) > 500.0, "audible: {}", rms(&samples));
        assert!(
            synthesize("").unwrap().len() < 16_000,
            "nothing to say, (almost) no audio"
        );
    }

    /// Milliseconds of silence before and after the voice in `samples`.
    fn edges_ms(samples: &[i16]) -> (usize, usize) {
        let first = samples
            .iter()
            .position(|s| s.unsigned_abs() >= 300)
            .unwrap();
        let last = samples
            .iter()
            .rposition(|s| s.unsigned_abs() >= 300)
            .unwrap();
        (first / 16, (samples.len() - 1 - last) / 16)
    }

    #[test]
    fn pieces_of_a_reply_follow_each_other_without_flites_long_silences() {
        let clause = "What day would suit you for the oil change,";
        let raw = synthesize(clause).unwrap();
        let (lead, tail) = edges_ms(&raw);
        assert!(
            lead > 100 && tail > 100,
            "Flite's own: {lead} ms, {tail} ms"
        );
        assert_eq!(edges_ms(&trimmed(raw, clause)), (LEAD_MS, CLAUSE_TAIL_MS));
        let sentence = "Shall I book it?";
        let raw = synthesize(sentence).unwrap();
        let (_, tail) = edges_ms(&raw);
        let cut = trimmed(raw, sentence);
        assert_eq!(edges_ms(&cut), (LEAD_MS, SENTENCE_TAIL_MS.min(tail)));
        assert!(trimmed(Vec::new(), clause).is_empty());
        assert_eq!(
            trimmed(vec![0; 1600], clause),
            vec![0; 1600],
            "silence stays silence"
        );
    }

    async fn until_flushed(s: &mut TtsStream) -> (usize, Vec<TtsEvent>) {
        let mut bytes = 0;
        let mut others = Vec::new();
        loop {
            match s.next().await.expect("the stream goes on") {
                TtsEvent::Audio(a) => bytes += a.len(),
                e @ TtsEvent::Flushed { .. } => {
                    others.push(e);
                    return (bytes, others);
                }
                e => others.push(e),
            }
        }
    }

    #[tokio::test]
    async fn flushes_stream_audio_in_order_and_a_clear_drops_what_is_pending() {
        let tts = FliteTts::new(ProviderHealth::default());
        let mut s = tts.open();
        assert_eq!(s.format(), FORMAT);
        s.speak("Thanks for calling. ");
        s.flush();
        s.speak("How can I help?");
        s.flush();
        let (first, events) = until_flushed(&mut s).await;
        assert!(first > 16_000, "{first} bytes");
        assert_eq!(events, [TtsEvent::Flushed { sequence_id: 0 }]);
        let (second, events) = until_flushed(&mut s).await;
        assert!(second > 8000);
        assert_eq!(events, [TtsEvent::Flushed { sequence_id: 1 }]);

        // A long answer, cleared as it plays: no more of its audio, no confirmation of the
        // flushes it dropped, and the next flush keeps the stream's numbering.
        s.speak("We are open Monday to Friday from seven thirty in the morning to six in the evening, and on Saturday from eight to two.");
        s.flush();
        s.speak("Anything else?");
        s.flush();
        match s.next().await {
            Some(TtsEvent::Audio(_)) => {}
            other => panic!("{other:?}"),
        }
        s.clear();
        loop {
            match s.next().await.unwrap() {
                TtsEvent::Audio(_) => {}
                TtsEvent::Cleared => break,
                other => panic!("{other:?}"),
            }
        }
        s.speak("Sure.");
        s.flush();
        let (_, events) = until_flushed(&mut s).await;
        assert_eq!(events, [TtsEvent::Flushed { sequence_id: 4 }]);
    }
}
