//! Telnyx media streaming: auth at the upgrade, A-law in, frames out of order.

use base64::Engine;
use callbridge::carrier::{CarrierEvent, telnyx};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;

const TELNYX_TOKEN: &str = "telnyx-streaming-token";

async fn connect(
    app: &TestApp,
    token: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let mut req = format!("ws://127.0.0.1:{}/telnyx/media", app.port)
        .into_client_request()
        .unwrap();
    if let Some(t) = token {
        req.headers_mut()
            .insert("x-telnyx-streaming-auth-token", t.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

fn alaw_ramp(i: usize, total: usize) -> String {
    let mut pcm = Vec::new();
    callbridge::audio::g711::decode_mulaw(&ramp_frame(i, total), &mut pcm);
    let mut alaw = Vec::new();
    callbridge::audio::g711::encode_alaw(&pcm, &mut alaw);
    base64::engine::general_purpose::STANDARD.encode(alaw)
}

#[tokio::test]
async fn alaw_frames_out_of_order_are_reordered_and_echoed_in_pcmu() {
    let app = spawn_app_with(&[
        ("TELNYX_STREAM_AUTH_TOKEN", TELNYX_TOKEN),
        ("ECHO_DELAY_MS", "0"),
        ("PLAYBACK_LEAD_MS", "1000"),
    ])
    .await;
    let mut ws = connect(&app, Some(TELNYX_TOKEN)).await.unwrap();
    let stream_id = unique("telnyx-stream");
    let send = |text: String| Message::Text(text.into());
    ws.send(send(r#"{"event":"connected","version":"1.0.0"}"#.into()))
        .await
        .unwrap();
    let start = serde_json::json!({
        "event": "start", "sequence_number": "1", "stream_id": stream_id,
        "start": {"call_control_id": unique("v3:call"), "from": "+13122010094", "to": "+13122123456",
                  "custom_parameters": {}, "media_format": {"encoding": "PCMA", "sample_rate": 8000, "channels": 1}}
    });
    ws.send(send(start.to_string())).await.unwrap();
    const FRAMES: usize = 200;
    // Pairs swapped: 3,2,5,4,... as a jittery network delivers them.
    let mut order: Vec<usize> = (0..FRAMES).collect();
    for pair in order.chunks_mut(2) {
        pair.reverse();
    }
    for i in order {
        let frame = serde_json::json!({
            "event": "media", "sequence_number": (i + 2).to_string(), "stream_id": stream_id,
            "media": {"track": "inbound", "chunk": (i + 1).to_string(), "timestamp": (i * 20).to_string(),
                      "payload": alaw_ramp(i, FRAMES)}
        });
        ws.send(send(frame.to_string())).await.unwrap();
    }
    let mut audio = Vec::new();
    let mut seq = 1000;
    while audio.len() < (FRAMES - 2) * 160 {
        let msg = tokio::time::timeout(HANG, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else {
            panic!("text frames only: {msg:?}")
        };
        assert!(text.contains(&stream_id));
        match telnyx::decode(&text).unwrap().event {
            CarrierEvent::Media(m) => audio.extend(m.payload),
            CarrierEvent::Mark { name } => {
                seq += 1;
                let echo = serde_json::json!({"event": "mark", "sequence_number": seq.to_string(),
                    "stream_id": stream_id, "mark": {"name": name}});
                ws.send(send(echo.to_string())).await.unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let windows: Vec<f64> = audio.chunks(4000).map(rms).collect();
    for pair in windows[..windows.len() - 1].windows(2) {
        assert!(pair[1] > pair[0], "order lost: {windows:?}");
    }
    ws.send(send(
        serde_json::json!({"event": "stop", "sequence_number": (seq + 1).to_string(), "stream_id": stream_id, "stop": {}})
            .to_string(),
    ))
    .await
    .unwrap();
    app.stop().await;
}

#[tokio::test]
async fn telnyx_sockets_need_the_streaming_token() {
    let app = spawn_app_with(&[("TELNYX_STREAM_AUTH_TOKEN", TELNYX_TOKEN)]).await;
    for token in [None, Some("wrong")] {
        match connect(&app, token).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 403)
            }
            other => panic!("expected 403, got {:?}", other.map(|_| ())),
        }
    }
    app.stop().await;
    let unconfigured = spawn_app().await;
    match connect(&unconfigured, Some(TELNYX_TOKEN)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    unconfigured.stop().await;
}
