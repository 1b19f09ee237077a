//! Which speech and language providers a call uses, with a fallback per kind, and how each
//! is reached. A kind set to `none` has no cloud provider (the built-in engines take over
//! from the offline-mode issue on); the default is the cloud provider when its key is set.

use std::time::Duration;

use url::Url;

use super::Secret;
use super::settings::Reader;
use crate::audio::{AudioFormat, Encoding, SampleRate};

/// Speech-to-text provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SttChoice {
    /// Deepgram live streaming.
    Deepgram,
    /// The built-in recogniser (whisper.cpp), on this machine.
    Builtin,
    /// None configured.
    None,
}

/// Language model provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmChoice {
    /// Any OpenAI-compatible chat completions server.
    OpenAi,
    /// The built-in scripted agent (booking, moving, cancelling, hours, prices).
    Builtin,
    /// None configured.
    None,
}

/// Text-to-speech provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtsChoice {
    /// Deepgram Aura over a WebSocket.
    Deepgram,
    /// Deepgram Aura's REST endpoint, one request per flush.
    DeepgramRest,
    /// The built-in synthesizer (Flite), on this machine.
    Builtin,
    /// None configured.
    None,
}

/// A second OpenAI-compatible endpoint, used when the first fails.
#[derive(Debug, Clone)]
pub struct LlmFallback {
    /// `LLM_FALLBACK_BASE_URL`.
    pub base_url: Url,
    /// `LLM_FALLBACK_MODEL`.
    pub model: String,
    /// `LLM_FALLBACK_API_KEY`.
    pub api_key: Option<Secret>,
}

/// Speech and language provider choices, endpoints and keys.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// `STT_PROVIDER`: `deepgram`, `builtin` (the default without `DEEPGRAM_API_KEY`) or
    /// `none`.
    pub stt: SttChoice,
    /// `STT_FALLBACK`: `builtin` (the default behind Deepgram), `deepgram` or `none`.
    pub stt_fallback: SttChoice,
    /// `WHISPER_MODEL_PATH`: the built-in recogniser's model, any whisper.cpp (ggml) Whisper
    /// file; default the one `callbridge models fetch` makes in `MODEL_CACHE_DIR`.
    pub whisper_model: std::path::PathBuf,
    /// `WHISPER_WORKERS`: utterances the built-in recogniser transcribes at once (one core
    /// each).
    pub whisper_workers: usize,
    /// `WHISPER_QUEUE`: utterances that may wait for a worker; beyond that a call's
    /// recognition fails (and moves to its fallback or a person) rather than lag.
    pub whisper_queue: usize,
    /// `WHISPER_MAX_TOKENS`: tokens one utterance may produce (Whisper can loop).
    pub whisper_max_tokens: u32,
    /// `WHISPER_THREADS`: cores one transcription may use while no other transcription is
    /// using them (a lone caller is answered sooner; under load each keeps one).
    pub whisper_threads: usize,
    /// `WHISPER_SHOP_PROMPT` (true): tell the built-in recogniser the shop's words (its name,
    /// the service menu, the weekdays) as Whisper's initial prompt.
    pub whisper_shop_prompt: bool,
    /// The prompt itself, made at start from the business name and the menu when
    /// `whisper_shop_prompt` is on; empty otherwise.
    pub whisper_prompt: String,
    /// `WHISPER_EARLY_MS`: a pause this long starts transcribing what the caller said so far,
    /// before the turn is known to be over (the transcript is ready sooner; it is wasted when
    /// the caller speaks on); 0 transcribes only at the turn's end.
    pub whisper_early_ms: u64,
    /// `LLM_PROVIDER`: `openai` (any compatible server) or `none`.
    pub llm: LlmChoice,
    /// `LLM_FALLBACK_BASE_URL` and friends: a second compatible server.
    pub llm_fallback: Option<LlmFallback>,
    /// `LLM_FALLBACK`: `builtin` (default: the built-in agent takes over a failed cloud LLM
    /// when no `LLM_FALLBACK_BASE_URL` is set) or `none` (the caller is transferred).
    pub llm_fallback_builtin: bool,
    /// `TTS_PROVIDER`: `deepgram`, `deepgram-rest`, `builtin` (the default without
    /// `DEEPGRAM_API_KEY`) or `none`.
    pub tts: TtsChoice,
    /// `TTS_FALLBACK`: `builtin` (the default behind Deepgram), `deepgram-rest`, `deepgram`
    /// or `none`.
    pub tts_fallback: TtsChoice,
    /// `DEEPGRAM_API_KEY`.
    pub deepgram_api_key: Option<Secret>,
    /// `DEEPGRAM_STT_URL`: live transcription WebSocket.
    pub deepgram_stt_url: Url,
    /// `DEEPGRAM_STT_MODEL`.
    pub deepgram_stt_model: String,
    /// `DEEPGRAM_ENDPOINTING_MS`: silence that ends a segment. Turns end sooner on local
    /// voice activity (`Finalize`); this is the backstop, long enough not to cut a caller
    /// who pauses at a comma.
    pub deepgram_endpointing_ms: u32,
    /// `DEEPGRAM_UTTERANCE_END_MS`: word-timing gap that ends an utterance (0: off).
    pub deepgram_utterance_end_ms: u32,
    /// `DEEPGRAM_KEYTERMS`: comma-separated words to favour, besides the service menu.
    pub deepgram_keyterms: Vec<String>,
    /// The shop's name, for the built-in agent's words (set from `BUSINESS_NAME` at start).
    pub business_name: String,
    /// `AGENT_ENCODER_DIR`: the built-in agent's sentence encoder (all-MiniLM-L6-v2's
    /// `model.safetensors` and `vocab.txt`); default the folder `callbridge models fetch`
    /// fills in `MODEL_CACHE_DIR`. Without it the agent understands by keywords.
    pub agent_encoder_dir: std::path::PathBuf,
    /// `STT_MAX_RECONNECTS`: reconnects in a row before the provider is declared down.
    pub stt_max_reconnects: u32,
    /// `DEEPGRAM_TTS_URL`: streaming speech WebSocket.
    pub deepgram_tts_url: Url,
    /// `DEEPGRAM_TTS_REST_URL`: the REST speech endpoint.
    pub deepgram_tts_rest_url: Url,
    /// `DEEPGRAM_TTS_MODEL`: the voice.
    pub deepgram_tts_model: String,
    /// `TTS_FORMAT`: audio asked of the TTS provider, `mulaw-8000` (straight to Twilio) or
    /// e.g. `linear16-24000` (resampled for the carrier).
    pub tts_format: AudioFormat,
    /// `OPENAI_API_KEY`.
    pub openai_api_key: Option<Secret>,
    /// `OPENAI_BASE_URL`: any OpenAI-compatible chat completions server.
    pub openai_base_url: Url,
    /// `OPENAI_MODEL`.
    pub openai_model: String,
    /// `PROVIDER_TIMEOUT_MS`: ceiling on any single provider request.
    pub request_timeout: Duration,
    /// `PROVIDER_CONNECT_TIMEOUT_MS`: opening a connection to a provider.
    pub connect_timeout: Duration,
    /// `LLM_FIRST_TOKEN_TIMEOUT_MS`: from sending a completion request to its first token.
    pub llm_first_token_timeout: Duration,
    /// `LLM_MAX_RETRIES`: retries of a completion that failed before its first token (429,
    /// 5xx, connection errors); never after, or the caller would hear words twice.
    pub llm_max_retries: u32,
    /// `LLM_MAX_TOKENS`: cap on one answer (spoken answers are short).
    pub llm_max_tokens: u32,
    /// `LLM_TEMPERATURE`: sampling temperature, 0 to 2.
    pub llm_temperature: f32,
    /// `TTS_FIRST_AUDIO_TIMEOUT_MS`: from a flush to its first audio.
    pub tts_first_audio_timeout: Duration,
}

/// The value of `name`, an empty one counting as unset (so a copied `.env.example` with
/// only a key filled in gets the defaults that key implies).
fn choice(r: &Reader<'_>, name: &str) -> Option<String> {
    r.optional(name).filter(|v| !v.trim().is_empty())
}

fn stt_choice(r: &mut Reader<'_>, name: &'static str, default: SttChoice) -> SttChoice {
    match choice(r, name).as_deref() {
        None => default,
        Some("deepgram") => SttChoice::Deepgram,
        Some("builtin") => SttChoice::Builtin,
        Some("none") => SttChoice::None,
        Some(other) => {
            r.problem(
                name,
                format!("{other:?}: use `deepgram`, `builtin` or `none`"),
            );
            default
        }
    }
}

fn tts_choice(r: &mut Reader<'_>, name: &'static str, default: TtsChoice) -> TtsChoice {
    match choice(r, name).as_deref() {
        None => default,
        Some("deepgram") => TtsChoice::Deepgram,
        Some("deepgram-rest") => TtsChoice::DeepgramRest,
        Some("builtin") => TtsChoice::Builtin,
        Some("none") => TtsChoice::None,
        Some(other) => {
            r.problem(
                name,
                format!("{other:?}: use `deepgram`, `deepgram-rest`, `builtin` or `none`"),
            );
            default
        }
    }
}

fn tts_format(r: &mut Reader<'_>) -> AudioFormat {
    let raw = r.string("TTS_FORMAT", "mulaw-8000");
    let parsed = raw.split_once('-').and_then(|(enc, rate)| {
        let encoding = match enc {
            "mulaw" => Encoding::Mulaw,
            "alaw" => Encoding::Alaw,
            "linear16" => Encoding::Linear16,
            _ => return None,
        };
        let rate = SampleRate::from_hz(rate.parse().ok()?).ok()?;
        Some(AudioFormat::new(encoding, rate))
    });
    parsed.unwrap_or_else(|| {
        r.problem(
            "TTS_FORMAT",
            format!("{raw:?}: use encoding-rate, e.g. mulaw-8000 or linear16-24000"),
        );
        AudioFormat::MULAW_8K
    })
}

fn millis(r: &mut Reader<'_>, name: &'static str, default: u64, min: u64, max: u64) -> Duration {
    Duration::from_millis(r.ranged(name, default, min, max))
}

pub(super) fn read(r: &mut Reader<'_>) -> ProviderSettings {
    let deepgram_api_key = r
        .optional("DEEPGRAM_API_KEY")
        .filter(|k| !k.is_empty())
        .map(Secret::new);
    let openai_api_key = r
        .optional("OPENAI_API_KEY")
        .filter(|k| !k.is_empty())
        .map(Secret::new);
    let has_deepgram = deepgram_api_key.is_some();
    let stt = stt_choice(
        r,
        "STT_PROVIDER",
        // Without a key, speech is recognised on this machine.
        if has_deepgram {
            SttChoice::Deepgram
        } else {
            SttChoice::Builtin
        },
    );
    let stt_fallback = stt_choice(
        r,
        "STT_FALLBACK",
        if stt == SttChoice::Deepgram {
            SttChoice::Builtin
        } else {
            SttChoice::None
        },
    );
    let llm = match choice(r, "LLM_PROVIDER").as_deref() {
        None if openai_api_key.is_some() => LlmChoice::OpenAi,
        // Without a key the built-in agent converses.
        None | Some("builtin") => LlmChoice::Builtin,
        Some("none") => LlmChoice::None,
        Some("openai") => LlmChoice::OpenAi,
        Some(other) => {
            r.problem(
                "LLM_PROVIDER",
                format!("{other:?}: use `openai` (any compatible server), `builtin` or `none`"),
            );
            LlmChoice::None
        }
    };
    let llm_fallback_builtin = match choice(r, "LLM_FALLBACK").as_deref() {
        None | Some("builtin") => true,
        Some("none") => false,
        Some(other) => {
            r.problem(
                "LLM_FALLBACK",
                format!("{other:?}: use `builtin` or `none`"),
            );
            true
        }
    };
    let llm_fallback = r
        .optional("LLM_FALLBACK_BASE_URL")
        .filter(|u| !u.is_empty())
        .map(|_| LlmFallback {
            base_url: r.url(
                "LLM_FALLBACK_BASE_URL",
                "https://api.openai.com",
                &["http", "https"],
            ),
            model: r.string("LLM_FALLBACK_MODEL", "gpt-4o-mini"),
            api_key: r
                .optional("LLM_FALLBACK_API_KEY")
                .filter(|k| !k.is_empty())
                .map(Secret::new),
        });
    // Without a key, speech is synthesized on this machine; with one, the built-in voice
    // stands behind Deepgram (an outage of Deepgram's WebSocket is seldom one of Deepgram
    // alone, so its REST form is a choice, not the default).
    let (tts_default, tts_fallback_default) = if has_deepgram {
        (TtsChoice::Deepgram, TtsChoice::Builtin)
    } else {
        (TtsChoice::Builtin, TtsChoice::None)
    };
    let tts = tts_choice(r, "TTS_PROVIDER", tts_default);
    let tts_fallback = tts_choice(r, "TTS_FALLBACK", tts_fallback_default);
    let uses_deepgram = [stt, stt_fallback].contains(&SttChoice::Deepgram)
        || [tts, tts_fallback]
            .iter()
            .any(|t| matches!(t, TtsChoice::Deepgram | TtsChoice::DeepgramRest));
    if uses_deepgram && !has_deepgram {
        r.problem(
            "DEEPGRAM_API_KEY",
            "a Deepgram provider is selected but no key is set; set DEEPGRAM_API_KEY or choose `none`".into(),
        );
    }
    let deepgram_keyterms = r
        .string("DEEPGRAM_KEYTERMS", "")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    let mut p = ProviderSettings {
        stt,
        stt_fallback,
        // Set from MODEL_CACHE_DIR by the caller unless given.
        whisper_model: r
            .optional("WHISPER_MODEL_PATH")
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_default(),
        whisper_workers: r.ranged("WHISPER_WORKERS", 2, 1, 64) as usize,
        whisper_queue: r.ranged("WHISPER_QUEUE", 32, 1, 10_000) as usize,
        whisper_max_tokens: r.ranged("WHISPER_MAX_TOKENS", 64, 8, 224) as u32,
        whisper_threads: r.ranged("WHISPER_THREADS", 2, 1, 64) as usize,
        whisper_shop_prompt: r.parsed("WHISPER_SHOP_PROMPT", true, "true or false"),
        whisper_prompt: String::new(),
        whisper_early_ms: r.ranged("WHISPER_EARLY_MS", 200, 0, 5_000),
        llm,
        llm_fallback,
        llm_fallback_builtin,
        tts,
        tts_fallback,
        deepgram_api_key,
        deepgram_stt_url: r.url(
            "DEEPGRAM_STT_URL",
            "wss://api.deepgram.com/v1/listen",
            &["ws", "wss"],
        ),
        deepgram_stt_model: r.string("DEEPGRAM_STT_MODEL", "nova-3"),
        deepgram_endpointing_ms: r.ranged("DEEPGRAM_ENDPOINTING_MS", 500, 10, 5_000) as u32,
        deepgram_utterance_end_ms: r.ranged("DEEPGRAM_UTTERANCE_END_MS", 1000, 0, 5_000) as u32,
        deepgram_keyterms,
        business_name: String::new(),
        // Set from MODEL_CACHE_DIR by the caller unless given.
        agent_encoder_dir: r
            .optional("AGENT_ENCODER_DIR")
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_default(),
        stt_max_reconnects: r.ranged("STT_MAX_RECONNECTS", 3, 0, 20) as u32,
        deepgram_tts_url: r.url(
            "DEEPGRAM_TTS_URL",
            "wss://api.deepgram.com/v1/speak",
            &["ws", "wss"],
        ),
        deepgram_tts_rest_url: r.url(
            "DEEPGRAM_TTS_REST_URL",
            "https://api.deepgram.com/v1/speak",
            &["http", "https"],
        ),
        deepgram_tts_model: r.string("DEEPGRAM_TTS_MODEL", "aura-2-thalia-en"),
        tts_format: tts_format(r),
        openai_api_key,
        openai_base_url: r.url(
            "OPENAI_BASE_URL",
            "https://api.openai.com",
            &["http", "https"],
        ),
        openai_model: r.string("OPENAI_MODEL", "gpt-4o-mini"),
        request_timeout: millis(r, "PROVIDER_TIMEOUT_MS", 10_000, 100, 120_000),
        connect_timeout: millis(r, "PROVIDER_CONNECT_TIMEOUT_MS", 1_500, 50, 60_000),
        llm_first_token_timeout: millis(r, "LLM_FIRST_TOKEN_TIMEOUT_MS", 4_000, 50, 60_000),
        llm_max_retries: r.ranged("LLM_MAX_RETRIES", 2, 0, 10) as u32,
        llm_max_tokens: r.ranged("LLM_MAX_TOKENS", 300, 16, 32_768) as u32,
        llm_temperature: 0.3,
        tts_first_audio_timeout: millis(r, "TTS_FIRST_AUDIO_TIMEOUT_MS", 3_000, 50, 60_000),
    };
    let t: f32 = r.parsed("LLM_TEMPERATURE", 0.3, "use a number from 0 to 2, e.g. 0.3");
    if (0.0..=2.0).contains(&t) {
        p.llm_temperature = t;
    } else {
        r.problem(
            "LLM_TEMPERATURE",
            format!("{t} is out of range; use 0 to 2"),
        );
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, Settings, Source};

    fn load(pairs: &[(&str, &str)]) -> Result<ProviderSettings, ConfigError> {
        Settings::from_source(&Source::from_pairs(pairs.iter().copied())).map(|s| s.providers)
    }

    fn problem_vars(pairs: &[(&str, &str)]) -> Vec<&'static str> {
        match load(pairs) {
            Err(ConfigError::Invalid(problems)) => problems.iter().map(|p| p.variable).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_keys_no_cloud_provider_is_chosen() {
        let p = load(&[]).unwrap();
        assert_eq!(
            (p.stt, p.llm, p.tts),
            (SttChoice::Builtin, LlmChoice::Builtin, TtsChoice::Builtin)
        );
        let p = load(&[
            ("TTS_PROVIDER", "none"),
            ("STT_PROVIDER", "none"),
            ("CALL_MODE", "echo"),
        ])
        .unwrap();
        assert_eq!((p.tts, p.stt), (TtsChoice::None, SttChoice::None));
        assert_eq!(p.tts_format, AudioFormat::MULAW_8K);
    }

    #[test]
    fn keys_choose_the_cloud_providers_with_the_built_in_engines_behind_them() {
        // Empty choices (as in a copied .env.example) mean "the default".
        let p = load(&[
            ("DEEPGRAM_API_KEY", "dg"),
            ("OPENAI_API_KEY", "sk"),
            ("STT_PROVIDER", ""),
            ("TTS_FALLBACK", " "),
        ])
        .unwrap();
        assert_eq!(p.stt, SttChoice::Deepgram);
        assert_eq!(p.llm, LlmChoice::OpenAi);
        assert_eq!(
            (p.tts, p.tts_fallback),
            (TtsChoice::Deepgram, TtsChoice::Builtin)
        );
        assert_eq!(p.stt_fallback, SttChoice::Builtin);
        let p = load(&[
            ("DEEPGRAM_API_KEY", "dg"),
            ("TTS_FALLBACK", "deepgram-rest"),
        ])
        .unwrap();
        assert_eq!(p.tts_fallback, TtsChoice::DeepgramRest);
    }

    #[test]
    fn a_local_llm_needs_no_key_and_a_fallback_server_can_be_named() {
        let p = load(&[
            ("LLM_PROVIDER", "openai"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:11434"),
            ("LLM_FALLBACK_BASE_URL", "https://api.groq.com/openai"),
            ("LLM_FALLBACK_MODEL", "llama-3.1-8b-instant"),
            ("TTS_FORMAT", "linear16-24000"),
            ("DEEPGRAM_KEYTERMS", "oil change, Lone Star ,"),
            ("DEEPGRAM_API_KEY", "dg"),
        ])
        .unwrap();
        assert_eq!(p.llm, LlmChoice::OpenAi);
        assert!(p.openai_api_key.is_none());
        let f = p.llm_fallback.unwrap();
        assert_eq!(f.model, "llama-3.1-8b-instant");
        assert_eq!(
            p.tts_format,
            AudioFormat::new(Encoding::Linear16, SampleRate::Hz24000)
        );
        assert_eq!(p.deepgram_keyterms, ["oil change", "Lone Star"]);
    }

    #[test]
    fn a_deepgram_choice_without_a_key_and_unknown_names_are_problems() {
        assert_eq!(
            problem_vars(&[("TTS_PROVIDER", "deepgram")]),
            ["DEEPGRAM_API_KEY"]
        );
        let vars = problem_vars(&[
            ("STT_PROVIDER", "whisper-cloud"),
            ("LLM_PROVIDER", "claude"),
            ("TTS_FORMAT", "mp3-44100"),
            ("LLM_TEMPERATURE", "3"),
        ]);
        for v in [
            "STT_PROVIDER",
            "LLM_PROVIDER",
            "TTS_FORMAT",
            "LLM_TEMPERATURE",
        ] {
            assert!(vars.contains(&v), "{vars:?}");
        }
    }
}
