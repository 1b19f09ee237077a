//! Vehicle status in the console and the staff API: a vehicle checked in (asking which when
//! the customer has several), its job moved along to ready, each change audited once, bad
//! statuses refused, collected vehicles off the list.

use callbridge::staff::{Role, audit};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use super::board::app_with_demo;
use super::desk::{Desk, PASSWORD, account};

const JAMES: &str = "+15125550102";

#[tokio::test]
async fn the_desk_checks_a_vehicle_in_and_marks_it_ready() {
    let (app, _) = app_with_demo().await;
    account(&app, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&app);
    desk.sign_in("Ben Ode", PASSWORD).await;
    let page = desk.get("/console/vehicles").await;
    assert!(page.body.contains("No vehicles in the shop."));
    let csrf = page.field("csrf");

    let ask = desk
        .post(
            "/console/vehicles",
            &[("csrf", &csrf), ("phone", JAMES), ("note", "")],
        )
        .await;
    assert_eq!(ask.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        ask.body.contains("James Carter has 2 vehicles"),
        "{}",
        ask.body
    );
    let truck = ask
        .body
        .split("<option value=\"")
        .skip(1)
        .find(|o| o.contains("F-150"))
        .and_then(|o| o.split('"').next())
        .unwrap()
        .to_string();
    let done = desk
        .post(
            "/console/vehicles",
            &[
                ("csrf", &csrf),
                ("phone", JAMES),
                ("vehicle_id", &truck),
                ("note", "front brakes"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let listed = desk.get("/console/vehicles").await;
    assert!(
        listed.body.contains("2021 Ford F-150") && listed.body.contains("checked in and waiting"),
        "{}",
        listed.body
    );
    let order = callbridge::crm::repair_orders::open_orders(&app.state.db)
        .await
        .unwrap()
        .remove(0);

    // Without the token nothing changes; with it the job is ready, once in the log.
    let path = format!("/console/vehicles/{}/status", order.id);
    assert_eq!(
        desk.post(&path, &[("status", "ready")]).await.status,
        StatusCode::FORBIDDEN
    );
    let bad = desk
        .post(&path, &[("csrf", &csrf), ("status", "teleported")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ready = [("csrf", csrf.as_str()), ("status", "ready"), ("note", "")];
    assert_eq!(desk.post(&path, &ready).await.status, StatusCode::SEE_OTHER);
    assert_eq!(desk.post(&path, &ready).await.status, StatusCode::SEE_OTHER);
    let listed = desk.get("/console/vehicles").await;
    assert!(listed.body.contains("ready for pickup"), "{}", listed.body);
    let actions: Vec<(String, String)> = audit::recent(&app.state.db, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("Ben Ode".to_string(), "repair_order.status".to_string()),
            ("Ben Ode".to_string(), "repair_order.open".to_string())
        ]
    );
    // Collected: off the list.
    desk.post(&path, &[("csrf", &csrf), ("status", "collected")])
        .await;
    assert!(
        desk.get("/console/vehicles")
            .await
            .body
            .contains("No vehicles in the shop.")
    );
    app.stop().await;
}

#[tokio::test]
async fn machines_keep_repair_orders_through_the_staff_api() {
    let key = "staff-key-0123456789abcdef";
    let (app, _) = super::board::app_with_demo_and(&[("STAFF_API_KEY", key)]).await;
    let vehicle = entity::vehicle::Entity::find()
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{}/api/v1{p}", app.port);
    let post = |p: String, body: Value| http.post(url(&p)).bearer_auth(key).json(&body).send();
    let r = post(
        "/repair-orders".into(),
        json!({"vehicle_id": vehicle.id, "note": "oil leak"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let order: Value = r.json().await.unwrap();
    assert_eq!(order["status"], "checked_in");
    let id = order["id"].as_i64().unwrap();
    let r = post(
        format!("/repair-orders/{id}/status"),
        json!({"status": "waiting_on_parts", "note": "gasket Thursday"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(
        format!("/repair-orders/{id}/status"),
        json!({"status": "done-ish"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post(
        "/repair-orders/999999/status".into(),
        json!({"status": "ready"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let list: Value = http
        .get(url("/repair-orders"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["spoken"], "waiting on parts");
    assert_eq!(list["items"][0]["note"], "gasket Thursday");
    let log = audit::recent(&app.state.db, 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|e| e.actor == "api"));
    app.stop().await;
}
