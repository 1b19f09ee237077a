//! The console while PostgreSQL is frozen (through a TCP proxy the test controls): a page and
//! a change each get, in seconds, a page saying the console cannot reach its database (the
//! connection pool's timeout), not a hang; once the database is back the same pages work.

use std::time::{Duration, Instant};

use callbridge::staff::Role;
use reqwest::StatusCode;

use super::desk::{Desk, PASSWORD, account};
use crate::helpers::spawn_app_with;
use crate::proxy::{Mode, proxied_database};

#[tokio::test]
async fn a_frozen_database_gets_the_desk_a_clear_page_in_time() {
    let Some((proxy, url, _)) = proxied_database().await else {
        return;
    };
    let app = spawn_app_with(&[("DATABASE_URL", &url)]).await;
    account(&app, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&app);
    desk.sign_in("Ben Ode", PASSWORD).await;
    let mut other = Desk::new(&app);
    other.sign_in("Ben Ode", PASSWORD).await;
    let other_csrf = other.csrf().await;

    proxy.set(Mode::Freeze);
    let asked = Instant::now();
    let form = [("csrf", other_csrf.as_str())];
    let (page, change) = tokio::join!(
        desk.get("/console/board"),
        other.post("/console/callbacks/1/done", &form),
    );
    let waited = asked.elapsed();
    for answer in [&page, &change] {
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.body
        );
        assert!(answer.body.contains("<h1>Not available right now</h1>"));
    }
    assert!(
        waited < Duration::from_secs(15),
        "answered after {waited:?}"
    );

    proxy.set(Mode::Pass);
    let back = desk.get("/console/board").await;
    assert_eq!(back.status, StatusCode::OK);
    app.stop().await;
}
