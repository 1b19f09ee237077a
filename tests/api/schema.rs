//! The CRM schema's own guarantees, on SQLite and (when `TEST_DATABASE_URL` is set) PostgreSQL:
//! whatever the application does, the database refuses duplicates and impossible values.

use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};

use crate::helpers::{database_url, unique};

async fn db() -> DatabaseConnection {
    crate::helpers::install_crypto();
    let db = callbridge::db::connect(&database_url().await)
        .await
        .unwrap();
    callbridge::db::migrate(&db).await.unwrap();
    db
}

/// A number unlikely to collide with another test run on a shared database.
fn digits(n: usize) -> String {
    let nanos = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_nanos();
    let tag = unique("x")
        .bytes()
        .fold(nanos, |h, b| h.wrapping_mul(31).wrapping_add(b as u128));
    format!("{:0width$}", tag % 10u128.pow(n as u32), width = n)
}

async fn customer(db: &DatabaseConnection) -> entity::customer::Model {
    entity::customer::ActiveModel {
        phone: Set(format!("+1555{}", digits(7))),
        name: Set("Robert'); DROP TABLE customers;--".into()),
        email: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
}

fn vehicle(
    customer_id: i32,
    year: i32,
    vin: Option<String>,
    mileage: Option<i32>,
) -> entity::vehicle::ActiveModel {
    entity::vehicle::ActiveModel {
        customer_id: Set(customer_id),
        year: Set(year),
        make: Set("Toyota".into()),
        model: Set("Corolla".into()),
        vin: Set(vin),
        mileage: Set(mileage),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
}

#[tokio::test]
async fn customers_are_unique_by_phone_and_names_are_data() {
    let db = db().await;
    let c = customer(&db).await;
    assert!(
        c.name.contains("DROP TABLE"),
        "stored verbatim, never executed"
    );
    let dup = entity::customer::ActiveModel {
        phone: Set(c.phone.clone()),
        name: Set("Someone Else".into()),
        email: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&db)
    .await;
    assert!(dup.is_err(), "a phone number belongs to one customer");
}

#[tokio::test]
async fn vehicles_refuse_impossible_years_mileage_and_duplicate_vins() {
    let db = db().await;
    let c = customer(&db).await;
    assert!(vehicle(c.id, 1800, None, None).insert(&db).await.is_err());
    assert!(vehicle(c.id, 2101, None, None).insert(&db).await.is_err());
    assert!(
        vehicle(c.id, 2019, None, Some(-1))
            .insert(&db)
            .await
            .is_err()
    );
    let vin = format!("JT2BG{}", digits(12));
    vehicle(c.id, 2019, Some(vin.clone()), Some(42_000))
        .insert(&db)
        .await
        .unwrap();
    assert!(
        vehicle(c.id, 2020, Some(vin), None)
            .insert(&db)
            .await
            .is_err()
    );
    // Many vehicles may have no VIN on record.
    vehicle(c.id, 2015, None, None).insert(&db).await.unwrap();
    vehicle(c.id, 2016, None, None).insert(&db).await.unwrap();
    // A vehicle needs an existing owner.
    assert!(
        vehicle(i32::MAX, 2019, None, None)
            .insert(&db)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_idempotency_key_books_at_most_one_appointment() {
    let db = db().await;
    let c = customer(&db).await;
    let service = entity::service_type::ActiveModel {
        name: Set(unique("Oil change")),
        description: Set("Synthetic oil and filter".into()),
        duration_minutes: Set(45),
        price_cents: Set(8999),
        bays_needed: Set(1),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let bay = entity::bay::ActiveModel {
        name: Set(unique("Bay")),
        active: Set(true),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let starts = Utc::now() + Duration::days(2);
    let key = unique("CA-call:tool-1");
    let appointment =
        |key: Option<String>, status: &str, minutes: i64| entity::appointment::ActiveModel {
            customer_id: Set(c.id),
            vehicle_id: Set(None),
            service_type_id: Set(service.id),
            bay_id: Set(bay.id),
            starts_at: Set(starts),
            ends_at: Set(starts + Duration::minutes(minutes)),
            status: Set(status.into()),
            notes: Set(None),
            call_sid: Set(Some("CA-call".into())),
            idempotency_key: Set(key),
            created_at: Set(Utc::now()),
            updated_at: Set(Utc::now()),
            ..Default::default()
        };
    let first = appointment(Some(key.clone()), "booked", 45)
        .insert(&db)
        .await
        .unwrap();
    let hold = |bay_id| entity::appointment_bay::ActiveModel {
        appointment_id: Set(first.id),
        bay_id: Set(bay_id),
    };
    hold(bay.id).insert(&db).await.unwrap();
    assert!(
        hold(bay.id).insert(&db).await.is_err(),
        "one bay held twice"
    );
    assert!(
        hold(i32::MAX).insert(&db).await.is_err(),
        "a bay that does not exist"
    );
    assert!(
        appointment(Some(key), "booked", 45)
            .insert(&db)
            .await
            .is_err(),
        "replayed key"
    );
    assert!(
        appointment(None, "pending", 45).insert(&db).await.is_err(),
        "unknown status"
    );
    assert!(
        appointment(None, "booked", 0).insert(&db).await.is_err(),
        "ends before it starts"
    );
    appointment(None, "booked", 45).insert(&db).await.unwrap();
}

#[tokio::test]
async fn call_turns_are_ordered_uniquely_within_a_call() {
    let db = db().await;
    let call = entity::call_log::ActiveModel {
        call_sid: Set(unique("CA")),
        from_number: Set(Some("+15550001111".into())),
        to_number: Set(None),
        started_at: Set(Utc::now()),
        ended_at: Set(None),
        outcome: Set(None),
        summary: Set(None),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let turn = |seq: i32, speaker: &str| entity::call_turn::ActiveModel {
        call_log_id: Set(call.id),
        seq: Set(seq),
        speaker: Set(speaker.into()),
        text: Set("Hi, I'd like an oil change on Thursday.".into()),
        heard_text: Set(None),
        started_at: Set(Utc::now()),
        stt_ms: Set(Some(310)),
        llm_first_token_ms: Set(None),
        tts_first_byte_ms: Set(None),
        ..Default::default()
    };
    turn(1, "caller").insert(&db).await.unwrap();
    turn(2, "agent").insert(&db).await.unwrap();
    assert!(
        turn(2, "caller").insert(&db).await.is_err(),
        "sequence reused"
    );
    assert!(
        turn(3, "robot").insert(&db).await.is_err(),
        "unknown speaker"
    );
}
