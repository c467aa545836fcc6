//! Who may call, how often, and from which origins.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::time::Duration;
use store::{ApiKey, KeyState, Quotas, Role};

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

use crate::{edge, forwarded, session, ApiError, AppState};

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

/// Who a request with a student session is: in the extensions of its request beside its
/// [`Caller`] (whose role is then [`Role::Student`] and whose key is the class owner's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentOf {
    /// The student's id.
    pub id: Arc<str>,
    /// The id of the student's class.
    pub class: Arc<str>,
}

/// The key name of requests made with an `--auth-token` (metering, the run log).
pub const AUTH_TOKEN_KEY: &str = store::RESERVED_KEY_NAME;

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

/// How long a node trusts what it looked up about a key (or a token that is no key): a key
/// revoked on any node stops working on every node within this time, and an unknown token
/// costs at most one database query per this time per node (and is rate limited per client
/// address before that query).
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(10);
/// Tokens and key names the cache holds at most (about 300 bytes each, ~3 MB): past it the
/// least recently used are forgotten.
pub const KEY_CACHE_MAX_ENTRIES: usize = 10_000;

/// Stored keys as recently looked up, by the hash of their secret (a request's key) and by
/// name (a page session's key); `None` for a token that is no key.
pub(crate) struct KeyCache {
    by_hash: std::sync::Mutex<lru::LruCache<String, (std::time::Instant, Option<ApiKey>)>>,
    by_name: std::sync::Mutex<lru::LruCache<String, (std::time::Instant, Option<ApiKey>)>>,
    ttl: Duration,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache")
    }
}

/// A fresh entry of one of the cache's maps: `Some(found)` or `None` (not cached or stale).
type Lookup = Option<Option<ApiKey>>;

impl KeyCache {
    pub(crate) fn new(ttl: Duration) -> KeyCache {
        let cap = std::num::NonZeroUsize::new(KEY_CACHE_MAX_ENTRIES).expect("not zero");
        KeyCache {
            by_hash: std::sync::Mutex::new(lru::LruCache::new(cap)),
            by_name: std::sync::Mutex::new(lru::LruCache::new(cap)),
            ttl,
        }
    }

    fn get(
        map: &std::sync::Mutex<lru::LruCache<String, (std::time::Instant, Option<ApiKey>)>>,
        k: &str,
        ttl: Duration,
    ) -> Lookup {
        let mut map = map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(k) {
            Some((at, found)) if at.elapsed() < ttl => Some(found.clone()),
            _ => None,
        }
    }

    fn put(
        map: &std::sync::Mutex<lru::LruCache<String, (std::time::Instant, Option<ApiKey>)>>,
        k: String,
        found: Option<ApiKey>,
    ) {
        let mut map = map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.put(k, (std::time::Instant::now(), found));
    }

    /// Forget everything (this node learns of a revocation at once; others within the TTL).
    pub(crate) fn clear(&self) {
        for map in [&self.by_hash, &self.by_name] {
            map.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        }
    }
}

/// Who a request's token names, once looked up.
enum Found {
    /// An `--auth-token`.
    AuthToken,
    /// A caller with a working key or page session.
    Caller(Caller),
    /// A student with a working student session (a caller of the class owner's key).
    Student(Caller, StudentOf),
    /// A key (or the key of a page session) that exists but does not work: why, for the 401.
    Refused(String),
    /// No token, or one that is none of the above.
    Nobody,
}

/// The token of a request: its headers' ([`token`]) or, for a WebSocket handshake from a
/// browser (which cannot set headers), the subprotocol `tiderun.auth.TOKEN` it offers
/// beside `tiderun.v1`.
fn request_token(headers: &HeaderMap) -> Option<&str> {
    token(headers).or_else(|| {
        headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find_map(|p| p.trim().strip_prefix(WS_AUTH_PROTOCOL_PREFIX))
            .filter(|t| !t.is_empty())
    })
}

/// The subprotocol a browser's WebSocket carries its token in: `tiderun.auth.<token>`.
pub const WS_AUTH_PROTOCOL_PREFIX: &str = "tiderun.auth.";
/// The subprotocol the server answers a WebSocket that offered it (with the token).
pub const WS_PROTOCOL: &str = "tiderun.v1";

/// The rate limit key of a request without a token the server knows: its client's address.
fn client_key(state: &AppState, request: &Request) -> String {
    match peer_addr(request) {
        Some(peer) => address_key(forwarded::client_ip(
            peer,
            request.headers(),
            &state.config().edge.trusted_proxies,
        )),
        None => "ip:unknown".to_string(),
    }
}

/// A rate-limit refusal, counted.
fn limited(state: &AppState, key: &str) -> Result<(), ApiError> {
    state.0.limiter.check(key).map_err(|retry_after_s| {
        state.metrics().rate_limited.inc();
        ApiError::TooManyRequests { retry_after_s }
    })
}

/// The caller of a stored key, or why it does not work.
fn key_caller(key: &ApiKey, role: Role) -> Found {
    match key.state(chrono::Utc::now()) {
        KeyState::Active => Found::Caller(Caller {
            key: Some(Arc::from(key.name.as_str())),
            role,
            quotas: key.quotas,
        }),
        KeyState::Expired => Found::Refused(format!(
            "the key {:?} expired at {}; ask for a new one",
            key.name,
            key.expires_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        )),
        KeyState::Revoked => Found::Refused(format!("the key {:?} was revoked; ask for a new one", key.name)),
    }
}

/// Look up a token that is not an `--auth-token`. A lookup the cache cannot answer is rate
/// limited by client address first, so sprayed tokens cost at most the limiter's quota of
/// queries; `charged` is set when it was.
async fn find(state: &AppState, client: &str, token: &str, charged: &mut bool) -> Result<Found, ApiError> {
    let cache = &state.0.keys;
    if token.starts_with(session::STUDENT_SESSION_MARK) {
        return find_student(state, token).await;
    }
    if token.starts_with(session::SESSION_MARK) {
        let secret = state.session_secret().await?;
        let session = match session::verify(&secret, token, chrono::Utc::now()) {
            Ok(s) => s,
            Err(session::Refused::Expired) => {
                return Ok(Found::Refused(
                    "the page session expired; open the class link again".into(),
                ))
            }
            Err(session::Refused::Invalid) => return Ok(Found::Nobody),
        };
        let found = match KeyCache::get(&cache.by_name, &session.key, cache.ttl) {
            Some(found) => found,
            None => {
                *charged = true;
                limited(state, client)?;
                let found = state.store().get_key(&session.key).await?;
                KeyCache::put(&cache.by_name, session.key.clone(), found.clone());
                found
            }
        };
        return Ok(match found {
            Some(key) => key_caller(&key, session::session_role(key.role)),
            None => Found::Nobody,
        });
    }
    if !store::looks_like_key(token) {
        return Ok(Found::Nobody);
    }
    let hash = store::key_hash(token);
    let found = match KeyCache::get(&cache.by_hash, &hash, cache.ttl) {
        Some(found) => found,
        None => {
            *charged = true;
            limited(state, client)?;
            let found = state.store().find_key(token).await?;
            KeyCache::put(&cache.by_hash, hash, found.clone());
            found
        }
    };
    Ok(match found {
        Some(key) => key_caller(&key, key.role),
        None => Found::Nobody,
    })
}

/// The student a student session names, as the caller of its class owner's key (quotas,
/// metering). Looked up in the store on every request (a removed student stops at once);
/// only a token this deployment signed gets that far, so the lookup is not charged to the
/// client's address (a class behind one school address would share one quota).
async fn find_student(state: &AppState, token: &str) -> Result<Found, ApiError> {
    let secret = state.session_secret().await?;
    let id = match session::verify_student(&secret, token, chrono::Utc::now()) {
        Ok(id) => id,
        Err(session::Refused::Expired) => {
            return Ok(Found::Refused(
                "the student session expired; sign in again with your login code".into(),
            ))
        }
        Err(session::Refused::Invalid) => return Ok(Found::Nobody),
    };
    let store = state.store();
    let Some(student) = store.get_student(&id).await? else {
        return Ok(Found::Refused(
            "this student is no longer in the class; ask the teacher".into(),
        ));
    };
    let Some(class) = store.get_class(&student.class_id).await? else {
        return Ok(Found::Nobody);
    };
    let student = StudentOf {
        id: Arc::from(student.id.as_str()),
        class: Arc::from(class.id.as_str()),
    };
    if class.owner == AUTH_TOKEN_KEY {
        let caller = Caller {
            key: Some(Arc::from(AUTH_TOKEN_KEY)),
            role: Role::Student,
            quotas: Quotas::default(),
        };
        return Ok(Found::Student(caller, student));
    }
    let cache = &state.0.keys;
    let found = match KeyCache::get(&cache.by_name, &class.owner, cache.ttl) {
        Some(found) => found,
        None => {
            let found = store.get_key(&class.owner).await?;
            KeyCache::put(&cache.by_name, class.owner.clone(), found.clone());
            found
        }
    };
    Ok(match found.map(|key| key_caller(&key, Role::Student)) {
        Some(Found::Caller(caller)) => Found::Student(caller, student),
        Some(Found::Refused(_)) => Found::Refused("the class's teacher key no longer works; ask the teacher".into()),
        _ => Found::Nobody,
    })
}

/// Authentication, rate limiting and roles for every API route; `E` is the dialect's error,
/// so a 401, 403 or 429 comes in the shape of the API that was called (Piston `{"message"}`,
/// native and Judge0 `{"error"}`).
///
/// A request's token is an `--auth-token` (an admin), a stored key (its role), or a page
/// session (its key, as a classroom). A key is required when `--auth-token`s are set or with
/// `--require-keys`; otherwise a request without one is [`Caller::anonymous`], and one with a
/// key is still that key's caller (roles and metering hold on an open server too). A key
/// that expired or was revoked is a 401 that says so, required or not.
pub async fn guard<E>(State(state): State<AppState>, mut request: Request, next: Next) -> Response
where
    E: From<ApiError> + IntoResponse,
{
    if request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    // The request's body is not `Sync`: what authentication needs is taken out first.
    let client = client_key(&state, &request);
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let preset = request.extensions().get::<Caller>().cloned();
    match authenticate(&state, request.headers(), preset, &client, &method, &path).await {
        Ok((caller, student)) => {
            request.extensions_mut().insert(caller);
            if let Some(student) = student {
                request.extensions_mut().insert(student);
            }
            next.run(request).await
        }
        Err(e) => E::from(e).into_response(),
    }
}

async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    preset: Option<Caller>,
    client: &str,
    method: &Method,
    path: &str,
) -> Result<(Caller, Option<StudentOf>), ApiError> {
    let config = state.config();
    let tokens = &config.auth_tokens;
    let token = request_token(headers);
    // Whether this request was counted against its client's address already.
    let mut charged = false;
    let found = match token {
        // Only a configured token names a quota of its own: a made-up one must not buy a
        // fresh quota (nor a new entry in the limiter's table) per request.
        Some(t) if tokens.iter().any(|k| constant_time_eq(k, t)) => {
            limited(state, &format!("token:{t}"))?;
            Found::AuthToken
        }
        Some(t) => find(state, client, t, &mut charged).await?,
        None => Found::Nobody,
    };
    // A caller put there by a layer around the router (an embedding, a test): only code can.
    if let (Found::Nobody, Some(caller)) = (&found, preset) {
        allowed(&caller, method, path)?;
        return Ok((caller, None));
    }
    let mut student = None;
    let caller = match found {
        Found::AuthToken => Caller {
            key: Some(Arc::from(AUTH_TOKEN_KEY)),
            role: Role::Admin,
            quotas: Quotas::default(),
        },
        Found::Caller(caller) => {
            // A key's requests are counted to the key, wherever they come from.
            let name = caller.key.as_deref().unwrap_or_default();
            limited(state, &format!("key:{name}"))?;
            caller
        }
        Found::Student(caller, of) => {
            // A student's requests are counted to the student (a class shares its key).
            limited(state, &format!("student:{}", of.id))?;
            student = Some(of);
            caller
        }
        Found::Refused(why) => {
            if !charged {
                limited(state, client)?;
            }
            return Err(ApiError::KeyRefused(why));
        }
        Found::Nobody => {
            // Checked before refusing too, so guessing tokens is rate limited per address.
            if !charged {
                limited(state, client)?;
            }
            // A class's join code or a student's login code is the credential of these.
            if config.requires_keys() && !crate::classes::signs_in(method, path) && !crate::oidc::signs_in(method, path)
            {
                return Err(ApiError::Unauthorized);
            }
            Caller::anonymous()
        }
    };
    allowed(&caller, method, path)?;
    Ok((caller, student))
}

/// The least role a route needs. The one table of who may do what: `classroom` may run code
/// (the native run and both WebSockets), read the runtimes (also Piston's and Judge0's
/// lists), open, list and submit to exercises, save and open snippets, and make a page
/// session; posting, deleting and reading the full definition of exercises needs a
/// `teacher`, `caller` or `admin` key (a teacher only its own: `native/exercise_routes.rs`);
/// the keys, usage, run log and console are for admins; school sign-in (`/api/v1/oidc…`) is
/// for anyone; everything else (Piston's execute, Judge0's submissions and system endpoints)
/// needs a `caller`. Classes (`/api/v1/classes…`) check their own roles: a teacher's class for
/// its owner and admins, a student's own submissions for the student.
pub fn required_role(method: &Method, path: &str) -> Role {
    const ADMIN_PREFIXES: [&str; 4] = ["/api/v1/keys", "/api/v1/usage", "/api/v1/runs", "/api/v1/console"];
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if ADMIN_PREFIXES.iter().any(|p| under(p)) {
        return Role::Admin;
    }
    let read = *method == Method::GET || *method == Method::HEAD;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let classroom = matches!(
        (read, *method == Method::POST, segments.as_slice()),
        (true, _, ["api", "v1", "runtimes" | "ws" | "openapi.json" | "exercises"])
            | (true, _, ["api", "v1", "exercises" | "snippets", _])
            | (_, _, ["api", "v1", "classes", ..])
            | (_, _, ["api", "v1", "oidc", ..])
            | (_, true, ["api", "v1", "run" | "snippets" | "session"])
            | (_, true, ["api", "v1", "exercises", _, "submit"])
            | (true, _, ["api", "v2", "runtimes" | "connect"])
            | (true, _, ["api", "v2", "piston", "runtimes" | "connect"])
            | (true, _, ["languages"])
            | (true, _, ["languages", _])
    );
    let teacher = matches!(
        (method, segments.as_slice()),
        (&Method::POST, ["api", "v1", "exercises"])
            | (&Method::DELETE, ["api", "v1", "exercises", _])
            | (&Method::GET, ["api", "v1", "exercises", _, "definition"])
    );
    if classroom {
        Role::Classroom
    } else if teacher {
        Role::Teacher
    } else {
        Role::Caller
    }
}

/// Whether a role includes another's rights (admin ⊃ caller ⊃ classroom; a teacher and a
/// student have the classroom's rights besides their classes').
fn rank(role: Role) -> u8 {
    match role {
        Role::Classroom | Role::Teacher | Role::Student => 0,
        Role::Caller => 1,
        Role::Admin => 2,
    }
}

/// 403 when the caller's role is less than the route needs ([`required_role`]).
fn allowed(caller: &Caller, method: &Method, path: &str) -> Result<(), ApiError> {
    let needed = required_role(method, path);
    // A teacher's routes are also a caller's (teachers are beside callers, not above them).
    let teacher = needed == Role::Teacher && matches!(caller.role, Role::Teacher | Role::Caller | Role::Admin);
    if teacher || (needed != Role::Teacher && rank(caller.role) >= rank(needed)) {
        return Ok(());
    }
    let who = match &caller.key {
        Some(key) => format!("the key {key:?} is a {} key", caller.role),
        None => "a request without a key cannot".to_owned(),
    };
    Err(ApiError::Forbidden(match needed {
        Role::Admin => format!("this needs an admin key; {who}"),
        Role::Teacher => format!("this needs a teacher, caller or admin key; {who}"),
        _ => format!("this needs a caller or admin key; {who}, which may only run code, read runtimes, open exercises and save snippets"),
    }))
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
