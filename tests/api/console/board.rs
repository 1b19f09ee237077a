//! The board through the console's forms: appointments shown per bay and hour, moved,
//! cancelled and created through the agent's booking code, each change audited once, refusals
//! explained, changes without the CSRF token refused.

use callbridge::crm::catalog;
use callbridge::staff::{Role, audit};
use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::desk::{Desk, PASSWORD, account};
use crate::helpers::TestApp;

const MARIA: &str = "+15125550101";
const JAMES: &str = "+15125550102";

/// The app with the demo CRM, its bookings from today on (in the shop's zone).
pub(super) async fn app_with_demo() -> (TestApp, chrono_tz::Tz) {
    app_with_demo_and(&[]).await
}

/// The same, with more settings.
pub(super) async fn app_with_demo_and(env: &[(&str, &str)]) -> (TestApp, chrono_tz::Tz) {
    let app = crate::helpers::spawn_app_with(env).await;
    let tz = app.state.settings.business.timezone;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let data = callbridge::crm::seed::parse(callbridge::crm::seed::DEMO_FIXTURE).unwrap();
    callbridge::crm::seed::seed(&app.state.db, &data, tz, today)
        .await
        .unwrap();
    (app, tz)
}

/// A weekday at least three days out that the shop is open all day.
async fn open_weekday(app: &TestApp, tz: chrono_tz::Tz) -> NaiveDate {
    let mut day = Utc::now().with_timezone(&tz).date_naive() + Duration::days(3);
    let closed = catalog::closures(&app.state.db, day, day + Duration::days(30))
        .await
        .unwrap();
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
        || closed.iter().any(|c| c.day == day)
    {
        day += Duration::days(1);
    }
    day
}

async fn appointment(app: &TestApp, id: i32) -> entity::appointment::Model {
    entity::appointment::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

async fn actions(app: &TestApp) -> Vec<(String, String)> {
    audit::recent(&app.state.db, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action))
        .collect()
}

#[tokio::test]
async fn an_appointment_is_moved_and_cancelled_from_the_board_once_each() {
    let (app, tz) = app_with_demo().await;
    account(&app, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&app);
    desk.sign_in("Ben Ode", PASSWORD).await;

    // Maria's first booking is on the board of its day, in its bay.
    let maria = entity::customer::Entity::find()
        .filter(entity::customer::Column::Phone.eq(MARIA))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let booked = entity::appointment::Entity::find()
        .filter(entity::appointment::Column::CustomerId.eq(maria.id))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let id = booked.id;
    let day = booked.starts_at.with_timezone(&tz).date_naive();
    let board = desk.get(&format!("/console/board?day={day}")).await;
    assert_eq!(board.status, StatusCode::OK, "{}", board.body);
    let card_at = board
        .body
        .find(&format!("id=\"appointment-{id}\""))
        .expect("Maria's card");
    let card = &board.body[card_at..card_at + 600];
    assert!(
        card.contains("Maria Gonzalez") && card.contains("Tire rotation"),
        "{card}"
    );
    for bay in ["Bay 1", "Bay 2", "Bay 3", "Bay 4"] {
        assert!(board.body.contains(&format!("<th>{bay}</th>")), "{bay}");
    }
    let csrf = board.field("csrf");

    // Without the token: refused, unchanged.
    let target = open_weekday(&app, tz).await;
    let forged = desk
        .post(
            &format!("/console/appointments/{id}/move"),
            &[("day", &target.to_string()), ("time", "14:00")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(appointment(&app, id).await.starts_at, booked.starts_at);

    // Outside opening hours: refused with the reason and free times nearby.
    let late = desk
        .post(
            &format!("/console/appointments/{id}/move"),
            &[
                ("csrf", &csrf),
                ("day", &target.to_string()),
                ("time", "21:00"),
                ("from_day", &day.to_string()),
            ],
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    assert!(
        late.body.contains("outside opening hours") && late.body.contains("Free nearby"),
        "{}",
        late.body
    );
    assert_eq!(appointment(&app, id).await.starts_at, booked.starts_at);

    // Moved: the board of the new day shows it, the log says who moved it from where to where.
    let to = [
        ("csrf", csrf.as_str()),
        ("day", &target.to_string()),
        ("time", "14:00"),
        ("from_day", &day.to_string()),
    ];
    let moved = desk
        .post(&format!("/console/appointments/{id}/move"), &to)
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    assert_eq!(
        moved.location(),
        format!("/console/board?day={target}#appointment-{id}")
    );
    let row = appointment(&app, id).await;
    assert_eq!(row.status, "rescheduled");
    assert_eq!(
        row.starts_at
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        format!("{target} 14:00")
    );
    // The same move again changes nothing and records nothing.
    assert_eq!(
        desk.post(&format!("/console/appointments/{id}/move"), &to)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        actions(&app).await,
        [("Ben Ode".to_string(), "appointment.move".to_string())]
    );
    let log = audit::recent(&app.state.db, 1).await.unwrap();
    let detail = log[0].detail.as_deref().unwrap();
    assert!(
        detail.contains(&format!("\"to\":\"{target}T14:00\"")),
        "{detail}"
    );
    let new_board = desk.get(&format!("/console/board?day={target}")).await;
    assert!(
        new_board
            .body
            .contains(&format!("data-start=\"{target}T14:00\""))
    );

    // Cancelled once, with its reason; the board lists it apart.
    let cancel = [
        ("csrf", csrf.as_str()),
        ("reason", "customer sold the car"),
        ("from_day", &target.to_string()),
    ];
    let done = desk
        .post(&format!("/console/appointments/{id}/cancel"), &cancel)
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        desk.post(&format!("/console/appointments/{id}/cancel"), &cancel)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let row = appointment(&app, id).await;
    assert_eq!(row.status, "cancelled");
    assert!(
        row.notes
            .unwrap_or_default()
            .contains("customer sold the car")
    );
    assert_eq!(
        actions(&app).await,
        [
            ("Ben Ode".to_string(), "appointment.cancel".to_string()),
            ("Ben Ode".to_string(), "appointment.move".to_string())
        ]
    );
    let after = desk.get(&format!("/console/board?day={target}")).await;
    assert!(after.body.contains("Cancelled, completed and missed"));
    assert!(
        !after
            .body
            .contains(&format!("data-start=\"{target}T14:00\""))
    );
    // A cancelled appointment cannot be moved back.
    let back = desk
        .post(&format!("/console/appointments/{id}/move"), &to)
        .await;
    assert_eq!(back.status, StatusCode::CONFLICT);
    assert!(back.body.contains("cannot be changed"), "{}", back.body);
    app.stop().await;
}

#[tokio::test]
async fn a_create_form_asks_which_vehicle_and_sent_twice_books_once() {
    let (app, tz) = app_with_demo().await;
    account(&app, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&app);
    desk.sign_in("Ben Ode", PASSWORD).await;
    let target = open_weekday(&app, tz).await;
    let board = desk.get(&format!("/console/board?day={target}")).await;
    let csrf = board.field("csrf");
    let form_key = board.field("form_key");
    let service = entity::service_type::Entity::find()
        .filter(entity::service_type::Column::Name.eq("Wheel alignment"))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let service_id = service.id.to_string();
    let target_day = target.to_string();
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("form_key", form_key.as_str()),
        ("phone", JAMES),
        ("service_id", &service_id),
        ("day", &target_day),
        ("time", "15:00"),
        ("notes", "pulls to the left"),
    ];
    // James has two vehicles: the form comes back asking which, the rest kept.
    let ask = desk.post("/console/appointments", &form).await;
    assert_eq!(ask.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", ask.body);
    assert!(ask.body.contains("has 2 vehicles"), "{}", ask.body);
    assert!(ask.body.contains("2021 Ford F-150") && ask.body.contains("pulls to the left"));
    assert_eq!(ask.field("form_key"), form_key);
    let james = entity::customer::Entity::find()
        .filter(entity::customer::Column::Phone.eq(JAMES))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let truck = entity::vehicle::Entity::find()
        .filter(entity::vehicle::Column::CustomerId.eq(james.id))
        .filter(entity::vehicle::Column::Model.eq("F-150"))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let truck_id = truck.id.to_string();
    form.push(("vehicle_id", &truck_id));
    let first = desk.post("/console/appointments", &form).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    // The browser sends it again (a double click, a reload): still one booking, one entry.
    let second = desk.post("/console/appointments", &form).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER);
    assert_eq!(first.location(), second.location());
    let theirs = entity::appointment::Entity::find()
        .filter(entity::appointment::Column::CustomerId.eq(james.id))
        .filter(entity::appointment::Column::ServiceTypeId.eq(service.id))
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(theirs, 1);
    assert_eq!(
        actions(&app).await,
        [("Ben Ode".to_string(), "appointment.book".to_string())]
    );
    let board = desk.get(&format!("/console/board?day={target}")).await;
    assert!(
        board
            .body
            .contains(&format!("data-start=\"{target}T15:00\"")),
        "{}",
        board.body
    );

    // An unknown number and a Sunday are refused in words.
    let fresh = board.field("form_key");
    let sunday = (1..8)
        .map(|d| target + Duration::days(d))
        .find(|d| d.weekday() == Weekday::Sun)
        .unwrap()
        .to_string();
    let unknown = [
        ("csrf", csrf.as_str()),
        ("form_key", fresh.as_str()),
        ("phone", "+15125559999"),
        ("service_id", &service_id),
        ("day", &target.to_string()),
        ("time", "15:00"),
    ];
    let r = desk.post("/console/appointments", &unknown).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.body.contains("No customer has the number +15125559999"),
        "{}",
        r.body
    );
    let closed = [
        ("csrf", csrf.as_str()),
        ("form_key", fresh.as_str()),
        ("phone", MARIA),
        ("service_id", &service_id),
        ("day", &sunday),
        ("time", "10:00"),
    ];
    let r = desk.post("/console/appointments", &closed).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("The shop is closed on"), "{}", r.body);
    app.stop().await;
}
