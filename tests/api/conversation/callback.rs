//! A warm transfer nobody at the desk answers, end to end: the caller presses the transfer
//! key, the advisor leg would hear the call's summary, the `<Dial>` ends with no answer, Twilio
//! asks its action, and the caller is back with the agent on a new stream (a new token: the
//! first one's claim does not refuse it), which offers a callback and records it. The console
//! lists the request until an advisor marks it done, and the audit log says who.

use serde_json::json;

use super::*;
use crate::console::desk::{Desk, PASSWORD, account};
use crate::helpers::Reachable;
use callbridge::staff::Role;

#[tokio::test]
async fn an_unanswered_transfer_brings_the_caller_back_to_an_agent_who_takes_a_callback() {
    let line = Line::open().await;
    let sid = "CAcallback0000000000000000000001";
    let first = line.call_with(MARIA, sid, Vec::new(), vec![key('0')]).await;
    line.assert_transferred(sid, &first).await;
    // The advisor leg would hear the summary first.
    let whisper = line
        .app
        .post_form(
            &format!("/twilio/whisper?call={sid}"),
            &[("CallSid", "CAadvisorleg"), ("ParentCallSid", sid)],
            None,
        )
        .await;
    assert!(whisper.text().await.unwrap().contains("Maria Gonzalez"));

    // Nobody picks up: Twilio asks the dial's action, and the agent takes the caller back.
    line.llm.push(tool(
        "cb1",
        "request_callback",
        &json!({"window": "tomorrow morning", "reason": "a noise from the brakes"}),
    ));
    line.llm.push(stream(text_reply(&[
        "Done: an advisor will call you back tomorrow morning. Anything else?",
    ])));
    line.llm.push(goodbye("Thanks for calling. Goodbye!"));
    let action = format!("{PUBLIC_URL}/twilio/dial-result?call={sid}");
    let back = line
        .returned_call(
            MARIA,
            sid,
            &action,
            "no-answer",
            vec![
                "Tomorrow morning please, it's about a noise from my brakes.",
                "No, that's all. Goodbye.",
            ],
            vec![said("book_oil_change"), said("thanks_bye")],
        )
        .await;
    assert!(
        back.greeted_after.is_some(),
        "the agent spoke on the new stream"
    );
    let requests = line.llm_requests();
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("nobody answered"), "{system}");
    assert_eq!(
        requests[0]["messages"][1]["content"],
        "I'm sorry, nobody at the service desk could pick up just now. I can have an advisor \
         call you back: when would suit you, and what is it about?"
    );
    let request = callbridge::crm::callbacks::by_call(&line.app.state.db, sid)
        .await
        .unwrap()
        .expect("the callback is recorded");
    assert_eq!(request.window, "tomorrow morning");
    assert_eq!(request.reason, "a noise from the brakes");
    assert_eq!(request.phone.as_deref(), Some(MARIA));
    assert_eq!(request.caller_name.as_deref(), Some("Maria Gonzalez"));
    // Each stream was recorded, and both are on the call's page.
    let (first_leg, _) = super::recording::finished_recording(&line.app, sid, 0).await;
    let (second_leg, heard) = super::recording::finished_recording(&line.app, sid, 1).await;
    assert!(second_leg.started_at > first_leg.started_at);
    assert!(
        heard.right.iter().any(|&s| s.abs() > 2000),
        "the agent's offer is in it"
    );
    let (outcome, turns) = line.record(sid).await;
    assert_eq!(outcome.as_deref(), Some("completed"), "{turns:?}");
    assert!(
        turns
            .iter()
            .any(|(s, t)| s == "agent" && t.starts_with("Done: an advisor")),
        "both streams' turns are in the one call log: {turns:?}"
    );

    // The desk answered this time: the call ends when they hang up.
    let answered = line
        .app
        .post_form(
            &format!("/twilio/dial-result?call={sid}"),
            &[("CallSid", sid), ("DialCallStatus", "completed")],
            None,
        )
        .await;
    assert!(answered.text().await.unwrap().contains("<Hangup/>"));

    // The console lists the request until it is done.
    account(&line.app, "Ben Ode", Role::Advisor).await;
    let mut desk = Desk::new(&line.app);
    desk.sign_in("Ben Ode", PASSWORD).await;
    let page = desk.get("/console/callbacks").await;
    let row = format!("id=\"callback-{}\"", request.id);
    assert!(page.body.contains(&row), "{}", page.body);
    assert!(page.body.contains("a noise from the brakes"));
    assert!(page.body.contains("Maria Gonzalez"));
    let path = format!("/console/callbacks/{}/done", request.id);
    let forged = desk.post(&path, &[("csrf", "not the token")]).await;
    assert_eq!(forged.status, reqwest::StatusCode::FORBIDDEN);
    let csrf = desk.csrf().await;
    let done = desk.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(done.status, reqwest::StatusCode::SEE_OTHER);
    let page = desk.get("/console/callbacks").await;
    assert!(!page.body.contains(&row));
    assert!(page.body.contains("No callbacks waiting."));
    let log = callbridge::staff::audit::recent(&line.app.state.db, 5)
        .await
        .unwrap();
    assert_eq!(log[0].action, "callback.done");
    assert_eq!(log[0].actor, "Ben Ode");
    line.app.stop().await;
}
