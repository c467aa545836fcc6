//! Who may call, how often, and from which origins.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::time::Duration;
use store::{Quotas, Role};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::StateStore;
use governor::Quota;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

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

/// The API token of a request: `X-Auth-Token` (Judge0), `Authorization: Bearer TOKEN` (the
/// scheme name in any case, as RFC 7235 has it), or a bare `Authorization: TOKEN` (what Piston
/// clients send for a key: ultra-piston, piston_rspy). Another scheme (`Basic ...`) is no token.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())?.trim();
    match value.split_once(' ') {
        Some((scheme, token)) => scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()),
        None => Some(value).filter(|v| !v.is_empty()),
    }
}

/// Who made a request, as [`guard`] found it: in the extensions of every API request, for the
/// handlers (ownership, roles) and the runner's observers (metrics, the run log, metering).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The name of the caller's key; `None` when it gave none (a server that requires none).
    pub key: Option<Arc<str>>,
    /// What it may do. A caller without a key, on a server that requires none, is a
    /// [`Role::Caller`]: what it could do before there were keys, nothing that needs an admin.
    pub role: Role,
    /// Its key's quotas (none for `--auth-token`s and callers without a key).
    pub quotas: Quotas,
}

impl Caller {
    /// A caller without a key (a server that requires none).
    pub fn anonymous() -> Caller {
        Caller {
            key: None,
            role: Role::Caller,
            quotas: Quotas::default(),
        }
    }

    /// The runner's [`engine::Trigger`] for a request of this caller through `api`.
    pub fn trigger(&self, api: &'static str) -> engine::Trigger {
        engine::Trigger::new(api).with_key(self.key.clone())
    }
}

/// The key name of requests made with an `--auth-token` (metering, the run log).
pub const AUTH_TOKEN_KEY: &str = "auth-token";

/// A request of an admin (an admin key or an `--auth-token`); anyone else gets 403. The
/// handlers of the keys, the usage, the run log and the console take it.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Admin, ApiError> {
        match parts.extensions.get::<Caller>() {
            Some(caller) if caller.role == Role::Admin => Ok(Admin(caller.clone())),
            Some(caller) => Err(ApiError::Forbidden(format!(
                "this needs an admin key; {} cannot",
                match &caller.key {
                    Some(key) => format!("the key {key:?} is a {} key and", caller.role),
                    None => "a request without a key".to_owned(),
                }
            ))),
            None => Err(ApiError::Forbidden("this needs an admin key".into())),
        }
    }
}

/// Authentication and rate limiting for every API route; `E` is the dialect's error, so a 401
/// or 429 comes in the shape of the API that was called (Piston `{"message"}`, native and
/// Judge0 `{"error"}`).
pub async fn guard<E>(State(state): State<AppState>, mut request: Request, next: Next) -> Response
where
    E: From<ApiError> + IntoResponse,
{
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
        return E::from(ApiError::TooManyRequests { retry_after_s }).into_response();
    }
    if !tokens.is_empty() && known.is_none() {
        return E::from(ApiError::Unauthorized).into_response();
    }
    let caller = match (known, request.extensions().get::<Caller>()) {
        // Put there by a layer around the router (an embedding, a test): only code can.
        (None, Some(caller)) => caller.clone(),
        // `--auth-token`s are admin tokens.
        (Some(_), _) => Caller {
            key: Some(Arc::from(AUTH_TOKEN_KEY)),
            role: Role::Admin,
            quotas: Quotas::default(),
        },
        (None, None) => Caller::anonymous(),
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Compare without leaking the position of the first difference through timing.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How long a browser may keep a preflight's answer (Judge0's rack-cors default; Chrome keeps
/// one 2 h at most, so a longer value would buy nothing).
pub const CORS_MAX_AGE: Duration = Duration::from_secs(7200);

/// Which pages may call the API from a browser on another origin (CORS). Never with
/// credentials: `Access-Control-Allow-Credentials` is not sent, so browsers attach no cookies
/// to such calls (and refuse `credentials: "include"`); API tokens travel in headers a foreign
/// page does not know. The server README argues why `*` is the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`, the default: Judge0's `ALLOW_ORIGIN` defaults to it, and the Judge0 IDE and other
    /// front ends are pages on their own origins.
    #[default]
    Any,
    /// These origins only, as browsers send them (`https://class.example`, no path).
    Only(Vec<HeaderValue>),
    /// `none`: no CORS headers; only pages of the server's own origin can read its answers.
    Off,
}

/// A `--cors-origin` value that is not `*`, `none` or a list of origins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorsOriginError {
    #[error("{value:?} is not an origin such as https://class.example or http://localhost:5173: {why}")]
    NotAnOrigin { value: String, why: &'static str },
    #[error("`{word}` cannot be combined with other origins")]
    Combined { word: String },
    #[error("an empty origin: use *, none or a list of origins")]
    Empty,
}

impl CorsOrigins {
    /// `*`, `none`, or origins (each `scheme://host[:port]`; a trailing `/` and a default
    /// port are dropped and the whole is lower-cased, since browsers send origins that way and
    /// one written otherwise would never match).
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<CorsOrigins, CorsOriginError> {
        let values: Vec<&str> = values.iter().map(|v| v.as_ref().trim()).collect();
        if values.is_empty() || values.contains(&"") {
            return Err(CorsOriginError::Empty);
        }
        for (word, origins) in [("*", CorsOrigins::Any), ("none", CorsOrigins::Off)] {
            if values.iter().any(|v| v.eq_ignore_ascii_case(word)) {
                if values.len() > 1 {
                    return Err(CorsOriginError::Combined { word: word.into() });
                }
                return Ok(origins);
            }
        }
        values
            .into_iter()
            .map(parse_origin)
            .collect::<Result<_, _>>()
            .map(CorsOrigins::Only)
    }

    /// The layer answering preflights and marking answers; `None` for [`CorsOrigins::Off`].
    pub fn layer(&self) -> Option<CorsLayer> {
        let origins = match self {
            CorsOrigins::Any => AllowOrigin::any(),
            CorsOrigins::Only(list) => AllowOrigin::list(list.clone()),
            CorsOrigins::Off => return None,
        };
        Some(
            CorsLayer::new()
                .allow_origin(origins)
                // Mirrored rather than `*`: the Fetch standard does not let `*` cover
                // `Authorization` (the Judge0 IDE's key), and older browsers know no `*`.
                .allow_methods(AllowMethods::mirror_request())
                .allow_headers(AllowHeaders::mirror_request())
                // What a page needs to read to back off or to report a request.
                .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
                .max_age(CORS_MAX_AGE),
        )
    }
}

/// One origin as a browser sends it in `Origin`.
fn parse_origin(value: &str) -> Result<HeaderValue, CorsOriginError> {
    let refuse = |why| {
        Err(CorsOriginError::NotAnOrigin {
            value: value.to_owned(),
            why,
        })
    };
    if value.eq_ignore_ascii_case("null") {
        return refuse("`null` is the origin of every sandboxed page and file: URL; it cannot be allowed");
    }
    let Ok(uri) = value.parse::<Uri>() else {
        return refuse("not a URL");
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return refuse("an origin is a scheme and a host");
    };
    if authority.as_str().contains('@') {
        return refuse("an origin has no user name");
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return refuse("an origin has no path");
    }
    let scheme = scheme.to_ascii_lowercase();
    let host = authority.host().to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let origin = match authority.port_u16() {
        Some(port) if Some(port) != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    };
    HeaderValue::from_str(&origin).or_else(|_| refuse("not a header value"))
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
        // A bare key, as Piston clients send it.
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("abc"));
        assert_eq!(token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(" "));
        assert_eq!(token(&h), None);
        h.insert("x-auth-token", HeaderValue::from_static("xyz"));
        assert_eq!(token(&h), Some("xyz"));
        assert!(constant_time_eq("abc", "abc") && !constant_time_eq("abc", "abd") && !constant_time_eq("a", "ab"));
    }

    #[test]
    fn cors_origins_are_any_none_or_origins_as_browsers_send_them() {
        assert_eq!(CorsOrigins::default(), CorsOrigins::Any);
        assert_eq!(CorsOrigins::parse(&["*"]), Ok(CorsOrigins::Any));
        assert_eq!(CorsOrigins::parse(&[" none "]), Ok(CorsOrigins::Off));
        assert_eq!(CorsOrigins::parse(&["NONE"]), Ok(CorsOrigins::Off));
        let only =
            |list: &[&'static str]| CorsOrigins::Only(list.iter().map(|o| HeaderValue::from_static(o)).collect());
        assert_eq!(
            CorsOrigins::parse(&[
                "https://Class.Example/",
                "http://localhost:5173",
                "https://a.example:443"
            ]),
            Ok(only(&[
                "https://class.example",
                "http://localhost:5173",
                "https://a.example"
            ]))
        );
        assert_eq!(
            CorsOrigins::parse(&["http://[::1]:8080"]),
            Ok(only(&["http://[::1]:8080"]))
        );
        assert_eq!(
            CorsOrigins::parse(&["*", "https://a.example"]),
            Err(CorsOriginError::Combined { word: "*".into() })
        );
        assert_eq!(
            CorsOrigins::parse(&["https://a.example", "none"]),
            Err(CorsOriginError::Combined { word: "none".into() })
        );
        assert_eq!(CorsOrigins::parse::<&str>(&[]), Err(CorsOriginError::Empty));
        assert_eq!(CorsOrigins::parse(&[""]), Err(CorsOriginError::Empty));
        assert_eq!(
            CorsOrigins::parse(&["https://a.example", " "]),
            Err(CorsOriginError::Empty)
        );
        for bad in [
            "class.example",
            "https://a.example/ide",
            "https://u@a.example",
            "null",
            "https://a.example?x=1",
        ] {
            let e = CorsOrigins::parse(&[bad]).unwrap_err();
            assert!(matches!(e, CorsOriginError::NotAnOrigin { .. }), "{bad}: {e}");
            assert!(
                e.to_string().contains("is not an origin such as https://class.example"),
                "{e}"
            );
        }
        assert!(CorsOrigins::Off.layer().is_none());
        assert!(CorsOrigins::Any.layer().is_some());
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
