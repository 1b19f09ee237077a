//! What can go wrong with a speech or language provider, typed so the call can choose: retry,
//! fall back to another provider, or hand the caller to a person; and which job a provider
//! does. The provider clients produce these; the call machine decides on them.

use std::time::Duration;

/// Which job a provider does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProviderKind {
    /// Speech to text.
    Stt,
    /// Language model.
    Llm,
    /// Text to speech.
    Tts,
}

impl ProviderKind {
    /// As labelled in metrics and `/readyz`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Stt => "stt",
            ProviderKind::Llm => "llm",
            ProviderKind::Tts => "tts",
        }
    }
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Opening the connection.
    Connect,
    /// Waiting for the first token / transcript / audio byte.
    FirstResult,
    /// The whole request.
    Total,
    /// Nothing heard from the provider for too long mid-stream.
    Idle,
}

/// A provider failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached (DNS, refused, TLS, handshake).
    #[error("cannot reach the provider: {0}")]
    Connect(String),
    /// The credentials were refused (401/403).
    #[error("the provider refused the credentials (HTTP {0})")]
    Auth(u16),
    /// Too many requests (429), after the retries allowed.
    #[error("the provider is rate limiting us")]
    RateLimited,
    /// Another HTTP error status, with the start of the body.
    #[error("the provider answered HTTP {status}: {body}")]
    Http {
        /// Status code.
        status: u16,
        /// The first few hundred bytes of the body.
        body: String,
    },
    /// A deadline passed.
    #[error("the provider timed out ({0:?} after {1:?})")]
    Timeout(Deadline, Duration),
    /// The provider sent something we cannot use.
    #[error("the provider sent an invalid message: {0}")]
    Protocol(String),
    /// The provider reported an error in-band.
    #[error("the provider reported an error: {0}")]
    Upstream(String),
    /// The stream ended before it was complete.
    #[error("the provider's stream ended early: {0}")]
    Cut(String),
    /// Reconnecting failed repeatedly: treat the provider as down for this call.
    #[error("the provider is down after {attempts} attempts: {last}")]
    Down {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The provider is not configured (no key).
    #[error("the provider is not configured: {0}")]
    NotConfigured(&'static str),
}

impl ProviderError {
    /// Short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::Connect(_) => "connect",
            ProviderError::Auth(_) => "auth",
            ProviderError::RateLimited => "rate_limited",
            ProviderError::Http { .. } => "http",
            ProviderError::Timeout(Deadline::Connect, _) => "timeout_connect",
            ProviderError::Timeout(Deadline::FirstResult, _) => "timeout_first_result",
            ProviderError::Timeout(Deadline::Total, _) => "timeout_total",
            ProviderError::Timeout(Deadline::Idle, _) => "timeout_idle",
            ProviderError::Protocol(_) => "protocol",
            ProviderError::Upstream(_) => "upstream",
            ProviderError::Cut(_) => "cut",
            ProviderError::Down { .. } => "down",
            ProviderError::NotConfigured(_) => "not_configured",
        }
    }

    /// Whether trying the same request again may work (before any result was delivered).
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Connect(_)
            | ProviderError::RateLimited
            | ProviderError::Timeout(Deadline::Connect | Deadline::FirstResult, _) => true,
            ProviderError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The error for an HTTP status that is not success.
    pub fn from_status(status: u16, body: &str) -> Self {
        match status {
            401 | 403 => ProviderError::Auth(status),
            429 => ProviderError::RateLimited,
            _ => ProviderError::Http {
                status,
                body: body.chars().take(300).collect(),
            },
        }
    }
}
