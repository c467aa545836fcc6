//! tiderun's HTTP service: the native API (`/api/v1`), Piston v2 (`/api/v2`, also under
//! `/api/v2/piston`), Judge0 CE 1.13.1 (at the root), WebSockets for interactive runs, health
//! and Prometheus metrics, and the classroom page (`/`, built from `web/` and embedded).
//!
//! Owns: wire formats, authentication, rate limits, body limits, CORS, graceful shutdown, and
//! the background workers of asynchronous (Judge0) submissions.
//! Must never: hold run logic. Every dialect is a thin adapter: it translates its request into
//! one `engine::Job`, has the engine check it (`Engine::check`, before any run slot is taken),
//! hands the checked job to the `engine::Runner` (naming itself as the trigger), and renders
//! the `Outcome` in its own shape. Limits, statuses, verdicts and streaming live in the engine
//! once, and every run is counted once, by the runner reporting it to [`Metrics`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use engine::Runner;
use store::{Queue, Store, WorkQueue};
use tower::Layer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};

mod auth;
mod body;
pub mod classes;
pub mod console;
pub mod edge;
mod error;
pub mod exercise_spec;
pub mod exercise_watch;
mod forwarded;
pub mod gradebook;
mod health;
pub mod judge0;
mod keys;
pub mod ledger;
mod metrics;
pub mod native;
pub mod node;
pub mod oidc;
pub mod openapi;
mod page;
pub mod piston;
pub mod quota;
pub mod session;
mod ws;

pub use auth::{
    required_role, Admin, Caller, CorsOriginError, CorsOrigins, StudentOf, CORS_MAX_AGE, KEY_CACHE_MAX_ENTRIES,
    KEY_CACHE_TTL, WS_AUTH_PROTOCOL_PREFIX, WS_PROTOCOL,
};
pub use body::BODY_READ_TIMEOUT;
pub use edge::EdgeConfig;
pub use error::{ApiError, STORE_FULL, STORE_UNAVAILABLE};
pub use forwarded::parse_trusted_proxy;
pub use ipnet::IpNet;
pub use metrics::Metrics;

/// Request bodies larger than this are refused with 413 (source files plus stdin plus tests).
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 << 20;
/// Requests per minute per API token or client address before 429. A school's classes share
/// one address behind its NAT, and admission control (bounded slots and queue) already
/// protects the node, so this only stops one runaway client: 100 requests a second is a run
/// every 10 s for each of 1000 students behind one address.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 6000;
/// A request body that stalls this long between two chunks is dropped: the client is gone, or
/// trickles bytes to hold a connection. (The body extractor also bounds its total time:
/// [`BODY_READ_TIMEOUT`].)
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping node tries to write the run ledger's last rows.
pub const LEDGER_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything configurable about the service (the binary fills it from flags and
/// `TIDERUN_*` variables).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// API tokens (admins); with any, every API request needs a token or a key.
    pub auth_tokens: Vec<String>,
    /// Every API request needs a key (`--require-keys`), also without `--auth-token`s. Off,
    /// and without tokens, a request without a key is [`Caller::anonymous`].
    pub require_keys: bool,
    pub max_body_bytes: usize,
    /// Requests per minute per token (or per IP without one); 0 disables the limit.
    pub rate_limit_per_minute: u32,
    /// Which pages on other origins may call the API from a browser: any (the default, as in
    /// Judge0), a list, or none; never with credentials.
    pub cors: CorsOrigins,
    /// Judge0: queued submissions beyond this get 503 `{"error":"queue is full"}`.
    pub max_queue_size: usize,
    /// Judge0: background workers running queued submissions.
    pub workers: usize,
    /// Judge0: `DELETE /submissions/{token}` is allowed.
    pub enable_submission_delete: bool,
    /// Judge0: callback URLs may point at loopback, private and link-local addresses. Off by
    /// default, so a submission cannot make the server call into its own network (the lesson
    /// of Judge0's CVE-2024-29021); tests and single-machine setups turn it on.
    pub allow_callbacks: bool,
    /// The teacher's exercises directory, read at start-up ([`exercise_spec::ExerciseDir::load`])
    /// and again when it changes while serving ([`exercise_watch`]).
    pub exercises: Arc<exercise_spec::ExerciseDir>,
    /// Trusted proxies, header and idle timeouts, the connection cap.
    pub edge: EdgeConfig,
    /// This node's name among several (`/workers`, `/metrics`, the lease on what it runs).
    pub node_id: String,
    /// How long a claim on a submission lasts without renewal ([`node::DEFAULT_LEASE`]).
    pub lease: Duration,
    /// How long running jobs may finish after the shutdown signal
    /// ([`node::DEFAULT_DRAIN_TIMEOUT`]).
    pub drain_timeout: Duration,
    /// Students' sign-in through the school's OpenID Connect provider (off when `None`).
    pub oidc: Option<oidc::OidcConfig>,
}

impl ServerConfig {
    /// Whether an API request without a token or key is refused (401).
    pub fn requires_keys(&self) -> bool {
        self.require_keys || !self.auth_tokens.is_empty()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth_tokens: Vec::new(),
            require_keys: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            cors: CorsOrigins::Any,
            max_queue_size: 100,
            workers: 2,
            enable_submission_delete: false,
            allow_callbacks: false,
            exercises: Arc::default(),
            edge: EdgeConfig::default(),
            node_id: node::default_node_id(),
            lease: node::DEFAULT_LEASE,
            drain_timeout: node::DEFAULT_DRAIN_TIMEOUT,
            oidc: None,
        }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    runner: Arc<Runner>,
    store: Store,
    queue: Arc<dyn Queue>,
    node: node::NodeState,
    config: ServerConfig,
    metrics: Metrics,
    live: console::Live,
    limiter: auth::RateLimiter,
    ledger: ledger::Ledger,
    run_limiters: quota::RunLimiters,
    keys: auth::KeyCache,
    exercises: exercise_watch::LiveExercises,
    /// The page sessions' signing secret, read from (or made in) the store on first use.
    session_secret: tokio::sync::OnceCell<[u8; 32]>,
    /// School sign-in's provider (`config.oidc`), discovered on first use.
    oidc: Option<oidc::Provider>,
    started: Instant,
}

impl AppState {
    /// A node with the in-process queue (`--max-queue` tokens).
    pub fn new(runner: Arc<Runner>, store: Store, config: ServerConfig) -> AppState {
        let queue = Arc::new(WorkQueue::new(config.max_queue_size.max(1)));
        AppState::with_queue(runner, store, config, queue)
    }

    /// A node on the given queue (JetStream, shared by several nodes).
    pub fn with_queue(runner: Arc<Runner>, store: Store, config: ServerConfig, queue: Arc<dyn Queue>) -> AppState {
        let limiter = auth::RateLimiter::new(config.rate_limit_per_minute);
        let metrics = Metrics::new(&config.node_id);
        // The one place runs are counted: the runner reports each request it is given.
        runner.observe_with(Arc::new(metrics.clone()));
        // The console's live figures watch the same reports.
        let live = console::Live::default();
        runner.observe_with(Arc::new(live.clone()));
        // The usage, the run log and the run log line: the same reports.
        let ledger = ledger::Ledger::new(&config.node_id, metrics.clone());
        runner.observe_with(Arc::new(ledger.clone()));
        if tokio::runtime::Handle::try_current().is_ok() {
            ledger.start(store.clone());
        }
        AppState(Arc::new(Inner {
            runner,
            store,
            queue,
            node: node::NodeState::default(),
            metrics,
            live,
            limiter,
            ledger,
            run_limiters: quota::RunLimiters::default(),
            keys: auth::KeyCache::new(auth::KEY_CACHE_TTL),
            exercises: exercise_watch::LiveExercises::new(config.exercises.clone()),
            session_secret: tokio::sync::OnceCell::new(),
            oidc: config.oidc.clone().map(oidc::Provider::new),
            config,
            started: Instant::now(),
        }))
    }

    pub fn runner(&self) -> &Arc<Runner> {
        &self.0.runner
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn queue(&self) -> &Arc<dyn Queue> {
        &self.0.queue
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.0.config.node_id
    }

    /// True once the node drains (SIGTERM): `/readyz` answers 503, queued work is left to
    /// other nodes.
    pub fn is_draining(&self) -> bool {
        self.0.node.is_draining()
    }

    /// Start draining: readiness false first, then no more queued work for this node.
    pub fn start_drain(&self) {
        self.0.node.start_drain();
        self.0.queue.close();
    }

    pub(crate) fn node(&self) -> &node::NodeState {
        &self.0.node
    }

    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    /// The exercises of the teacher's directory as they are now.
    pub fn exercises(&self) -> Arc<exercise_spec::ExerciseDir> {
        self.0.exercises.current()
    }

    pub(crate) fn live_exercises(&self) -> &exercise_watch::LiveExercises {
        &self.0.exercises
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// What the console's live figures are made of.
    pub(crate) fn live(&self) -> &console::Live {
        &self.0.live
    }

    /// The run ledger (usage, run log, the CPU used per key today).
    pub fn ledger(&self) -> &ledger::Ledger {
        &self.0.ledger
    }

    pub(crate) fn run_limiters(&self) -> &quota::RunLimiters {
        &self.0.run_limiters
    }

    /// The secret page sessions are signed with, the same on every node of the store.
    /// School sign-in's provider, when it is set up.
    pub(crate) fn oidc(&self) -> Option<&oidc::Provider> {
        self.0.oidc.as_ref()
    }

    pub(crate) async fn session_secret(&self) -> Result<[u8; 32], ApiError> {
        let secret = self
            .0
            .session_secret
            .get_or_try_init(|| self.0.store.shared_secret(session::SESSION_SECRET_NAME))
            .await?;
        Ok(*secret)
    }

    /// Forget the keys this node looked up (after a revocation here).
    pub(crate) fn forget_keys(&self) {
        self.0.keys.clear();
    }

    pub fn uptime(&self) -> Duration {
        self.0.started.elapsed()
    }
}

/// The whole service as one router. It does not trim a trailing slash: that must happen
/// before routing, so [`serve_on`] wraps the router in [`NormalizePath`] (see [`service`]).
pub fn router(state: AppState) -> Router {
    use axum::middleware::from_fn_with_state;
    // The guard of each dialect answers 401 and 429 in that dialect's shape.
    let mut api = Router::new()
        .merge(native::router().layer(from_fn_with_state(state.clone(), auth::guard::<ApiError>)))
        .merge(console::router().layer(from_fn_with_state(state.clone(), auth::guard::<ApiError>)))
        .merge(piston::router().layer(from_fn_with_state(state.clone(), auth::guard::<piston::PistonError>)))
        .merge(judge0::router().layer(from_fn_with_state(state.clone(), auth::guard::<judge0::Judge0Error>)));
    // Outside the guard: a preflight needs no token (browsers send none with it), and a 401
    // or 429 carries the CORS headers, so a page on another origin can read why. Only the
    // APIs: the page, health and metrics are for their own origin and for probes.
    if let Some(cors) = state.config().cors.layer() {
        api = api.layer(cors);
    }
    Router::new()
        .merge(health::router())
        .merge(page::router())
        .merge(api)
        // Each dialect has its own (in its shape); this one is for health and the page.
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        // Bodies are read by one extractor, `body::JsonBody`, which refuses a Content-Length
        // past the limit in the dialect's shape; this bounds the bytes it reads.
        .layer(axum::extract::DefaultBodyLimit::max(state.config().max_body_bytes))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(BODY_IDLE_TIMEOUT))
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            tower_http::request_id::MakeRequestUuid,
        ))
        .with_state(state)
}

/// The service [`serve_on`] serves: the [`router`], with each connection's activity tracked
/// (`edge::track`), behind [`NormalizePath`], which trims a trailing slash (`/submissions/`
/// is `/submissions`, as Rails and Express route it; `/` stays) before the router picks a
/// route — a layer added with `Router::layer` would run only after routing.
pub fn service(state: AppState) -> NormalizePath<Router> {
    NormalizePathLayer::trim_trailing_slash().layer(router(state).layer(axum::middleware::from_fn(edge::track)))
}

/// One span per request, named by its `X-Request-Id` (the caller's, or a new UUID), which the
/// response carries back.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let uri = redact_key_param(request.uri());
    tracing::info_span!("request", method = %request.method(), uri = %uri, request_id = %id)
}

/// A URI as logged: the value of a `key` query parameter (a class link, `/?key=tr_…`) is
/// left out, so a key never reaches a log.
fn redact_key_param(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name == "key" => format!("{name}=[redacted]"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
}

/// Serve on a bound listener until SIGTERM/SIGINT, then stop accepting, let running jobs
/// finish (bounded) and leave queued submissions in the store for the next start.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "tiderun serving");
    serve_on(listener, state, shutdown_signal()).await
}

/// Serve on a bound listener until `shutdown` completes (tests use port 0). Then the node
/// drains: `/readyz` answers 503 and no queued work is taken any more, no new connections,
/// in-flight requests and runs finish — all within the drain timeout of the signal — and the
/// claims still held are given back (queued again for the other nodes; their queue messages
/// are left unacked).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use std::future::IntoFuture;
    let workers = judge0::start_workers(state.clone());
    let exercises = tokio::spawn(exercise_watch::watch(state.clone(), exercise_watch::POLL));
    let listener = edge::EdgeListener::new(listener, &state.config().edge);
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<edge::Peer>(service(
        state.clone(),
    ));
    let (stopping_tx, mut stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let draining = state.clone();
    let signal = async move {
        shutdown.await;
        draining.start_drain();
        let _ = stopping_tx.send(());
    };
    let mut server = std::pin::pin!(axum::serve(listener, app).with_graceful_shutdown(signal).into_future());
    let finished = tokio::select! {
        result = &mut server => {
            result?;
            true
        }
        _ = &mut stopping_rx => false,
    };
    // A client that keeps its connection busy (a stalled body, an endless request) must not
    // hold the shutdown forever.
    let grace = state.config().drain_timeout;
    let deadline = tokio::time::Instant::now() + grace;
    state.start_drain();
    if !finished {
        match tokio::time::timeout_at(deadline, &mut server).await {
            Ok(result) => result?,
            Err(_) => tracing::warn!("connections still open {grace:?} after the signal; leaving them"),
        }
    }
    tracing::info!("shutting down: no new jobs; waiting for running ones");
    exercises.abort();
    state.runner().close();
    state.runner().engine().shutdown_pools();
    // Workers finish what they run (and store its result), then stop; past the deadline
    // what is left is given back.
    let workers_done = workers.finish(deadline).await;
    if !workers_done
        || !state
            .runner()
            .drain(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
    {
        tracing::warn!("running jobs did not finish within {grace:?}");
    }
    judge0::give_back(&state).await;
    // Every run has ended: what the ledger holds goes to the store (bounded: a store that is
    // down does not hold the shutdown).
    if !state.ledger().close(LEDGER_CLOSE_TIMEOUT).await {
        tracing::warn!("the run ledger could not write everything before shutdown");
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_in_a_link_is_not_logged() {
        let uri: axum::http::Uri = "/?lang=python&key=tr_0011aabb_ffff&x=1".parse().unwrap();
        assert_eq!(redact_key_param(&uri), "/?lang=python&key=[redacted]&x=1");
        let uri: axum::http::Uri = "/submissions?wait=true".parse().unwrap();
        assert_eq!(redact_key_param(&uri), "/submissions?wait=true");
        assert_eq!(redact_key_param(&"/s/abc".parse().unwrap()), "/s/abc");
    }
}
