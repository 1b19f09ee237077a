//! Call history in the console: filtered by outcome and day, paged, and one call's transcript
//! showing what the caller heard of a reply they cut off, escaped wherever a caller's words
//! appear.

use callbridge::crm::calls::{self, Speaker, TurnRecord};
use callbridge::staff::Role;
use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;

use super::desk::{Desk, PASSWORD, account};
use crate::helpers::spawn_app;

#[tokio::test]
async fn calls_are_filtered_paged_and_read_with_what_the_caller_heard() {
    let app = spawn_app().await;
    let db = &app.state.db;
    // Noon in Chicago on two days: 55 calls on the first, 2 on the second.
    let day1 = Utc.with_ymd_and_hms(2026, 11, 23, 18, 0, 0).unwrap();
    let day2 = day1 + Duration::days(1);
    for i in 0..57 {
        let started = if i < 55 {
            day1 + Duration::minutes(i)
        } else {
            day2 + Duration::minutes(i)
        };
        let sid = format!("CAhist{i:02}");
        let log = calls::start(
            db,
            &sid,
            Some("+15125550101"),
            Some("+15125550100"),
            started,
        )
        .await
        .unwrap();
        let outcome = if i % 5 == 0 { "transferred" } else { "booked" };
        if i == 56 {
            for (speaker, text, heard) in [
                (
                    Speaker::Agent,
                    "Thanks for calling, how can I help?",
                    Some("Thanks for calling, how can I help?"),
                ),
                (
                    Speaker::Caller,
                    "<script>alert('x')</script> I need brakes",
                    None,
                ),
                (
                    Speaker::Agent,
                    "I have Tuesday at 9:00 AM. Shall I book it?",
                    Some("I have Tuesday at 9:00 AM."),
                ),
            ] {
                let record = TurnRecord {
                    text: text.into(),
                    heard_text: heard.map(Into::into),
                    started_at: started,
                    stt_ms: (speaker == Speaker::Caller).then_some(180),
                    llm_first_token_ms: (speaker == Speaker::Agent).then_some(240),
                    tts_first_byte_ms: (speaker == Speaker::Agent).then_some(90),
                };
                calls::append_turn(db, log.id, speaker, &record)
                    .await
                    .unwrap();
            }
        }
        calls::finish(
            db,
            log.id,
            outcome,
            Some("Booked brakes for Maria"),
            started + Duration::seconds(95),
        )
        .await
        .unwrap();
    }
    account(&app, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&app);
    desk.sign_in("Ben Ode", PASSWORD).await;

    let all = desk.get("/console/calls").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert!(all.body.contains("57 calls"));
    assert_eq!(all.body.matches("data-sid=").count(), 50);
    // Newest first; the older page holds the rest.
    assert!(all.body.find("CAhist56").unwrap() < all.body.find("CAhist55").unwrap());
    assert!(all.body.contains(r#"id="older""#));
    let older = desk.get("/console/calls?page=1").await;
    assert_eq!(older.body.matches("data-sid=").count(), 7);
    assert!(!older.body.contains(r#"id="older""#));

    let transferred = desk.get("/console/calls?outcome=transferred").await;
    assert!(
        transferred.body.contains("12 calls"),
        "{}",
        transferred.body
    );
    let second_day = desk.get("/console/calls?day=2026-11-24").await;
    assert!(second_day.body.contains("2 calls"), "{}", second_day.body);
    let both = desk
        .get("/console/calls?day=2026-11-24&outcome=transferred")
        .await;
    assert!(both.body.contains("1 call<"), "{}", both.body);
    assert!(both.body.contains("CAhist55"));

    let call = desk.get("/console/calls/CAhist56").await;
    assert_eq!(call.status, StatusCode::OK);
    assert!(call.body.contains("Booked brakes for Maria"));
    // What the caller heard of the cut reply, and the rest marked unheard.
    assert!(
        call.body
            .contains(r#"<span class="heard">I have Tuesday at 9:00 AM.</span>"#),
        "{}",
        call.body
    );
    assert!(call.body.contains("Shall I book it?</del>"));
    assert!(
        call.body.contains("recognition 180 ms")
            && call.body.contains("agent 240 ms · speech 90 ms")
    );
    // The caller's words are text, never markup.
    assert!(!call.body.contains("<script>alert"));
    assert!(call.body.contains("&lt;script&gt;alert("));
    assert_eq!(
        desk.get("/console/calls/CAnone").await.status,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}
