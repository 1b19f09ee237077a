//! OpenTelemetry traces: one trace per call, whichever nodes its requests land on, so a slow
//! turn can be followed from the webhook through the media stream to the after-stream request.
//!
//! The carrier propagates no trace context, so a call's trace id is derived from its call sid
//! (SHA-256), the same on every node; each request's span hangs from a virtual root whose id
//! is derived the same way. On the node that streams the call: a `call` span, a `turn` span
//! per answered caller turn (end of the caller's speech to the agent's first audio) with a
//! child per stage (`stt_final`, `llm_first_token`, `first_sentence`, `tts_first_audio`) and
//! per tool run. Stages are timed by the sans-IO call machine and reported after the fact, so
//! spans are built with explicit start and end times rather than entered and exited.
//!
//! Off unless an OTLP endpoint is configured: then nothing is recorded. Spans go out in
//! batches (one a second, queue bounded at 2048 spans, dropped past it) over OTLP/HTTP.

#![allow(clippy::disallowed_methods)] // Span times are wall-clock times (an IO edge).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use opentelemetry::Context;
pub use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, Span,
};
use sha2::{Digest, Sha256};

use crate::call::observe::{Observation, Stage};
use crate::config::TraceSettings;

static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Why traces could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("OTLP trace export: {0}")]
pub struct TraceSetupError(String);

/// Starts exporting to the configured endpoint, if any; the provider to shut down (flush) at
/// exit. Once per process.
pub fn init(
    settings: &TraceSettings,
    node_id: &str,
) -> Result<Option<SdkTracerProvider>, TraceSetupError> {
    let Some(url) = &settings.traces_url else {
        return Ok(None);
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| TraceSetupError(e.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.as_str())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| TraceSetupError(e.to_string()))?;
    let batches = BatchConfigBuilder::default()
        .with_scheduled_delay(Duration::from_secs(1))
        .with_max_queue_size(2048)
        .build();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batches)
        .build();
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name(settings.service_name.clone())
        .with_attribute(KeyValue::new("service.instance.id", node_id.to_string()))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build();
    let _ = TRACER.set(opentelemetry::trace::TracerProvider::tracer(
        &provider,
        "callbridge",
    ));
    Ok(Some(provider))
}

/// How long one batch may take to reach the collector.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// The trace id of a call, and the id of its virtual root, from its sid.
pub fn call_ids(call_sid: &str) -> (TraceId, SpanId) {
    let digest = Sha256::digest(call_sid.as_bytes());
    let mut trace = [0u8; 16];
    let mut root = [0u8; 8];
    trace.copy_from_slice(&digest[..16]);
    root.copy_from_slice(&digest[16..24]);
    (TraceId::from_bytes(trace), SpanId::from_bytes(root))
}

fn call_context(call_sid: &str) -> Context {
    let (trace, root) = call_ids(call_sid);
    Context::new().with_remote_span_context(SpanContext::new(
        trace,
        root,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

fn child(
    tracer: &SdkTracer,
    parent: &Context,
    name: &'static str,
    kind: SpanKind,
    start: SystemTime,
    attributes: Vec<KeyValue>,
) -> Span {
    tracer
        .span_builder(name)
        .with_kind(kind)
        .with_start_time(start)
        .with_attributes(attributes)
        .start_with_context(tracer, parent)
}

/// A finished request of a call (the webhook, the after-stream request): a span from
/// `started` to now, in the call's trace.
pub fn request(call_sid: &str, name: &'static str, started: SystemTime, attributes: Vec<KeyValue>) {
    let Some(tracer) = tracer() else { return };
    let mut attributes = attributes;
    attributes.push(KeyValue::new("call.sid", call_sid.to_string()));
    let mut span = child(
        tracer,
        &call_context(call_sid),
        name,
        SpanKind::Server,
        started,
        attributes,
    );
    span.end_with_timestamp(SystemTime::now());
}

/// The spans of a call streaming on this node. Does nothing when traces are off.
pub struct CallSpans {
    call: Option<(Span, Context)>,
    turn: Option<(Span, Context)>,
    turns: u64,
}

impl CallSpans {
    /// The call's span, from `at` (the stream's start).
    pub fn start(call_sid: &str, at: SystemTime) -> Self {
        let call = tracer().map(|tracer| {
            let span = child(
                tracer,
                &call_context(call_sid),
                "call",
                SpanKind::Server,
                at,
                vec![KeyValue::new("call.sid", call_sid.to_string())],
            );
            let cx = Context::new().with_remote_span_context(span.span_context().clone());
            (span, cx)
        });
        Self {
            call,
            turn: None,
            turns: 0,
        }
    }

    /// Where a tool's span goes: the turn in progress, else the call.
    pub fn parent(&self) -> Option<Context> {
        self.turn
            .as_ref()
            .or(self.call.as_ref())
            .map(|(_, cx)| cx.clone())
    }

    /// A stage the call machine timed, reported at `at`: a span ending then. The first stage
    /// of a turn (the final transcript) opens the turn at the end of the caller's speech; the
    /// voice-to-voice figure closes it.
    pub fn observe(&mut self, observation: &Observation, at: SystemTime) {
        let (Some(tracer), Some((_, call_cx))) = (tracer(), &self.call) else {
            return;
        };
        let Observation::Latency(stage, took) = observation else {
            return;
        };
        let began = at.checked_sub(*took).unwrap_or(at);
        if self.turn.is_none() && matches!(stage, Stage::SttFinal | Stage::VoiceToVoice) {
            self.turns += 1;
            let span = child(
                tracer,
                call_cx,
                "turn",
                SpanKind::Internal,
                began,
                vec![KeyValue::new("turn", self.turns as i64)],
            );
            let cx = Context::new().with_remote_span_context(span.span_context().clone());
            self.turn = Some((span, cx));
        }
        let name = match stage {
            Stage::SttFinal => "stt_final",
            Stage::LlmFirstToken => "llm_first_token",
            Stage::FirstSentence => "first_sentence",
            Stage::TtsFirstByte => "tts_first_audio",
            Stage::BargeInToSilence => "barge_in_to_silence",
            Stage::VoiceToVoice => {
                if let Some((mut turn, _)) = self.turn.take() {
                    turn.set_attribute(KeyValue::new("voice_to_voice_ms", took.as_millis() as i64));
                    turn.end_with_timestamp(at);
                }
                return;
            }
        };
        let parent = self.parent().unwrap_or_else(|| call_cx.clone());
        let mut span = child(tracer, &parent, name, SpanKind::Internal, began, Vec::new());
        span.end_with_timestamp(at);
    }

    /// The call ended at `at` with `outcome`.
    pub fn end(&mut self, outcome: &str, at: SystemTime) {
        if let Some((mut turn, _)) = self.turn.take() {
            turn.set_attribute(KeyValue::new("answered", false));
            turn.end_with_timestamp(at);
        }
        if let Some((mut call, _)) = self.call.take() {
            call.set_attribute(KeyValue::new("call.outcome", outcome.to_string()));
            call.end_with_timestamp(at);
        }
    }
}

/// A tool run under `parent` (see [`CallSpans::parent`]), from `started` to `ended`.
pub fn tool(parent: &Context, name: &str, ok: bool, started: SystemTime, ended: SystemTime) {
    let Some(tracer) = tracer() else { return };
    let mut span = child(
        tracer,
        parent,
        "tool",
        SpanKind::Client,
        started,
        vec![KeyValue::new("tool", name.to_string())],
    );
    if !ok {
        span.set_status(Status::error("the tool failed"));
    }
    span.end_with_timestamp(ended);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_derives_the_same_trace_for_a_call_and_another_for_another() {
        assert_eq!(call_ids("CA1"), call_ids("CA1"));
        assert_ne!(call_ids("CA1").0, call_ids("CA2").0);
        assert_ne!(call_ids("CA1").0, TraceId::INVALID);
    }
}
