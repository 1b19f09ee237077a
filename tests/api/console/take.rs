//! "Take this call": an advisor sets the phone they take calls on, then takes a call from the
//! live view; the fake Twilio REST API sees the call redirected to a warm `<Dial>` of that
//! phone (the summary first, back to the agent if unanswered), the audit log says who took
//! it, and once their leg is over the call's outcome is `taken`. Without a phone, without the
//! CSRF token, or without REST credentials, nothing is redirected.

use callbridge::staff::Role;
use reqwest::StatusCode;

use super::desk::{Desk, PASSWORD, account};
use crate::fakes::twilio_rest::FakeTwilioRest;
use crate::helpers::{AUTH_TOKEN, PUBLIC_URL, Reachable, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_advisor_takes_a_call_onto_their_own_phone() {
    let sid = "CAtake00000000000000000000000001";
    let twilio = FakeTwilioRest::start("AC0123", AUTH_TOKEN, &[sid]).await;
    let app = spawn_app_with(&[
        ("TWILIO_ACCOUNT_SID", "AC0123"),
        ("TWILIO_API_BASE_URL", &twilio.base_url),
    ])
    .await;
    callbridge::crm::calls::start(
        &app.state.db,
        sid,
        Some("+15125550101"),
        None,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    account(&app, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&app);
    desk.sign_in("Ben Ode", PASSWORD).await;
    let live = desk.get("/console/live").await;
    let csrf = desk.csrf().await;
    assert!(live.body.contains(&format!("data-csrf=\"{csrf}\"")));
    let take = format!("/console/live/{sid}/take");

    // No phone yet: nothing is redirected, and the page says what to do.
    let refused = desk.post(&take, &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("Add the phone you take calls on"));
    let bad = desk
        .post(
            "/console/me/phone",
            &[("csrf", &csrf), ("phone", "call me")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let saved = desk
        .post(
            "/console/me/phone",
            &[("csrf", &csrf), ("phone", "+1 (512) 555-0142")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert!(
        desk.get("/console")
            .await
            .body
            .contains("value=\"+15125550142\"")
    );
    // Without the form's token: refused, nothing redirected.
    let forged = desk.post(&take, &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(twilio.updates(sid).is_empty());

    let taken = desk.post(&take, &[("csrf", &csrf)]).await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.body);
    let updates = twilio.updates(sid);
    assert_eq!(updates.len(), 1, "{updates:?}");
    let twiml = &updates[0]["Twiml"];
    assert!(
        twiml.contains("<Say>One moment, I&apos;m putting you through to an advisor.</Say>")
            || twiml.contains("<Say>One moment, I'm putting you through to an advisor.</Say>"),
        "{twiml}"
    );
    assert!(
        twiml.contains(&format!(
            "action=\"{PUBLIC_URL}/twilio/dial-result?call={sid}&amp;by=staff\""
        )),
        "{twiml}"
    );
    assert!(
        twiml.contains(&format!(
            "<Number url=\"{PUBLIC_URL}/twilio/whisper?call={sid}\" method=\"POST\">+15125550142</Number>"
        )),
        "{twiml}"
    );
    let log = callbridge::staff::audit::recent(&app.state.db, 5)
        .await
        .unwrap();
    assert_eq!(log[0].action, "call.take");
    assert_eq!(log[0].actor, "Ben Ode");
    assert_eq!(log[0].target.as_deref(), Some(&*format!("call:{sid}")));

    // The advisor talked to the caller and hung up: the call was taken.
    let over = app
        .post_form(
            &format!("/twilio/dial-result?call={sid}&by=staff"),
            &[("CallSid", sid), ("DialCallStatus", "completed")],
            None,
        )
        .await;
    assert!(over.text().await.unwrap().contains("<Hangup/>"));
    let outcome = async {
        loop {
            let log = callbridge::crm::calls::with_turns(&app.state.db, sid)
                .await
                .unwrap()
                .unwrap()
                .0;
            if log.outcome.as_deref() == Some("taken") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(crate::helpers::HANG, outcome)
        .await
        .expect("the outcome says the call was taken");
    app.stop().await;
}

#[tokio::test]
async fn without_rest_credentials_a_call_cannot_be_taken() {
    let app = spawn_app().await;
    account(&app, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&app);
    desk.sign_in("Ben Ode", PASSWORD).await;
    let csrf = desk.csrf().await;
    desk.post(
        "/console/me/phone",
        &[("csrf", &csrf), ("phone", "+15125550142")],
    )
    .await;
    let refused = desk
        .post("/console/live/CAsomecall/take", &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.body.contains("TWILIO_ACCOUNT_SID"));
    app.stop().await;
}
