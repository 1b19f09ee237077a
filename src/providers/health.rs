//! Every provider's health as this instance has seen it: for `/readyz` details, the provider
//! metrics, and a circuit breaker per provider. A provider is `up` until a failure, `degraded`
//! after one, and `down` after it was declared down (reconnects exhausted) until it next
//! succeeds. Its breaker opens after [`BREAKER_THRESHOLD`] failures in a row (or when it is
//! declared down): new calls then go straight to the fallback with no connect attempt, so a
//! black-holed provider costs no caller its first utterance. Every [`BREAKER_COOLDOWN`] one
//! call is let through as a probe (half-open); its success closes the breaker, its failure
//! opens it again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::ProviderError;

pub use callbridge_core::provider::ProviderKind;

#[derive(Debug, Clone, Default)]
struct Entry {
    requests: u64,
    errors: u64,
    consecutive_errors: u64,
    down: bool,
    /// The kind of the last failure (`timeout_connect`, `down`...): a state, never the
    /// provider's own words, since `/readyz` is unauthenticated (the callers log the detail).
    last_error: Option<&'static str>,
    /// The breaker opened then (or last let a probe through).
    opened_at: Option<Instant>,
    /// A probe is out.
    probing: bool,
}

/// Failures in a row that open a provider's breaker.
pub const BREAKER_THRESHOLD: u64 = 3;

/// How long an open breaker keeps new calls off its provider before one probes it.
pub const BREAKER_COOLDOWN: Duration = Duration::from_secs(10);

impl Entry {
    fn succeeded(&mut self) {
        self.consecutive_errors = 0;
        self.down = false;
        self.opened_at = None;
        self.probing = false;
    }

    fn breaker(&self) -> &'static str {
        match (self.opened_at, self.probing) {
            (None, _) => "closed",
            (Some(_), true) => "half_open",
            (Some(_), false) => "open",
        }
    }
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
        self.with(kind, name, Entry::succeeded);
    }

    /// Whether a new call should use this provider now: yes while its breaker is closed; while
    /// open, only as the one probe each [`BREAKER_COOLDOWN`].
    #[allow(clippy::disallowed_methods)] // IO edge: the breaker's cooldown runs on the clock.
    pub fn admits(&self, kind: ProviderKind, name: &'static str) -> bool {
        self.admits_at(kind, name, Instant::now())
    }

    fn admits_at(&self, kind: ProviderKind, name: &'static str, now: Instant) -> bool {
        self.with(kind, name, |e| match e.opened_at {
            None => true,
            Some(at) if !e.probing && now.saturating_duration_since(at) >= BREAKER_COOLDOWN => {
                e.probing = true;
                e.opened_at = Some(now);
                tracing::info!(
                    kind = kind.as_str(),
                    provider = name,
                    "breaker half-open: one call probes the provider"
                );
                true
            }
            Some(_) => false,
        })
    }

    /// It failed.
    #[allow(clippy::disallowed_methods)] // IO edge: the breaker opens at a time.
    pub fn error(&self, kind: ProviderKind, name: &'static str, error: &ProviderError) {
        self.error_at(kind, name, error, Instant::now());
    }

    fn error_at(
        &self,
        kind: ProviderKind,
        name: &'static str,
        error: &ProviderError,
        now: Instant,
    ) {
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
            // A handshake that outlasts its deadline is a black hole: every new call would
            // wait it out in silence, so it trips the breaker at once, as `Down` does.
            e.down |= matches!(
                error,
                ProviderError::Down { .. } | ProviderError::Timeout(super::Deadline::Connect, _)
            );
            e.last_error = Some(error.kind());
            let trips = e.down || e.consecutive_errors >= BREAKER_THRESHOLD;
            if trips && (e.opened_at.is_none() || e.probing) {
                tracing::warn!(
                    kind = kind.as_str(),
                    provider = name,
                    "breaker open: new calls use the fallback"
                );
                e.opened_at = Some(now);
                e.probing = false;
            }
        });
    }

    /// It reconnected mid-stream: it works again.
    pub fn reconnect(&self, kind: ProviderKind, name: &'static str) {
        metrics::counter!(crate::telemetry::PROVIDER_RECONNECTS, "kind" => kind.as_str(), "provider" => name)
            .increment(1);
        self.with(kind, name, Entry::succeeded);
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
                        "breaker": e.breaker(),
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
        assert_eq!(
            j[0]["last_error"], "down",
            "a kind, not the provider's words"
        );
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // An arbitrary origin for the test's clock.
    fn the_breaker_opens_after_failures_in_a_row_lets_one_probe_through_and_closes_on_success() {
        let h = ProviderHealth::default();
        let (k, n) = (ProviderKind::Stt, "deepgram");
        let t0 = Instant::now();
        let timeout =
            ProviderError::Timeout(super::super::Deadline::FirstResult, Duration::from_secs(3));
        for _ in 0..BREAKER_THRESHOLD - 1 {
            h.error_at(k, n, &timeout, t0);
        }
        assert!(h.admits_at(k, n, t0), "not yet");
        h.error_at(k, n, &timeout, t0);
        assert!(!h.admits_at(k, n, t0), "open: new calls go to the fallback");
        assert!(!h.admits_at(k, n, t0 + BREAKER_COOLDOWN / 2));
        let later = t0 + BREAKER_COOLDOWN;
        assert!(h.admits_at(k, n, later), "one probe");
        assert!(!h.admits_at(k, n, later), "only one");
        assert_eq!(h.to_json()[0]["breaker"], "half_open");
        // The probe fails: open again, for another cooldown.
        h.error_at(k, n, &timeout, later);
        assert!(!h.admits_at(k, n, later + BREAKER_COOLDOWN / 2));
        assert!(h.admits_at(k, n, later + BREAKER_COOLDOWN));
        // This probe works: closed.
        h.first_result(k, n, Duration::from_millis(80));
        assert!(h.admits_at(k, n, later + BREAKER_COOLDOWN));
        assert_eq!(h.to_json()[0]["breaker"], "closed");
        // Declared down: open at once.
        h.error_at(
            k,
            n,
            &ProviderError::Down {
                attempts: 3,
                last: "refused".into(),
            },
            later,
        );
        assert!(!h.admits_at(k, n, later));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // An arbitrary origin for the test's clock.
    fn a_handshake_that_outlasts_its_deadline_opens_the_breaker_at_once() {
        let h = ProviderHealth::default();
        let (k, n) = (ProviderKind::Tts, "deepgram");
        let t0 = Instant::now();
        let black_hole =
            ProviderError::Timeout(super::super::Deadline::Connect, Duration::from_secs(1));
        h.error_at(k, n, &black_hole, t0);
        assert!(!h.admits_at(k, n, t0), "the next call goes to the fallback");
        // A refused connection is quick to find out: it counts, but does not trip alone.
        let refused = ProviderError::Connect("connection refused".into());
        h.error_at(ProviderKind::Stt, n, &refused, t0);
        assert!(h.admits_at(ProviderKind::Stt, n, t0));
    }
}
