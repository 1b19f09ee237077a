//! Where traces go: OpenTelemetry's own variables, so a collector set up for other services
//! needs nothing new. No endpoint, no tracing (nothing is recorded or sent).

use url::Url;

use super::settings::Reader;

/// The OTLP trace export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSettings {
    /// Where spans are posted (OTLP/HTTP, protobuf): `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as
    /// given, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; unset: traces are off.
    pub traces_url: Option<Url>,
    /// `OTEL_SERVICE_NAME` (default `callbridge`): the service the spans belong to.
    pub service_name: String,
}

pub(super) fn read(r: &mut Reader<'_>) -> TraceSettings {
    let given = |r: &Reader<'_>, name| r.optional(name).filter(|v: &String| !v.trim().is_empty());
    let traces_url = match (
        given(r, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        given(r, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ) {
        (Some(_), _) => Some(r.url(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:4318/v1/traces",
            &["http", "https"],
        )),
        (None, Some(_)) => {
            let base = r.url(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://127.0.0.1:4318",
                &["http", "https"],
            );
            let joined = format!("{}/v1/traces", base.as_str().trim_end_matches('/'));
            Url::parse(&joined).ok()
        }
        (None, None) => None,
    };
    TraceSettings {
        traces_url,
        service_name: r.string("OTEL_SERVICE_NAME", "callbridge"),
    }
}
