//! Whole phone calls: the real server in agent mode on port 0, the fake Deepgram (speech both
//! ways) and a scripted fake OpenAI, driven by the caller simulator with the caller clips. The
//! appointment book is then read back from the database.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use callbridge::crm::calls;
use callbridge::domain::PhoneNumber;
use callbridge::simulator::leg::CallerTurn;
use callbridge::simulator::run::{CallPlan, CallSummary, load_clip, place_call};
use callbridge::tools::{ToolCall, ToolContext, Tools};

use crate::fakes::deepgram_stt::{ConnScript, FakeDeepgramStt};
use crate::fakes::deepgram_tts::{FakeDeepgramTts, TtsBehaviour};
use crate::fakes::openai::{FakeOpenAi, Reply, text_reply, text_then_tool_reply, tool_call_reply};
use crate::helpers::{AUTH_TOKEN, HANG, PUBLIC_URL, TestApp, spawn_app_with};

const KEY: &str = "dg-test-key";
const OPENAI_KEY: &str = "sk-test-0123456789";
/// Maria Gonzalez in the demo CRM.
const MARIA: &str = "+15125550101";

/// The server in agent mode with its fakes.
struct Line {
    app: TestApp,
    stt: FakeDeepgramStt,
    tts: FakeDeepgramTts,
    llm: FakeOpenAi,
}

impl Line {
    /// Agent mode against fresh fakes; the demo CRM seeded as of today.
    async fn open() -> Self {
        Self::open_with(&[]).await
    }

    /// Agent mode with more settings.
    async fn open_with(extra: &[(&str, &str)]) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into()))
            .with_test_writer()
            .try_init();
        let stt = FakeDeepgramStt::start(KEY, Duration::from_secs(10)).await;
        let tts = FakeDeepgramTts::start(KEY, TtsBehaviour::default()).await;
        let llm = FakeOpenAi::start(Some(OPENAI_KEY)).await;
        let mut env = vec![
            ("CALL_MODE", "agent"),
            ("DEEPGRAM_API_KEY", KEY),
            ("DEEPGRAM_STT_URL", &stt.url),
            ("DEEPGRAM_TTS_URL", &tts.ws_url),
            ("DEEPGRAM_TTS_REST_URL", &tts.rest_url),
            ("OPENAI_API_KEY", OPENAI_KEY),
            ("OPENAI_BASE_URL", &llm.base_url),
            ("SERVICE_DESK_NUMBER", "+15125550199"),
        ];
        env.extend_from_slice(extra);
        let app = spawn_app_with(&env).await;
        let data = callbridge::crm::seed::parse(callbridge::crm::seed::DEMO_FIXTURE).unwrap();
        let today = Utc::now()
            .with_timezone(&chrono_tz::America::Chicago)
            .date_naive();
        callbridge::crm::seed::seed(&app.state.db, &data, chrono_tz::America::Chicago, today)
            .await
            .unwrap();
        Self { app, stt, tts, llm }
    }

    fn tools(&self) -> Tools {
        Tools::new(
            self.app.state.db.clone(),
            self.app.state.settings.business.clone(),
        )
    }

    /// Runs a tool as the test's own look at the CRM.
    async fn tool(&self, caller: &str, name: &str, arguments: Value) -> Value {
        let ctx = ToolContext {
            caller: Some(PhoneNumber::parse(caller).unwrap()),
            call_sid: None,
            now: Utc::now(),
        };
        let args = arguments.to_string();
        let reply = self
            .tools()
            .run(&ctx, &ToolCall::parse("test", name, args))
            .await;
        assert!(reply.is_ok(), "{name}: {}", reply.content);
        reply.content
    }

    /// The caller `from` phones in as `call_sid`, hears the agent, and says `clips` in turn;
    /// speech recognition hears each clip as the phrase of the same index.
    async fn call(
        &self,
        from: &str,
        call_sid: &str,
        clips: &[(&str, &'static str)],
    ) -> CallSummary {
        let turns = clips.iter().map(|(c, _)| said(c)).collect();
        let phrases = clips.iter().map(|(_, p)| *p).collect();
        self.call_with(from, call_sid, phrases, turns).await
    }

    /// A call with any turns (barge-ins, keypresses); `phrases` are what speech recognition
    /// hears, one per stretch of speech.
    async fn call_with(
        &self,
        from: &str,
        call_sid: &str,
        phrases: Vec<&'static str>,
        turns: Vec<CallerTurn>,
    ) -> CallSummary {
        self.stt.push(ConnScript {
            phrases,
            ..ConnScript::default()
        });
        let plan = CallPlan {
            base_url: url::Url::parse(PUBLIC_URL).unwrap(),
            connect_to: Some(
                url::Url::parse(&format!("http://127.0.0.1:{}", self.app.port)).unwrap(),
            ),
            auth_token: Some(AUTH_TOKEN.to_string()),
            from: from.into(),
            to: "+15125550100".into(),
            call_sid: call_sid.into(),
            turns,
            answer_gap: Duration::from_millis(150),
            patience: Duration::from_secs(5),
            max_duration: Duration::from_secs(45),
            connect_delay: Duration::ZERO,
        };
        tokio::time::timeout(HANG, place_call(plan, |_| {}))
            .await
            .expect("the call ends")
            .unwrap()
    }

    /// The call's log: outcome and turns as (speaker, text).
    async fn record(&self, call_sid: &str) -> (Option<String>, Vec<(String, String)>) {
        // The recorder writes behind the call; give it a moment.
        for _ in 0..50 {
            let (log, turns) = calls::with_turns(&self.app.state.db, call_sid)
                .await
                .unwrap()
                .expect("the call was logged");
            if log.outcome.is_some() {
                return (
                    log.outcome,
                    turns.into_iter().map(|t| (t.speaker, t.text)).collect(),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the call log was never closed");
    }

    /// The call ended with a transfer: Twilio was told to dial the desk and the log says so.
    /// Returns the call's turns.
    async fn assert_transferred(
        &self,
        call_sid: &str,
        summary: &CallSummary,
    ) -> Vec<(String, String)> {
        let twiml = summary
            .after_stream
            .as_deref()
            .expect("the server ended the stream");
        assert!(twiml.contains("<Dial>+15125550199</Dial>"), "{twiml}");
        let (outcome, turns) = self.record(call_sid).await;
        assert_eq!(outcome.as_deref(), Some("transferred"));
        turns
    }

    /// The requests the LLM got, as (role, content or tool names) per message of the last.
    fn llm_requests(&self) -> Vec<Value> {
        self.llm.requests().into_iter().map(|r| r.body).collect()
    }
}

/// A turn saying the caller clip `name`.
fn said(name: &str) -> CallerTurn {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls");
    CallerTurn {
        audio: load_clip(&dir.join(format!("{name}.wav"))).unwrap(),
        barge_in_after: None,
        dtmf: None,
    }
}

/// A turn pressing `digit`.
fn key(digit: char) -> CallerTurn {
    CallerTurn {
        audio: Vec::new(),
        barge_in_after: None,
        dtmf: Some(digit),
    }
}

/// The first free morning slot for an oil change from tomorrow, as the tool gives it.
async fn free_slot(line: &Line) -> (String, String) {
    let slots = line
        .tool(
            MARIA,
            "find_available_slots",
            json!({"service": "Oil change", "date": "tomorrow", "part_of_day": "morning"}),
        )
        .await;
    let first = &slots["slots"][0];
    (
        first["start"].as_str().unwrap().to_string(),
        first["spoken"].as_str().unwrap().to_string(),
    )
}

fn stream(chunks: Vec<String>) -> Reply {
    Reply::stream(chunks)
}

/// The LLM calls one tool with `arguments`.
fn tool(id: &str, name: &str, arguments: &Value) -> Reply {
    stream(tool_call_reply(id, name, &[&arguments.to_string()]))
}

/// The LLM says `text` and ends the call.
fn goodbye(text: &str) -> Reply {
    stream(text_then_tool_reply(text, "call_end", "end_call", "{}"))
}

fn tool_messages(request: &Value) -> Vec<Value> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap())
        .collect()
}

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
    assert!(
        turns[0]
            .1
            .starts_with("Thanks for calling Lone Star Auto Service, Maria"),
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
        "callbridge_tool_seconds_count{tool=\"book_appointment\"}",
    ] {
        assert!(
            crate::helpers::metric(&line.app, histogram).await >= 1.0,
            "{histogram}"
        );
    }

    // The greeting went to speech synthesis once, before anything else.
    let spoken = line.tts.record().spoken;
    assert!(spoken[0].starts_with("Thanks for calling"), "{spoken:?}");
    assert_eq!(
        spoken
            .iter()
            .filter(|s| s.starts_with("Thanks for calling Lone"))
            .count(),
        1
    );
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
        "Thanks for calling Lone Star Auto Service. How can I help you today?"
    );
    let system = line.llm_requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(system.contains("\"found\":false"), "{system}");
    line.app.stop().await;
}

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
        updates[0]["Twiml"].contains("<Dial>+15125550199</Dial>"),
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
