//! Who may call, how often, and from which origins.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::StateStore;
use governor::Quota;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::{edge, forwarded, ApiError, AppState};

/// Distinct keys (API tokens, client addresses) the rate limiter holds at most, about 100
/// bytes each (~10 MB). Past it, a key the limiter does not hold shares one quota with every
/// other such key until idle keys are forgotten: clients already known keep their own quota
/// while someone sprays addresses.
pub const RATE_LIMIT_MAX_KEYS: usize = 100_000;
/// Every this many checks, the limiter forgets the keys whose quota has filled up again (they
/// are no different from keys never seen), so its table holds the recently active keys.
const FORGET_EVERY_CHECKS: u64 = 1024;
/// The key of requests from keys the limiter has no room for (keys are `token:…`, `ip:…`).
const OVERFLOW_KEY: &str = "overflow";

type Keyed<C> = governor::RateLimiter<String, BoundedKeys, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Requests per minute, per API token (or per client address without one).
pub struct RateLimiter<C: Clock = DefaultClock> {
    limiter: Option<Keyed<C>>,
    checks: AtomicU64,
}

impl<C: Clock> std::fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimiter")
    }
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter::with_clock(per_minute, RATE_LIMIT_MAX_KEYS, DefaultClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    fn with_clock(per_minute: u32, max_keys: usize, clock: C) -> RateLimiter<C> {
        let store = BoundedKeys {
            map: DashMapStateStore::default(),
            max_keys,
            overflow: OVERFLOW_KEY.to_owned(),
        };
        RateLimiter {
            limiter: NonZeroU32::new(per_minute)
                .map(|n| governor::RateLimiter::new(Quota::per_minute(n), store, clock)),
            checks: AtomicU64::new(0),
        }
    }

    /// Ok, or the seconds to wait.
    fn check(&self, key: &str) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY_CHECKS == FORGET_EVERY_CHECKS - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()).as_secs().max(1))
    }

    /// Keys held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.limiter.as_ref().map_or(0, governor::RateLimiter::len)
    }
}

/// governor's concurrent map of keys with a bound on its size (governor has none: its keyed
/// limiter holds every key until `retain_recent`, and all of them when all are recent).
struct BoundedKeys {
    map: DashMapStateStore<String>,
    max_keys: usize,
    overflow: String,
}

impl StateStore for BoundedKeys {
    type Key = String;

    fn measure_and_replace<T, F, E>(&self, key: &String, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let key = if self.map.contains_key(key) || self.map.len() < self.max_keys {
            key
        } else {
            &self.overflow
        };
        self.map.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<String> for BoundedKeys {
    fn retain_recent(&self, drop_below: Nanos) {
        self.map.retain_recent(drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.map);
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The rate limit key of a client address. An IPv6 client is counted by its /64: one host
/// usually holds a whole /64 and could otherwise pick a fresh address per request.
fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let net = ipnet::Ipv6Net::new(v6, 64).expect("64 is a valid IPv6 prefix length");
            format!("ip:{}", net.trunc())
        }
    }
}

/// The address of the connection's peer (absent when the router is driven without a socket).
fn peer_addr(request: &Request) -> Option<IpAddr> {
    let extensions = request.extensions();
    match extensions.get::<ConnectInfo<edge::Peer>>() {
        Some(ConnectInfo(peer)) => Some(peer.addr.ip()),
        None => extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
    }
}

/// The API token of a request: `X-Auth-Token` (Judge0) or `Authorization: Bearer` (the scheme
/// name in any case, as RFC 7235 has it).
pub fn token(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Authentication and rate limiting for every API route.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    let tokens = &state.config().auth_tokens;
    // Only a configured token names a quota of its own: a made-up one must not buy a fresh
    // quota (nor a new entry in the limiter's table) per request.
    let known = token(request.headers()).filter(|t| tokens.iter().any(|k| constant_time_eq(k, t)));
    let key = match known {
        Some(t) => format!("token:{t}"),
        None => match peer_addr(&request) {
            Some(peer) => address_key(forwarded::client_ip(
                peer,
                request.headers(),
                &state.config().edge.trusted_proxies,
            )),
            None => "ip:unknown".to_string(),
        },
    };
    // Checked before authentication too, so guessing tokens is rate limited per IP.
    if let Err(retry_after_s) = state.0.limiter.check(&key) {
        state.metrics().rate_limited.inc();
        return ApiError::TooManyRequests { retry_after_s }.into_response();
    }
    if !tokens.is_empty() && known.is_none() {
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}

/// Compare without leaking the position of the first difference through timing.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// CORS: none (same origin) by default, a list, or `*`.
pub fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new().allow_methods(Any).allow_headers(Any);
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(Any);
    }
    let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    layer.allow_origin(AllowOrigin::list(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_either_header() {
        let mut h = HeaderMap::new();
        assert_eq!(token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(token(&h), Some("abc"));
        h.insert("x-auth-token", HeaderValue::from_static("xyz"));
        assert_eq!(token(&h), Some("xyz"));
        assert!(constant_time_eq("abc", "abc") && !constant_time_eq("abc", "abd") && !constant_time_eq("a", "ab"));
    }

    #[test]
    fn rate_limit_refuses_past_the_quota() {
        let l = RateLimiter::new(2);
        assert!(l.check("k").is_ok() && l.check("k").is_ok());
        assert!(l.check("k").unwrap_err() >= 1);
        assert!(l.check("other").is_ok());
        assert!(RateLimiter::new(0).check("k").is_ok());
    }

    #[test]
    fn idle_keys_are_forgotten_while_addresses_are_sprayed() {
        use governor::clock::FakeRelativeClock;
        let clock = FakeRelativeClock::default();
        // 600 a minute: one request's worth of quota comes back in 100 ms.
        let l = RateLimiter::with_clock(600, RATE_LIMIT_MAX_KEYS, clock.clone());
        let bound = FORGET_EVERY_CHECKS as usize + 300;
        for i in 0..100_000u32 {
            clock.advance(std::time::Duration::from_millis(1));
            assert!(l.check(&format!("ip:{i}")).is_ok());
            assert!(l.len() <= bound, "{} keys held after {i} requests", l.len());
        }
        // A key in use is remembered: its spent quota is not handed back.
        let l = RateLimiter::with_clock(2, RATE_LIMIT_MAX_KEYS, clock.clone());
        assert!(l.check("busy").is_ok() && l.check("busy").is_ok());
        for i in 0..2 * FORGET_EVERY_CHECKS {
            clock.advance(std::time::Duration::from_millis(1));
            let _ = l.check(&format!("ip:{i}"));
        }
        assert!(l.check("busy").is_err());
    }

    #[test]
    fn past_the_key_cap_unknown_keys_share_one_quota() {
        use governor::clock::FakeRelativeClock;
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(2, 100, clock.clone());
        for i in 0..100 {
            assert!(l.check(&format!("ip:{i}")).is_ok());
        }
        // No time passes, so nothing can be forgotten: the table stays at its cap.
        for i in 100..10_000 {
            let _ = l.check(&format!("ip:{i}"));
        }
        assert!(l.len() <= 101, "{} keys", l.len());
        // Known keys keep their own quota; new ones share the spent overflow quota.
        assert!(l.check("ip:0").is_ok());
        assert!(l.check("ip:0").is_err());
        assert!(l.check("ip:fresh").is_err());
        // Once the keys are idle they are forgotten, and a new key has a quota of its own.
        clock.advance(std::time::Duration::from_secs(120));
        for _ in 0..FORGET_EVERY_CHECKS {
            let _ = l.check("ip:0");
        }
        assert!(l.len() <= 2, "{} keys", l.len());
        assert!(l.check("ip:fresh").is_ok() && l.check("ip:fresh").is_ok());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        assert_eq!(a, "ip:2001:db8:1:2::/64");
        assert_eq!(a, address_key("2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap()));
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(address_key("::ffff:192.0.2.1".parse().unwrap()), "ip:192.0.2.1");
        assert_eq!(address_key("192.0.2.1".parse().unwrap()), "ip:192.0.2.1");
    }
}
