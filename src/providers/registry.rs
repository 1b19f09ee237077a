//! The providers this instance uses, built once from settings: a primary and an optional
//! fallback per kind, all reporting to one [`ProviderHealth`]. The conversation engine asks
//! here for a stream and falls back when the primary fails.

use std::sync::Arc;

use serde_json::{Value, json};
use url::Url;

use super::llm::LanguageModel;
use super::llm::openai::{OpenAiChat, OpenAiConfig};
use super::llm::scripted::ScriptedAgent;
use super::llm::scripted::classify::SharedClassifier;
use super::stt::SpeechToText;
use super::stt::deepgram::{DeepgramStt, DeepgramSttConfig};
use super::stt::deepgram_wire::ListenOptions;
use super::stt::segmenter::SegmenterConfig;
use super::stt::whisper::{WhisperStt, WhisperSttConfig};
use super::stt::whisper_engine::WhisperEngineConfig;
use super::tts::TextToSpeech;
use super::tts::deepgram::{DeepgramTts, DeepgramTtsConfig};
use super::tts::deepgram_rest::DeepgramSpeakRest;
use super::{ProviderError, ProviderHealth};
use crate::config::{LlmChoice, ProviderSettings, SttChoice, TtsChoice};

/// A primary provider and its fallback.
pub struct Pair<T: ?Sized> {
    /// Used first.
    pub primary: Option<Arc<T>>,
    /// Used when the primary fails.
    pub fallback: Option<Arc<T>>,
}

impl<T: ?Sized> Pair<T> {
    fn names(&self, name: impl Fn(&T) -> &'static str) -> Value {
        json!({
            "primary": self.primary.as_deref().map(&name),
            "fallback": self.fallback.as_deref().map(&name),
        })
    }
}

/// Every configured provider.
pub struct Providers {
    /// Speech to text.
    pub stt: Pair<dyn SpeechToText>,
    /// Language model.
    pub llm: Pair<dyn LanguageModel>,
    /// Text to speech.
    pub tts: Pair<dyn TextToSpeech>,
    /// Their health.
    pub health: ProviderHealth,
    /// The built-in recogniser when it is the primary: its model is loaded at start.
    preload_stt: Option<WhisperStt>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe().to_string())
    }
}

fn stt(
    p: &ProviderSettings,
    choice: SttChoice,
    health: &ProviderHealth,
    builtin: Option<&WhisperStt>,
) -> Option<Arc<dyn SpeechToText>> {
    match choice {
        SttChoice::None => None,
        SttChoice::Builtin => builtin.map(|w| Arc::new(w.clone()) as Arc<dyn SpeechToText>),
        SttChoice::Deepgram => {
            let mut c =
                DeepgramSttConfig::new(p.deepgram_stt_url.clone(), p.deepgram_api_key.clone());
            c.options = ListenOptions {
                model: p.deepgram_stt_model.clone(),
                endpointing_ms: p.deepgram_endpointing_ms,
                utterance_end_ms: p.deepgram_utterance_end_ms,
                interim_results: true,
                vad_events: true,
                keyterms: p.deepgram_keyterms.clone(),
            };
            c.connect_timeout = p.connect_timeout;
            c.max_reconnects = p.stt_max_reconnects;
            Some(Arc::new(DeepgramStt::new(c, health.clone())))
        }
    }
}

fn tts(
    p: &ProviderSettings,
    choice: TtsChoice,
    health: &ProviderHealth,
) -> Result<Option<Arc<dyn TextToSpeech>>, ProviderError> {
    let config = |url: &Url| {
        let mut c = DeepgramTtsConfig::new(url.clone(), p.deepgram_api_key.clone(), p.tts_format);
        c.model = p.deepgram_tts_model.clone();
        c.connect_timeout = p.connect_timeout;
        c.first_audio_timeout = p.tts_first_audio_timeout;
        c
    };
    Ok(match choice {
        TtsChoice::None => None,
        TtsChoice::Deepgram => Some(Arc::new(DeepgramTts::new(
            config(&p.deepgram_tts_url),
            health.clone(),
        ))),
        TtsChoice::DeepgramRest => Some(Arc::new(DeepgramSpeakRest::new(
            config(&p.deepgram_tts_rest_url),
            health.clone(),
        )?)),
        TtsChoice::Builtin => Some(Arc::new(super::tts::flite::FliteTts::new(health.clone()))),
    })
}

impl Providers {
    /// Builds the providers `p` selects.
    pub fn from_settings(p: &ProviderSettings) -> Result<Self, ProviderError> {
        let health = ProviderHealth::default();
        let scripted = || -> Arc<dyn LanguageModel> {
            // Loaded once per process, in the background; the agent goes by keywords until
            // it is (or if it cannot be).
            let classifier = SharedClassifier::load(&p.agent_encoder_dir);
            Arc::new(
                ScriptedAgent::new(p.business_name.clone(), health.clone())
                    .with_classifier(classifier),
            )
        };
        let llm: Option<Arc<dyn LanguageModel>> = match p.llm {
            LlmChoice::None => None,
            LlmChoice::Builtin => Some(scripted()),
            LlmChoice::OpenAi => Some(Arc::new(OpenAiChat::new(
                OpenAiConfig::from_settings(p),
                health.clone(),
            )?)),
        };
        // A second compatible server when configured; otherwise a cloud LLM falls back to
        // the built-in agent, which keeps the call going rather than transferring it.
        let llm_fallback: Option<Arc<dyn LanguageModel>> = match OpenAiConfig::fallback(p) {
            Some(c) => Some(Arc::new(OpenAiChat::new(c, health.clone())?)),
            None if p.llm == LlmChoice::OpenAi && p.llm_fallback_builtin => Some(scripted()),
            None => None,
        };
        // One recogniser (one model in memory) serves whichever slots name it.
        let builtin_stt = [p.stt, p.stt_fallback]
            .contains(&SttChoice::Builtin)
            .then(|| {
                WhisperStt::new(
                    WhisperSttConfig {
                        engine: WhisperEngineConfig {
                            model: p.whisper_model.clone(),
                            workers: p.whisper_workers,
                            queue: p.whisper_queue,
                            max_tokens: p.whisper_max_tokens,
                            threads: p.whisper_threads,
                            prompt: p.whisper_prompt.clone(),
                        },
                        segmenter: SegmenterConfig {
                            guess_ms: p.whisper_early_ms,
                            ..SegmenterConfig::default()
                        },
                    },
                    health.clone(),
                )
            });
        Ok(Self {
            stt: Pair {
                primary: stt(p, p.stt, &health, builtin_stt.as_ref()),
                fallback: stt(p, p.stt_fallback, &health, builtin_stt.as_ref()),
            },
            llm: Pair {
                primary: llm,
                fallback: llm_fallback,
            },
            tts: Pair {
                primary: tts(p, p.tts, &health)?,
                fallback: tts(p, p.tts_fallback, &health)?,
            },
            health,
            preload_stt: builtin_stt.filter(|_| p.stt == SttChoice::Builtin),
        })
    }

    /// Loads the built-in recogniser's model now when it is the primary, so the first caller
    /// does not wait for it (a server that serves calls calls this at start). As a fallback
    /// it loads when first needed (a fraction of a second), sparing the memory until then.
    pub async fn preload(&self) {
        if let Some(w) = &self.preload_stt {
            w.preload().await;
        }
    }

    /// What is configured and how it has fared, for `/readyz`.
    pub fn describe(&self) -> Value {
        json!({
            "stt": self.stt.names(|s| s.name()),
            "llm": self.llm.names(|l| l.name()),
            "tts": self.tts.names(|t| t.name()),
            "health": self.health.to_json(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Settings, Source};

    #[test]
    fn settings_build_the_chosen_providers_and_readyz_lists_them() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let s = Settings::from_source(&Source::from_pairs([
            ("DEEPGRAM_API_KEY", "dg"),
            ("OPENAI_API_KEY", "sk"),
            ("LLM_FALLBACK_BASE_URL", "http://127.0.0.1:11434"),
        ]))
        .unwrap();
        let p = Providers::from_settings(&s.providers).unwrap();
        let d = p.describe();
        assert_eq!(
            d["stt"],
            json!({"primary": "deepgram", "fallback": "whisper"})
        );
        assert_eq!(
            d["llm"],
            json!({"primary": "openai", "fallback": "openai-fallback"})
        );
        assert_eq!(
            d["tts"],
            json!({"primary": "deepgram", "fallback": "builtin"})
        );
        let health = d["health"].as_array().unwrap();
        assert_eq!(health.len(), 6);
        assert!(health.iter().all(|h| h["state"] == "up"));

        let none =
            Providers::from_settings(&Settings::from_source(&Source::new()).unwrap().providers)
                .unwrap();
        // Without keys: no cloud provider; speech is recognised and synthesized here and
        // the built-in agent talks.
        assert_eq!(none.describe()["stt"]["primary"], "whisper");
        assert_eq!(none.describe()["llm"]["primary"], "builtin");
        assert_eq!(none.describe()["tts"]["primary"], "builtin");
    }
}
