//! Bad input at the edge gets a clear 4xx, the same on SQLite and PostgreSQL, and nothing is
//! stored: NUL bytes in signed webhook fields and in staff API paths and bodies; a carrier
//! message over the socket's hard limit closes the media socket with 1009 and a reason.

use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::helpers::*;

const KEY: &str = "staff-key-0123456789abcdef";

#[tokio::test]
async fn a_nul_in_a_signed_webhook_field_is_refused_and_nothing_is_recorded() {
    let app = spawn_app_with(&[("MAX_CALLS", "1")]).await;
    let sid = unique("CA");
    let r = app
        .post_form(
            "/twilio/stream-status",
            &[
                ("CallSid", &sid),
                ("StreamEvent", "stream-error"),
                ("StreamError", "bad\0news"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("StreamError"));
    let rows = entity::stream_event::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows, 0, "nothing recorded");

    let r = app
        .post_form(
            "/twilio/voice",
            &[("CallSid", "CA\0evil"), ("From", "+15550001111")],
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let twiml = app.voice_webhook(&unique("CA")).await;
    assert!(twiml.contains("<Connect>"), "no line was reserved: {twiml}");

    // The signature is checked first: an unsigned request is still 403.
    let r = app
        .post_form("/twilio/voice", &[("CallSid", "CA\0evil")], Some("forged"))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn a_nul_in_a_staff_api_path_or_body_is_a_400_not_a_500() {
    let app = spawn_app_with(&[("STAFF_API_KEY", KEY)]).await;
    for path in ["/api/v1/calls/CA%00x", "/api/v1/calls?outcome=booked%00"] {
        let r = app
            .http
            .get(app.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
    }
    let r = app
        .http
        .post(app.url("/api/v1/appointments/1/cancel"))
        .bearer_auth(KEY)
        .body(r#"{"reason": "no\u0000show"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn a_message_over_the_socket_limit_closes_the_media_socket_with_1009() {
    let app = spawn_app().await;
    let sid = unique("CA");
    let token = token_from_twiml(&app.voice_webhook(&sid).await);
    let mut leg = TwilioLeg::connect(&app).await;
    leg.start(&sid, &token).await;
    leg.send_text("x".repeat((1 << 20) + 1)).await;
    let (code, reason) = leg.until_closed().await;
    assert_eq!(code, Some(1009), "{reason}");
    assert_eq!(reason, "message too big");
    app.stop().await;
}

#[tokio::test]
async fn an_oversize_body_is_refused_with_413_unread() {
    let app = spawn_app().await;
    let big = "x".repeat(100 * 1024);
    let r = app
        .post_form("/twilio/voice", &[("CallSid", "CA1"), ("Pad", &big)], None)
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}
