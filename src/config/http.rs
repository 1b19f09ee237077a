//! How the HTTP listener treats its clients: how long a client may take to send a request,
//! how many connections are held at once, and how many requests one source may make. A
//! webhook server reachable from the internet meets slow, silent and flooding clients; none
//! of them may hold a descriptor or a line for long.

use std::time::Duration;

use super::settings::Reader;

/// A token bucket per source: `per_sec` requests a second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_sec: u32,
    /// Requests allowed at once before the rate applies.
    pub burst: u32,
}

/// Which address a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitKey {
    /// The TCP peer: right when clients connect directly.
    Peer,
    /// The last address in `X-Forwarded-For` (the one our own proxy appended), else the peer:
    /// right behind one trusted proxy or load balancer, where every peer is the proxy.
    ForwardedFor,
}

impl std::str::FromStr for RateLimitKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "peer" => Ok(Self::Peer),
            "forwarded-for" => Ok(Self::ForwardedFor),
            other => Err(format!("unknown key {other:?}")),
        }
    }
}

/// The listener's limits.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `HTTP_HEADER_SECS`: a connection that has not sent a whole request head this long after
    /// opening (or after its last response) is closed: silent and slow-header clients.
    pub header_read_timeout: Duration,
    /// `HTTP_REQUEST_SECS`: a request (body read included) not answered in this time gets 408:
    /// slow-body clients. Media sockets are not bound by it once upgraded.
    pub request_timeout: Duration,
    /// `MAX_CONNECTIONS`: connections held at once (media sockets included); past it, new
    /// ones wait in the kernel's accept queue.
    pub max_connections: usize,
    /// `RATE_LIMIT_WEBHOOK_PER_SEC` / `RATE_LIMIT_WEBHOOK_BURST`: carrier webhooks and media
    /// handshakes from one source.
    pub webhook_rate: RateLimit,
    /// `RATE_LIMIT_STAFF_PER_SEC` / `RATE_LIMIT_STAFF_BURST`: the staff API from one source
    /// (it is also where a bearer key would be guessed).
    pub staff_rate: RateLimit,
    /// `RATE_LIMIT_KEY`: `peer` (default) or `forwarded-for` (behind one trusted proxy).
    pub rate_limit_key: RateLimitKey,
}

pub(super) fn read(r: &mut Reader<'_>) -> HttpSettings {
    let rate = |r: &mut Reader<'_>, per_sec, per_sec_default, burst, burst_default| RateLimit {
        per_sec: r.ranged(per_sec, per_sec_default, 1, 1_000_000) as u32,
        burst: r.ranged(burst, burst_default, 1, 1_000_000) as u32,
    };
    HttpSettings {
        header_read_timeout: Duration::from_secs(r.ranged("HTTP_HEADER_SECS", 10, 1, 300)),
        request_timeout: Duration::from_secs(r.ranged("HTTP_REQUEST_SECS", 20, 1, 600)),
        max_connections: r.ranged("MAX_CONNECTIONS", 4096, 16, 1_000_000) as usize,
        webhook_rate: rate(
            r,
            "RATE_LIMIT_WEBHOOK_PER_SEC",
            50,
            "RATE_LIMIT_WEBHOOK_BURST",
            200,
        ),
        staff_rate: rate(
            r,
            "RATE_LIMIT_STAFF_PER_SEC",
            10,
            "RATE_LIMIT_STAFF_BURST",
            50,
        ),
        rate_limit_key: r.parsed(
            "RATE_LIMIT_KEY",
            RateLimitKey::Peer,
            "use `peer` or `forwarded-for`",
        ),
    }
}
