//! The OpenAI-compatible client against the fake server: streamed text, tool calls and their
//! follow-up, retries before the first token only, cuts, deadlines, cancellation.

use std::time::Duration;

use serde_json::json;
use url::Url;

use callbridge::providers::llm::openai::{OpenAiChat, OpenAiConfig};
use callbridge::providers::llm::{
    ChatMessage, CompletionRequest, FinishReason, LanguageModel, LlmEvent, LlmStream,
};
use callbridge::providers::{Deadline, ProviderError, ProviderHealth, ProviderKind};

use crate::fakes::openai::{FakeOpenAi, Reply, chunk, text_reply, tool_call_reply};
use crate::helpers::HANG;

const KEY: &str = "sk-test-0123456789";

fn config(base: &str) -> OpenAiConfig {
    OpenAiConfig {
        name: "openai",
        base_url: Url::parse(base).unwrap(),
        api_key: Some(callbridge::config::Secret::new(KEY)),
        model: "gpt-4o-mini".into(),
        connect_timeout: Duration::from_secs(2),
        first_token_timeout: Duration::from_millis(800),
        total_timeout: Duration::from_secs(10),
        max_retries: 2,
        max_tokens: 300,
        temperature: 0.3,
    }
}

fn request() -> CompletionRequest {
    CompletionRequest {
        messages: vec![
            ChatMessage::system("You book car service appointments."),
            ChatMessage::user("When are you open on Saturday?"),
        ],
        tools: callbridge::tools::definitions().into(),
    }
}

async fn collect(mut s: LlmStream) -> Vec<LlmEvent> {
    let mut out = Vec::new();
    tokio::time::timeout(HANG, async {
        while let Some(e) = s.next().await {
            out.push(e);
        }
    })
    .await
    .expect("the stream ends");
    out
}

fn text(events: &[LlmEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            LlmEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn text_streams_in_deltas_with_usage_and_the_request_is_what_openai_expects() {
    crate::helpers::install_crypto();
    let fake = FakeOpenAi::start(Some(KEY)).await;
    fake.push(Reply::stream(text_reply(&[
        "We're open ",
        "Saturday ",
        "8 to 2.",
    ])));
    let health = ProviderHealth::default();
    let llm = OpenAiChat::new(config(&fake.base_url), health.clone()).unwrap();
    let events = collect(llm.stream(request())).await;
    assert_eq!(text(&events), "We're open Saturday 8 to 2.");
    assert!(events.contains(&LlmEvent::Finished(FinishReason::Stop)));
    assert!(matches!(events.last(), Some(LlmEvent::Usage(u)) if u.prompt_tokens == 50));
    let sent = &fake.requests()[0];
    assert_eq!(sent.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(sent.headers["accept"], "text/event-stream");
    assert_eq!(sent.body["model"], "gpt-4o-mini");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["tools"].as_array().unwrap().len(), 13);
    assert_eq!(health.state(ProviderKind::Llm, "openai"), "up");
}

#[tokio::test]
async fn a_tool_call_split_across_chunks_is_assembled_and_its_result_accepted_in_the_follow_up() {
    crate::helpers::install_crypto();
    let fake = FakeOpenAi::start(Some(KEY)).await;
    fake.push(Reply::stream(tool_call_reply(
        "call_abc",
        "find_available_slots",
        &[
            "{\"servi",
            "ce\": \"Oil change\", ",
            "\"date\": \"Saturday\"}",
        ],
    )));
    fake.push(Reply::stream(text_reply(&["Saturday at 8 works."])));
    let llm = OpenAiChat::new(config(&fake.base_url), ProviderHealth::default()).unwrap();
    let events = collect(llm.stream(request())).await;
    let calls = events
        .iter()
        .find_map(|e| match e {
            LlmEvent::ToolCalls(c) => Some(c.clone()),
            _ => None,
        })
        .expect("tool calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "call_abc");
    assert!(calls[0].request.is_ok(), "{calls:?}");
    let args: serde_json::Value = serde_json::from_str(&calls[0].raw_arguments).unwrap();
    assert_eq!(args["service"], "Oil change");
    assert!(events.contains(&LlmEvent::Finished(FinishReason::ToolCalls)));

    // The follow-up carries the assistant's tool call and the tool's answer; the fake refuses
    // a tool message that answers no call, as OpenAI does.
    let mut follow = request();
    follow
        .messages
        .push(ChatMessage::assistant_tool_calls(None, calls.clone()));
    follow.messages.push(ChatMessage::tool_result(
        "call_abc",
        json!({"ok": true, "slots": []}).to_string(),
    ));
    let events = collect(llm.stream(follow)).await;
    assert_eq!(text(&events), "Saturday at 8 works.");

    let mut orphan = request();
    orphan
        .messages
        .push(ChatMessage::tool_result("call_nobody", "{}"));
    let events = collect(llm.stream(orphan)).await;
    assert!(
        matches!(&events[..], [LlmEvent::Error(ProviderError::Http { status: 400, body })] if body.contains("tool")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_500_then_a_429_are_retried_before_the_first_token() {
    crate::helpers::install_crypto();
    let fake = FakeOpenAi::start(Some(KEY)).await;
    fake.push(Reply::Status {
        code: 500,
        retry_after: None,
    });
    fake.push(Reply::Status {
        code: 429,
        retry_after: Some("0.1"),
    });
    fake.push(Reply::stream(text_reply(&["Hello."])));
    let health = ProviderHealth::default();
    let llm = OpenAiChat::new(config(&fake.base_url), health.clone()).unwrap();
    let events = collect(llm.stream(request())).await;
    assert_eq!(text(&events), "Hello.");
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(health.state(ProviderKind::Llm, "openai"), "up");

    // Out of retries: the last error is reported, typed.
    for _ in 0..3 {
        fake.push(Reply::Status {
            code: 503,
            retry_after: None,
        });
    }
    let events = collect(llm.stream(request())).await;
    assert!(
        matches!(
            &events[..],
            [LlmEvent::Error(ProviderError::Http { status: 503, .. })]
        ),
        "{events:?}"
    );
    assert_eq!(fake.requests().len(), 6);
}

#[tokio::test]
async fn bad_credentials_are_not_retried() {
    crate::helpers::install_crypto();
    let fake = FakeOpenAi::start(Some(KEY)).await;
    let mut c = config(&fake.base_url);
    c.api_key = Some(callbridge::config::Secret::new("sk-wrong"));
    let llm = OpenAiChat::new(c, ProviderHealth::default()).unwrap();
    let events = collect(llm.stream(request())).await;
    assert_eq!(events, [LlmEvent::Error(ProviderError::Auth(401))]);
}

#[tokio::test]
async fn a_stream_cut_after_the_first_words_is_reported_and_never_retried() {
    crate::helpers::install_crypto();
    let fake = FakeOpenAi::start(Some(KEY)).await;
    fake.push(Reply::Stream {
        chunks: text_reply(&["We are ", "open until"]),
        first_delay: Duration::ZERO,
        gap: Duration::from_millis(20),
        cut_after: Some(2),
    });
    fake.push(Reply::stream(text_reply(&["a retry would say this twice"])));
    let llm = OpenAiChat::new(config(&fake.base_url), ProviderHealth::default()).unwrap();
    let events = collect(llm.stream(request())).await;
    assert_eq!(text(&events), "We are ");
    assert!(
        matches!(events.last(), Some(LlmEvent::Error(ProviderError::Cut(_)))),
        "{events:?}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_slow_first_token_times_out_and_is_retried_once_allowed() {
    crate::helpers::install_crypto();
    let fake = FakeOpenAi::start(Some(KEY)).await;
    let slow = Reply::Stream {
        chunks: text_reply(&["late"]),
        first_delay: Duration::from_secs(3),
        gap: Duration::ZERO,
        cut_after: None,
    };
    fake.push(slow.clone());
    let mut c = config(&fake.base_url);
    c.max_retries = 0;
    let llm = OpenAiChat::new(c, ProviderHealth::default()).unwrap();
    let events = collect(llm.stream(request())).await;
    assert_eq!(
        events,
        [LlmEvent::Error(ProviderError::Timeout(
            Deadline::FirstResult,
            Duration::from_millis(800)
        ))]
    );

    fake.push(slow);
    fake.push(Reply::stream(text_reply(&["on time"])));
    let llm = OpenAiChat::new(config(&fake.base_url), ProviderHealth::default()).unwrap();
    let events = collect(llm.stream(request())).await;
    assert_eq!(text(&events), "on time");
}

#[tokio::test]
async fn a_stream_slower_than_the_total_deadline_is_cut_off() {
    crate::helpers::install_crypto();
    let fake = FakeOpenAi::start(Some(KEY)).await;
    fake.push(Reply::Stream {
        chunks: text_reply(&["one ", "two ", "three ", "four "]),
        first_delay: Duration::ZERO,
        gap: Duration::from_millis(400),
        cut_after: None,
    });
    let mut c = config(&fake.base_url);
    c.total_timeout = Duration::from_millis(900);
    let llm = OpenAiChat::new(c, ProviderHealth::default()).unwrap();
    let events = collect(llm.stream(request())).await;
    assert!(!text(&events).is_empty());
    assert!(
        matches!(
            events.last(),
            Some(LlmEvent::Error(ProviderError::Timeout(Deadline::Total, _)))
        ),
        "{events:?}"
    );
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_request_at_the_server() {
    crate::helpers::install_crypto();
    let fake = FakeOpenAi::start(Some(KEY)).await;
    let many: Vec<&str> = std::iter::repeat_n("word ", 200).collect();
    fake.push(Reply::Stream {
        chunks: text_reply(&many),
        first_delay: Duration::ZERO,
        gap: Duration::from_millis(10),
        cut_after: None,
    });
    let llm = OpenAiChat::new(config(&fake.base_url), ProviderHealth::default()).unwrap();
    let mut stream = llm.stream(request());
    assert!(matches!(stream.next().await, Some(LlmEvent::TextDelta(_))));
    drop(stream); // barge-in
    tokio::time::timeout(HANG, async {
        while fake.abandoned() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the server sees the client go");
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error_after_the_retries() {
    crate::helpers::install_crypto();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let health = ProviderHealth::default();
    let llm = OpenAiChat::new(config(&format!("http://127.0.0.1:{port}")), health.clone()).unwrap();
    let events = collect(llm.stream(request())).await;
    assert!(
        matches!(&events[..], [LlmEvent::Error(ProviderError::Connect(_))]),
        "{events:?}"
    );
    assert_eq!(health.state(ProviderKind::Llm, "openai"), "degraded");
    let _ = chunk(json!({}), None);
}

#[tokio::test]
async fn a_server_that_accepts_and_never_answers_hits_the_first_token_deadline() {
    crate::helpers::install_crypto();
    let (port, held) = crate::helpers::silent_server().await;
    let mut c = config(&format!("http://127.0.0.1:{port}"));
    c.max_retries = 1;
    c.first_token_timeout = Duration::from_millis(200);
    let llm = OpenAiChat::new(c, ProviderHealth::default()).unwrap();
    let events = collect(llm.stream(request())).await;
    assert_eq!(
        events,
        [LlmEvent::Error(ProviderError::Timeout(
            Deadline::FirstResult,
            Duration::from_millis(200)
        ))]
    );
    held.abort();
}
