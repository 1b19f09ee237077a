//! Building and running the application: listeners, the shared state, the call task tracker,
//! the registry heartbeat, and shutdown with draining.
//!
//! Shutdown happens in stages, and HTTP is answered through all of them: readiness fails at
//! once while calls are still taken for `DRAIN_DELAY_SECS` (load balancers notice), then stop
//! admitting calls (new callers get the busy TwiML, `<Connect action>` requests still get
//! their decisions), let active calls go on, wind down those still going
//! `DRAIN_WIND_DOWN_SECS` before the grace ends (each call finishes its turn, says a line and
//! goes to the desk or says goodbye), end what is left when the grace is over, wait for the
//! call tasks (their records are written inside them), give the last after-stream requests a
//! moment, then close HTTP without waiting on slow clients. Upgraded WebSocket tasks are
//! tracked here because the HTTP server's graceful close does not wait for them
//! (`http_server`: the accept loop with header deadlines and a connection bound).

mod http_server;
mod retention;

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
use http_server::ConnectionLimits;

/// How long ended calls get to close their sockets after the grace period.
const FINAL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// After the last call, how long hand-off decisions may wait for Twilio's after-stream request.
const AFTER_STREAM_LINGER: Duration = Duration::from_secs(5);
/// How long HTTP requests in flight get once HTTP closes (a slow client is not waited for).
const HTTP_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// The metrics listener's clients: a few scrapers, which send a request at once.
const METRICS_CONNECTIONS: ConnectionLimits = ConnectionLimits {
    header_read_timeout: Duration::from_secs(10),
    max_connections: 64,
};

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
    /// `TURN_MODEL=on` and the end-of-turn model cannot be loaded.
    #[error(transparent)]
    TurnModel(#[from] crate::turn::TurnModelError),
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
        let metrics = telemetry::metrics_handle(&settings.node_id);
        let listener = bind(settings.listen_addr).await?;
        let metrics_listener = bind(settings.metrics_addr).await?;
        let db = db::connect(settings.storage.database_url.expose()).await?;
        db::migrate(&db).await?;
        close_interrupted_calls(&db, &settings).await;
        let store = match &settings.storage.redis_url {
            Some(url) => SessionStore::Redis(
                RedisStore::connect(url.expose(), &settings.storage.redis_key_prefix).await?,
            ),
            None => SessionStore::Memory(MemoryStore::new()),
        };
        // Speech recognition is told the shop's vocabulary: the service menu's names.
        let mut provider_settings = settings.providers.clone();
        provider_settings.business_name = settings.business.name.clone();
        let menu: Vec<String> = match crate::crm::catalog::services(&db).await {
            Ok(menu) => menu.into_iter().map(|s| s.name).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the service menu for STT keyterms");
                Vec::new()
            }
        };
        if provider_settings.whisper_shop_prompt {
            provider_settings.whisper_prompt =
                crate::providers::stt::whisper_engine::shop_prompt(&settings.business.name, &menu);
        }
        provider_settings.deepgram_keyterms.extend(menu);
        let providers = Arc::new(Providers::from_settings(&provider_settings)?);
        let tools = Tools::new(db.clone(), settings.business.clone());
        let handoffs = Handoffs::from_settings(&settings, &store);
        let local_calls = LocalCalls::new(settings.carrier.stream_token_ttl);
        let turn_judge = crate::turn::from_settings(&settings.turns)?;
        let mut settings = settings;
        settings.turns.resolve(turn_judge.is_some());
        let settings = Arc::new(settings);
        let prepared = PreparedCalls::new(
            Preparer::new(settings.clone(), tools.clone(), providers.clone()),
            store.clone(),
        );
        let live = crate::live::LiveBus::new(
            &settings.node_id,
            settings
                .storage
                .redis_url
                .as_ref()
                .map(|u| (u.expose(), settings.storage.redis_key_prefix.as_str())),
        );
        let state = AppState {
            live,
            turn_judge,
            providers,
            tools,
            cap: CallCap::new(settings.limits.max_calls),
            settings,
            db,
            store,
            local_calls,
            leaving: Arc::new(AtomicBool::new(false)),
            draining: Arc::new(AtomicBool::new(false)),
            wind_down: CancellationToken::new(),
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
        let retention = tokio::spawn(retention::retention_loop(state.clone()));
        let metrics_server = {
            let stop = stop_http.clone();
            let router = crate::http::metrics_router(scrape_source(&state));
            let listener = self.metrics_listener;
            tokio::spawn(http_server::serve(
                listener,
                router,
                METRICS_CONNECTIONS,
                stop,
                HTTP_CLOSE_TIMEOUT,
            ))
        };

        let router = crate::http::router(state.clone());
        let limits = ConnectionLimits {
            header_read_timeout: settings.http.header_read_timeout,
            max_connections: settings.http.max_connections,
        };
        let mut http = tokio::spawn(http_server::serve(
            self.listener,
            router,
            limits,
            stop_http.clone(),
            HTTP_CLOSE_TIMEOUT,
        ));
        tokio::select! {
            served = &mut http => {
                // The server stopped on its own: that is a failure, not a shutdown.
                heartbeat.abort();
                retention.abort();
                stop_http.cancel();
                let _ = metrics_server.await;
                let why = match served {
                    Ok(()) => std::io::Error::other("the HTTP server stopped"),
                    Err(e) => std::io::Error::other(e),
                };
                return Err(AppError::Serve(why));
            }
            () = shutdown => {}
        }
        state.leaving.store(true, Ordering::SeqCst);
        let delay = settings.limits.drain_delay;
        if !delay.is_zero() {
            tracing::info!(
                delay_secs = delay.as_secs(),
                "shutdown requested: readiness fails; taking calls until load balancers notice"
            );
            tokio::time::sleep(delay).await;
        }
        tracing::info!("shutdown: no new calls; draining active ones");
        state.draining.store(true, Ordering::SeqCst);
        drain_calls(&state).await;
        linger_for_handoffs(&state).await;
        // Console viewers' streams end first, so they do not hold the graceful close.
        state.live.close();
        stop_http.cancel();
        // The server waits at most HTTP_CLOSE_TIMEOUT for requests in flight, then returns.
        if let Err(e) = http.await {
            tracing::warn!(error = %e, "HTTP server failed while closing");
        }
        heartbeat.abort();
        retention.abort();
        if tokio::time::timeout(HTTP_CLOSE_TIMEOUT, metrics_server)
            .await
            .is_err()
        {
            tracing::info!("a metrics scrape was still in flight at exit");
        }
        tracing::info!("callbridge stopped");
        Ok(())
    }
}

/// Calls a dead process left without an outcome get `interrupted`. One node (no Redis): all
/// of them, since no other process runs calls; several nodes: only those older than any call
/// could still be, so another node's live calls are never touched.
#[allow(clippy::disallowed_methods)] // IO edge: the wall clock stamps the records.
async fn close_interrupted_calls(db: &sea_orm::DatabaseConnection, settings: &Settings) {
    let now = chrono::Utc::now();
    let started_before = settings.storage.redis_url.as_ref().map(|_| {
        let oldest_live = settings.limits.max_call_duration
            + settings.limits.drain_delay
            + settings.limits.shutdown_grace
            + Duration::from_secs(60);
        now - chrono::Duration::from_std(oldest_live).unwrap_or(chrono::Duration::MAX)
    });
    match crate::crm::calls::mark_interrupted(db, started_before, now).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            calls = n,
            "calls left without an outcome marked interrupted"
        ),
        Err(e) => tracing::warn!(error = %e, "could not close interrupted calls"),
    }
}

/// Lets calls end on their own, winds down those still going `DRAIN_WIND_DOWN_SECS` before
/// the grace ends, and ends the rest when it is over.
async fn drain_calls(state: &AppState) {
    let limits = &state.settings.limits;
    state.calls.close();
    let grace = limits.shutdown_grace;
    let wind_down_after = grace.saturating_sub(limits.drain_wind_down);
    if tokio::time::timeout(wind_down_after, state.calls.wait())
        .await
        .is_ok()
    {
        return;
    }
    tracing::info!(
        remaining = state.calls.len(),
        "winding down the calls still going"
    );
    state.wind_down.cancel();
    if tokio::time::timeout(grace - wind_down_after, state.calls.wait())
        .await
        .is_ok()
    {
        return;
    }
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

/// Keeps answering until Twilio has fetched every hand-off decision (the caller's next step
/// after a wound-down call), for at most [`AFTER_STREAM_LINGER`].
#[allow(clippy::disallowed_methods)] // IO edge: a bounded wait on the clock.
async fn linger_for_handoffs(state: &AppState) {
    let until = std::time::Instant::now() + AFTER_STREAM_LINGER;
    while state.handoffs.pending(std::time::Instant::now()) > 0 {
        if std::time::Instant::now() >= until {
            tracing::warn!("hand-off decisions not fetched before exit");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
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
        match state.store.counts().await {
            Ok(n) => {
                let streaming = n.live.saturating_sub(n.reserved);
                metrics::gauge!(telemetry::CLUSTER_ACTIVE_CALLS).set(streaming as f64);
                metrics::gauge!(telemetry::CLUSTER_RESERVED_CALLS).set(n.reserved as f64);
            }
            Err(e) => {
                metrics::counter!(telemetry::STORE_ERRORS, "op" => "count").increment(1);
                tracing::warn!(error = %e, "registry count failed");
            }
        }
    }
}

/// The node's `/metrics`: the recorder, with the reservations under this node's cap read at
/// each scrape (they lapse with time, not on an event a counter could follow).
fn scrape_source(state: &AppState) -> crate::http::MetricsSource {
    let cap = state.cap.clone();
    crate::http::MetricsSource {
        handle: state.metrics.clone(),
        refresh: Arc::new(move || {
            #[allow(clippy::disallowed_methods)] // A scrape is IO: reservations as of now.
            let now = std::time::Instant::now();
            metrics::gauge!(telemetry::RESERVED_CALLS).set(cap.reserved(now) as f64);
        }),
    }
}
