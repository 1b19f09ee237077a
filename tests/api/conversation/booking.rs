//! Whole booking calls: booking, moving, cancelling, a new customer.

use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn a_known_caller_books_an_oil_change_and_it_is_in_the_book() {
    let line = Line::open().await;
    let maria = line.tool(MARIA, "lookup_customer", json!({})).await;
    let customer_id = maria["customer"]["id"].as_i64().unwrap();
    let vehicle_id = maria["vehicles"][0]["id"].as_i64().unwrap();
    let (start, spoken) = free_slot(&line).await;

    let find = json!({"service": "Oil change", "date": "tomorrow", "part_of_day": "morning"});
    let book = json!({"customer_id": customer_id, "vehicle_id": vehicle_id, "service": "Oil change", "start": start});
    line.llm
        .push(tool("call_find", "find_available_slots", &find));
    line.llm.push(stream(text_reply(&[
        "I have ",
        &spoken,
        " for an oil change on your Honda Accord. ",
        "Shall I book that?",
    ])));
    line.llm.push(tool("call_book", "book_appointment", &book));
    line.llm
        .push(stream(text_reply(&["You're all set. ", "Anything else?"])));
    line.llm.push(goodbye("Thanks for calling, goodbye!"));

    let sid = "CAconversation00000000000000book1";
    let summary = line
        .call(
            MARIA,
            sid,
            &[
                (
                    "book_oil_change",
                    "Hi, I'd like to book an oil change for my Honda.",
                ),
                ("yes_nine", "Yes, that time works for me."),
                ("thanks_bye", "That's all, thank you. Goodbye."),
            ],
        )
        .await;

    // The turns were answered (the agent may hang up while the caller's last clip still
    // trails off, so its report can be missing), and the agent ended the call.
    let (outcome, turns) = line.record(sid).await;
    assert!(
        summary.turns.len() >= 2,
        "{:?} {outcome:?} {turns:#?}",
        summary.turns
    );
    assert!(
        summary.turns.iter().all(|t| t.latency.is_some()),
        "{:?}",
        summary.turns
    );
    assert_eq!(summary.close_reason.as_deref(), Some("1000 "));
    // The booking, exactly once, for Maria's Accord at the time read back.
    let upcoming = line
        .tool(
            MARIA,
            "list_upcoming_appointments",
            json!({"customer_id": customer_id}),
        )
        .await;
    let booked: Vec<&Value> = upcoming["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["start"] == start.as_str())
        .collect();
    assert_eq!(booked.len(), 1, "{upcoming}");
    assert_eq!(booked[0]["service"], "Oil change");
    assert!(
        booked[0]["vehicle"].to_string().contains("Accord"),
        "{}",
        booked[0]
    );

    // What the LLM saw: the caller's words, the tools' answers, and the tools it may call.
    let requests = line.llm_requests();
    assert_eq!(requests.len(), 5);
    let first_user = requests[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap()
        .clone();
    assert_eq!(
        first_user["content"],
        "Hi, I'd like to book an oil change for my Honda."
    );
    let names: Vec<&str> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    for want in [
        "find_available_slots",
        "book_appointment",
        "end_call",
        "transfer_to_service_desk",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    assert!(
        requests[0]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Maria Gonzalez")
    );
    let results = tool_messages(&requests[3]);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[1]["ok"], true, "{}", results[1]);
    assert_eq!(results[1]["appointment"]["start"], start.as_str());

    // The record: greeting, three caller turns, answers, the hang-up; outcome booked.
    assert_eq!(outcome.as_deref(), Some("booked"));
    // The summary (written just after the outcome) says who, what they asked and what the
    // agent did; the audit log has the agent's booking under this call.
    let summary = line.summary(sid).await;
    assert!(
        summary.starts_with(
            "Maria Gonzalez (+15125550101), 2020 Honda Accord. Asked: \u{201c}Hi, I'd like to book an oil change for my Honda.\u{201d} Booked Oil change for "
        ),
        "{summary}"
    );
    assert!(summary.ends_with("Ended: booked."), "{summary}");
    let log = callbridge::staff::audit::recent(&line.app.state.db, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].actor, format!("agent on call {sid}"));
    assert_eq!(log[0].action, "appointment.book");
    assert!(
        turns[0].1.starts_with(&format!(
            "{NOTICE} Thanks for calling Lone Star Auto Service, Maria"
        )),
        "{turns:?}"
    );
    let callers: Vec<&str> = turns
        .iter()
        .filter(|(s, _)| s == "caller")
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(callers.len(), 3, "{turns:?}");
    assert!(
        turns
            .iter()
            .any(|(s, t)| s == "system" && t.starts_with("hang-up")),
        "{turns:?}"
    );

    // The stage latencies are in the metrics.
    for histogram in [
        "callbridge_voice_to_voice_seconds_count",
        "callbridge_llm_first_token_seconds_count",
        "callbridge_tts_first_byte_seconds_count",
        "callbridge_stt_final_seconds_count",
        "callbridge_tool_seconds_count{node_id=\"test-node\",tool=\"book_appointment\"}",
    ] {
        assert!(
            crate::helpers::metric(&line.app, histogram).await >= 1.0,
            "{histogram}"
        );
    }

    // The greeting (the recording notice first) went to speech synthesis once, before
    // anything else.
    let spoken = line.tts.record().spoken;
    assert!(
        spoken[0].starts_with(&format!("{NOTICE} Thanks for calling")),
        "{spoken:?}"
    );
    assert_eq!(spoken.iter().filter(|s| s.starts_with(NOTICE)).count(), 1);
    line.app.stop().await;
}

#[tokio::test]
async fn a_caller_moves_and_then_cancels_an_appointment() {
    let line = Line::open().await;
    let maria = line.tool(MARIA, "lookup_customer", json!({})).await;
    let customer_id = maria["customer"]["id"].as_i64().unwrap();
    let appointment = maria["upcoming_appointments"][0].clone();
    let appointment_id = appointment["id"]
        .as_i64()
        .expect("Maria has an appointment in the demo data");
    let (new_start, spoken) = free_slot(&line).await;

    let list = json!({"customer_id": customer_id});
    let mv = json!({"customer_id": customer_id, "appointment_id": appointment_id, "new_start": new_start});
    line.llm
        .push(tool("call_list", "list_upcoming_appointments", &list));
    line.llm.push(stream(text_reply(&[
        "I can move it to ",
        &spoken,
        ". Is that right?",
    ])));
    line.llm
        .push(tool("call_move", "reschedule_appointment", &mv));
    line.llm.push(goodbye("Done, it's moved. Goodbye!"));
    let sid = "CAconversation000000000reschedule";
    let summary = line
        .call(
            MARIA,
            sid,
            &[
                (
                    "reschedule",
                    "I need to move my appointment to tomorrow morning.",
                ),
                ("yes_correct", "Yes, that's right."),
            ],
        )
        .await;
    assert!(summary.turns[0].latency.is_some(), "{:?}", summary.turns);
    assert_eq!(summary.close_reason.as_deref(), Some("1000 "));
    let (outcome, _) = line.record(sid).await;
    assert_eq!(outcome.as_deref(), Some("rescheduled"));
    let upcoming = line
        .tool(MARIA, "list_upcoming_appointments", list.clone())
        .await;
    let moved = upcoming["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == appointment_id)
        .unwrap()
        .clone();
    assert_eq!(moved["start"], new_start.as_str());

    // A second call cancels it.
    let cancel = json!({"customer_id": customer_id, "appointment_id": appointment_id});
    line.llm.push(stream(text_reply(&[
        "Cancel your appointment on ",
        &spoken,
        "?",
    ])));
    line.llm
        .push(tool("call_cancel", "cancel_appointment", &cancel));
    line.llm.push(goodbye("It's cancelled. Goodbye!"));
    let sid = "CAconversation0000000000000cancel";
    line.call(
        MARIA,
        sid,
        &[
            ("cancel", "I'd like to cancel my appointment, please."),
            ("yes_correct", "Yes, that's right."),
        ],
    )
    .await;
    let (outcome, _) = line.record(sid).await;
    assert_eq!(outcome.as_deref(), Some("cancelled"));
    let upcoming = line.tool(MARIA, "list_upcoming_appointments", list).await;
    assert!(
        upcoming["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["id"] != appointment_id),
        "{upcoming}"
    );
    line.app.stop().await;
}

#[tokio::test]
async fn an_unknown_caller_is_created_as_a_customer() {
    let line = Line::open().await;
    let stranger = "+15125550177";
    let create = json!({"name": "Sam Rivera"});
    line.llm
        .push(stream(text_reply(&["Welcome! ", "What's your name?"])));
    line.llm
        .push(tool("call_create", "create_customer", &create));
    line.llm
        .push(goodbye("Thanks Sam, you're in our system. Goodbye!"));
    let sid = "CAconversation00000000000unknown1";
    line.call(
        stranger,
        sid,
        &[
            (
                "book_oil_change",
                "Hi, I'd like to book an oil change for my Honda.",
            ),
            ("my_name", "My name is Sam Rivera."),
        ],
    )
    .await;
    let found = line.tool(stranger, "lookup_customer", json!({})).await;
    assert_eq!(found["found"], true, "{found}");
    assert_eq!(found["customer"]["name"], "Sam Rivera");
    assert_eq!(found["customer"]["phone"], stranger);
    // The greeting was not personal, and the prompt said the number is unknown.
    let (_, turns) = line.record(sid).await;
    assert_eq!(
        turns[0].1,
        format!("{NOTICE} Thanks for calling Lone Star Auto Service. How can I help you today?")
    );
    let system = line.llm_requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(system.contains("\"found\":false"), "{system}");
    line.app.stop().await;
}
