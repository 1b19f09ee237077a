//! Media WebSocket upgrades for each carrier. Authentication happens here, before the upgrade;
//! the socket is then handed to the call driver, tracked so shutdown can wait for it.

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::twilio::signed;
use crate::carrier::CarrierKind;
use crate::driver;
use crate::state::AppState;

/// Socket read buffer: a Twilio media frame is ~400 bytes, so 4 KiB holds several without the
/// default 128 KiB buffer that is zero-filled before every read.
const READ_BUFFER: usize = 4096;
/// Write buffer: frames are batched and flushed once per loop turn.
const WRITE_BUFFER: usize = 8192;
/// Hard ceiling above which the socket itself fails. Frames between `MAX_FRAME_BYTES` and this
/// are refused and counted by the session while the call goes on.
const SOCKET_MESSAGE_CEILING: usize = 1 << 20;

/// Hands an authenticated socket to a tracked call driver; refuses while draining.
fn upgrade(ws: WebSocketUpgrade, state: AppState, kind: CarrierKind) -> Response {
    if state.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let tracked = state.calls.token();
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(SOCKET_MESSAGE_CEILING)
        .max_message_size(SOCKET_MESSAGE_CEILING)
        .max_frame_size(SOCKET_MESSAGE_CEILING)
        .on_upgrade(move |socket| async move {
            driver::run(socket, kind, state).await;
            drop(tracked);
        })
}

/// `GET /twilio/media`: the handshake must carry a valid `X-Twilio-Signature` over our
/// `wss://` URL (when an auth token is configured).
pub async fn twilio_media(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let url = state.settings.media_url("/twilio/media");
    if !signed(&state, &headers, &url, &[]) {
        tracing::warn!(%url, "media socket refused: missing or invalid X-Twilio-Signature");
        return (StatusCode::FORBIDDEN, "invalid signature").into_response();
    }
    upgrade(ws, state, CarrierKind::Twilio)
}

/// Header in which Telnyx sends the streaming auth token configured on its side.
const TELNYX_AUTH_HEADER: &str = "x-telnyx-streaming-auth-token";

/// `GET /telnyx/media`: requires the configured streaming auth token.
pub async fn telnyx_media(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(expected) = &state.settings.carrier.telnyx_stream_auth_token else {
        tracing::warn!("Telnyx media socket refused: TELNYX_STREAM_AUTH_TOKEN is not set");
        return (StatusCode::FORBIDDEN, "Telnyx streaming is not configured").into_response();
    };
    let given = headers
        .get(TELNYX_AUTH_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(expected.expose().as_bytes())) {
        tracing::warn!("Telnyx media socket refused: bad streaming auth token");
        return (StatusCode::FORBIDDEN, "invalid streaming auth token").into_response();
    }
    upgrade(ws, state, CarrierKind::Telnyx)
}
