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
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap()
}

/// Maria Gonzalez in the demo CRM.
const MARIA: &str = "+15125550101";

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

fn ok(reply: &ToolReply) -> &Value {
    assert!(reply.is_ok(), "{}", reply.content);
    assert_eq!(reply.content["ok"], true);
    &reply.content
}

fn refused<'a>(reply: &'a ToolReply, code: &str) -> &'a Value {
    assert_eq!(reply.outcome, code, "{}", reply.content);
    assert_eq!(reply.content["ok"], false);
    assert_eq!(reply.content["error"]["code"], code);
    let message = reply.content["error"]["message"].as_str().unwrap();
    assert!(message.len() > 10, "{message}");
    &reply.content["error"]
}

async fn maria_id(c: &Crm) -> i64 {
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

async fn active_at(db: &DatabaseConnection, start: &str) -> u64 {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_callers_racing_for_the_last_bay_get_one_booking_and_forty_nine_clear_refusals() {
    let c = crm().await;
    // Fifty different callers.
    let mut customers = Vec::new();
    for i in 0..50 {
        let phone = format!("+1512555{:04}", 2000 + i);
        let r = call(
            &c.tools,
            &ctx("CAsetup", Some(&phone)),
            "c",
            "create_customer",
            json!({"name": format!("Caller {}", ["Ann", "Bo", "Cy", "Di", "Ed"][i % 5])}),
        )
        .await;
        customers.push(ok(&r)["customer"]["id"].as_i64().unwrap());
    }
    // One bay left in the shop: every other bay is taken out of service.
    entity::bay::Entity::update_many()
        .col_expr(entity::bay::Column::Active, false.into())
        .filter(entity::bay::Column::Name.ne("Bay 1"))
        .exec(&c.db)
        .await
        .unwrap();
    let cx = ctx("CAsearch", Some(MARIA));
    let slots = call(
        &c.tools,
        &cx,
        "s",
        "find_available_slots",
        json!({"service": "Brake inspection", "date": "2026-11-25", "part_of_day": "afternoon"}),
    )
    .await;
    let start = ok(&slots)["slots"][0]["start"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(active_at(&c.db, &start).await, 0);

    // Open the pool's connections first, so the racers overlap instead of queueing behind
    // connection set-up.
    let warm: Vec<_> = (0..10)
        .map(|_| {
            let (tools, cx) = (c.tools.clone(), cx.clone());
            tokio::spawn(async move { call(&tools, &cx, "w", "list_services", json!({})).await })
        })
        .collect();
    for w in warm {
        assert!(w.await.unwrap().is_ok());
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let mut tasks = Vec::new();
    for (i, customer) in customers.into_iter().enumerate() {
        let tools = c.tools.clone();
        let barrier = barrier.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let cx = ctx(&format!("CArace{i}"), Some(MARIA));
            barrier.wait().await;
            call(
                &tools,
                &cx,
                "call_1",
                "book_appointment",
                json!({"customer_id": customer, "service": "Brake inspection", "start": start}),
            )
            .await
        }));
    }
    let mut booked = 0;
    let mut taken = 0;
    for t in tasks {
        let reply = t.await.unwrap();
        if reply.is_ok() {
            booked += 1;
        } else {
            let error = refused(&reply, "slot_taken");
            let alternatives = error["alternatives"].as_array().unwrap();
            assert_eq!(alternatives.len(), 3, "{error}");
            assert!(alternatives.iter().all(|a| a["start"] != start.as_str()));
            taken += 1;
        }
    }
    assert_eq!((booked, taken), (1, 49));
    assert_eq!(active_at(&c.db, &start).await, 1);
}

#[tokio::test]
async fn a_replayed_booking_returns_the_same_appointment_even_when_replays_race() {
    let c = crm().await;
    let customer = maria_id(&c).await;
    let cx = ctx("CAreplay", Some(MARIA));
    let args =
        json!({"customer_id": customer, "service": "Tire rotation", "start": "2026-11-27T13:00"});
    let first = call(&c.tools, &cx, "call_7", "book_appointment", args.clone()).await;
    let first_id = ok(&first)["appointment"]["id"].clone();
    assert_eq!(first.content["already_booked"], false);
    let again = call(&c.tools, &cx, "call_7", "book_appointment", args.clone()).await;
    assert_eq!(ok(&again)["appointment"]["id"], first_id);
    assert_eq!(again.content["already_booked"], true);
    // A server that reuses tool call ids: the same id for a different booking is a new one.
    let other =
        json!({"customer_id": customer, "service": "Tire rotation", "start": "2026-11-27T14:00"});
    let reused = call(&c.tools, &cx, "call_7", "book_appointment", other).await;
    assert_ne!(ok(&reused)["appointment"]["id"], first_id);
    assert_eq!(reused.content["already_booked"], false);
    // Repeated under a new tool call id (the LLM re-issuing it after an interruption).
    let repeated = call(&c.tools, &cx, "call_9", "book_appointment", args.clone()).await;
    assert_eq!(ok(&repeated)["appointment"]["id"], first_id);
    assert_eq!(repeated.content["already_booked"], true);

    // Ten concurrent deliveries of one new tool call make one appointment.
    let args =
        json!({"customer_id": customer, "service": "Tire rotation", "start": "2026-11-27T15:00"});
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (tools, cx, args) = (c.tools.clone(), cx.clone(), args.clone());
        tasks.push(tokio::spawn(async move {
            call(&tools, &cx, "call_8", "book_appointment", args).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(ok(&t.await.unwrap())["appointment"]["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let keyed = entity::appointment::Entity::find()
        .filter(entity::appointment::Column::CallSid.eq("CAreplay"))
        .count(&c.db)
        .await
        .unwrap();
    assert_eq!(keyed, 3);
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

async fn counts(db: &DatabaseConnection) -> [u64; 4] {
    [
        entity::customer::Entity::find().count(db).await.unwrap(),
        entity::vehicle::Entity::find().count(db).await.unwrap(),
        entity::appointment::Entity::find().count(db).await.unwrap(),
        entity::appointment_bay::Entity::find()
            .count(db)
            .await
            .unwrap(),
    ]
}

#[tokio::test]
async fn bad_inputs_get_clear_errors_and_change_nothing() {
    let c = crm().await;
    let customer = maria_id(&c).await;
    let other = call(
        &c.tools,
        &ctx("CAo", Some("+15125550102")),
        "l",
        "lookup_customer",
        json!({}),
    )
    .await;
    let other_vehicle = ok(&other)["vehicles"][0]["id"].clone();
    let before = counts(&c.db).await;
    let cx = ctx("CAbad", Some(MARIA));
    let book =
        |start: &str| json!({"customer_id": customer, "service": "Oil change", "start": start});
    let cases: Vec<(&str, String, &str)> =
        vec![
        ("lookup_customer", json!({"phone": "555-12"}).to_string(), "invalid_phone"),
        ("lookup_customer", json!({"phone": "call me maybe"}).to_string(), "invalid_phone"),
        (
            "create_customer",
            json!({"name": "Robert'); DROP TABLE customers;--", "phone": "+15125559999"})
                .to_string(),
            "invalid_value",
        ),
        ("create_customer", json!({"name": "Ann", "phone": "12"}).to_string(), "invalid_phone"),
        (
            "create_customer",
            json!({"name": "Ann", "phone": "+15125559999", "email": "ann@"}).to_string(),
            "invalid_value",
        ),
        (
            "find_available_slots",
            json!({"service": "Oil change", "date": "2026-11-01"}).to_string(),
            "date_in_past",
        ),
        (
            "find_available_slots",
            json!({"service": "Oil change", "date": "Febtember 3"}).to_string(),
            "invalid_date",
        ),
        (
            "find_available_slots",
            json!({"service": "car wash", "date": "tomorrow"}).to_string(),
            "unknown_service",
        ),
        (
            "find_available_slots",
            json!({"service": "brake", "date": "tomorrow"}).to_string(),
            "ambiguous_service",
        ),
        ("book_appointment", book("2026-11-20T09:00").to_string(), "time_in_past"),
        ("book_appointment", book("2026-11-22T10:30").to_string(), "too_soon"),
        ("book_appointment", book("2026-11-24T06:00").to_string(), "outside_hours"),
        ("book_appointment", book("2026-11-24T17:30").to_string(), "outside_hours"),
        ("book_appointment", book("2026-11-26T09:00").to_string(), "closed"),
        ("book_appointment", book("2026-11-29T09:00").to_string(), "closed"),
        ("book_appointment", book("2026-11-24T09:10").to_string(), "not_a_slot"),
        ("book_appointment", book("2027-11-24T09:00").to_string(), "too_far_ahead"),
        ("book_appointment", book("next tuesday at nine").to_string(), "invalid_time"),
        (
            "book_appointment",
            json!({"customer_id": customer, "service": "Car wash", "start": "2026-11-24T09:00"})
                .to_string(),
            "unknown_service",
        ),
        (
            "book_appointment",
            json!({"customer_id": 999_999, "service": "Oil change", "start": "2026-11-24T09:00"})
                .to_string(),
            "not_found",
        ),
        (
            "book_appointment",
            json!({"customer_id": customer, "vehicle_id": other_vehicle, "service": "Oil change",
                   "start": "2026-11-24T09:00"})
            .to_string(),
            "not_found",
        ),
        (
            "book_appointment",
            json!({"customer_id": customer, "service": "Oil change", "start": "2026-11-24T09:00",
                   "price_cents": 0})
            .to_string(),
            "invalid_arguments",
        ),
        ("book_appointment", "{\"customer_id\": ".to_string(), "invalid_arguments"),
        ("book_appointment", json!({"customer_id": "one"}).to_string(), "invalid_arguments"),
        (
            "add_vehicle",
            json!({"customer_id": customer, "year": 2020, "make": "Honda", "model": "Civic",
                   "vin": "1HGCV1F37LA01234"})
            .to_string(),
            "invalid_vin",
        ),
        (
            "add_vehicle",
            json!({"customer_id": customer, "year": 1850, "make": "Benz", "model": "Wagen"})
                .to_string(),
            "invalid_value",
        ),
        (
            "add_vehicle",
            json!({"customer_id": customer, "year": 2020, "make": "Honda", "model": "Civic",
                   "mileage": -5})
            .to_string(),
            "invalid_value",
        ),
        (
            "add_vehicle",
            json!({"customer_id": customer, "year": 2020, "make": "Honda",
                   "model": "Civic'; DELETE FROM vehicles; --"})
            .to_string(),
            "invalid_value",
        ),
        (
            "cancel_appointment",
            json!({"customer_id": customer, "appointment_id": 424_242}).to_string(),
            "not_found",
        ),
        ("drop_tables", "{}".to_string(), "unknown_tool"),
    ];
    for (i, (tool, args, code)) in cases.iter().enumerate() {
        let reply = c
            .tools
            .run(
                &cx,
                &ToolCall::parse(format!("bad{i}"), *tool, args.as_str()),
            )
            .await;
        let error = refused(&reply, code);
        if ["outside_hours", "closed", "not_a_slot", "too_soon"].contains(code) {
            assert!(
                !error["alternatives"].as_array().unwrap().is_empty(),
                "{tool} {args}: {error}"
            );
        }
        if *code == "unknown_service" {
            assert_eq!(error["menu"].as_array().unwrap().len(), 8);
        }
    }
    assert_eq!(counts(&c.db).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_delivered_twenty_times_at_once_cancels_once_while_others_book() {
    let c = crm().await;
    let customer = maria_id(&c).await;
    let cx = ctx("CAcancel", Some(MARIA));
    let booked = call(
        &c.tools,
        &cx,
        "b",
        "book_appointment",
        json!({"customer_id": customer, "service": "Oil change", "start": "2026-12-01T08:00"}),
    )
    .await;
    let id = ok(&booked)["appointment"]["id"].clone();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (tools, cx) = (c.tools.clone(), cx.clone());
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                // Bookings of other times interleave with the cancels.
                let start = format!("2026-12-02T{:02}:00", 8 + i / 2);
                call(
                    &tools,
                    &cx,
                    &format!("o{i}"),
                    "book_appointment",
                    json!({"customer_id": customer, "service": "Oil change", "start": start}),
                )
                .await
            } else {
                call(
                    &tools,
                    &cx,
                    &format!("c{i}"),
                    "cancel_appointment",
                    json!({"customer_id": customer, "appointment_id": id}),
                )
                .await
            }
        }));
    }
    let mut first_cancels = 0;
    for t in tasks {
        let reply = t.await.unwrap();
        let body = ok(&reply);
        if body.get("already_cancelled") == Some(&json!(false)) {
            first_cancels += 1;
        }
    }
    assert_eq!(first_cancels, 1);
}

#[tokio::test]
async fn a_booking_past_its_deadline_still_completes_once_and_a_retry_finds_it() {
    let c = crm().await;
    let customer = maria_id(&c).await;
    let cx = ctx("CAslow", Some(MARIA));
    let args =
        json!({"customer_id": customer, "service": "Oil change", "start": "2026-12-01T10:00"})
            .to_string();
    let call = ToolCall::parse("call_slow", "book_appointment", args);
    let Ok(ToolRequest::Crm(request)) = &call.request else {
        panic!("{call:?}")
    };
    let reply = c
        .tools
        .run_bounded(&cx, "call_slow", request, std::time::Duration::ZERO)
        .await;
    let error = refused(&reply, "timeout");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("may still go through")
    );
    // The booking was not cut off: it lands, once.
    tokio::time::timeout(crate::helpers::HANG, async {
        while active_at(&c.db, "2026-12-01T10:00").await == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the booking completes");
    let retry = c
        .tools
        .run_bounded(
            &cx,
            "call_slow",
            request,
            std::time::Duration::from_secs(30),
        )
        .await;
    assert_eq!(ok(&retry)["already_booked"], true);
    assert_eq!(active_at(&c.db, "2026-12-01T10:00").await, 1);
}
