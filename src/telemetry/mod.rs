//! Logging setup and every metric callbridge exports: names, help texts and histogram buckets
//! live here and nowhere else. Call ids go into spans, never into metric labels (they would
//! make one time series per call).

pub mod traces;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Calls being served by this instance (gauge).
pub const ACTIVE_CALLS: &str = "callbridge_active_calls";
/// Calls streaming across the cluster, as the session store counts them (gauge).
pub const CLUSTER_ACTIVE_CALLS: &str = "callbridge_cluster_active_calls";
/// Gauge: calls admitted at a webhook on this node whose media has not arrived yet.
pub const RESERVED_CALLS: &str = "callbridge_reserved_calls";
/// Gauge: calls admitted at a webhook on any node whose media has not started yet.
pub const CLUSTER_RESERVED_CALLS: &str = "callbridge_cluster_reserved_calls";
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
/// Connections the HTTP listeners could not accept (out of descriptors...) (counter).
pub const HTTP_ACCEPT_ERRORS: &str = "callbridge_http_accept_errors_total";
/// Requests refused with 429 by the per-source rate limits, by `scope` (webhook, staff)
/// (counter).
pub const HTTP_RATE_LIMITED: &str = "callbridge_http_rate_limited_total";
/// Console sign-in attempts, by `result`: ok, refused (wrong name or password), throttled,
/// stale_form (the sign-in form's token did not match) (counter).
pub const CONSOLE_SIGN_INS: &str = "callbridge_console_sign_ins_total";
/// Live-view events not sent to other nodes, by `why`: relay_queue_full, redis_down (counter).
pub const LIVE_EVENTS_DROPPED: &str = "callbridge_live_events_dropped_total";
/// Call records removed by the retention job, by `what`: calls, turns (counter).
pub const RETENTION_REMOVED: &str = "callbridge_retention_removed_total";
/// Recording trouble, by `what`: dropped_bytes (the writer fell behind or the call was never
/// prepared), write_failed, not_stored (the file could not be noted in call_recordings),
/// removed_files (by the retention job) (counter).
pub const RECORDING: &str = "callbridge_recording_total";
/// Transfers to the desk by how the dial ended, `status`: answered, busy, no_answer, failed,
/// canceled, other (counter). All but answered bring the caller back to the agent.
pub const DESK_DIALS: &str = "callbridge_desk_dials_total";
/// Call-record writes (turns, outcomes) that failed (counter).
pub const RECORD_ERRORS: &str = "callbridge_record_errors_total";
/// Calls handed on by the agent, by `action` (transfer, hang_up) and `via` (twiml, rest) (counter).
pub const CALL_CONTROL: &str = "callbridge_call_control_total";

/// Times the caller interrupted the agent (counter).
pub const BARGE_INS: &str = "callbridge_barge_ins_total";
/// Counter: interruptions that turned out to be noise (the agent resumed its reply).
pub const FALSE_INTERRUPTIONS: &str = "callbridge_false_interruptions_total";
/// Pauses the end-of-turn model judged, by `verdict` (complete, incomplete, late, failed)
/// (counter).
pub const TURN_VERDICTS: &str = "callbridge_turn_verdicts_total";
/// Completions asked for before the caller's final transcript, by `outcome`: used (the
/// final said the same) or wasted (cancelled and asked again) (counter).
pub const PREEMPTIVE_LLM: &str = "callbridge_preemptive_llm_total";
/// Time the end-of-turn model took for one verdict (histogram).
pub const TURN_MODEL_SECONDS: &str = "callbridge_turn_model_seconds";
/// Appointments booked, moved or cancelled, by `action` (counter).
pub const BOOKINGS: &str = "callbridge_bookings_total";
/// Provider messages that could not be parsed and were skipped, by `provider` (counter).
pub const PROVIDER_BAD_MESSAGES: &str = "callbridge_provider_bad_messages_total";
/// Provider failures, by `kind`, `provider` and `error` (counter).
pub const PROVIDER_ERRORS: &str = "callbridge_provider_errors_total";
/// Time from a provider request to its first result, by `kind` and `provider` (histogram).
pub const PROVIDER_FIRST_RESULT: &str = "callbridge_provider_first_result_seconds";
/// Provider streams re-established mid-call, by `kind` and `provider` (counter).
pub const PROVIDER_RECONNECTS: &str = "callbridge_provider_reconnects_total";
/// Provider requests and streams started, by `kind` and `provider` (counter).
pub const PROVIDER_REQUESTS: &str = "callbridge_provider_requests_total";
/// Caller audio frames dropped because speech-to-text fell behind, by `provider` (counter).
pub const STT_DROPPED_FRAMES: &str = "callbridge_stt_dropped_frames_total";
/// Utterances the built-in recogniser decoded again over a wider window because the
/// quick pass repeated itself (counter).
pub const STT_REDECODES: &str = "callbridge_stt_redecodes_total";
/// Built-in recogniser transcriptions started at a pause, by `outcome`: `used` (the turn
/// ended there) or `wasted` (the caller spoke on) (counter).
pub const STT_EARLY_DECODES: &str = "callbridge_stt_early_decodes_total";
/// Tool calls, by `tool` and `outcome` (ok or the error code) (counter).
pub const TOOL_CALLS: &str = "callbridge_tool_calls_total";
/// TTS flushes held back to stay within the provider's budget, by `provider` (counter).
pub const TTS_FLUSHES_DEFERRED: &str = "callbridge_tts_flushes_deferred_total";
/// Conversation turns handled, by `outcome` (counter).
pub const TURNS: &str = "callbridge_turns_total";
/// End of caller speech to the final transcript (histogram, seconds).
pub const STT_FINAL_LATENCY: &str = "callbridge_stt_final_seconds";
/// LLM request to first token (histogram, seconds).
pub const LLM_FIRST_TOKEN: &str = "callbridge_llm_first_token_seconds";
/// LLM request to first complete sentence (histogram, seconds).
pub const FIRST_SENTENCE: &str = "callbridge_first_sentence_seconds";
/// TTS flush to first audio byte (histogram, seconds).
pub const TTS_FIRST_BYTE: &str = "callbridge_tts_first_byte_seconds";
/// Tool call duration, by `tool` (histogram, seconds).
pub const TOOL_LATENCY: &str = "callbridge_tool_seconds";
/// End of caller speech to the first agent audio frame sent (histogram, seconds).
pub const VOICE_TO_VOICE: &str = "callbridge_voice_to_voice_seconds";
/// Barge-in detected to the agent's audio stopped (histogram, seconds).
pub const BARGE_IN_TO_SILENCE: &str = "callbridge_barge_in_to_silence_seconds";

/// Sub-second stages of a turn: 10 ms resolution where it matters, up to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
];

/// Call lengths from a wrong number to a long booking conversation.
const CALL_DURATION_BUCKETS: &[f64] = &[
    5.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
];

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(ACTIVE_CALLS, "Calls being served by this instance.");
    describe_gauge!(
        CLUSTER_ACTIVE_CALLS,
        "Calls streaming on any node (session store, each heartbeat)."
    );
    describe_gauge!(
        RESERVED_CALLS,
        "Calls admitted at a webhook on this node, waiting for their media."
    );
    describe_gauge!(
        CLUSTER_RESERVED_CALLS,
        "Calls admitted at a webhook on any node, waiting for their media (session store)."
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
    describe_counter!(RECORD_ERRORS, "Call-record writes that failed.");
    describe_counter!(
        CALL_CONTROL,
        "Calls the agent transferred or hung up, by action and mechanism."
    );
    describe_counter!(STORE_ERRORS, "Failed session-store operations, by op.");
    describe_counter!(
        HTTP_ACCEPT_ERRORS,
        "Connections the HTTP listeners failed to accept (e.g. out of descriptors)."
    );
    describe_counter!(
        HTTP_RATE_LIMITED,
        "Requests refused with 429 by the per-source rate limits, by scope."
    );
    describe_counter!(
        CONSOLE_SIGN_INS,
        "Console sign-in attempts, by result (ok, refused, throttled, stale_form)."
    );
    describe_counter!(
        LIVE_EVENTS_DROPPED,
        "Live-view events not sent to other nodes, by why (relay_queue_full, redis_down)."
    );
    describe_counter!(
        RETENTION_REMOVED,
        "Call records removed by the retention job, by what (calls, turns)."
    );
    describe_counter!(
        RECORDING,
        "Recording events by what: dropped_bytes, write_failed, not_stored, removed_files."
    );
    describe_counter!(
        DESK_DIALS,
        "Transfers to the desk by how the dial ended (answered, busy, no_answer, failed, canceled)."
    );
    describe_counter!(BARGE_INS, "Times the caller interrupted the agent.");
    describe_counter!(
        FALSE_INTERRUPTIONS,
        "Interruptions that turned out to be noise; the agent resumed its reply."
    );
    describe_counter!(
        TURN_VERDICTS,
        "Pauses the end-of-turn model judged, by `verdict`: complete (the turn ended at the \
         pause), incomplete (it stayed open), late or failed (it ended as silence alone would)."
    );
    describe_counter!(
        PREEMPTIVE_LLM,
        "Completions asked for at the local turn end, before the final transcript, by \
         `outcome`: used (the final said the same) or wasted (cancelled and asked again)."
    );
    describe_histogram!(
        TURN_MODEL_SECONDS,
        Unit::Seconds,
        "Time the end-of-turn model took for one verdict."
    );
    describe_counter!(
        BOOKINGS,
        "Appointments booked, moved or cancelled, by `action`."
    );
    describe_counter!(
        PROVIDER_BAD_MESSAGES,
        "Provider messages that could not be parsed and were skipped, by `provider`."
    );
    describe_counter!(
        PROVIDER_ERRORS,
        "Provider failures, by `kind`, `provider` and `error`."
    );
    describe_histogram!(
        PROVIDER_FIRST_RESULT,
        Unit::Seconds,
        "Time from a provider request to its first result, by `kind` and `provider`."
    );
    describe_counter!(
        PROVIDER_RECONNECTS,
        "Provider streams re-established mid-call, by `kind` and `provider`."
    );
    describe_counter!(
        PROVIDER_REQUESTS,
        "Provider requests and streams started, by `kind` and `provider`."
    );
    describe_counter!(
        STT_DROPPED_FRAMES,
        "Caller audio frames dropped because speech-to-text fell behind, by `provider`."
    );
    describe_counter!(
        STT_REDECODES,
        "Built-in recogniser utterances decoded again over a wider window (the quick pass repeated itself)."
    );
    describe_counter!(
        STT_EARLY_DECODES,
        "Built-in recogniser transcriptions started at a pause, by outcome: used (the turn ended there) or wasted (the caller spoke on)."
    );
    describe_counter!(
        TOOL_CALLS,
        "Tool calls, by `tool` and `outcome` (ok or the error code)."
    );
    describe_counter!(
        TTS_FLUSHES_DEFERRED,
        "TTS flushes held back to stay within the provider's budget, by `provider`."
    );
    describe_counter!(TURNS, "Conversation turns handled, by outcome.");
    for (name, help) in [
        (
            STT_FINAL_LATENCY,
            "End of caller speech to the final transcript.",
        ),
        (LLM_FIRST_TOKEN, "LLM request to first token."),
        (FIRST_SENTENCE, "LLM request to first complete sentence."),
        (TTS_FIRST_BYTE, "TTS flush to first audio byte."),
        (TOOL_LATENCY, "Tool call duration, by tool."),
        (
            VOICE_TO_VOICE,
            "End of caller speech to first agent audio frame sent.",
        ),
        (
            BARGE_IN_TO_SILENCE,
            "Barge-in detected to agent audio stopped.",
        ),
    ] {
        describe_histogram!(name, Unit::Seconds, help);
    }
}

/// Records what a call machine observed (the core measures; this is where it is recorded).
pub fn observe(o: crate::call::observe::Observation) {
    use crate::call::observe::{Observation, Stage};
    match o {
        Observation::Latency(stage, d) => {
            let name = match stage {
                Stage::SttFinal => STT_FINAL_LATENCY,
                Stage::LlmFirstToken => LLM_FIRST_TOKEN,
                Stage::FirstSentence => FIRST_SENTENCE,
                Stage::TtsFirstByte => TTS_FIRST_BYTE,
                Stage::VoiceToVoice => VOICE_TO_VOICE,
                Stage::BargeInToSilence => BARGE_IN_TO_SILENCE,
            };
            metrics::histogram!(name).record(d.as_secs_f64());
        }
        Observation::TurnAnswered => {
            metrics::counter!(TURNS, "outcome" => "answered").increment(1);
        }
        Observation::BargeIn => metrics::counter!(BARGE_INS).increment(1),
        Observation::FalseInterruption => metrics::counter!(FALSE_INTERRUPTIONS).increment(1),
        Observation::Preemptive { used } => {
            let outcome = if used { "used" } else { "wasted" };
            metrics::counter!(PREEMPTIVE_LLM, "outcome" => outcome).increment(1);
        }
        Observation::TurnVerdict(v) => {
            metrics::counter!(TURN_VERDICTS, "verdict" => v.label()).increment(1);
        }
        Observation::NeedsConfirmation(tool) => {
            metrics::counter!(TOOL_CALLS, "tool" => tool.as_str(), "outcome" => "needs_confirmation")
                .increment(1);
        }
        Observation::ToolTimedOut(tool) => {
            metrics::counter!(TOOL_CALLS, "tool" => tool.as_str(), "outcome" => "timeout")
                .increment(1);
        }
    }
}

/// The label every series carries: which node it came from (`NODE_ID`), so a fleet's series
/// stay apart however they are scraped, relabelled or federated.
pub const NODE_LABEL: &str = "node_id";

/// Installs the process-wide metrics recorder once and returns the handle that renders it,
/// every series labelled `node_id="<node_id>"`. Several `Application`s in one test process
/// share it (and the first one's node id).
pub fn metrics_handle(node_id: &str) -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .add_global_label(NODE_LABEL, node_id)
                .set_buckets_for_metric(
                    Matcher::Full(CALL_DURATION.to_string()),
                    CALL_DURATION_BUCKETS,
                )
                .and_then(|b| {
                    [
                        PROVIDER_FIRST_RESULT,
                        STT_FINAL_LATENCY,
                        LLM_FIRST_TOKEN,
                        FIRST_SENTENCE,
                        TTS_FIRST_BYTE,
                        TOOL_LATENCY,
                        VOICE_TO_VOICE,
                        BARGE_IN_TO_SILENCE,
                        TURN_MODEL_SECONDS,
                    ]
                    .into_iter()
                    .try_fold(b, |b, name| {
                        b.set_buckets_for_metric(Matcher::Full(name.to_string()), LATENCY_BUCKETS)
                    })
                })
                .expect("bucket lists are not empty")
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
    let filter =
        EnvFilter::try_new(quiet_engines(filter)).unwrap_or_else(|_| EnvFilter::new("info"));
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

/// whisper.cpp narrates every model load at its info level (forty lines of tensor sizes):
/// unless the filter names it, only its warnings are shown.
fn quiet_engines(filter: &str) -> String {
    if filter.contains("whisper_rs") {
        filter.to_string()
    } else {
        format!("{filter},whisper_rs=warn")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recogniser_is_quiet_unless_asked_for() {
        assert_eq!(quiet_engines("info"), "info,whisper_rs=warn");
        assert_eq!(
            quiet_engines("info,whisper_rs=debug"),
            "info,whisper_rs=debug"
        );
        assert!(EnvFilter::try_new(quiet_engines("callbridge=debug,info")).is_ok());
    }

    #[test]
    fn latency_histograms_have_explicit_sub_second_buckets() {
        let handle = metrics_handle("test-node");
        metrics::histogram!(VOICE_TO_VOICE).record(0.42);
        metrics::histogram!(TOOL_LATENCY, "tool" => "book_appointment").record(0.012);
        let text = handle.render();
        assert!(
            text.contains(
                "callbridge_voice_to_voice_seconds_bucket{node_id=\"test-node\",le=\"0.5\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains(
            "callbridge_voice_to_voice_seconds_bucket{node_id=\"test-node\",le=\"0.4\"} 0"
        ));
        assert!(
            text.contains(
                "callbridge_tool_seconds_bucket{node_id=\"test-node\",tool=\"book_appointment\",le=\"0.025\"} 1"
            )
        );
        assert!(text.contains("# HELP callbridge_voice_to_voice_seconds"));
    }
}

#[cfg(test)]
mod deploy_tests {
    /// The dashboard and alert rules in `deploy/` name only metrics this module exports.
    #[test]
    fn deploy_files_use_only_exported_metrics() {
        let source = include_str!("mod.rs");
        for (file, text) in [
            (
                "grafana/callbridge.json",
                include_str!("../../deploy/grafana/callbridge.json"),
            ),
            (
                "prometheus/alerts.yml",
                include_str!("../../deploy/prometheus/alerts.yml"),
            ),
        ] {
            let mut rest = text;
            let mut seen = 0;
            while let Some(at) = rest.find("callbridge_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                let base = name
                    .trim_end_matches("_bucket")
                    .trim_end_matches("_sum")
                    .trim_end_matches("_count");
                assert!(
                    source.contains(&format!("\"{base}\"")),
                    "{file} uses {name}, which telemetry does not export"
                );
                seen += 1;
            }
            assert!(seen > 5, "{file}");
        }
    }
}
