//! The service desk's console in headless Chromium: signing in (a wrong password refused),
//! a simulated call's transcript appearing live, its recording played from a turn, an
//! appointment moved on the board, a change without its CSRF token refused, an advisor
//! refused an admin page.

use callbridge::staff::Role;
use chrono::{Datelike, Duration, Utc, Weekday};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use super::{Browser, until_js};
use crate::console::desk::{PASSWORD, account};
use crate::conversation::recording::finished_recording;
use crate::conversation::{Line, MARIA, goodbye, stream};
use crate::fakes::openai::text_reply;

async fn maria_appointments(line: &Line) -> Vec<entity::appointment::Model> {
    let maria = entity::customer::Entity::find()
        .filter(entity::customer::Column::Phone.eq(MARIA))
        .one(&line.app.state.db)
        .await
        .unwrap()
        .unwrap();
    entity::appointment::Entity::find()
        .filter(entity::appointment::Column::CustomerId.eq(maria.id))
        .order_by_asc(entity::appointment::Column::StartsAt)
        .all(&line.app.state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_desk_signs_in_watches_a_call_live_and_moves_an_appointment() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let line = Line::open().await;
    account(&line.app, "Ben Ode", Role::Advisor).await;
    let base = format!("http://127.0.0.1:{}", line.app.port);

    // A page asks for sign-in; a wrong password is refused in words.
    browser.goto(&format!("{base}/console/live")).await;
    browser.find("#login").await;
    assert!(
        browser
            .url()
            .await
            .contains("/console/login?next=%2Fconsole%2Flive")
    );
    browser.fill("#name", "Ben Ode").await;
    browser.fill("#password", "not the password").await;
    browser.find("#sign-in").await.click().await.unwrap();
    browser.until_text("Wrong name or password.").await;
    browser.fill("#password", PASSWORD).await;
    browser.find("#sign-in").await.click().await.unwrap();
    // Back where they were going, watching live.
    browser.find("#live-status[data-state='open']").await;
    assert!(browser.url().await.ends_with("/console/live"));
    assert!(browser.text().await.contains("No calls in progress."));

    // A call comes in: its transcript appears as it is spoken, then it ends.
    line.llm
        .push(stream(text_reply(&["Sure, which day suits you?"])));
    line.llm.push(goodbye("Thanks for calling, goodbye!"));
    let sid = "CAbrowser00000000000000000live01";
    let call = line.call(
        MARIA,
        sid,
        &[
            (
                "book_oil_change",
                "Hi, I'd like to book an oil change for my Honda.",
            ),
            ("thanks_bye", "That's all, thank you. Goodbye."),
        ],
    );
    let watch = async {
        browser.find(&format!("#call-{sid}")).await;
        browser.until_text("Maria Gonzalez").await;
        browser.until_text("2020 Honda Accord").await;
    };
    tokio::join!(call, watch);
    browser.until_text("Ended: ").await;
    let card = browser
        .find(&format!("#call-{sid}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(card.contains("oil change"), "{card}");
    assert!(card.contains("Sure, which day suits you?"), "{card}");
    assert!(
        card.contains("recognition") && card.contains("agent") && card.contains(" ms"),
        "{card}"
    );

    // The call's page plays its recording: a turn's time plays from that turn, marked.
    let (_, recording) = finished_recording(&line.app, sid, 0).await;
    assert!(recording.left.len() > 8000);
    browser.goto(&format!("{base}/console/calls/{sid}")).await;
    let duration = until_js(
        &browser,
        "const a = document.getElementById('recording-0');
         return a.readyState >= 1 && isFinite(a.duration) && a.duration > 0 ? a.duration : null;",
        vec![],
    )
    .await;
    assert!(duration.as_f64().unwrap() > 2.0, "duration {duration}");
    let seek = browser.find("#transcript li.caller button.seek").await;
    let offset: f64 = seek
        .attr("data-offset")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    seek.click().await.unwrap();
    // It plays from there, and the one turn marked is the one being heard.
    let played = until_js(
        &browser,
        "const a = document.getElementById('recording-0');
         const turns = [...document.querySelectorAll('#transcript li[data-leg=\"0\"]')];
         const heard = turns.filter(li => parseFloat(li.dataset.offset) <= a.currentTime).pop();
         const marked = document.querySelectorAll('#transcript li.playing');
         return !a.paused && a.currentTime > arguments[0] + 0.3 && marked.length === 1
             && marked[0] === heard ? a.currentTime : null;",
        vec![json!(offset)],
    )
    .await;
    assert!(played.as_f64().unwrap() >= offset, "{played} from {offset}");

    // The board: Maria's first appointment moved to 2 PM on an open weekday.
    let tz = line.app.state.settings.business.timezone;
    let before = maria_appointments(&line).await;
    let appointment = &before[0];
    let day = appointment.starts_at.with_timezone(&tz).date_naive();
    let mut target = Utc::now().with_timezone(&tz).date_naive() + Duration::days(3);
    while matches!(target.weekday(), Weekday::Sat | Weekday::Sun)
        || [(12, 25), (1, 1)].contains(&(target.month(), target.day()))
    {
        target += Duration::days(1);
    }
    browser
        .goto(&format!("{base}/console/board?day={day}"))
        .await;
    let card = format!("#appointment-{}", appointment.id);
    browser
        .find(&format!("{card} details.move summary"))
        .await
        .click()
        .await
        .unwrap();
    browser
        .client
        .execute(
            "const f = document.querySelector(arguments[0] + ' details.move form');
             f.querySelector('input[name=day]').value = arguments[1];
             f.querySelector('input[name=time]').value = '14:00';",
            vec![json!(card), json!(target.to_string())],
        )
        .await
        .unwrap();
    browser
        .find(&format!("{card} details.move button"))
        .await
        .click()
        .await
        .unwrap();
    browser
        .find(&format!("{card}[data-start='{target}T14:00']"))
        .await;
    assert!(browser.url().await.contains(&format!("day={target}")));
    let after = maria_appointments(&line).await;
    let moved = after.iter().find(|a| a.id == appointment.id).unwrap();
    assert_eq!(moved.status, "rescheduled");
    assert_eq!(
        moved
            .starts_at
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        format!("{target} 14:00")
    );

    // A cancel form whose CSRF token a script removed is refused, and nothing changes.
    browser
        .client
        .execute(
            "const f = document.querySelector(arguments[0] + ' details.cancel form');
             f.querySelector('input[name=csrf]').remove();
             f.submit();",
            vec![json!(card)],
        )
        .await
        .unwrap();
    browser.until_text("This form has expired").await;
    let still = maria_appointments(&line).await;
    assert_eq!(
        still
            .iter()
            .find(|a| a.id == appointment.id)
            .unwrap()
            .status,
        "rescheduled"
    );

    // An advisor is refused the admins' pages.
    browser.goto(&format!("{base}/console/staff")).await;
    browser.until_text("Admins only").await;
    browser.close().await;
}
