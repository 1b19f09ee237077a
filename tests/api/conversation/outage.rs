//! A call that comes in while PostgreSQL is frozen (through a TCP proxy the test controls):
//! the caller is greeted within a couple of seconds, without a name, instead of waiting on the
//! database; what the call records is stored once the database is back.

use std::time::Duration;

use super::*;
use crate::helpers::unique;
use crate::proxy::{Mode, proxied_database};

#[tokio::test]
async fn a_caller_is_greeted_in_time_while_the_database_is_frozen() {
    let Some((proxy, url, _)) = proxied_database().await else {
        return;
    };
    let line = Line::open_with(&[("DATABASE_URL", &url)]).await;
    line.llm
        .push(goodbye("We open at eight on Saturday. Goodbye!"));

    proxy.set(Mode::Freeze);
    let sid = unique("CA");
    let summary = line
        .call(
            MARIA,
            &sid,
            &[("hours", "What time do you open on Saturday?")],
        )
        .await;
    let greeted = summary.greeted_after.expect("the caller was greeted");
    assert!(
        greeted < Duration::from_secs(4),
        "greeted after {greeted:?} with the database frozen"
    );
    proxy.set(Mode::Pass);
    line.app.stop().await;
}
