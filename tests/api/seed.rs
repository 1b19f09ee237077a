//! `callbridge seed`: the demo CRM loads into an empty database, once.

use chrono::NaiveDate;
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::helpers::database_url;

#[tokio::test]
async fn the_demo_crm_loads_once_and_a_failed_second_load_changes_nothing() {
    crate::helpers::install_crypto();
    let db = callbridge::db::connect(&database_url().await)
        .await
        .unwrap();
    callbridge::db::migrate(&db).await.unwrap();
    assert!(callbridge::crm::seed::is_empty(&db).await.unwrap());
    let data = callbridge::crm::seed::parse(callbridge::crm::seed::DEMO_FIXTURE).unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    let report = callbridge::crm::seed::seed(&db, &data, chrono_tz::America::Chicago, today)
        .await
        .unwrap();
    assert_eq!(report.customers, 10);
    assert!(!callbridge::crm::seed::is_empty(&db).await.unwrap());
    let appointments = entity::appointment::Entity::find().all(&db).await.unwrap();
    assert_eq!(appointments.len(), report.appointments);
    // Thursday, November 26, 2026 is Thanksgiving (a closure) and Sundays are closed: no
    // booking lands on either.
    for a in &appointments {
        let local = a.starts_at.with_timezone(&chrono_tz::America::Chicago);
        let day = local.date_naive();
        assert_ne!(day, NaiveDate::from_ymd_opt(2026, 11, 26).unwrap());
        assert_ne!(chrono::Datelike::weekday(&day), chrono::Weekday::Sun);
        assert!(day > today);
    }

    // Loading again violates the unique names and rolls back whole.
    assert!(
        callbridge::crm::seed::seed(&db, &data, chrono_tz::America::Chicago, today)
            .await
            .is_err()
    );
    assert_eq!(
        entity::customer::Entity::find().count(&db).await.unwrap(),
        10
    );
    assert_eq!(
        entity::appointment::Entity::find()
            .count(&db)
            .await
            .unwrap() as usize,
        report.appointments
    );
}
