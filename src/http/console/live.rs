//! The live view: calls in progress with their transcript as it is spoken, over Server-Sent
//! Events. A stream starts with a snapshot of the calls in progress, then sends each event
//! (`live`); a viewer that falls behind gets a fresh snapshot instead of the events it missed.
//! Streams end when the server stops and after [`STREAM_LIFE`], when the browser reconnects on
//! its own: a signed-out or disabled account's view stops within that time.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use minijinja::context;
use tokio::sync::broadcast::error::RecvError;

use super::auth::Signed;
use super::pages;
use crate::live::{LiveBus, LiveCall, LiveEvent};
use crate::state::AppState;

/// How long one stream lasts before the browser is made to reconnect (and be checked again).
const STREAM_LIFE: Duration = Duration::from_secs(300);
/// A comment this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /console/live`.
pub async fn page(Signed(session): Signed) -> Response {
    pages::render(
        StatusCode::OK,
        "live.html",
        context! { ..pages::me(&session) },
    )
}

fn snapshot(calls: &[LiveCall]) -> Event {
    Event::default()
        .event("snapshot")
        .json_data(calls)
        .unwrap_or_else(|_| Event::default().comment("snapshot failed to encode"))
        .retry(Duration::from_secs(2))
}

fn live(event: &LiveEvent) -> Event {
    Event::default()
        .event("live")
        .json_data(event)
        .unwrap_or_else(|_| Event::default().comment("event failed to encode"))
}

struct Viewer {
    bus: LiveBus,
    events: tokio::sync::broadcast::Receiver<Arc<LiveEvent>>,
    ends: std::pin::Pin<Box<tokio::time::Sleep>>,
    closing: tokio_util::sync::CancellationToken,
}

/// The events after the snapshot, until the server closes or the stream's life is over.
fn follow(viewer: Viewer) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(viewer, |mut v| async move {
        let got = tokio::select! {
            got = v.events.recv() => got,
            () = v.closing.cancelled() => return None,
            () = &mut v.ends => return None,
        };
        let event = match got {
            Ok(e) => live(&e),
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(
                    missed,
                    "console: a live viewer fell behind; sending a snapshot"
                );
                let watch = v.bus.watch();
                v.events = watch.events;
                snapshot(&watch.calls)
            }
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), v))
    })
}

/// `GET /console/live/events`.
pub async fn events(State(state): State<AppState>, Signed(_session): Signed) -> Response {
    let watch = state.live.watch();
    let first = snapshot(&watch.calls);
    let viewer = Viewer {
        bus: state.live.clone(),
        events: watch.events,
        ends: Box::pin(tokio::time::sleep(STREAM_LIFE)),
        closing: state.live.closing(),
    };
    let stream = stream::once(async move { Ok(first) }).chain(follow(viewer));
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}
