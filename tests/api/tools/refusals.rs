//! Bad inputs get clear errors and change nothing.

use serde_json::json;

use super::*;

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
