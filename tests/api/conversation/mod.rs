//! Whole phone calls: the real server in agent mode on port 0, the fake Deepgram (speech both
//! ways) and a scripted fake OpenAI, driven by the caller simulator with the caller clips. The
//! appointment book is then read back from the database.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use callbridge::crm::calls;
use callbridge::domain::PhoneNumber;
use callbridge::simulator::leg::CallerTurn;
use callbridge::simulator::run::{CallPlan, CallSummary, load_clip, place_call, return_after_dial};
use callbridge::tools::{ToolCall, ToolContext, Tools};

use crate::fakes::deepgram_stt::{ConnScript, FakeDeepgramStt};
use crate::fakes::deepgram_tts::{FakeDeepgramTts, TtsBehaviour};
use crate::fakes::openai::{FakeOpenAi, Reply, text_reply, text_then_tool_reply, tool_call_reply};
use crate::helpers::{AUTH_TOKEN, HANG, PUBLIC_URL, TestApp, spawn_app_with};

pub(super) const KEY: &str = "dg-test-key";
pub(super) const OPENAI_KEY: &str = "sk-test-0123456789";
/// Said before the greeting: calls are recorded by default.
pub(super) const NOTICE: &str = "This call is recorded for quality and training.";
/// Maria Gonzalez in the demo CRM.
pub(crate) const MARIA: &str = "+15125550101";

/// The server in agent mode with its fakes.
pub(super) struct Line {
    pub(super) app: TestApp,
    stt: FakeDeepgramStt,
    tts: FakeDeepgramTts,
    pub(super) llm: FakeOpenAi,
}

impl Line {
    /// Agent mode against fresh fakes; the demo CRM seeded as of today.
    pub(super) async fn open() -> Self {
        Self::open_with(&[]).await
    }

    /// Agent mode with more settings.
    pub(super) async fn open_with(extra: &[(&str, &str)]) -> Self {
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

    pub(super) fn tools(&self) -> Tools {
        Tools::new(
            self.app.state.db.clone(),
            self.app.state.settings.business.clone(),
        )
    }

    /// Runs a tool as the test's own look at the CRM.
    pub(super) async fn tool(&self, caller: &str, name: &str, arguments: Value) -> Value {
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
    pub(super) async fn call(
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
    pub(super) async fn call_with(
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
        let plan = self.plan(from, call_sid, turns);
        tokio::time::timeout(HANG, place_call(plan, |_| {}))
            .await
            .expect("the call ends")
            .unwrap()
    }

    /// The caller of `call_sid`, whose transfer's `<Dial>` ended `status` (no answer...), as
    /// Twilio brings them back through the dial's `action_url`: `phrases` and `turns` as in
    /// [`Line::call_with`], on the new stream.
    pub(super) async fn returned_call(
        &self,
        from: &str,
        call_sid: &str,
        action_url: &str,
        status: &str,
        phrases: Vec<&'static str>,
        turns: Vec<CallerTurn>,
    ) -> CallSummary {
        self.stt.push(ConnScript {
            phrases,
            ..ConnScript::default()
        });
        let plan = self.plan(from, call_sid, turns);
        let call = return_after_dial(plan, action_url, status, |_| {});
        tokio::time::timeout(HANG, call)
            .await
            .expect("the call ends")
            .unwrap()
    }

    fn plan(&self, from: &str, call_sid: &str, turns: Vec<CallerTurn>) -> CallPlan {
        CallPlan {
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
        }
    }

    /// The call's log: outcome and turns as (speaker, text).
    pub(super) async fn record(&self, call_sid: &str) -> (Option<String>, Vec<(String, String)>) {
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

    /// The call's summary, once written (it follows the outcome).
    pub(super) async fn summary(&self, call_sid: &str) -> String {
        for _ in 0..50 {
            let (log, _) = calls::with_turns(&self.app.state.db, call_sid)
                .await
                .unwrap()
                .expect("the call was logged");
            if let Some(s) = log.summary {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the call's summary was never written");
    }

    /// The call ended with a transfer: Twilio was told to dial the desk and the log says so.
    /// Returns the call's turns.
    pub(super) async fn assert_transferred(
        &self,
        call_sid: &str,
        summary: &CallSummary,
    ) -> Vec<(String, String)> {
        let twiml = summary
            .after_stream
            .as_deref()
            .expect("the server ended the stream");
        let warm = format!(
            "<Dial timeout=\"20\" action=\"{PUBLIC_URL}/twilio/dial-result?call={call_sid}\" method=\"POST\">\
             <Number url=\"{PUBLIC_URL}/twilio/whisper?call={call_sid}\" method=\"POST\">+15125550199</Number></Dial>"
        );
        assert!(twiml.contains(&warm), "{twiml}");
        let (outcome, turns) = self.record(call_sid).await;
        assert_eq!(outcome.as_deref(), Some("transferred"));
        turns
    }

    /// The requests the LLM got, as (role, content or tool names) per message of the last.
    pub(super) fn llm_requests(&self) -> Vec<Value> {
        self.llm.requests().into_iter().map(|r| r.body).collect()
    }
}

/// A turn saying the caller clip `name`.
pub(super) fn said(name: &str) -> CallerTurn {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls");
    CallerTurn {
        audio: load_clip(&dir.join(format!("{name}.wav"))).unwrap(),
        barge_in_after: None,
        dtmf: None,
    }
}

/// A turn pressing `digit`.
pub(super) fn key(digit: char) -> CallerTurn {
    CallerTurn {
        audio: Vec::new(),
        barge_in_after: None,
        dtmf: Some(digit),
    }
}

/// The first free morning slot for an oil change from tomorrow, as the tool gives it.
pub(super) async fn free_slot(line: &Line) -> (String, String) {
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

pub(super) fn stream(chunks: Vec<String>) -> Reply {
    Reply::stream(chunks)
}

/// The LLM calls one tool with `arguments`.
pub(super) fn tool(id: &str, name: &str, arguments: &Value) -> Reply {
    stream(tool_call_reply(id, name, &[&arguments.to_string()]))
}

/// The LLM says `text` and ends the call.
pub(super) fn goodbye(text: &str) -> Reply {
    stream(text_then_tool_reply(text, "call_end", "end_call", "{}"))
}

pub(super) fn tool_messages(request: &Value) -> Vec<Value> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap())
        .collect()
}

mod booking;
mod callback;
mod degraded;
pub(crate) mod live;
mod outage;
pub(crate) mod recording;
mod turns;
