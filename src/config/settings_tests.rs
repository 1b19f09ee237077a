//! Tests of `settings`.

use super::*;

fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::from_source(&Source::from_pairs(pairs.iter().copied()))
}

#[test]
fn defaults_are_valid() {
    let s = load(&[]).unwrap();
    assert_eq!(s.limits.max_calls, 100);
    assert_eq!(s.limits.playback_lead, Duration::from_millis(200));
    assert!(s.storage.database_url.expose().starts_with("sqlite:"));
    assert!(s.storage.redis_url.is_none());
    assert_eq!(
        s.media_url("/twilio/media"),
        "ws://localhost:8080/twilio/media"
    );
}

#[test]
fn https_public_url_gives_wss_media_url() {
    let s = load(&[("PUBLIC_URL", "https://bridge.example.com")]).unwrap();
    assert_eq!(
        s.media_url("/twilio/media"),
        "wss://bridge.example.com/twilio/media"
    );
    assert_eq!(
        s.http_url("/twilio/voice"),
        "https://bridge.example.com/twilio/voice"
    );
}

#[test]
fn every_problem_is_reported_with_its_variable() {
    let err = load(&[
        ("MAX_CALLS", "lots"),
        ("PUBLIC_URL", "ftp://x"),
        ("SERVICE_DESK_NUMBER", "555-1234"),
        ("REDIS_URL", "redis://127.0.0.1"),
        ("LOG_FORMAT", "xml"),
    ])
    .unwrap_err();
    let ConfigError::Invalid(problems) = err else {
        panic!("expected validation problems")
    };
    let vars: Vec<_> = problems.iter().map(|p| p.variable).collect();
    for v in [
        "MAX_CALLS",
        "PUBLIC_URL",
        "SERVICE_DESK_NUMBER",
        "STREAM_TOKEN_SECRET",
        "LOG_FORMAT",
    ] {
        assert!(vars.contains(&v), "{v} missing from {vars:?}");
    }
}

#[test]
fn environment_wins_over_file_and_blank_means_unset() {
    let dir = std::env::temp_dir().join(format!("cb-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("callbridge.env");
    std::fs::write(&file, "MAX_CALLS=7\nECHO_DELAY_MS=900\n# comment\n").unwrap();
    let env = Source::from_pairs([("MAX_CALLS", "9"), ("TWILIO_AUTH_TOKEN", "")]);
    let s = Settings::load(Some(&file), env).unwrap();
    assert_eq!(s.limits.max_calls, 9);
    assert_eq!(s.limits.echo_delay, Duration::from_millis(900));
    assert!(s.carrier.twilio_auth_token.is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn secrets_are_hidden_in_debug_output() {
    let s = load(&[
        ("TWILIO_AUTH_TOKEN", "tok-very-secret"),
        ("DATABASE_URL", "postgres://u:pw-very-secret@db/x"),
    ])
    .unwrap();
    let dump = format!("{s:?}");
    assert!(!dump.contains("very-secret"), "{dump}");
}

#[test]
fn the_documented_example_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".env.example");
    let s = Settings::load(Some(&path), Source::new()).unwrap();
    assert_eq!(s.limits.max_calls, 100);
    assert_eq!(s.mode, CallMode::Agent);
}

#[test]
fn agent_mode_needs_speech_both_ways_and_a_language_model() {
    use crate::config::{LlmChoice, SttChoice, TtsChoice};
    // Without keys the built-in engines converse: agent mode is the default.
    let s = load(&[("MODEL_CACHE_DIR", "/var/cache/cb")]).unwrap();
    assert_eq!(s.mode, CallMode::Agent);
    let p = &s.providers;
    assert_eq!(
        (p.stt, p.stt_fallback, p.llm, p.tts),
        (
            SttChoice::Builtin,
            SttChoice::None,
            LlmChoice::Builtin,
            TtsChoice::Builtin
        )
    );
    assert_eq!(
        p.whisper_model,
        Path::new("/var/cache/cb/whisper-tiny.en-ct2/ggml-model.bin")
    );
    let s = load(&[("WHISPER_MODEL_PATH", "/models/ggml-base.en.bin")]).unwrap();
    assert_eq!(
        s.providers.whisper_model,
        Path::new("/models/ggml-base.en.bin")
    );
    let Err(ConfigError::Invalid(problems)) = load(&[("STT_PROVIDER", "none")]) else {
        panic!("agent mode without speech recognition must be refused");
    };
    let named: Vec<&str> = problems.iter().map(|p| p.variable).collect();
    assert_eq!(named, ["STT_PROVIDER"]);
    let s = load(&[("STT_PROVIDER", "none"), ("CALL_MODE", "echo")]).unwrap();
    assert_eq!(s.mode, CallMode::Echo);
    let s = load(&[
        ("CALL_MODE", "agent"),
        ("DEEPGRAM_API_KEY", "dg"),
        ("OPENAI_API_KEY", "sk"),
        ("TRANSFER_DIGIT", "#"),
    ])
    .unwrap();
    assert_eq!(s.mode, CallMode::Agent);
    // Deepgram listens; the built-in recogniser stands behind it.
    assert_eq!(
        (s.providers.stt, s.providers.stt_fallback),
        (SttChoice::Deepgram, SttChoice::Builtin)
    );
    assert_eq!(s.conversation.transfer_digit, '#');
    assert_eq!(
        s.conversation.call_control,
        super::super::CallControlMode::Twiml
    );
    for bad in [
        &[("TRANSFER_DIGIT", "00")][..],
        &[("CALL_CONTROL", "rest")][..],
        &[("BARGE_IN_MIN_SPEECH_MS", "9000")][..],
    ] {
        assert!(load(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn path_in_public_url_is_rejected() {
    assert!(load(&[("PUBLIC_URL", "https://a.example/x?y=1")]).is_err());
}

#[test]
fn the_drain_ends_calls_at_the_desk_unless_told_otherwise() {
    let s = load(&[]).unwrap();
    assert_eq!(s.limits.drain_ending, crate::call::DrainEnding::Transfer);
    assert_eq!(s.limits.drain_wind_down, Duration::from_secs(20));
    let s = load(&[("DRAIN_ENDING", "Goodbye"), ("DRAIN_WIND_DOWN_SECS", "5")]).unwrap();
    assert_eq!(s.limits.drain_ending, crate::call::DrainEnding::Goodbye);
    assert_eq!(s.limits.drain_wind_down, Duration::from_secs(5));
    let err = load(&[("DRAIN_ENDING", "hang-up")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("DRAIN_ENDING"), "{err}");
}

#[test]
fn without_an_auth_token_only_loopback_is_served_unless_allowed() {
    let err = load(&[("LISTEN_ADDR", "0.0.0.0:8080")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("TWILIO_AUTH_TOKEN"), "{err}");
    assert!(load(&[("LISTEN_ADDR", "127.0.0.1:8080")]).is_ok());
    assert!(load(&[("LISTEN_ADDR", "[::1]:8080")]).is_ok());
    assert!(
        load(&[
            ("LISTEN_ADDR", "0.0.0.0:8080"),
            ("ALLOW_UNSIGNED_WEBHOOKS", "true")
        ])
        .is_ok()
    );
    assert!(
        load(&[
            ("LISTEN_ADDR", "0.0.0.0:8080"),
            ("TWILIO_AUTH_TOKEN", "t0ken")
        ])
        .is_ok()
    );
}

#[test]
fn traces_are_off_without_an_endpoint_and_go_to_the_signal_path_with_one() {
    let s = load(&[]).unwrap();
    assert_eq!(s.traces.traces_url, None);
    let s = load(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap();
    assert_eq!(
        s.traces.traces_url.unwrap().as_str(),
        "http://collector:4318/v1/traces"
    );
    let s = load(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://tempo.example/otlp/traces",
        ),
    ])
    .unwrap();
    assert_eq!(
        s.traces.traces_url.unwrap().as_str(),
        "https://tempo.example/otlp/traces"
    );
    assert!(load(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).is_err());
}
