//! Who may call, how often, and from which origins.

use std::net::SocketAddr;
use std::num::NonZeroU32;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::{ApiError, AppState};

/// Requests per minute, per API token (or per client IP without one).
pub struct RateLimiter(Option<DefaultKeyedRateLimiter<String>>);

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimiter")
    }
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter(NonZeroU32::new(per_minute).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))))
    }

    /// Ok, or the seconds to wait.
    fn check(&self, key: &str) -> Result<(), u64> {
        let Some(limiter) = &self.0 else { return Ok(()) };
        limiter.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            wait.as_secs().max(1)
        })
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
        None => match request.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
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
}
