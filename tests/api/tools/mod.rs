//! The booking tools against a real database (SQLite, or PostgreSQL when
//! `TEST_DATABASE_URL` is set) loaded with the demo CRM, the way the LLM will call them:
//! by name with JSON arguments.

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use callbridge::config::{BookingPolicy, BusinessSettings};
use callbridge::domain::PhoneNumber;
use callbridge::tools::{ToolCall, ToolContext, ToolReply, ToolRequest, Tools};

use crate::helpers::database_url;

/// Sunday, November 22, 2026, 10:00 in Chicago: every test runs at this instant.
pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap()
}

/// Maria Gonzalez in the demo CRM.
pub(super) const MARIA: &str = "+15125550101";

pub struct Crm {
    pub tools: Tools,
    pub db: DatabaseConnection,
}

pub fn business() -> BusinessSettings {
    BusinessSettings {
        name: "Lone Star Auto Service".into(),
        address: "1200 Congress Avenue, Austin, TX 78701".into(),
        phone: "+15125550100".into(),
        timezone: chrono_tz::America::Chicago,
        booking: BookingPolicy::default(),
    }
}

/// A fresh database with the demo CRM seeded as of `now()`.
pub async fn crm() -> Crm {
    crate::helpers::install_crypto();
    let db = callbridge::db::connect(&database_url().await)
        .await
        .unwrap();
    callbridge::db::migrate(&db).await.unwrap();
    let data = callbridge::crm::seed::parse(callbridge::crm::seed::DEMO_FIXTURE).unwrap();
    let today = now()
        .with_timezone(&chrono_tz::America::Chicago)
        .date_naive();
    callbridge::crm::seed::seed(&db, &data, chrono_tz::America::Chicago, today)
        .await
        .unwrap();
    Crm {
        tools: Tools::new(db.clone(), business()),
        db,
    }
}

pub fn ctx(call_sid: &str, caller: Option<&str>) -> ToolContext {
    ToolContext {
        caller: caller.map(|c| PhoneNumber::parse(c).unwrap()),
        call_sid: Some(call_sid.to_string()),
        now: now(),
    }
}

pub async fn call(
    tools: &Tools,
    ctx: &ToolContext,
    id: &str,
    name: &str,
    args: Value,
) -> ToolReply {
    tools
        .run(ctx, &ToolCall::parse(id, name, args.to_string()))
        .await
}

pub(super) fn ok(reply: &ToolReply) -> &Value {
    assert!(reply.is_ok(), "{}", reply.content);
    assert_eq!(reply.content["ok"], true);
    &reply.content
}

pub(super) fn refused<'a>(reply: &'a ToolReply, code: &str) -> &'a Value {
    assert_eq!(reply.outcome, code, "{}", reply.content);
    assert_eq!(reply.content["ok"], false);
    assert_eq!(reply.content["error"]["code"], code);
    let message = reply.content["error"]["message"].as_str().unwrap();
    assert!(message.len() > 10, "{message}");
    &reply.content["error"]
}

pub(super) async fn maria_id(c: &Crm) -> i64 {
    let r = call(
        &c.tools,
        &ctx("CAmaria", Some(MARIA)),
        "t0",
        "lookup_customer",
        json!({}),
    )
    .await;
    ok(&r)["customer"]["id"].as_i64().unwrap()
}

pub(super) async fn active_at(db: &DatabaseConnection, start: &str) -> u64 {
    let local = chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%dT%H:%M").unwrap();
    let at = chrono_tz::America::Chicago
        .from_local_datetime(&local)
        .unwrap()
        .with_timezone(&Utc);
    entity::appointment::Entity::find()
        .filter(entity::appointment::Column::StartsAt.eq(at))
        .filter(entity::appointment::Column::Status.is_in(["booked", "rescheduled"]))
        .count(db)
        .await
        .unwrap()
}

mod races;
mod refusals;

#[tokio::test]
async fn a_known_caller_is_found_and_books_a_time_the_search_offered() {
    let c = crm().await;
    let cx = ctx("CAbook1", Some(MARIA));
    let found = call(&c.tools, &cx, "t1", "lookup_customer", json!({})).await;
    let found = ok(&found);
    assert_eq!(found["found"], true);
    assert_eq!(found["customer"]["name"], "Maria Gonzalez");
    assert_eq!(found["vehicles"][0]["description"], "2020 Honda Accord");
    let vehicle = found["vehicles"][0]["id"].as_i64().unwrap();
    let customer = found["customer"]["id"].as_i64().unwrap();

    let slots = call(
        &c.tools,
        &cx,
        "t2",
        "find_available_slots",
        json!({"service": "oil change", "date": "Tuesday", "part_of_day": "afternoon"}),
    )
    .await;
    let slots = ok(&slots);
    assert_eq!(slots["service"], "Oil change");
    assert_eq!(slots["price"], "$89.99");
    let offered = slots["slots"].as_array().unwrap();
    assert_eq!(offered.len(), 3, "{slots}");
    let first = offered[0]["start"].as_str().unwrap();
    assert!(first.starts_with("2026-11-24T1"), "{first}");
    assert!(
        offered[0]["spoken"]
            .as_str()
            .unwrap()
            .starts_with("Tuesday, November 24 at")
    );

    let booked = call(
        &c.tools,
        &cx,
        "t3",
        "book_appointment",
        json!({"customer_id": customer, "vehicle_id": vehicle, "service": "Oil change",
               "start": first, "notes": "squeak when braking"}),
    )
    .await;
    let booked = ok(&booked);
    assert_eq!(booked["already_booked"], false);
    assert_eq!(booked["appointment"]["start"], first);
    assert_eq!(booked["appointment"]["vehicle"], "2020 Honda Accord");
    assert_eq!(booked["appointment"]["status"], "booked");
    let id = booked["appointment"]["id"].as_i64().unwrap() as i32;
    let row = entity::appointment::Entity::find_by_id(id)
        .one(&c.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.call_sid.as_deref(), Some("CAbook1"));
    assert!(
        row.idempotency_key
            .as_deref()
            .is_some_and(|k| k.starts_with("CAbook1:t3:")),
        "{:?}",
        row.idempotency_key
    );
    assert_eq!(row.notes.as_deref(), Some("squeak when braking"));
    assert_eq!(row.ends_at - row.starts_at, chrono::Duration::minutes(45));

    // Thanksgiving: the search says the shop is closed and offers the following days.
    let holiday = call(
        &c.tools,
        &cx,
        "t5",
        "find_available_slots",
        json!({"service": "Oil change", "date": "Thursday", "until": "Friday"}),
    )
    .await;
    let holiday = ok(&holiday);
    assert_eq!(holiday["closed_days"][0]["reason"], "Thanksgiving Day");
    let offered = holiday["slots"].as_array().unwrap();
    assert!(!offered.is_empty());
    assert!(
        offered
            .iter()
            .all(|s| s["start"].as_str().unwrap().starts_with("2026-11-27"))
    );

    let upcoming = call(
        &c.tools,
        &cx,
        "t4",
        "list_upcoming_appointments",
        json!({"customer_id": customer}),
    )
    .await;
    let ids: Vec<i64> = ok(&upcoming)["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&(id as i64)), "{ids:?}");
}

#[tokio::test]
async fn rescheduling_and_cancelling_are_checked_and_idempotent() {
    let c = crm().await;
    let customer = maria_id(&c).await;
    let cx = ctx("CAmove", Some(MARIA));
    let booked = call(
        &c.tools,
        &cx,
        "b",
        "book_appointment",
        json!({"customer_id": customer, "service": "Wheel alignment", "start": "2026-11-30T10:00"}),
    )
    .await;
    let id = ok(&booked)["appointment"]["id"].as_i64().unwrap();

    let moved = call(
        &c.tools,
        &cx,
        "m",
        "reschedule_appointment",
        json!({"customer_id": customer, "appointment_id": id, "new_start": "2026-12-01T14:00"}),
    )
    .await;
    assert_eq!(ok(&moved)["appointment"]["status"], "rescheduled");
    assert_eq!(moved.content["appointment"]["start"], "2026-12-01T14:00");
    assert_eq!(moved.content["unchanged"], false);
    assert_eq!(active_at(&c.db, "2026-11-30T10:00").await, 0);
    let again = call(
        &c.tools,
        &cx,
        "m2",
        "reschedule_appointment",
        json!({"customer_id": customer, "appointment_id": id, "new_start": "2026-12-01T14:00"}),
    )
    .await;
    assert_eq!(ok(&again)["unchanged"], true);

    // Someone else's appointment is not found, not cancelled.
    let other = call(
        &c.tools,
        &ctx("CAother", Some("+15125550102")),
        "l",
        "lookup_customer",
        json!({}),
    )
    .await;
    let other_id = ok(&other)["customer"]["id"].as_i64().unwrap();
    let stranger = call(
        &c.tools,
        &cx,
        "x",
        "cancel_appointment",
        json!({"customer_id": other_id, "appointment_id": id}),
    )
    .await;
    refused(&stranger, "not_found");

    let cancelled = call(
        &c.tools,
        &cx,
        "c",
        "cancel_appointment",
        json!({"customer_id": customer, "appointment_id": id, "reason": "sold the car"}),
    )
    .await;
    assert_eq!(ok(&cancelled)["appointment"]["status"], "cancelled");
    assert_eq!(cancelled.content["already_cancelled"], false);
    let twice = call(
        &c.tools,
        &cx,
        "c2",
        "cancel_appointment",
        json!({"customer_id": customer, "appointment_id": id}),
    )
    .await;
    assert_eq!(ok(&twice)["already_cancelled"], true);
    let revive = call(
        &c.tools,
        &cx,
        "r",
        "reschedule_appointment",
        json!({"customer_id": customer, "appointment_id": id, "new_start": "2026-12-02T09:00"}),
    )
    .await;
    refused(&revive, "not_changeable");
    let row = entity::appointment::Entity::find_by_id(id as i32)
        .one(&c.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.notes.as_deref(), Some("Cancelled: sold the car"));
}

#[tokio::test]
async fn new_callers_become_customers_and_vehicles_are_added() {
    let c = crm().await;
    let cx = ctx("CAnew", Some("(512) 555-0199"));
    let nobody = call(&c.tools, &cx, "l", "lookup_customer", json!({})).await;
    assert_eq!(ok(&nobody)["found"], false);
    assert_eq!(nobody.content["phone"], "+15125550199");
    let created = call(
        &c.tools,
        &cx,
        "c",
        "create_customer",
        json!({"name": "Siobhán  O'Brien", "email": "Siobhan@Example.com"}),
    )
    .await;
    let customer = ok(&created)["customer"].clone();
    assert_eq!(customer["name"], "Siobhán O'Brien");
    assert_eq!(customer["phone"], "+15125550199");
    assert_eq!(customer["email"], "siobhan@example.com");
    let dup = call(
        &c.tools,
        &cx,
        "c2",
        "create_customer",
        json!({"name": "Someone Else"}),
    )
    .await;
    assert_eq!(
        refused(&dup, "customer_exists")["customer_id"],
        customer["id"]
    );

    let car = call(
        &c.tools,
        &cx,
        "v",
        "add_vehicle",
        json!({"customer_id": customer["id"], "year": 2018, "make": "Subaru", "model": "Outback",
               "vin": "jf2sjaac5jh512345", "mileage": 61000}),
    )
    .await;
    assert_eq!(ok(&car)["vehicle"]["description"], "2018 Subaru Outback");
    assert_eq!(car.content["vehicle"]["vin"], "JF2SJAAC5JH512345");
    let same_vin = call(
        &c.tools,
        &cx,
        "v2",
        "add_vehicle",
        json!({"customer_id": customer["id"], "year": 2018, "make": "Subaru", "model": "Outback",
               "vin": "JF2SJAAC5JH512345"}),
    )
    .await;
    refused(&same_vin, "vin_in_use");
    let listed = call(
        &c.tools,
        &cx,
        "lv",
        "list_vehicles",
        json!({"customer_id": customer["id"]}),
    )
    .await;
    assert_eq!(ok(&listed)["vehicles"].as_array().unwrap().len(), 1);

    let withheld = ToolContext {
        caller: None,
        ..cx.clone()
    };
    let r = call(&c.tools, &withheld, "l2", "lookup_customer", json!({})).await;
    refused(&r, "no_caller_number");
    let r = call(
        &c.tools,
        &withheld,
        "l3",
        "lookup_customer",
        json!({"phone": "512.555.0101"}),
    )
    .await;
    assert_eq!(ok(&r)["customer"]["name"], "Maria Gonzalez");
}

#[tokio::test]
async fn the_menu_and_the_shop_are_described_from_the_database_and_settings() {
    let c = crm().await;
    let cx = ctx("CAinfo", None);
    let menu = call(&c.tools, &cx, "m", "list_services", json!({})).await;
    let services = ok(&menu)["services"].as_array().unwrap().clone();
    assert_eq!(services.len(), 8);
    let oil = services.iter().find(|s| s["name"] == "Oil change").unwrap();
    assert_eq!(oil["price"], "$89.99");
    assert_eq!(oil["duration_minutes"], 45);

    let info = call(&c.tools, &cx, "i", "business_info", json!({})).await;
    let info = ok(&info);
    assert_eq!(info["name"], "Lone Star Auto Service");
    assert_eq!(info["time_zone"], "America/Chicago");
    assert_eq!(
        info["hours"][0],
        json!({"day": "Monday", "opens": "7:30 AM", "closes": "6:00 PM"})
    );
    assert_eq!(info["hours"][6], json!({"day": "Sunday", "closed": true}));
    assert_eq!(info["closures"][0]["reason"], "Thanksgiving Day");
    assert_eq!(info["closures"][0]["spoken"], "Thursday, November 26");
}

#[tokio::test]
async fn a_service_needing_two_bays_holds_two_and_fills_the_shop_twice_as_fast() {
    use sea_orm::{ActiveModelTrait, Set};
    let c = crm().await;
    entity::service_type::ActiveModel {
        name: Set("Engine swap".into()),
        description: Set("Two lifts at once".into()),
        duration_minutes: Set(60),
        price_cents: Set(500_000),
        bays_needed: Set(2),
        ..Default::default()
    }
    .insert(&c.db)
    .await
    .unwrap();
    // Saturday 12:00 has all four bays free in the demo data.
    let start = "2026-11-28T12:00";
    let mut outcomes = Vec::new();
    for (i, phone) in [MARIA, "+15125550102", "+15125550103"].iter().enumerate() {
        let cx = ctx(&format!("CAswap{i}"), Some(phone));
        let found = call(&c.tools, &cx, "l", "lookup_customer", json!({})).await;
        let customer = ok(&found)["customer"]["id"].clone();
        let r = call(
            &c.tools,
            &cx,
            "b",
            "book_appointment",
            json!({"customer_id": customer, "service": "engine swap", "start": start}),
        )
        .await;
        outcomes.push(r.outcome);
    }
    assert_eq!(outcomes, ["ok", "ok", "slot_taken"]);
    let holds = entity::appointment_bay::Entity::find()
        .all(&c.db)
        .await
        .unwrap();
    let swaps = entity::appointment::Entity::find()
        .filter(entity::appointment::Column::CallSid.is_in(["CAswap0", "CAswap1"]))
        .all(&c.db)
        .await
        .unwrap();
    let mut bays: Vec<i32> = holds
        .iter()
        .filter(|h| swaps.iter().any(|s| s.id == h.appointment_id))
        .map(|h| h.bay_id)
        .collect();
    bays.sort_unstable();
    bays.dedup();
    assert_eq!(bays.len(), 4);
}

#[tokio::test]
async fn vehicle_status_reads_the_callers_vehicles_in_the_shop() {
    let c = crm().await;
    let maria = maria_id(&c).await;
    let ctx = ctx("CAstatus", Some(MARIA));
    let none = call(
        &c.tools,
        &ctx,
        "s0",
        "vehicle_status",
        json!({"customer_id": maria}),
    )
    .await;
    assert_eq!(ok(&none)["in_shop"], json!([]));
    let accord = entity::vehicle::Entity::find()
        .filter(entity::vehicle::Column::CustomerId.eq(maria as i32))
        .one(&c.db)
        .await
        .unwrap()
        .unwrap();
    let order = callbridge::crm::repair_orders::open(
        &c.db,
        accord.id,
        Some("brakes done, washing it"),
        now(),
    )
    .await
    .unwrap();
    callbridge::crm::repair_orders::set_status(&c.db, order.id, "ready", None, now())
        .await
        .unwrap();
    let r = call(
        &c.tools,
        &ctx,
        "s1",
        "vehicle_status",
        json!({"customer_id": maria}),
    )
    .await;
    let shop = &ok(&r)["in_shop"];
    assert_eq!(shop[0]["vehicle"], "2020 Honda Accord");
    assert_eq!(shop[0]["spoken"], "ready for pickup");
    assert_eq!(shop[0]["note"], "brakes done, washing it");
    // Collected: no longer in the shop. An unknown customer is refused in words.
    callbridge::crm::repair_orders::set_status(&c.db, order.id, "collected", None, now())
        .await
        .unwrap();
    let r = call(
        &c.tools,
        &ctx,
        "s2",
        "vehicle_status",
        json!({"customer_id": maria}),
    )
    .await;
    assert_eq!(ok(&r)["in_shop"], json!([]));
    let r = call(
        &c.tools,
        &ctx,
        "s3",
        "vehicle_status",
        json!({"customer_id": 999999}),
    )
    .await;
    refused(&r, "not_found");
}
