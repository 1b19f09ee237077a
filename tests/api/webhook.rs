//! The voice webhook and the stream status callback.

use crate::helpers::*;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

#[tokio::test]
async fn a_signed_call_gets_connect_stream_with_a_token_for_that_call() {
    let app = spawn_app().await;
    let sid = unique("CA");
    let xml = app.voice_webhook(&sid).await;
    assert!(
        xml.contains(r#"<Connect><Stream url="wss://bridge.test/twilio/media""#),
        "{xml}"
    );
    assert!(xml.contains(r#"statusCallback="https://bridge.test/twilio/stream-status""#));
    let token = token_from_twiml(&xml);
    let now = callbridge::session_store::unix_now();
    assert_eq!(
        callbridge::carrier::stream_token::verify(TOKEN_SECRET, Some(&token), &sid, now),
        Ok(())
    );
    let entry = app
        .state
        .store
        .get(&sid)
        .await
        .unwrap()
        .expect("ringing call registered");
    assert_eq!(entry.state, callbridge::session_store::CallState::Ringing);
    app.stop().await;
}

#[tokio::test]
async fn missing_or_wrong_signatures_are_forbidden() {
    let app = spawn_app().await;
    let params = [("CallSid", "CA1")];
    let wrong = app
        .post_form("/twilio/voice", &params, Some("bm90IGEgc2lnbmF0dXJl"))
        .await;
    assert_eq!(wrong.status(), 403);
    let unsigned = app
        .http
        .post(app.url("/twilio/voice"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    // A signature over other parameters does not carry over.
    let sig = callbridge::carrier::signature::compute(
        AUTH_TOKEN,
        &format!("{PUBLIC_URL}/twilio/voice"),
        &[("CallSid".into(), "CA2".into())],
    );
    let replayed = app.post_form("/twilio/voice", &params, Some(&sig)).await;
    assert_eq!(replayed.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn without_an_auth_token_signatures_are_not_required() {
    let app = spawn_app_with(&[("TWILIO_AUTH_TOKEN", "")]).await;
    let resp = app
        .http
        .post(app.url("/twilio/voice"))
        .form(&[("CallSid", unique("CA"))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_without_call_sid_is_a_bad_request() {
    let app = spawn_app().await;
    let resp = app
        .post_form("/twilio/voice", &[("From", "+15550001111")], None)
        .await;
    assert_eq!(resp.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn at_the_call_cap_callers_get_the_busy_twiml_and_the_desk() {
    let app = spawn_app_with(&[("MAX_CALLS", "1"), ("SERVICE_DESK_NUMBER", "+15557654321")]).await;
    let first = app.voice_webhook(&unique("CA")).await;
    assert!(first.contains("<Connect>"));
    let second = app.voice_webhook(&unique("CA")).await;
    assert!(!second.contains("<Connect>"), "{second}");
    assert!(second.contains("<Say>"), "{second}");
    assert!(second.contains("<Dial>+15557654321</Dial>"), "{second}");
    app.stop().await;
}

#[tokio::test]
async fn stream_status_callbacks_are_recorded() {
    let app = spawn_app().await;
    let sid = unique("CA");
    let resp = app
        .post_form(
            "/twilio/stream-status",
            &[
                ("AccountSid", "AC1"),
                ("CallSid", &sid),
                ("StreamSid", "MZ1"),
                ("StreamName", "callbridge"),
                ("StreamEvent", "stream-error"),
                ("StreamError", "Stream - WebSocket - Connection Refused"),
                ("Timestamp", "2026-11-22T06:00:00Z"),
            ],
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    let rows = entity::stream_event::Entity::find()
        .filter(entity::stream_event::Column::CallSid.eq(sid.as_str()))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].event, "stream-error");
    assert_eq!(rows[0].stream_sid.as_deref(), Some("MZ1"));
    assert!(rows[0].error.as_deref().unwrap().contains("Refused"));

    let forged = app
        .post_form(
            "/twilio/stream-status",
            &[("CallSid", &sid), ("StreamEvent", "stream-stopped")],
            Some("x"),
        )
        .await;
    assert_eq!(forged.status(), 403);
    let incomplete = app
        .post_form("/twilio/stream-status", &[("CallSid", &sid)], None)
        .await;
    assert_eq!(incomplete.status(), 400);
    app.stop().await;
}
