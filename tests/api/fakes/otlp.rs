//! An OpenTelemetry collector's OTLP/HTTP trace receiver: `POST /v1/traces` with an
//! `ExportTraceServiceRequest` in protobuf (`Content-Type: application/x-protobuf`), answered
//! with an empty `ExportTraceServiceResponse` as the OTLP specification's HTTP binding says.
//! Anything else is refused as a collector would (415 for another encoding, 400 for a body
//! that does not decode).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

/// One span as received.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub name: String,
    /// The resource's `service.instance.id` (the node).
    pub node: String,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// The running receiver.
pub struct FakeCollector {
    /// Base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub url: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

const PROTOBUF: [(header::HeaderName, &str); 1] =
    [(header::CONTENT_TYPE, "application/x-protobuf")];

async fn traces(
    State(spans): State<Arc<Mutex<Vec<ReceivedSpan>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let protobuf = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/x-protobuf");
    if !protobuf {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, PROTOBUF, Vec::new());
    }
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, PROTOBUF, Vec::new());
    };
    let mut received = spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let node = resource_spans
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.instance.id")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.push(ReceivedSpan {
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                    name: span.name,
                    node: node.clone(),
                    start_ns: span.start_time_unix_nano,
                    end_ns: span.end_time_unix_nano,
                });
            }
        }
    }
    (
        StatusCode::OK,
        PROTOBUF,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

impl FakeCollector {
    pub async fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(traces))
            .with_state(spans.clone());
        let port = super::serve(app).await;
        Self {
            url: format!("http://127.0.0.1:{port}"),
            spans,
        }
    }

    /// The spans of one trace received so far.
    pub fn trace(&self, trace_id: &[u8]) -> Vec<ReceivedSpan> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }
}
