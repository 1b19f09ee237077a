//! The staff API through the real router: bearer auth, filters, pagination, stable errors.

use chrono::{NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::Value;

use callbridge::crm::calls::{self, Speaker, TurnRecord};

use crate::helpers::{TestApp, spawn_app_with};

const KEY: &str = "staff-key-0123456789abcdef";

async fn app_with_demo() -> TestApp {
    let app = spawn_app_with(&[("STAFF_API_KEY", KEY)]).await;
    let data = callbridge::crm::seed::parse(callbridge::crm::seed::DEMO_FIXTURE).unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    callbridge::crm::seed::seed(&app.state.db, &data, chrono_tz::America::Chicago, today)
        .await
        .unwrap();
    app
}

fn url(app: &TestApp, path: &str) -> String {
    format!("http://127.0.0.1:{}/api/v1{path}", app.port)
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let r = app
        .http
        .get(url(app, path))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn post(app: &TestApp, path: &str, body: &str) -> (StatusCode, Value) {
    let r = app
        .http
        .post(url(app, path))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn the_staff_api_wants_the_bearer_key() {
    let app = app_with_demo().await;
    let bare = app
        .http
        .get(url(&app, "/appointments"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert!(
        bare.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(code(&bare.json().await.unwrap()), "unauthorized");
    for auth in [
        "Bearer wrong-key-0123456789abcdef".to_string(),
        format!("Basic {KEY}"),
        KEY.to_string(),
        format!("Bearer {KEY}x"),
    ] {
        let r = app
            .http
            .get(url(&app, "/appointments"))
            .header("authorization", auth.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth}");
    }
    // Routes are not revealed without the key.
    let r = app.http.get(url(&app, "/nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = get(&app, "/nope").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = post(&app, "/appointments", "{}").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let r = app
        .http
        .get(url(&app, "/appointments"))
        .header("authorization", format!("bearer {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn without_a_key_the_staff_api_is_off() {
    let app = spawn_app_with(&[]).await;
    let r = app
        .http
        .get(url(&app, "/appointments"))
        .bearer_auth("anything-at-all-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(code(&r.json().await.unwrap()), "staff_api_disabled");
    app.stop().await;
}

#[tokio::test]
async fn appointments_are_filtered_by_day_and_status_and_paginated() {
    let app = app_with_demo().await;
    let tz = chrono_tz::America::Chicago;
    let (status, all) = get(&app, "/appointments?limit=200").await;
    assert_eq!(status, StatusCode::OK);
    let total = entity::appointment::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(all["total"], total);
    assert_eq!(all["items"].as_array().unwrap().len() as u64, total);
    assert!(all["next_offset"].is_null());

    // Monday the 23rd in Chicago, counted independently from the rows.
    let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let rows = entity::appointment::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    let on_day = rows
        .iter()
        .filter(|a| a.starts_at.with_timezone(&tz).date_naive() == day)
        .count();
    assert!(on_day >= 2, "the demo books Monday");
    let (_, monday) = get(&app, "/appointments?day=2026-11-23").await;
    assert_eq!(monday["total"], on_day as u64);
    let items = monday["items"].as_array().unwrap();
    assert!(items.iter().all(|a| {
        a["local_start"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-23T")
    }));
    let starts: Vec<&str> = items
        .iter()
        .map(|a| a["starts_at"].as_str().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    assert!(
        items[0]["customer_name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert!(items[0]["service"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(items[0]["bays"].as_array().unwrap().len(), 1);

    // Pages of two walk the same list.
    let (_, first) = get(&app, "/appointments?limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["next_offset"], 2);
    let (_, second) = get(&app, "/appointments?limit=2&offset=2").await;
    assert_eq!(second["items"][0]["id"], all["items"][2]["id"]);
    let (_, past_end) = get(&app, &format!("/appointments?offset={total}")).await;
    assert_eq!(past_end["items"].as_array().unwrap().len(), 0);

    // Cancel one; the status filter sees it.
    let id = all["items"][0]["id"].as_i64().unwrap();
    let (s, _) = post(&app, &format!("/appointments/{id}/cancel"), "").await;
    assert_eq!(s, StatusCode::OK);
    let (_, cancelled) = get(&app, "/appointments?status=cancelled").await;
    assert_eq!(cancelled["total"], 1);
    assert_eq!(cancelled["items"][0]["id"], id);
    let (_, booked) = get(&app, "/appointments?status=booked").await;
    assert_eq!(booked["total"], total - 1);

    for bad in [
        "/appointments?limit=0",
        "/appointments?limit=201",
        "/appointments?limit=ten",
        "/appointments?status=maybe",
        "/appointments?day=tomorrow",
        "/appointments?stauts=booked",
        "/appointments?offset=-1",
    ] {
        let (status, body) = get(&app, bad).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_query"),
            "{bad}: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn an_appointment_is_read_and_cancelled_once() {
    let app = app_with_demo().await;
    let (_, all) = get(&app, "/appointments?limit=2").await;
    let id = all["items"][0]["id"].as_i64().unwrap();
    let (status, one) = get(&app, &format!("/appointments/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one, all["items"][0]);
    assert_eq!(one["status"], "booked");

    let (status, body) = post(
        &app,
        &format!("/appointments/{id}/cancel"),
        r#"{"reason": "customer called the desk"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["appointment"]["status"], "cancelled");
    assert_eq!(body["already_cancelled"], false);
    assert!(
        body["appointment"]["notes"]
            .as_str()
            .unwrap()
            .ends_with("Cancelled: customer called the desk")
    );
    let (status, again) = post(&app, &format!("/appointments/{id}/cancel"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["already_cancelled"], true);
    // The audit log has the key's cancellation, once (the replay changed nothing).
    let log = callbridge::staff::audit::recent(&app.state.db, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].actor.as_str(), log[0].action.as_str()),
        ("api", "appointment.cancel")
    );
    assert_eq!(
        log[0].target.as_deref(),
        Some(format!("appointment:{id}").as_str())
    );
    assert!(
        log[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("customer called the desk")
    );

    // A finished job cannot be cancelled.
    let done = all["items"][1]["id"].as_i64().unwrap();
    entity::appointment::Entity::update_many()
        .col_expr(entity::appointment::Column::Status, "completed".into())
        .filter(entity::appointment::Column::Id.eq(done as i32))
        .exec(&app.state.db)
        .await
        .unwrap();
    let (status, body) = post(&app, &format!("/appointments/{done}/cancel"), "").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "not_changeable")
    );

    let (status, body) = get(&app, "/appointments/999999").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = get(&app, "/appointments/abc").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_path")
    );
    let (status, body) = post(&app, &format!("/appointments/{done}/cancel"), "{reason").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_body")
    );
    let (status, body) = post(&app, "/appointments/999999/cancel", "").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    app.stop().await;
}

#[tokio::test]
async fn calls_are_listed_with_outcomes_and_read_with_their_transcript() {
    let app = app_with_demo().await;
    let db = &app.state.db;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 22, 15, 0, 0).unwrap();
    for (i, outcome) in ["booked", "transferred", "booked"].iter().enumerate() {
        let started = t0 + chrono::Duration::minutes(i as i64 * 10);
        let log = calls::start(
            db,
            &format!("CAstaff{i}"),
            Some("+15125550101"),
            Some("+15125550100"),
            started,
        )
        .await
        .unwrap();
        // A second start for the same call finds the same log.
        assert_eq!(
            calls::start(db, &format!("CAstaff{i}"), None, None, started)
                .await
                .unwrap()
                .id,
            log.id
        );
        for (speaker, text, heard) in [
            (
                Speaker::Agent,
                "Thanks for calling, how can I help?",
                Some("Thanks for calling, how can I help?"),
            ),
            (Speaker::Caller, "I need an oil change on Tuesday", None),
            (
                Speaker::Agent,
                "I have 9:00 or 11:00 on Tuesday.",
                Some("I have 9:00"),
            ),
        ] {
            calls::append_turn(
                db,
                log.id,
                speaker,
                &TurnRecord {
                    text: text.into(),
                    heard_text: heard.map(Into::into),
                    started_at: started,
                    stt_ms: (speaker == Speaker::Caller).then_some(180),
                    llm_first_token_ms: (speaker == Speaker::Agent).then_some(240),
                    tts_first_byte_ms: (speaker == Speaker::Agent).then_some(90),
                },
            )
            .await
            .unwrap();
        }
        calls::finish(
            db,
            log.id,
            outcome,
            Some("summary"),
            started + chrono::Duration::seconds(95),
        )
        .await
        .unwrap();
    }
    let (status, list) = get(&app, "/calls").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 3);
    // Newest first.
    assert_eq!(list["items"][0]["call_sid"], "CAstaff2");
    assert_eq!(list["items"][0]["duration_secs"], 95);
    let (_, booked) = get(&app, "/calls?outcome=booked").await;
    assert_eq!(booked["total"], 2);
    assert!(
        booked["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["outcome"] == "booked")
    );
    let (_, page) = get(&app, "/calls?limit=1&offset=1").await;
    assert_eq!(page["items"][0]["call_sid"], "CAstaff1");
    assert_eq!(page["next_offset"], 2);

    let (status, call) = get(&app, "/calls/CAstaff1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(call["call"]["outcome"], "transferred");
    assert_eq!(call["call"]["from"], "+15125550101");
    let turns = call["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 3);
    assert_eq!(
        turns
            .iter()
            .map(|t| t["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(turns[1]["speaker"], "caller");
    assert_eq!(turns[1]["stt_ms"], 180);
    assert_eq!(turns[2]["heard_text"], "I have 9:00");
    assert_eq!(turns[2]["llm_first_token_ms"], 240);

    let (status, body) = get(&app, "/calls/CAnobody").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = get(&app, "/calls?limit=1000").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    app.stop().await;
}
