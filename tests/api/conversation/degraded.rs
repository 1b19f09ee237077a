//! Calls that end with a person or go on without a provider: the transfer key, failing
//! language models and recognisers, barge-in, the built-in voice, REST call control.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::helpers::Reachable;

#[tokio::test]
async fn the_transfer_key_hands_the_caller_to_the_service_desk_after_the_stream() {
    let line = Line::open().await;
    let sid = "CAconversation0000000000000dtmf01";
    let summary = line.call_with(MARIA, sid, Vec::new(), vec![key('0')]).await;
    // Twilio asks the <Connect action> what follows: a <Dial> to the desk.
    let turns = line.assert_transferred(sid, &summary).await;
    assert!(
        turns
            .iter()
            .any(|(s, t)| s == "agent" && t == "Let me connect you with our service desk."),
        "{turns:?}"
    );
    assert!(line.llm_requests().is_empty(), "no LLM needed to transfer");
    // The advisor who picks up hears who is calling before being connected.
    let whisper = line
        .app
        .post_form(
            &format!("/twilio/whisper?call={sid}"),
            &[("CallSid", "CAadvisorleg"), ("ParentCallSid", sid)],
            None,
        )
        .await;
    assert_eq!(whisper.status(), reqwest::StatusCode::OK);
    let said = whisper.text().await.unwrap();
    assert!(
        said.contains(
            "<Say>A call from the assistant. Maria Gonzalez (+15125550101), 2020 Honda Accord."
        ),
        "{said}"
    );
    assert!(said.contains("Ended: transferred."), "{said}");
    // Unsigned or without the call: refused.
    let forged = line
        .app
        .post_form(
            &format!("/twilio/whisper?call={sid}"),
            &[("CallSid", "CAx")],
            Some("bad"),
        )
        .await;
    assert_eq!(forged.status(), reqwest::StatusCode::FORBIDDEN);
    let bare = line
        .app
        .post_form("/twilio/whisper", &[("CallSid", "CAx")], None)
        .await;
    assert_eq!(bare.status(), reqwest::StatusCode::BAD_REQUEST);
    line.app.stop().await;
}

#[tokio::test]
async fn a_failing_language_model_is_admitted_and_the_caller_transferred() {
    // No replies scripted: the fake answers 500, before and after retries; no fallback.
    let line = Line::open_with(&[("LLM_FALLBACK", "none")]).await;
    let sid = "CAconversation00000000000llmfail1";
    let summary = line
        .call(
            MARIA,
            sid,
            &[("hours", "What time do you open on Saturday?")],
        )
        .await;
    let turns = line.assert_transferred(sid, &summary).await;
    assert!(
        turns
            .iter()
            .any(|(s, t)| s == "system" && t.contains("the language model failed")),
        "{turns:?}"
    );
    assert!(!line.llm_requests().is_empty());
    line.app.stop().await;
}

#[tokio::test]
async fn rest_call_control_redirects_the_live_call_through_twilios_api() {
    let twilio = crate::fakes::twilio_rest::FakeTwilioRest::start(
        "AC0123",
        AUTH_TOKEN,
        &["CAconversation0000000000000rest01"],
    )
    .await;
    let line = Line::open_with(&[
        ("CALL_CONTROL", "rest"),
        ("TWILIO_ACCOUNT_SID", "AC0123"),
        ("TWILIO_API_BASE_URL", &twilio.base_url),
    ])
    .await;
    let sid = "CAconversation0000000000000rest01";
    line.call_with(MARIA, sid, Vec::new(), vec![key('0')]).await;
    let updates = twilio.updates(sid);
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert!(
        updates[0]["Twiml"].contains(&format!(
            "<Number url=\"{PUBLIC_URL}/twilio/whisper?call={sid}\" method=\"POST\">+15125550199</Number>"
        )),
        "{updates:?}"
    );
    line.app.stop().await;
}

#[tokio::test]
async fn a_caller_who_talks_over_the_agent_stops_it_and_the_record_says_what_they_heard() {
    let line = Line::open().await;
    let long = [
        "Sure, we do oil changes every day of the week. ",
        "A conventional oil change takes about forty five minutes and costs eighty nine dollars and ninety nine cents. ",
        "We also check your tire pressure, your fluids, your lights and your wiper blades at no extra charge. ",
        "If you like, I can look for the first free morning slot this week. ",
    ];
    line.llm.push(stream(text_reply(&long)));
    line.llm.push(goodbye("Of course. Goodbye!"));
    let sid = "CAconversation00000000000bargein1";
    let mut barge = said("barge_in");
    barge.barge_in_after = Some(Duration::from_millis(500));
    line.call_with(
        MARIA,
        sid,
        vec![
            "Hi, I'd like to book an oil change for my Honda.",
            "Actually, wait a second.",
        ],
        vec![said("book_oil_change"), barge],
    )
    .await;
    // The agent stopped: TTS was cleared, and its reply in the record and in the next
    // request is cut to what the caller heard.
    assert!(line.tts.record().clears >= 1);
    let turns = calls::with_turns(&line.app.state.db, sid)
        .await
        .unwrap()
        .unwrap()
        .1;
    let reply = turns
        .iter()
        .find(|t| t.text.starts_with("Sure, we do oil changes"))
        .expect("the long reply was recorded");
    let heard = reply
        .heard_text
        .clone()
        .expect("the barge-in recorded what was heard");
    assert!(
        !heard.is_empty() && heard.len() < reply.text.len() / 2,
        "heard {heard:?} of {:?}",
        reply.text
    );
    let requests = line.llm_requests();
    assert_eq!(requests.len(), 2);
    let cut = requests[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "assistant")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cut.ends_with("(interrupted)") && cut.len() < 180, "{cut}");
    line.app.stop().await;
}

#[tokio::test]
async fn the_built_in_voice_speaks_for_the_agent_without_a_cloud_synthesizer() {
    let line = Line::open_with(&[("TTS_PROVIDER", "builtin"), ("TTS_FALLBACK", "none")]).await;
    line.llm
        .push(goodbye("We open at eight on Saturday. Goodbye!"));
    let sid = "CAconversation00000000000builtin1";
    let summary = line
        .call(
            MARIA,
            sid,
            &[("hours", "What time do you open on Saturday?")],
        )
        .await;
    // The greeting and the answer were synthesized here and heard by the caller.
    assert!(
        line.tts.record().spoken.is_empty(),
        "the cloud TTS was not used"
    );
    assert!(summary.greeted_after.is_some());
    assert!(summary.turns[0].latency.is_some(), "{:?}", summary.turns);
    let loud_frames = summary
        .agent_audio
        .chunks(160)
        .filter(|f| {
            let mut pcm = Vec::new();
            callbridge::audio::g711::decode_mulaw(f, &mut pcm);
            pcm.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0) > 1000
        })
        .count();
    assert!(
        loud_frames * 20 > 3000,
        "{} ms of speech heard",
        loud_frames * 20
    );
    let (outcome, _) = line.record(sid).await;
    assert_eq!(outcome.as_deref(), Some("completed"));
    line.app.stop().await;
}

#[tokio::test]
async fn a_failing_language_model_is_replaced_by_the_built_in_agent_mid_call() {
    // The cloud LLM answers 500 every time; the built-in agent takes the turn.
    let line = Line::open().await;
    let sid = "CAconversation0000000000fallback1";
    line.call(
        MARIA,
        sid,
        &[
            ("hours", "What time do you open on Saturday?"),
            ("thanks_bye", "That's all, thank you. Goodbye."),
        ],
    )
    .await;
    let (outcome, turns) = line.record(sid).await;
    let agent: Vec<&str> = turns
        .iter()
        .filter(|(s, _)| s == "agent")
        .map(|(_, t)| t.as_str())
        .collect();
    // The caller was told, then the built-in agent answered.
    assert!(!line.llm_requests().is_empty());
    assert!(
        line.tts
            .record()
            .spoken
            .iter()
            .any(|s| s == "Sorry, one moment."),
        "{:?}",
        line.tts.record().spoken
    );
    assert!(
        agent
            .iter()
            .any(|t| t.starts_with("On Saturday we are open from")),
        "{turns:#?}"
    );
    assert_eq!(outcome.as_deref(), Some("completed"), "{turns:#?}");
    line.app.stop().await;
}

#[tokio::test]
async fn without_a_language_model_the_built_in_agent_books_an_oil_change() {
    let line = Line::open_with(&[("OPENAI_API_KEY", ""), ("LLM_PROVIDER", "builtin")]).await;
    let sid = "CAconversation00000000000scripted";
    line.call(
        MARIA,
        sid,
        &[
            (
                "book_oil_change",
                "Hi, I'd like to book an oil change for my Honda.",
            ),
            ("tuesday_morning", "Tomorrow morning would be great."),
            ("yes_correct", "Yes, that's right."),
            ("thanks_bye", "That's all, thank you. Goodbye."),
        ],
    )
    .await;
    let (outcome, turns) = line.record(sid).await;
    assert_eq!(outcome.as_deref(), Some("booked"), "{turns:#?}");
    assert!(line.llm_requests().is_empty(), "no cloud LLM was asked");
    // The booking is in the book: tomorrow's first free morning slot, Maria's Accord.
    let (start, _) = free_slot_before_booking(&turns);
    let maria = line.tool(MARIA, "lookup_customer", json!({})).await;
    let booked: Vec<&Value> = maria["upcoming_appointments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["service"] == "Oil change" && a["spoken"].as_str() == Some(start.as_str()))
        .collect();
    assert_eq!(booked.len(), 1, "{maria}");
    assert!(booked[0]["vehicle"].to_string().contains("Accord"));
    line.app.stop().await;
}

/// The time the agent read back before the caller said yes.
fn free_slot_before_booking(turns: &[(String, String)]) -> (String, ()) {
    let offer = turns
        .iter()
        .find(|(s, t)| s == "agent" && t.contains("Shall I book it?"))
        .map(|(_, t)| t.clone())
        .expect("the agent read the booking back");
    let at = offer.find(" for ").unwrap() + 5;
    let end = offer.find(". Shall I").unwrap();
    (offer[at..end].to_string(), ())
}

#[tokio::test]
async fn when_deepgram_is_down_the_built_in_recogniser_hears_the_caller() {
    // Deepgram refuses every connection; the built-in recogniser stands behind it by default.
    let line = Line::open_with(&[
        ("DEEPGRAM_STT_URL", "ws://127.0.0.1:1/v1/listen"),
        ("STT_MAX_RECONNECTS", "0"),
        ("OPENAI_API_KEY", ""),
        ("LLM_PROVIDER", "builtin"),
    ])
    .await;
    assert_eq!(
        line.app
            .state
            .providers
            .stt
            .fallback
            .as_ref()
            .map(|s| s.name()),
        Some("whisper")
    );
    let sid = "CAconversation0000000stt00fallback";
    // The fake's phrases are never used: nothing reaches it.
    line.call(
        MARIA,
        sid,
        &[
            ("book_oil_change", ""),
            ("tuesday_morning", ""),
            ("yes_correct", ""),
            ("thanks_bye", ""),
        ],
    )
    .await;
    let (outcome, turns) = line.record(sid).await;
    assert_eq!(outcome.as_deref(), Some("booked"), "{turns:#?}");
    let heard: Vec<&str> = turns
        .iter()
        .filter(|(s, _)| s == "caller")
        .map(|(_, t)| t.as_str())
        .collect();
    assert!(heard[0].contains("oil change"), "{heard:?}");
    assert!(heard[1].contains("Tuesday"), "{heard:?}");
    let health = line.app.state.providers.health.to_json();
    let deepgram = health
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "stt" && h["provider"] == "deepgram")
        .unwrap()
        .clone();
    assert!(deepgram["errors"].as_u64().unwrap() >= 1, "{health}");
    line.app.stop().await;
}

#[tokio::test]
async fn once_deepgram_is_known_down_new_calls_go_straight_to_the_built_in_recogniser() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Deepgram refuses: every connection is accepted and dropped at once, and counted.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let refuser = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let url = format!("ws://127.0.0.1:{port}/v1/listen");
    let line = Line::open_with(&[
        ("DEEPGRAM_STT_URL", &url),
        ("STT_MAX_RECONNECTS", "0"),
        ("OPENAI_API_KEY", ""),
        ("LLM_PROVIDER", "builtin"),
    ])
    .await;
    line.call(MARIA, "CAconversation000000breaker00000a", &[("hours", "")])
        .await;
    let first = attempts.load(Ordering::SeqCst);
    assert!(first >= 1, "the first call tried Deepgram");
    let health = line.app.state.providers.health.to_json();
    let deepgram = health
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "deepgram" && p["kind"] == "stt")
        .unwrap()
        .clone();
    assert_eq!(deepgram["breaker"], "open", "{deepgram}");

    let sid = "CAconversation000000breaker00000b";
    line.call(MARIA, sid, &[("hours", "")]).await;
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        first,
        "no connect attempt while the breaker is open"
    );
    let (_, turns) = line.record(sid).await;
    assert!(
        turns.iter().any(|(s, t)| s == "caller" && !t.is_empty()),
        "the built-in recogniser heard the caller from the start: {turns:#?}"
    );
    refuser.abort();
}
