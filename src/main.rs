//! The `callbridge` binary: serve, validate configuration, apply migrations, seed the demo
//! CRM, fetch models, or place a simulated call.

use std::path::PathBuf;

use anyhow::Context;
use callbridge::config::{ConfigError, Source};
use callbridge::{Application, Settings, crm, db, telemetry};
use clap::{Parser, Subcommand};

/// Answers a car service center's phone line: bridges a carrier's media stream to speech and
/// language engines.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A `NAME=value` settings file, under the environment (`CALLBRIDGE_CONFIG` also names one).
    #[arg(long, global = true, env = "CALLBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    /// What calls are connected to (overrides `CALL_MODE`): `agent`, the conversation (the
    /// default), or `echo`, a line test that plays callers their own voice back.
    #[arg(long, global = true)]
    mode: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start; boxing buys nothing
enum Command {
    /// Serve webhooks, media sockets and metrics (the default).
    Serve,
    /// Validate the configuration and print it (secrets hidden), without serving.
    CheckConfig,
    /// Apply database migrations and exit.
    Migrate,
    /// Load the demo CRM (service menu, bays, hours, customers, a week of bookings).
    Seed {
        /// Do nothing if the database already has customers.
        #[arg(long)]
        if_empty: bool,
        /// A fixture file in the shape of `fixtures/demo_crm.json` (default: the built-in one).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Service desk accounts for the console.
    Staff {
        #[command(subcommand)]
        action: StaffAction,
    },
    /// Model files for the built-in engines.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Phone the running callbridge as a known customer who books an oil change (built-in
    /// caller clips), then print the transcript, each turn's latency and the booking from
    /// its database, and save the agent's audio.
    Demo {
        /// The callbridge to call (default: its `PUBLIC_URL`).
        #[arg(long)]
        url: Option<url::Url>,
        /// Connect here instead of to `--url` (default: `LISTEN_ADDR` on this machine).
        #[arg(long)]
        connect_to: Option<url::Url>,
        /// Where to save what the caller heard, as a WAV file.
        #[arg(long, default_value = "data/demo-call.wav")]
        save: PathBuf,
    },
    /// Place a simulated call against a callbridge, acting as Twilio: plays caller clips as
    /// turns at real-time pace, answers marks, prints each turn's latency, saves the agent's
    /// audio.
    Call {
        /// The callbridge to call: its public base URL (`PUBLIC_URL`), which requests are
        /// signed for.
        #[arg(long, default_value = "http://localhost:8080")]
        url: url::Url,
        /// A caller turn: a WAV file (8 kHz mu-law or PCM; converted as needed), `FILE@MS` to
        /// speak over the agent MS ms after it starts, or `dtmf:D` to press a key. Repeat.
        #[arg(long = "turn", value_name = "FILE[@MS]|dtmf:D")]
        turns: Vec<String>,
        /// Connect here instead of to `--url` (same paths), e.g. http://127.0.0.1:8080 when
        /// PUBLIC_URL is a tunnel's name.
        #[arg(long)]
        connect_to: Option<url::Url>,
        /// Sign the webhook and handshake with this Twilio auth token (the server's).
        #[arg(long, env = "SIM_TWILIO_AUTH_TOKEN")]
        auth_token: Option<String>,
        /// The caller's number.
        #[arg(long, default_value = "+15125550101")]
        from: String,
        /// Save what the caller heard as a WAV file.
        #[arg(long)]
        save: Option<PathBuf>,
        /// Pause before the caller answers, ms.
        #[arg(long, default_value_t = 700)]
        answer_gap_ms: u64,
        /// Give up on the call after this many seconds.
        #[arg(long, default_value_t = 120)]
        max_secs: u64,
    },
}

/// What to do with staff accounts.
#[derive(Subcommand)]
enum StaffAction {
    /// Create an account. The password is read from `STAFF_PASSWORD` when set, else as the
    /// first line of standard input (so it appears in no process list or shell history).
    Add {
        /// The name they sign in with.
        name: String,
        /// `advisor` (works the desk) or `admin` (also manages accounts).
        #[arg(long, default_value = "advisor")]
        role: String,
    },
}

/// What to do with models.
#[derive(Subcommand)]
enum ModelsAction {
    /// Fetch the pinned models (the Whisper recogniser, the Smart Turn end-of-turn model,
    /// the built-in agent's sentence encoder)
    /// into `MODEL_CACHE_DIR` once (sha256-checked) and convert the Whisper weights for
    /// whisper.cpp once; prints the model files' paths.
    Fetch,
}

/// `FILE`, `FILE@MS` or `dtmf:D`.
fn parse_turn(spec: &str) -> anyhow::Result<callbridge::simulator::leg::CallerTurn> {
    use callbridge::simulator::leg::CallerTurn;
    if let Some(d) = spec.strip_prefix("dtmf:") {
        let digit = d
            .chars()
            .next()
            .filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#')
            .with_context(|| format!("{spec}: use dtmf:0..9, * or #"))?;
        return Ok(CallerTurn {
            audio: Vec::new(),
            barge_in_after: None,
            dtmf: Some(digit),
        });
    }
    let (file, barge) = match spec.rsplit_once('@') {
        Some((f, ms)) => (
            f,
            Some(std::time::Duration::from_millis(
                ms.parse()
                    .with_context(|| format!("{spec}: @MS must be a number"))?,
            )),
        ),
        None => (spec, None),
    };
    Ok(CallerTurn {
        audio: callbridge::simulator::run::load_clip(std::path::Path::new(file))?,
        barge_in_after: barge,
        dtmf: None,
    })
}

#[allow(clippy::disallowed_methods)] // The binary edge hands the environment to `config`.
fn load_settings(cli: &Cli) -> Result<Settings, ConfigError> {
    let mut env = Source::from_pairs(std::env::vars());
    if let Some(mode) = &cli.mode {
        env = env.overlay(Source::from_pairs([("CALL_MODE", mode.as_str())]));
    }
    Settings::load(cli.config.as_deref(), env)
}

/// A random Twilio-shaped call sid.
fn new_call_sid() -> anyhow::Result<String> {
    let mut sid = [0u8; 16];
    getrandom::fill(&mut sid).context("random call sid")?;
    Ok(format!(
        "CA{}",
        sid.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// `callbridge demo`: see [`callbridge::simulator::demo`].
async fn demo(
    settings: &Settings,
    url: Option<url::Url>,
    connect_to: Option<url::Url>,
    save: &std::path::Path,
) -> anyhow::Result<()> {
    use callbridge::simulator::{demo, run};
    let base_url = url.unwrap_or_else(|| settings.public_url.clone());
    let listen = settings.listen_addr;
    let local = if listen.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], listen.port()))
    } else {
        listen
    };
    let connect_to = match connect_to {
        Some(c) => c,
        None => url::Url::parse(&format!("http://{local}"))?,
    };
    let call_sid = new_call_sid()?;
    println!(
        "Calling {base_url} as {} ({call_sid}): a customer books an oil change.",
        demo::CALLER
    );
    let summary = run::place_call(
        run::CallPlan {
            base_url,
            connect_to: Some(connect_to),
            auth_token: settings
                .carrier
                .twilio_auth_token
                .as_ref()
                .map(|t| t.expose().to_string()),
            from: demo::CALLER.into(),
            to: settings.business.phone.clone(),
            call_sid: call_sid.clone(),
            turns: demo::turns(),
            answer_gap: std::time::Duration::from_millis(700),
            patience: std::time::Duration::from_secs(15),
            max_duration: std::time::Duration::from_secs(180),
            connect_delay: std::time::Duration::ZERO,
        },
        |t| {
            println!(
                "  caller turn {} said ({:.1} s of audio)",
                t.index + 1,
                t.caller_audio.as_secs_f64()
            )
        },
    )
    .await
    .context("the demo call failed (is the server running? `scripts/run.sh` starts it)")?;
    let conn = db::connect(settings.storage.database_url.expose()).await?;
    let schedule = callbridge::crm::Schedule::for_business(&settings.business);
    let record = demo::read_record(
        &conn,
        &schedule,
        &call_sid,
        std::time::Duration::from_secs(5),
    )
    .await?
    .context("the server did not log the call (is it using the same DATABASE_URL?)")?;
    print!("{}", demo::report(&summary, &record));
    if let Some(dir) = save.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let bytes = callbridge::audio::wav::write(
        callbridge::audio::AudioFormat::MULAW_8K,
        &summary.agent_audio,
    );
    std::fs::write(save, bytes).with_context(|| format!("writing {}", save.display()))?;
    println!(
        "The agent's audio ({:.1} s, as the caller heard it) is in {}",
        summary.agent_audio.len() as f64 / 8000.0,
        save.display()
    );
    Ok(())
}

/// reqwest (rustls, no provider) and sqlx (ring) must agree on one rustls crypto provider, or
/// the first TLS connection panics: install ring's once, before anything connects.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    install_crypto_provider();
    let cli = Cli::parse();
    let settings = match load_settings(&cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("callbridge: {e}");
            std::process::exit(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            use std::io::Write;
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "configuration is valid:\n{settings:#?}");
            Ok(())
        }
        Command::Migrate => {
            telemetry::init_logging(settings.log_format, &settings.log_level);
            let conn = db::connect(settings.storage.database_url.expose()).await?;
            db::migrate(&conn).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Models {
            action: ModelsAction::Fetch,
        } => {
            let spec = &callbridge::models::WHISPER_TINY_EN_CT2;
            let dir = callbridge::models::fetch(
                spec,
                &settings.model_index_url,
                &settings.model_cache_dir,
            )
            .await
            .with_context(|| format!("fetching {}", spec.name))?;
            let ggml = tokio::task::spawn_blocking(move || callbridge::models::whisper_ggml(&dir))
                .await?
                .context("converting the Whisper model for whisper.cpp")?;
            println!("{}: {}", spec.name, ggml.display());
            let turn = &callbridge::models::SMART_TURN_V3;
            callbridge::models::fetch(turn, &settings.model_index_url, &settings.model_cache_dir)
                .await
                .with_context(|| format!("fetching {}", turn.name))?;
            let path = callbridge::models::smart_turn_path(turn, &settings.model_cache_dir);
            println!("{}: {}", turn.name, path.display());
            let encoder = &callbridge::models::MINILM_L6_V2;
            let dir = callbridge::models::fetch(
                encoder,
                &settings.model_index_url,
                &settings.model_cache_dir,
            )
            .await
            .with_context(|| format!("fetching {}", encoder.name))?;
            println!("{}: {}", encoder.name, dir.display());
            Ok(())
        }
        Command::Staff {
            action: StaffAction::Add { name, role },
        } => {
            telemetry::init_logging(settings.log_format, &settings.log_level);
            let role = callbridge::staff::Role::parse(&role)
                .ok_or_else(|| callbridge::staff::StaffError::BadRole(role.clone()))?;
            // A one-off command's input at the binary edge, not the server's configuration.
            #[allow(clippy::disallowed_methods)]
            let password = match std::env::var("STAFF_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    eprintln!("Password for {name} (one line on standard input):");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let conn = db::connect(settings.storage.database_url.expose()).await?;
            db::migrate(&conn).await?;
            #[allow(clippy::disallowed_methods)] // The binary edge reads the clock.
            let now = chrono::Utc::now();
            let member =
                callbridge::staff::accounts::add(&conn, &name, role, &password, now).await?;
            callbridge::staff::audit::record(
                &conn,
                callbridge::staff::audit::Change {
                    actor: callbridge::staff::audit::Actor::Staff(&member),
                    action: "staff.add",
                    target: Some(format!("staff:{}", member.id)),
                    detail: Some(serde_json::json!({"name": member.name, "role": role.as_str(), "by": "command line"})),
                },
                now,
            )
            .await?;
            println!("staff account {} ({}) created", member.name, member.role);
            Ok(())
        }
        Command::Seed { if_empty, file } => {
            telemetry::init_logging(settings.log_format, &settings.log_level);
            let conn = db::connect(settings.storage.database_url.expose()).await?;
            db::migrate(&conn).await?;
            if if_empty && !crm::seed::is_empty(&conn).await? {
                tracing::info!("database already has customers: not seeding");
                return Ok(());
            }
            let text = match file {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => crm::seed::DEMO_FIXTURE.to_string(),
            };
            let data = crm::seed::parse(&text)?;
            let tz = settings.business.timezone;
            #[allow(clippy::disallowed_methods)] // The binary edge reads the clock.
            let today = chrono::Utc::now().with_timezone(&tz).date_naive();
            let report = crm::seed::seed(&conn, &data, tz, today).await?;
            tracing::info!(
                customers = report.customers,
                vehicles = report.vehicles,
                appointments = report.appointments,
                "demo CRM loaded"
            );
            Ok(())
        }
        Command::Call {
            url,
            turns,
            connect_to,
            auth_token,
            from,
            save,
            answer_gap_ms,
            max_secs,
        } => {
            use callbridge::simulator::run::{CallPlan, place_call};
            let turns = turns
                .iter()
                .map(|t| parse_turn(t))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let call_sid = new_call_sid()?;
            println!(
                "calling {url} as {from} ({call_sid}), {} turn(s)",
                turns.len()
            );
            let summary = place_call(
                CallPlan {
                    base_url: url,
                    connect_to,
                    auth_token,
                    from,
                    to: settings.business.phone.clone(),
                    call_sid,
                    turns,
                    answer_gap: std::time::Duration::from_millis(answer_gap_ms),
                    patience: std::time::Duration::from_secs(15),
                    max_duration: std::time::Duration::from_secs(max_secs),
                    connect_delay: std::time::Duration::ZERO,
                },
                |t| match t.latency {
                    Some(l) => println!(
                        "turn {}: caller spoke {:.1} s; agent answered after {} ms",
                        t.index + 1,
                        t.caller_audio.as_secs_f64(),
                        l.as_millis()
                    ),
                    None => println!(
                        "turn {}: caller spoke {:.1} s; no answer",
                        t.index + 1,
                        t.caller_audio.as_secs_f64()
                    ),
                },
            )
            .await?;
            println!(
                "call ended{}; the caller heard {:.1} s of agent audio",
                summary
                    .close_reason
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                summary.agent_audio.len() as f64 / 8000.0
            );
            if let Some(g) = summary.greeted_after {
                println!("the agent was first heard {} ms after start", g.as_millis());
            }
            if let Some(twiml) = &summary.after_stream {
                println!("after the stream, Twilio is told: {twiml}");
            }
            if let Some(path) = save {
                let bytes = callbridge::audio::wav::write(
                    callbridge::audio::AudioFormat::MULAW_8K,
                    &summary.agent_audio,
                );
                std::fs::write(&path, bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("agent audio saved to {}", path.display());
            }
            Ok(())
        }
        Command::Demo {
            url,
            connect_to,
            save,
        } => demo(&settings, url, connect_to, &save).await,
        Command::Serve => {
            telemetry::init_logging(settings.log_format, &settings.log_level);
            // The exporter's blocking HTTP client lives on its own thread, away from the runtime.
            let (trace_settings, node) = (settings.traces.clone(), settings.node_id.clone());
            let traces =
                std::thread::spawn(move || telemetry::traces::init(&trace_settings, &node))
                    .join()
                    .map_err(|_| anyhow::anyhow!("setting up traces panicked"))?
                    .context("callbridge could not set up traces")?;
            if let Some(url) = &settings.traces.traces_url {
                // Host and path only: a URL may carry credentials.
                let to = format!("{}{}", url.host_str().unwrap_or(""), url.path());
                tracing::info!(%to, "exporting traces (OTLP/HTTP)");
            }
            let app = Application::build(settings)
                .await
                .context("callbridge could not start")?;
            // The built-in recogniser's model is read now, not when the first caller speaks.
            let providers = app.state().providers.clone();
            tokio::spawn(async move { providers.preload().await });
            app.run_until_stopped(shutdown_signal()).await?;
            if let Some(provider) = traces {
                // The last spans (the drained calls') go out before the process does.
                let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
                if !matches!(flushed, Ok(Ok(()))) {
                    tracing::warn!("some spans could not be exported at exit");
                }
            }
            Ok(())
        }
    }
}

/// Resolves on SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
