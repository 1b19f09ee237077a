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
        text.contains("callbridge_voice_webhooks_total{result=\"connected\"}"),
        "{text}"
    );
    // Call ids never become labels.
    assert!(!text.contains("call_sid"), "{text}");
    // /metrics is not served on the public listener.
    let public = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    app.stop().await;
}
