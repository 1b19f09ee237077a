//! Protocol-faithful fakes of the providers' servers, on 127.0.0.1, built from the published
//! message shapes (`shared/PROTOCOLS.md` and the providers' API references). Each validates
//! what a real server would refuse, so a client that passes here sends traffic the real
//! service accepts.

pub mod deepgram_stt;
pub mod deepgram_tts;
pub mod openai;
pub mod otlp;
pub mod twilio_rest;

/// Serves `app` on a free loopback port for the rest of the test; returns the port.
pub async fn serve(app: axum::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}
