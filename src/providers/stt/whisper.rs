//! The built-in speech recogniser: whisper.cpp on this machine, for calls without a cloud
//! provider, as the cloud provider's fallback, and where audio must stay on premises.
//!
//! Whisper transcribes whole pieces of audio, so each call's stream cuts the caller's audio
//! into utterances with local voice activity ([`Segmenter`]), converts them to the 16 kHz it
//! reads, and hands each to the shared [`WhisperEngine`]. Transcriptions finish out of the
//! audio's way (the stream keeps taking frames meanwhile) and are reported in the order the
//! utterances were spoken. Each utterance yields one `Final`; there are no interim guesses.
//! A `Finalize` is answered by the final of the audio cut at that moment, or an empty final
//! when nothing new was heard, as the cloud provider answers it. A short pause starts the
//! transcription early (the segmenter's guess): when the cut follows with nothing said since,
//! its final is that transcription's, and the wait for it is shorter by the time between.
//!
//! The model is loaded on the first call (or by [`WhisperStt::preload`] at start), not when
//! the server is configured, so a server that never takes a call never reads it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::{OnceCell, mpsc};

use super::segmenter::{SegmentStep, Segmenter, SegmenterConfig};
use super::whisper_engine::{
    Transcription, WhisperEngine, WhisperEngineConfig, WhisperEngineError,
};
use super::{SpeechToText, SttControl, SttEvent, SttStream, Vocabulary};
use crate::audio::transcode::Transcoder;
use crate::audio::{AudioFormat, pcm};
use crate::providers::{ProviderError, ProviderHealth, ProviderKind};

/// Its name in logs, metrics and `/readyz`.
pub const NAME: &str = "whisper";
/// Frames waiting to be segmented (5 s of 20 ms frames): segmenting is quick, so this only
/// fills if the runtime stalls.
const AUDIO_QUEUE: usize = 250;

/// How the built-in recogniser runs.
#[derive(Debug, Clone)]
pub struct WhisperSttConfig {
    /// The model and its workers.
    pub engine: WhisperEngineConfig,
    /// Cutting audio into utterances.
    pub segmenter: SegmenterConfig,
}

/// The provider: one engine (loaded once) shared by every call's stream.
#[derive(Debug, Clone)]
pub struct WhisperStt {
    config: Arc<WhisperSttConfig>,
    engine: Arc<OnceCell<Arc<WhisperEngine>>>,
    health: ProviderHealth,
}

fn provider_error(e: &WhisperEngineError) -> ProviderError {
    match e {
        WhisperEngineError::Load { .. } => ProviderError::Connect(e.to_string()),
        _ => ProviderError::Upstream(e.to_string()),
    }
}

impl WhisperStt {
    /// A recogniser for `config`, reporting to `health`.
    pub fn new(config: WhisperSttConfig, health: ProviderHealth) -> Self {
        health.register(ProviderKind::Stt, NAME);
        Self {
            config: Arc::new(config),
            engine: Arc::new(OnceCell::new()),
            health,
        }
    }

    /// The engine, loading the model the first time (a failed load is tried again next time,
    /// so fetching the model fixes a running server).
    pub async fn engine(&self) -> Result<Arc<WhisperEngine>, WhisperEngineError> {
        self.engine
            .get_or_try_init(|| async {
                let config = self.config.engine.clone();
                let path = config.model.display().to_string();
                tokio::task::spawn_blocking(move || WhisperEngine::load(config))
                    .await
                    .map_err(|e| WhisperEngineError::Load {
                        path,
                        why: e.to_string(),
                    })?
                    .map(Arc::new)
            })
            .await
            .cloned()
    }

    /// Loads the model now so the first caller does not wait for it; a failure is logged
    /// (with what to do) and reported in `/readyz`.
    pub async fn preload(&self) {
        if let Err(e) = self.engine().await {
            tracing::error!(error = %e, "the built-in speech recogniser cannot start");
            self.health
                .error(ProviderKind::Stt, NAME, &provider_error(&e));
        }
    }
}

impl SpeechToText for WhisperStt {
    fn name(&self) -> &'static str {
        NAME
    }

    fn open(&self, format: AudioFormat) -> SttStream {
        self.health.request(ProviderKind::Stt, NAME);
        let stt = self.clone();
        SttStream::spawn(NAME, AUDIO_QUEUE, move |ends| {
            let stream = Stream {
                stt,
                audio: ends.audio,
                control: ends.control,
                events: ends.events,
                vocabulary: ends.vocabulary,
            };
            stream.run(format)
        })
    }
}

/// An event still being worked out (a transcription) or ready at once.
type Pending = Pin<Box<dyn Future<Output = SttEvent> + Send>>;

/// One call's stream.
struct Stream {
    stt: WhisperStt,
    audio: mpsc::Receiver<Vec<u8>>,
    control: mpsc::Receiver<SttControl>,
    events: mpsc::Sender<SttEvent>,
    /// The call's words, added to the shop's prompt.
    vocabulary: Vocabulary,
}

impl Stream {
    async fn fail(&self, e: ProviderError) {
        self.stt.health.error(ProviderKind::Stt, NAME, &e);
        let _ = self.events.send(SttEvent::Error(e)).await;
    }

    async fn run(mut self, format: AudioFormat) {
        let engine = match self.stt.engine().await {
            Ok(engine) => engine,
            Err(e) => return self.fail(provider_error(&e)).await,
        };
        let to_16k = Transcoder::new(format, AudioFormat::LINEAR16_16K);
        let segmenter = Segmenter::new(self.stt.config.segmenter);
        let (mut to_16k, mut segmenter) = match (to_16k, segmenter) {
            (Ok(t), Ok(s)) => (t, s),
            (Err(e), _) | (_, Err(e)) => {
                return self.fail(ProviderError::Protocol(e.to_string())).await;
            }
        };
        let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
        let mut guess: Option<(u64, Transcription)> = None;
        let (mut bytes, mut samples) = (Vec::new(), Vec::new());
        let mut finishing = false;
        loop {
            if finishing && pending.is_empty() {
                let _ = self.events.send(SttEvent::Closed).await;
                return;
            }
            let steps = tokio::select! {
                biased;
                Some(event) = pending.next(), if !pending.is_empty() => {
                    let failed = matches!(event, SttEvent::Error(_));
                    if let SttEvent::Error(e) = &event {
                        self.stt.health.error(ProviderKind::Stt, NAME, e);
                    }
                    if self.events.send(event).await.is_err() || failed {
                        return;
                    }
                    continue;
                }
                audio = self.audio.recv(), if !finishing => match audio {
                    Some(audio) => {
                        bytes.clear();
                        samples.clear();
                        if let Err(e) = to_16k.process(&audio, &mut bytes) {
                            tracing::warn!(error = %e, "caller audio not transcodable; skipped");
                            continue;
                        }
                        pcm::decode_le(&bytes, &mut samples);
                        segmenter.push(&samples)
                    }
                    None => {
                        finishing = true;
                        segmenter.finish().into_iter().collect()
                    }
                },
                control = self.control.recv(), if !finishing => match control {
                    Some(SttControl::Finalize) => vec![segmenter.finalize()],
                    Some(SttControl::Finish) | None => {
                        finishing = true;
                        segmenter.finish().into_iter().collect()
                    }
                },
            };
            for step in steps {
                if let Some(event) = self.pending(step, &engine, &mut guess) {
                    pending.push_back(event);
                }
            }
        }
    }

    /// The event a segmenter step leads to, if any; `guess` is the early transcription held.
    fn pending(
        &self,
        step: SegmentStep,
        engine: &Arc<WhisperEngine>,
        guess: &mut Option<(u64, Transcription)>,
    ) -> Option<Pending> {
        let wasted = |dropped: Option<(u64, Transcription)>| {
            if dropped.is_some() {
                metrics::counter!(crate::telemetry::STT_EARLY_DECODES, "outcome" => "wasted")
                    .increment(1);
            }
        };
        let event: Pending = match step {
            SegmentStep::Guess { id, samples } => {
                // A busy engine makes no guess: the cut will queue its own transcription.
                if let Ok(early) = engine.submit_with(samples, &self.vocabulary.get()) {
                    wasted(guess.replace((id, early)));
                }
                return None;
            }
            SegmentStep::DropGuess { id } => {
                if guess.as_ref().is_some_and(|(held, _)| *held == id) {
                    wasted(guess.take());
                }
                return None;
            }
            SegmentStep::SpeechStarted { at_ms } => {
                let at = at_ms as f64 / 1000.0;
                Box::pin(std::future::ready(SttEvent::SpeechStarted { at }))
            }
            SegmentStep::NothingHeard { at_ms } => {
                let at = at_ms as f64 / 1000.0;
                Box::pin(std::future::ready(SttEvent::Final {
                    text: String::new(),
                    speech_final: true,
                    from_finalize: true,
                    start: at,
                    end: at,
                    confidence: 1.0,
                }))
            }
            SegmentStep::Transcribe(segment) => {
                let (engine, health) = (engine.clone(), self.stt.health.clone());
                let words = self.vocabulary.get();
                let early = match guess.take() {
                    Some((id, early)) if segment.guess == Some(id) => {
                        metrics::counter!(crate::telemetry::STT_EARLY_DECODES, "outcome" => "used")
                            .increment(1);
                        Some(early)
                    }
                    other => {
                        wasted(other);
                        None
                    }
                };
                Box::pin(async move {
                    #[allow(clippy::disallowed_methods)] // IO edge: how long a transcription took
                    let asked = Instant::now();
                    let heard = match early {
                        Some(early) => early.heard().await,
                        None => match engine.submit_with(segment.samples, &words) {
                            Ok(t) => t.heard().await,
                            Err(e) => Err(e),
                        },
                    };
                    match heard {
                        Ok(heard) => {
                            health.first_result(ProviderKind::Stt, NAME, asked.elapsed());
                            SttEvent::Final {
                                text: heard.text,
                                speech_final: segment.speech_final,
                                from_finalize: segment.from_finalize,
                                start: segment.start_ms as f64 / 1000.0,
                                end: segment.end_ms as f64 / 1000.0,
                                confidence: heard.confidence,
                            }
                        }
                        Err(e) => SttEvent::Error(provider_error(&e)),
                    }
                })
            }
        };
        Some(event)
    }
}
