//! Opening a provider's WebSocket: `Authorization: Token <key>` (Deepgram's scheme), a
//! connect deadline, small socket buffers (tungstenite's 128 KiB default read buffer is
//! zero-filled before every read), and HTTP refusals mapped to typed errors.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::{Deadline, ProviderError};
use crate::config::Secret;

/// A client socket to a provider.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to `url` with `Authorization: Token <key>` when a key is given.
pub async fn connect(
    url: &Url,
    key: Option<&Secret>,
    timeout: Duration,
) -> Result<Socket, ProviderError> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ProviderError::Connect(e.to_string()))?;
    if let Some(key) = key {
        let value = format!("Token {}", key.expose())
            .parse()
            .map_err(|_| ProviderError::NotConfigured("the API key has invalid characters"))?;
        request.headers_mut().insert("authorization", value);
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(4 << 20));
    // Boxed: the handshake's future is several KiB, and an unboxed one would size every
    // provider task that awaits it for the whole call, long after the handshake.
    let connecting = Box::pin(tokio_tungstenite::connect_async_with_config(
        request,
        Some(config),
        true,
    ));
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(ProviderError::Timeout(Deadline::Connect, timeout)),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .to_string();
            Err(ProviderError::from_status(
                response.status().as_u16(),
                &body,
            ))
        }
        Ok(Err(e)) => Err(ProviderError::Connect(e.to_string())),
    }
}
