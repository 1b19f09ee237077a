//! Every provider's health as this instance has seen it: for `/readyz` details and the
//! provider metrics. A provider is `up` until a failure, `degraded` after one, and `down`
//! after it was declared down (reconnects exhausted) until it next succeeds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::ProviderError;

pub use callbridge_core::provider::ProviderKind;

#[derive(Debug, Clone, Default)]
struct Entry {
    requests: u64,
    errors: u64,
    consecutive_errors: u64,
    down: bool,
    last_error: Option<String>,
}

/// Shared record of provider outcomes. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ProviderHealth {
    entries: Arc<Mutex<BTreeMap<(ProviderKind, &'static str), Entry>>>,
}

impl ProviderHealth {
    fn with<R>(
        &self,
        kind: ProviderKind,
        name: &'static str,
        f: impl FnOnce(&mut Entry) -> R,
    ) -> R {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry((kind, name)).or_default())
    }

    /// A provider is configured (listed even before its first use).
    pub fn register(&self, kind: ProviderKind, name: &'static str) {
        self.with(kind, name, |_| ());
    }

    /// A request or stream was started.
    pub fn request(&self, kind: ProviderKind, name: &'static str) {
        metrics::counter!(crate::telemetry::PROVIDER_REQUESTS, "kind" => kind.as_str(), "provider" => name)
            .increment(1);
        self.with(kind, name, |e| e.requests += 1);
    }

    /// It delivered its first result after `elapsed`.
    pub fn first_result(&self, kind: ProviderKind, name: &'static str, elapsed: Duration) {
        metrics::histogram!(crate::telemetry::PROVIDER_FIRST_RESULT, "kind" => kind.as_str(), "provider" => name)
            .record(elapsed.as_secs_f64());
        self.with(kind, name, |e| {
            e.consecutive_errors = 0;
            e.down = false;
        });
    }

    /// It failed.
    pub fn error(&self, kind: ProviderKind, name: &'static str, error: &ProviderError) {
        metrics::counter!(
            crate::telemetry::PROVIDER_ERRORS,
            "kind" => kind.as_str(),
            "provider" => name,
            "error" => error.kind(),
        )
        .increment(1);
        self.with(kind, name, |e| {
            e.errors += 1;
            e.consecutive_errors += 1;
            e.down |= matches!(error, ProviderError::Down { .. });
            e.last_error = Some(error.to_string());
        });
    }

    /// It reconnected mid-stream: it works again.
    pub fn reconnect(&self, kind: ProviderKind, name: &'static str) {
        metrics::counter!(crate::telemetry::PROVIDER_RECONNECTS, "kind" => kind.as_str(), "provider" => name)
            .increment(1);
        self.with(kind, name, |e| {
            e.consecutive_errors = 0;
            e.down = false;
        });
    }

    /// `up`, `degraded` or `down`.
    pub fn state(&self, kind: ProviderKind, name: &'static str) -> &'static str {
        self.with(kind, name, |e| {
            if e.down {
                "down"
            } else if e.consecutive_errors > 0 {
                "degraded"
            } else {
                "up"
            }
        })
    }

    /// Details for `/readyz`.
    pub fn to_json(&self) -> Value {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Value::Array(
            map.iter()
                .map(|((kind, name), e)| {
                    let state = if e.down {
                        "down"
                    } else if e.consecutive_errors > 0 {
                        "degraded"
                    } else {
                        "up"
                    };
                    json!({
                        "kind": kind.as_str(),
                        "provider": name,
                        "state": state,
                        "requests": e.requests,
                        "errors": e.errors,
                        "last_error": e.last_error,
                    })
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_degrades_on_errors_goes_down_when_declared_and_recovers() {
        let h = ProviderHealth::default();
        h.register(ProviderKind::Llm, "openai");
        assert_eq!(h.state(ProviderKind::Llm, "openai"), "up");
        h.request(ProviderKind::Llm, "openai");
        h.error(ProviderKind::Llm, "openai", &ProviderError::RateLimited);
        assert_eq!(h.state(ProviderKind::Llm, "openai"), "degraded");
        h.error(
            ProviderKind::Llm,
            "openai",
            &ProviderError::Down {
                attempts: 3,
                last: "refused".into(),
            },
        );
        assert_eq!(h.state(ProviderKind::Llm, "openai"), "down");
        h.first_result(ProviderKind::Llm, "openai", Duration::from_millis(200));
        assert_eq!(h.state(ProviderKind::Llm, "openai"), "up");
        let j = h.to_json();
        assert_eq!(j[0]["requests"], 1);
        assert_eq!(j[0]["errors"], 2);
        assert!(j[0]["last_error"].as_str().unwrap().contains("down"));
    }
}
