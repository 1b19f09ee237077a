//! The `callbridge` binary: serve, validate configuration, or apply migrations.

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
    /// What calls are connected to (overrides `CALL_MODE`); this build offers `echo`, a line
    /// test that plays callers their own voice back.
    #[arg(long, global = true)]
    mode: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
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
}

#[allow(clippy::disallowed_methods)] // The binary edge hands the environment to `config`.
fn load_settings(cli: &Cli) -> Result<Settings, ConfigError> {
    let mut env = Source::from_pairs(std::env::vars());
    if let Some(mode) = &cli.mode {
        env = env.overlay(Source::from_pairs([("CALL_MODE", mode.as_str())]));
    }
    Settings::load(cli.config.as_deref(), env)
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
        Command::Serve => {
            telemetry::init_logging(settings.log_format, &settings.log_level);
            let app = Application::build(settings)
                .await
                .context("callbridge could not start")?;
            app.run_until_stopped(shutdown_signal()).await?;
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
