//! Per-source rate limits on the webhooks, media handshakes and the staff API. One source
//! flooding the voice webhook would otherwise take every line's reservation and provider
//! connections, and one guessing the staff key would have as many tries as it can send.
//!
//! `governor` (GCRA, keyed by address) does the counting; `tower_governor` was not used because
//! its key extractors either trust any forwarded header or only the peer, and behind our own
//! load balancer we need "the address our proxy appended", plus our own metric and body.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{RateLimit, RateLimitKey};
use crate::telemetry;

/// Sources remembered before forgotten ones are swept out (a source is forgotten once its
/// bucket is full again, a few seconds after its last request).
const SWEEP_ABOVE: usize = 10_000;
/// Checks between two looks at whether a sweep is due.
const SWEEP_EVERY: u32 = 1024;

/// One limit (webhooks or staff API), shared by every request it covers.
#[derive(Clone)]
pub struct SourceLimit {
    scope: &'static str,
    key: RateLimitKey,
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    checks: Arc<AtomicU32>,
}

impl SourceLimit {
    /// A limit named `scope` in the metric.
    pub fn new(scope: &'static str, rate: RateLimit, key: RateLimitKey) -> Self {
        let per_sec = NonZeroU32::new(rate.per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
        Self {
            scope,
            key,
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(per_sec).allow_burst(burst),
            )),
            checks: Arc::new(AtomicU32::new(0)),
        }
    }

    /// The address a request counts against.
    fn source(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let claimed = match self.key {
            RateLimitKey::Peer => None,
            RateLimitKey::ForwardedFor => last_forwarded_for(headers),
        };
        bucket_of(claimed.unwrap_or(peer))
    }

    /// `Err(seconds to wait)` when `source` is over its limit.
    fn check(&self, source: IpAddr) -> Result<(), u64> {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
            && self.limiter.len() > SWEEP_ABOVE
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&source).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The middleware: over the limit is 429 with `Retry-After`, before any handler runs. A
/// request without a peer address (built in-process, never from a socket) is not limited.
pub async fn limit(State(limit): State<SourceLimit>, request: Request, next: Next) -> Response {
    let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    else {
        return next.run(request).await;
    };
    let source = limit.source(peer.ip(), request.headers());
    match limit.check(source) {
        Ok(()) => next.run(request).await,
        Err(wait_secs) => {
            metrics::counter!(telemetry::HTTP_RATE_LIMITED, "scope" => limit.scope).increment(1);
            tracing::debug!(%source, scope = limit.scope, "request over the source's rate limit");
            let retry_after = HeaderValue::from(wait_secs.max(1));
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after)],
                "too many requests from this address\n",
            )
                .into_response()
        }
    }
}

/// The last `X-Forwarded-For` entry: the address the nearest proxy (ours) saw. Earlier
/// entries are whatever the client claimed.
fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get_all("x-forwarded-for").iter().next_back()?;
    let last = value.to_str().ok()?.rsplit(',').next()?.trim();
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// IPv6 sources count per /64 (one subscriber's network, which it can fill with addresses);
/// IPv4 addresses mapped into IPv6 count as themselves.
fn bucket_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(key: RateLimitKey) -> SourceLimit {
        SourceLimit::new(
            "test",
            RateLimit {
                per_sec: 1,
                burst: 3,
            },
            key,
        )
    }

    #[test]
    fn a_source_gets_its_burst_then_is_told_when_to_come_back() {
        let limit = limit(RateLimitKey::Peer);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limit.check(a), Ok(()));
        }
        assert_eq!(limit.check(a), Err(1));
        // Another source is not affected.
        assert_eq!(limit.check(b), Ok(()));
    }

    #[test]
    fn ipv6_sources_share_a_bucket_per_64_and_mapped_ipv4_is_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(bucket_of(one), bucket_of(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(bucket_of(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn forwarded_for_counts_the_address_our_proxy_appended_not_the_clients_claim() {
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.4"),
        );
        let by_header = limit(RateLimitKey::ForwardedFor);
        assert_eq!(
            by_header.source(peer, &headers),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
        // Peer keying ignores the header; a garbled header falls back to the peer.
        assert_eq!(limit(RateLimitKey::Peer).source(peer, &headers), peer);
        headers.insert("x-forwarded-for", HeaderValue::from_static("nonsense"));
        assert_eq!(by_header.source(peer, &headers), peer);
    }
}
