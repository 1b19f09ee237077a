//! Building and running the application: listeners, the shared state, the call task tracker,
//! the registry heartbeat, and shutdown with draining.
//!
//! Shutdown happens in stages: stop admitting calls (readiness fails, the webhook answers busy),
//! stop accepting HTTP, let active calls go on for the grace period, then end what is left
//! cleanly and wait for those tasks. Upgraded WebSocket tasks are tracked here because axum's
//! graceful shutdown does not wait for them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::db::{self, DbError};
use crate::handoff::Handoffs;
use crate::preparation::{PreparedCalls, Preparer};
use crate::providers::Providers;
use crate::session_store::{MemoryStore, RedisStore, SessionStore, StoreError};
use crate::state::{AppState, CallCap, LocalCalls};
use crate::telemetry;
use crate::tools::Tools;

/// How long ended calls get to close their sockets after the grace period.
const FINAL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Start-up or serving failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Redis could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP server failed.
    #[error("server error: {0}")]
    Serve(std::io::Error),
    /// A provider client could not be built.
    #[error("provider setup failed: {0}")]
    Provider(#[from] crate::providers::ProviderError),
}

/// The application, built and bound, not yet serving.
pub struct Application {
    listener: TcpListener,
    metrics_listener: TcpListener,
    state: AppState,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind { addr, source })
}

impl Application {
    /// Binds both listeners (port 0 picks a free port), opens and migrates the database, and
    /// connects the session store.
    pub async fn build(settings: Settings) -> Result<Self, AppError> {
        let metrics = telemetry::metrics_handle();
        let listener = bind(settings.listen_addr).await?;
        let metrics_listener = bind(settings.metrics_addr).await?;
        let db = db::connect(settings.storage.database_url.expose()).await?;
        db::migrate(&db).await?;
        let store = match &settings.storage.redis_url {
            Some(url) => SessionStore::Redis(
                RedisStore::connect(url.expose(), &settings.storage.redis_key_prefix).await?,
            ),
            None => SessionStore::Memory(MemoryStore::new()),
        };
        // Speech recognition is told the shop's vocabulary: the service menu's names.
        let mut provider_settings = settings.providers.clone();
        provider_settings.business_name = settings.business.name.clone();
        match crate::crm::catalog::services(&db).await {
            Ok(menu) => provider_settings
                .deepgram_keyterms
                .extend(menu.into_iter().map(|s| s.name)),
            Err(e) => tracing::warn!(error = %e, "cannot read the service menu for STT keyterms"),
        }
        let providers = Arc::new(Providers::from_settings(&provider_settings)?);
        let tools = Tools::new(db.clone(), settings.business.clone());
        let handoffs = Handoffs::from_settings(&settings);
        let settings = Arc::new(settings);
        let prepared = PreparedCalls::new(Preparer::new(
            settings.clone(),
            tools.clone(),
            providers.clone(),
        ));
        let state = AppState {
            providers,
            tools,
            cap: CallCap::new(settings.limits.max_calls),
            settings,
            db,
            store,
            local_calls: LocalCalls::default(),
            draining: Arc::new(AtomicBool::new(false)),
            hard_stop: CancellationToken::new(),
            calls: TaskTracker::new(),
            metrics,
            prepared,
            handoffs,
        };
        Ok(Application {
            listener,
            metrics_listener,
            state,
        })
    }

    /// The bound port for webhooks and media.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// The bound metrics port.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_listener.local_addr().map_or(0, |a| a.port())
    }

    /// The shared state (tests inspect the registry and cap through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains as described in the module docs.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let state = self.state;
        let settings = state.settings.clone();
        tracing::info!(
            listen = %settings.listen_addr,
            port = self.listener.local_addr().map(|a| a.port()).unwrap_or(0),
            metrics_port = self.metrics_listener.local_addr().map(|a| a.port()).unwrap_or(0),
            public_url = %settings.public_url,
            store = state.store.backend(),
            max_calls = settings.limits.max_calls,
            "callbridge serving"
        );
        if settings.staff_api_key.is_none() {
            tracing::warn!("STAFF_API_KEY is not set: the staff API under /api/v1 is disabled");
        }
        if settings.carrier.twilio_auth_token.is_none() {
            tracing::warn!("TWILIO_AUTH_TOKEN is not set: Twilio signatures are NOT checked");
        }

        let stop_http = CancellationToken::new();
        // Heartbeats go on while calls drain, so draining calls stay in the registry.
        let heartbeat = tokio::spawn(heartbeat_loop(state.clone()));
        let metrics_server = {
            let stop = stop_http.clone();
            let router = crate::http::metrics_router(state.metrics.clone());
            let listener = self.metrics_listener;
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
            })
        };

        let drain_state = state.clone();
        let stop = stop_http.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutdown requested: no new calls, draining active ones");
            drain_state.draining.store(true, Ordering::SeqCst);
            stop.cancel();
        };
        let router = crate::http::router(state.clone());
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal)
        .await
        .map_err(AppError::Serve)?;

        // HTTP is closed; let calls finish within the grace period, then end them.
        state.calls.close();
        let grace = settings.limits.shutdown_grace;
        if tokio::time::timeout(grace, state.calls.wait())
            .await
            .is_err()
        {
            tracing::info!(
                remaining = state.calls.len(),
                "grace period over: ending remaining calls"
            );
            state.hard_stop.cancel();
            if tokio::time::timeout(FINAL_CLOSE_TIMEOUT, state.calls.wait())
                .await
                .is_err()
            {
                tracing::error!(remaining = state.calls.len(), "call tasks did not end");
            }
        }
        heartbeat.abort();
        let _ = metrics_server.await;
        tracing::info!("callbridge stopped");
        Ok(())
    }
}

/// Refreshes this node's calls in the registry and publishes the cluster-wide count, until
/// aborted once every call has ended.
async fn heartbeat_loop(state: AppState) {
    let limits = &state.settings.limits;
    let mut tick = tokio::time::interval(limits.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let sids = state.local_calls.snapshot();
        if let Err(e) = state.store.heartbeat(&sids, limits.call_ttl).await {
            metrics::counter!(telemetry::STORE_ERRORS, "op" => "heartbeat").increment(1);
            tracing::warn!(error = %e, "registry heartbeat failed");
        }
        match state.store.active_count().await {
            Ok(n) => metrics::gauge!(telemetry::CLUSTER_ACTIVE_CALLS).set(n as f64),
            Err(e) => {
                metrics::counter!(telemetry::STORE_ERRORS, "op" => "count").increment(1);
                tracing::warn!(error = %e, "registry count failed");
            }
        }
    }
}
