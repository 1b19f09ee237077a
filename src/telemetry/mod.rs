//! Logging setup and every metric callbridge exports: names, help texts and histogram buckets
//! live here and nowhere else. Call ids go into spans, never into metric labels (they would
//! make one time series per call).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Calls being served by this instance (gauge).
pub const ACTIVE_CALLS: &str = "callbridge_active_calls";
/// Calls active across the cluster, as the session store counts them (gauge).
pub const CLUSTER_ACTIVE_CALLS: &str = "callbridge_cluster_active_calls";
/// Calls ended, by `outcome` (counter).
pub const CALLS_TOTAL: &str = "callbridge_calls_total";
/// Carrier frames received, by `carrier` (counter).
pub const FRAMES_IN: &str = "callbridge_frames_in_total";
/// Carrier frames sent, by `carrier` (counter).
pub const FRAMES_OUT: &str = "callbridge_frames_out_total";
/// Carrier frames refused, by `carrier` and `reason` (counter).
pub const MALFORMED_FRAMES: &str = "callbridge_malformed_frames_total";
/// Call length in seconds (histogram).
pub const CALL_DURATION: &str = "callbridge_call_duration_seconds";
/// Audio bytes that went through a decode/resample/encode step (counter).
pub const TRANSCODED_BYTES: &str = "callbridge_transcoded_bytes_total";
/// Voice webhook answers, by `result`: connected, busy, forbidden, invalid (counter).
pub const WEBHOOKS: &str = "callbridge_voice_webhooks_total";
/// Stream status callbacks received, by `event` (counter).
pub const STREAM_STATUS: &str = "callbridge_stream_status_callbacks_total";
/// Session-store operations that failed, by `op` (counter).
pub const STORE_ERRORS: &str = "callbridge_session_store_errors_total";

/// Call lengths from a wrong number to a long booking conversation.
const CALL_DURATION_BUCKETS: &[f64] = &[
    5.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
];

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(ACTIVE_CALLS, "Calls being served by this instance.");
    describe_gauge!(
        CLUSTER_ACTIVE_CALLS,
        "Calls active across all instances (session store)."
    );
    describe_counter!(CALLS_TOTAL, "Calls ended, by outcome.");
    describe_counter!(FRAMES_IN, "Carrier frames received, by carrier.");
    describe_counter!(FRAMES_OUT, "Carrier frames sent, by carrier.");
    describe_counter!(
        MALFORMED_FRAMES,
        "Carrier frames refused (the call goes on), by carrier and reason."
    );
    describe_histogram!(CALL_DURATION, Unit::Seconds, "Call length.");
    describe_counter!(
        TRANSCODED_BYTES,
        Unit::Bytes,
        "Audio bytes decoded, resampled or encoded."
    );
    describe_counter!(WEBHOOKS, "Voice webhook answers, by result.");
    describe_counter!(STREAM_STATUS, "Stream status callbacks, by event.");
    describe_counter!(STORE_ERRORS, "Failed session-store operations, by op.");
}

/// Installs the process-wide metrics recorder once and returns the handle that renders it.
/// Several `Application`s in one test process share it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(CALL_DURATION.to_string()),
                    CALL_DURATION_BUCKETS,
                )
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, which this crate never does.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

/// Sets up structured logging. Safe to call more than once (later calls are ignored).
pub fn init_logging(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
