//! Health, readiness and metrics.

use crate::helpers::*;

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["database"]["ok"], true);
    assert_eq!(body["session_store"]["ok"], true);

    // A webhook so at least one counter exists, then scrape.
    app.voice_webhook(&unique("CA")).await;
    let text = scrape_metrics(&app).await;
    assert!(
        text.contains(
            "callbridge_voice_webhooks_total{node_id=\"test-node\",result=\"connected\"}"
        ),
        "{text}"
    );
    // Call ids never become labels.
    assert!(!text.contains("call_sid"), "{text}");
    // /metrics is not served on the public listener.
    let public = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn readyz_lists_the_providers_and_their_health_and_failures_are_counted() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&[
        ("DEEPGRAM_API_KEY", "dg-key"),
        ("LLM_PROVIDER", "openai"),
        ("OPENAI_BASE_URL", &dead),
        ("LLM_MAX_RETRIES", "0"),
    ])
    .await;
    let body = readyz(&app).await;
    let p = &body["providers"];
    assert_eq!(p["stt"]["primary"], "deepgram");
    assert_eq!(p["llm"]["primary"], "openai");
    assert_eq!(p["tts"]["fallback"], "builtin");
    assert!(
        p["health"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["state"] == "up")
    );

    // The LLM server is not there: the failure is typed, visible and counted.
    let llm = app.state.providers.llm.primary.clone().unwrap();
    let mut stream = llm.stream(callbridge::providers::llm::CompletionRequest {
        messages: vec![callbridge::providers::llm::ChatMessage::user("hello")],
        tools: Default::default(),
    });
    assert!(matches!(
        stream.next().await,
        Some(callbridge::providers::llm::LlmEvent::Error(
            callbridge::providers::ProviderError::Connect(_)
        ))
    ));
    let body = readyz(&app).await;
    let openai = body["providers"]["health"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["provider"] == "openai")
        .unwrap()
        .clone();
    assert_eq!(openai["state"], "degraded");
    assert_eq!(openai["errors"], 1);
    // Readiness is about this node; a provider outage is reported, not a reason to stop
    // taking calls (they can still be transferred).
    assert_eq!(body["ready"], true);
    let text = scrape_metrics(&app).await;
    assert!(
        text.contains(
            "callbridge_provider_errors_total{node_id=\"test-node\",kind=\"llm\",provider=\"openai\",error=\"connect\"}"
        ),
        "{text}"
    );
    app.stop().await;
}

async fn readyz(app: &TestApp) -> serde_json::Value {
    app.http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
