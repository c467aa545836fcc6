//! `tiderun serve`: the service on its embedded defaults (SQLite under ./tiderun-data,
//! 127.0.0.1:8080, the classroom page at `/`, exercises from ./exercises when it exists),
//! every setting also from a `TIDERUN_*` variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use engine::{BuildCache, Engine, PoolConfig, RequestLimits, Runner, RunnerConfig};
use sandbox::Sandbox;
use server::{AppState, ServerConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: one the system picks; the first line printed names it).
    #[arg(long, env = "TIDERUN_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Where the SQLite database lives (when no --database-url is given).
    #[arg(long, env = "TIDERUN_DATA_DIR", default_value = "tiderun-data")]
    data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "TIDERUN_DATABASE_URL")]
    database_url: Option<String>,
    /// An admin API token (repeat for several; comma-separated in the variable). With any,
    /// every API request needs a token or a key (`tiderun keys create`).
    #[arg(long = "auth-token", env = "TIDERUN_AUTH_TOKENS", value_delimiter = ',')]
    auth_tokens: Vec<String>,
    /// Every API request needs a key (`tiderun keys create`) or an --auth-token; without
    /// either flag a request without one runs as an anonymous caller. Recommended for any
    /// server reachable from the internet.
    #[arg(long, env = "TIDERUN_REQUIRE_KEYS")]
    require_keys: bool,
    /// Jobs running at once (default: 4 per core).
    #[arg(long, env = "TIDERUN_MAX_CONCURRENT")]
    max_concurrent: Option<usize>,
    /// Jobs waiting for a slot before new ones get 429.
    #[arg(long, env = "TIDERUN_MAX_WAITING", default_value_t = 256)]
    max_waiting: usize,
    /// Seconds a job may wait for a slot.
    #[arg(long, env = "TIDERUN_MAX_WAIT_S", default_value_t = 10)]
    max_wait_s: u64,
    /// Queued asynchronous submissions before 503 "queue is full".
    #[arg(long, env = "TIDERUN_MAX_QUEUE", default_value_t = 100)]
    max_queue: usize,
    /// Requests per minute per API token, or per client address without one (0: no limit).
    /// The default suits a school whose classes share one address: admission control
    /// (--max-concurrent, --max-waiting) protects the node, this only stops a runaway client.
    #[arg(long, env = "TIDERUN_RATE_LIMIT", default_value_t = server::DEFAULT_RATE_LIMIT_PER_MINUTE)]
    rate_limit: u32,
    /// A reverse proxy or ingress (CIDR or address; repeat for several, comma-separated in the
    /// variable) whose Forwarded / X-Forwarded-For name the client. None: those headers are
    /// ignored and a request counts as its connection's address.
    #[arg(long = "trusted-proxy", env = "TIDERUN_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = server::parse_trusted_proxy)]
    trusted_proxies: Vec<server::IpNet>,
    /// Seconds a client has to send a request's header (from its first byte; on a new
    /// connection from the connect); slower ones are disconnected (at most 120).
    #[arg(long, env = "TIDERUN_HEADER_READ_TIMEOUT_S",
          default_value_t = server::edge::DEFAULT_HEADER_READ_TIMEOUT.as_secs())]
    header_read_timeout_s: u64,
    /// Seconds a keep-alive connection may wait for its next request (at most 3600).
    #[arg(long, env = "TIDERUN_IDLE_TIMEOUT_S", default_value_t = server::edge::DEFAULT_IDLE_TIMEOUT.as_secs())]
    idle_timeout_s: u64,
    /// Connections open at once, WebSockets included; past it new ones wait until one closes
    /// (at most 65536; each holds a file descriptor: keep it below `ulimit -n`).
    #[arg(long, env = "TIDERUN_MAX_CONNECTIONS", default_value_t = server::edge::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Largest request body in bytes.
    #[arg(long, env = "TIDERUN_MAX_BODY_BYTES", default_value_t = server::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Which web pages on other origins may call the APIs from a browser (CORS): `*` any (as
    /// Judge0's ALLOW_ORIGIN; the Judge0 IDE needs it), origins (repeat or comma-separate
    /// them: https://class.example,http://localhost:5173), or `none` (only pages the server
    /// serves itself). Never with credentials: browsers send no cookies with such calls.
    #[arg(
        long = "cors-origin",
        env = "TIDERUN_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = "*"
    )]
    cors_origins: Vec<String>,
    /// Allow Judge0's DELETE /submissions/{token}.
    #[arg(long, env = "TIDERUN_ENABLE_SUBMISSION_DELETE")]
    enable_submission_delete: bool,
    /// Let Judge0 callback URLs reach loopback and private addresses (off: refused).
    #[arg(long, env = "TIDERUN_ALLOW_PRIVATE_CALLBACKS")]
    allow_private_callbacks: bool,
    /// Background workers for queued submissions.
    #[arg(long, env = "TIDERUN_WORKERS", default_value_t = 2)]
    workers: usize,
    /// Seconds without a run after which warm pools drain to zero (their minimum).
    #[arg(long, env = "TIDERUN_POOL_IDLE_S", default_value_t = engine::DEFAULT_POOL_IDLE.as_secs())]
    pool_idle_s: u64,
    /// Seconds an unused warm instance (a zygote) lives before it is recycled.
    #[arg(long, env = "TIDERUN_POOL_MAX_AGE_S", default_value_t = engine::DEFAULT_MAX_AGE.as_secs())]
    pool_max_age_s: u64,
    /// MiB the node may give to runs: memory limits of warm and running instances together
    /// (default: three quarters of the machine's memory).
    #[arg(long, env = "TIDERUN_MEMORY_BUDGET_MB")]
    memory_budget_mb: Option<u64>,
    /// Most fork servers per runtime whose file declares one (Python, Perl): each an interpreter
    /// started once that forks a child per run, one run at a time; their number follows the
    /// runs in flight (0: none; runs use zygotes). At most 64.
    #[arg(long, env = "TIDERUN_FORK_SERVERS", default_value_t = engine::DEFAULT_FORK_SERVERS)]
    fork_servers: usize,
    /// Fork servers kept per runtime while the node is idle (at most --fork-servers; default
    /// 1, or 0 with --fork-servers 0).
    #[arg(long, env = "TIDERUN_FORK_SERVERS_MIN")]
    fork_servers_min: Option<usize>,
    /// Runs a fork server forks before it is replaced (at most 100000).
    #[arg(long, env = "TIDERUN_FORK_SERVER_MAX_RUNS", default_value_t = engine::DEFAULT_FORK_SERVER_MAX_RUNS)]
    fork_server_max_runs: u64,
    /// Seconds a fork server serves before it is replaced (at most 3600).
    #[arg(long, env = "TIDERUN_FORK_SERVER_MAX_AGE_S", default_value_t = engine::DEFAULT_FORK_SERVER_MAX_AGE.as_secs())]
    fork_server_max_age_s: u64,
    /// Start every run cold: no warm pools, no zygotes.
    #[arg(long, env = "TIDERUN_NO_WARM_POOLS")]
    no_warm_pools: bool,
    /// MiB of compiled programs kept in memory, so resubmitted code is not compiled again
    /// (0: no cache).
    #[arg(long, env = "TIDERUN_BUILD_CACHE_MB", default_value_t = engine::DEFAULT_BUILD_CACHE_MIB)]
    build_cache_mb: u64,
    /// Precompile the standard headers runtime files list (C++: <bits/stdc++.h>, <iostream>)
    /// once per toolchain, in the background at start-up, and compile a program whose first
    /// line includes one against it (`false`: every compile parses its headers). Needs root.
    #[arg(long, env = "TIDERUN_PRECOMPILED_HEADERS", default_value_t = true, action = clap::ArgAction::Set)]
    precompiled_headers: bool,
    /// Where precompiled headers are kept, one directory per runtime, bound read-only into
    /// compiles: not below /tmp, /work, /proc or /dev, which the sandbox mounts itself (default:
    /// `precompiled` in --data-dir, when that is allowed).
    #[arg(long, env = "TIDERUN_PRECOMPILED_HEADERS_DIR")]
    precompiled_headers_dir: Option<PathBuf>,
    /// MiB of output one request may make the server hold, counted as the JSON text of its
    /// runs' stdout and stderr (a control character is six bytes, `\u0001`); past it a run is
    /// cut (`output_limit`) and the runs not started get `output_limit` with "not run:". A
    /// Judge0 batch shares one. Reserved in the node's memory budget while it is held.
    #[arg(long, env = "TIDERUN_REQUEST_OUTPUT_MB", default_value_t = engine::DEFAULT_REQUEST_OUTPUT_BYTES >> 20)]
    request_output_mb: u64,
    /// Seconds one request may hold a run slot, its compile and all its tests or runs
    /// together (a compile keeps its own limit); past it a run is cut (`wall_time_limit`)
    /// and the runs not started get `wall_time_limit` with "not run:".
    #[arg(long, env = "TIDERUN_REQUEST_WALL_S", default_value_t = engine::DEFAULT_REQUEST_WALL.as_secs())]
    request_wall_s: u64,
    /// A directory of exercises, one `<id>.toml` each, read at start-up (a bad file stops
    /// it). Default: `exercises` in the current directory, when there is one.
    #[arg(long, env = "TIDERUN_EXERCISES_DIR")]
    exercises_dir: Option<PathBuf>,
    /// The NATS server whose JetStream holds the queue of asynchronous submissions, shared by
    /// every node (`nats://HOST:PORT`, several comma-separated). None: an in-process queue.
    #[arg(long, env = "TIDERUN_QUEUE_URL")]
    queue_url: Option<String>,
    /// This node's name among several: in Judge0's /workers, the metrics' tiderun_node_info and
    /// the lease on what it runs (letters, digits, '.', '-', '_'). Default: the host name (a
    /// pod's name in Kubernetes).
    #[arg(long, env = "TIDERUN_NODE_ID")]
    node_id: Option<String>,
    /// Seconds running jobs may finish after SIGTERM (at most 600); then what is left is given
    /// back to the other nodes.
    #[arg(long, env = "TIDERUN_DRAIN_TIMEOUT_S", default_value_t = server::node::DEFAULT_DRAIN_TIMEOUT.as_secs())]
    drain_timeout_s: u64,
    /// Seconds a claim on a submission lasts without renewal (2 to 600): a node that stops is
    /// replaced this long after its last renewal. With --queue-url the queue's ack wait is twice
    /// this (the last node started sets it).
    #[arg(long, env = "TIDERUN_LEASE_S", default_value_t = server::node::DEFAULT_LEASE.as_secs())]
    lease_s: u64,
    /// The school's OpenID Connect provider (its issuer URL) students may sign in with, e.g.
    /// https://login.school.example/realms/students. None: school sign-in is off. The client
    /// secret is read from TIDERUN_OIDC_CLIENT_SECRET or --oidc-client-secret-file, never the
    /// command line.
    #[arg(long, env = "TIDERUN_OIDC_ISSUER", requires_all = ["oidc_client_id", "public_url"])]
    oidc_issuer: Option<String>,
    /// This server's client id at the provider.
    #[arg(long, env = "TIDERUN_OIDC_CLIENT_ID")]
    oidc_client_id: Option<String>,
    /// A file holding the client secret (its first line). Without it or the variable the
    /// server is a public client (PKCE alone).
    #[arg(long, env = "TIDERUN_OIDC_CLIENT_SECRET_FILE")]
    oidc_client_secret_file: Option<PathBuf>,
    /// The ID token claim a new student's display name is read from (preferred_username when
    /// the token has none).
    #[arg(long, env = "TIDERUN_OIDC_NAME_CLAIM", default_value = "name")]
    oidc_name_claim: String,
    /// School sign-ins under way held at most (1 to 100000).
    #[arg(long, env = "TIDERUN_OIDC_MAX_PENDING", default_value_t = server::oidc::DEFAULT_MAX_PENDING_LOGINS)]
    oidc_max_pending: u64,
    /// Seconds a student has to finish signing in at the provider (1 to 3600).
    #[arg(long, env = "TIDERUN_OIDC_LOGIN_LIFETIME_S",
          default_value_t = server::oidc::DEFAULT_LOGIN_LIFETIME.as_secs())]
    oidc_login_lifetime_s: u64,
    /// The server's address as browsers reach it (https://class.example, behind a proxy its
    /// public address): school sign-in's redirect URI is PUBLIC_URL/api/v1/oidc/callback.
    #[arg(long, env = "TIDERUN_PUBLIC_URL")]
    public_url: Option<String>,
}

/// The variable the OpenID Connect client secret is read from.
const OIDC_SECRET_VAR: &str = "TIDERUN_OIDC_CLIENT_SECRET";

/// School sign-in's settings from the flags, the secret from its file or variable.
fn oidc_config(a: &ServeArgs) -> anyhow::Result<Option<server::oidc::OidcConfig>> {
    let Some(issuer) = &a.oidc_issuer else {
        return Ok(None);
    };
    let secret = match &a.oidc_client_secret_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--oidc-client-secret-file {}", path.display()))?;
            Some(text.lines().next().unwrap_or_default().trim().to_owned())
        }
        None => std::env::var(OIDC_SECRET_VAR).ok(),
    }
    .filter(|s| !s.is_empty());
    let mut config = server::oidc::OidcConfig::new(
        issuer,
        a.oidc_client_id.as_deref().unwrap_or_default(),
        secret,
        a.public_url.as_deref().unwrap_or_default(),
    );
    config.name_claim = a.oidc_name_claim.clone();
    config.max_pending = a.oidc_max_pending;
    config.login_lifetime = Duration::from_secs(a.oidc_login_lifetime_s);
    config.check().map_err(anyhow::Error::msg)?;
    tracing::info!(issuer = %config.issuer, redirect_uri = %config.redirect_uri(), "school sign-in (OpenID Connect) is on");
    Ok(Some(config))
}

/// Read when no --exercises-dir is given and it exists.
const DEFAULT_EXERCISES_DIR: &str = "exercises";

pub fn main(runtimes_dir: Option<&Path>, a: ServeArgs) -> anyhow::Result<ExitCode> {
    let oidc = oidc_config(&a)?;
    if a.max_queue == 0 || a.max_body_bytes < 1024 || a.workers == 0 || a.max_concurrent == Some(0) {
        anyhow::bail!("--max-queue, --workers and --max-concurrent must be at least 1, --max-body-bytes at least 1024");
    }
    if a.pool_idle_s > engine::MAX_POOL_IDLE.as_secs() {
        anyhow::bail!("--pool-idle-s must be at most {}", engine::MAX_POOL_IDLE.as_secs());
    }
    if a.pool_max_age_s == 0 || a.memory_budget_mb == Some(0) {
        anyhow::bail!("--pool-max-age-s and --memory-budget-mb must be at least 1");
    }
    let fork_servers_min = a
        .fork_servers_min
        .unwrap_or(engine::DEFAULT_FORK_SERVERS_MIN.min(a.fork_servers));
    if a.fork_servers > engine::MAX_FORK_SERVERS
        || fork_servers_min > a.fork_servers
        || !(1..=engine::MAX_FORK_SERVER_MAX_RUNS).contains(&a.fork_server_max_runs)
        || !(1..=engine::MAX_FORK_SERVER_MAX_AGE.as_secs()).contains(&a.fork_server_max_age_s)
    {
        anyhow::bail!(
            "--fork-servers must be at most {} and at least --fork-servers-min, --fork-server-max-runs between 1 and {}, --fork-server-max-age-s between 1 and {}",
            engine::MAX_FORK_SERVERS,
            engine::MAX_FORK_SERVER_MAX_RUNS,
            engine::MAX_FORK_SERVER_MAX_AGE.as_secs()
        );
    }
    let edge = server::EdgeConfig {
        trusted_proxies: a.trusted_proxies,
        header_read_timeout: Duration::from_secs(a.header_read_timeout_s),
        idle_timeout: Duration::from_secs(a.idle_timeout_s),
        max_connections: a.max_connections,
    };
    edge.check()
        .context("--header-read-timeout-s, --idle-timeout-s or --max-connections")?;
    let cors = server::CorsOrigins::parse(&a.cors_origins).context("--cors-origin")?;
    let node = node_settings(a.node_id.as_deref(), a.lease_s, a.drain_timeout_s)?;
    let build_cache = BuildCache::new(a.build_cache_mb).context("--build-cache-mb")?;
    let request_limits = request_limits(a.request_output_mb, a.request_wall_s)?;
    let catalog = crate::load_catalog(runtimes_dir)?;
    let sandbox = Sandbox::new(crate::sandbox_options()).context("cannot start the sandbox")?;
    for what in sandbox.capabilities().unenforced() {
        tracing::warn!("not enforced on this host: {what}");
    }
    let mut runner_config = RunnerConfig::default();
    if let Some(n) = a.max_concurrent {
        runner_config.max_concurrent = n;
    }
    runner_config.max_waiting = a.max_waiting;
    runner_config.max_wait = Duration::from_secs(a.max_wait_s);
    let (exercises, exercises_line) = load_exercises(a.exercises_dir.as_deref(), &catalog)?;
    let runtimes_line = runtimes_line(&catalog);
    let pools = PoolConfig {
        enabled: !a.no_warm_pools,
        idle_after: Duration::from_secs(a.pool_idle_s),
        max_age: Duration::from_secs(a.pool_max_age_s),
        memory_budget_bytes: a
            .memory_budget_mb
            .map_or_else(engine::default_memory_budget, |mb| mb << 20),
        forks: engine::ForkConfig {
            servers: a.fork_servers,
            min: fork_servers_min,
            max_runs: a.fork_server_max_runs,
            max_age: Duration::from_secs(a.fork_server_max_age_s),
        },
        ..PoolConfig::default()
    };
    let pools_line = pools_line(&pools);
    let precompiled = precompiled_config(a.precompiled_headers, a.precompiled_headers_dir.as_deref(), &a.data_dir)?;
    let runner = Runner::new(
        Engine::start(catalog, sandbox, pools, &precompiled)
            .with_build_cache(build_cache)
            .with_request_limits(request_limits),
        runner_config,
    );
    let url = match &a.database_url {
        Some(url) => url.clone(),
        None => store::default_sqlite_url(&a.data_dir),
    };
    let config = ServerConfig {
        auth_tokens: a.auth_tokens.into_iter().filter(|t| !t.is_empty()).collect(),
        require_keys: a.require_keys,
        max_body_bytes: a.max_body_bytes,
        rate_limit_per_minute: a.rate_limit,
        cors,
        max_queue_size: a.max_queue,
        workers: a.workers,
        enable_submission_delete: a.enable_submission_delete,
        allow_callbacks: a.allow_private_callbacks,
        exercises: std::sync::Arc::new(exercises),
        edge,
        node_id: node.id.clone(),
        lease: node.lease,
        drain_timeout: node.drain_timeout,
        oidc,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let store = store::Store::connect(&url)
            .await
            .with_context(|| format!("cannot open the database {}", redact(&url)))?;
        // SQLite serves one node: a second process on the same file is refused. Holding the
        // lock proves no other process runs what the previous one left half run, so it is
        // queued again now rather than when its lease runs out.
        let _node_lock = match store.lock_single_node()? {
            Some(lock) => {
                let n = store.requeue_processing(&lock).await?;
                if n > 0 {
                    tracing::info!(
                        submissions = n,
                        "judge0: submissions the previous process left running are queued again"
                    );
                }
                Some(lock)
            }
            None => None,
        };
        let state = match &a.queue_url {
            None => AppState::new(runner, store, config),
            Some(queue_url) => {
                let options = store::JetStreamOptions {
                    names: store::JetStreamNames::default(),
                    capacity: config.max_queue_size,
                    ack_wait: node.lease * 2,
                    max_deliver: store::MAX_DELIVER,
                    client_name: node.id.clone(),
                };
                let queue = store::JetStreamQueue::connect(queue_url, options)
                    .await
                    .with_context(|| format!("cannot set up the queue at {}", redact(queue_url)))?;
                tracing::info!(node = %node.id, stream = store::STREAM, consumer = store::CONSUMER, "queue: JetStream");
                AppState::with_queue(runner, store, config, std::sync::Arc::new(queue))
            }
        };
        let listener = tokio::net::TcpListener::bind(a.addr)
            .await
            .with_context(|| format!("cannot listen on {}", a.addr))?;
        print_banner(&Banner {
            addr: listener.local_addr()?,
            store: match &a.database_url {
                Some(url) => redact(url),
                None => format!("SQLite in {}", a.data_dir.display()),
            },
            queue: a.queue_url.as_deref().map(redact),
            exercises: exercises_line,
            runtimes: runtimes_line,
            pools: pools_line,
        });
        server::serve(listener, state)
            .await
            .with_context(|| format!("cannot serve on {}", a.addr))
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The exercises of `--exercises-dir`, or of `./exercises` when that exists, and the banner's
/// line about them. A directory named but missing is a warning and an empty list, so a typo
/// is seen at start rather than as a class with no exercises.
fn load_exercises(
    named: Option<&Path>,
    catalog: &runtimes::Catalog,
) -> anyhow::Result<(server::exercise_spec::ExerciseDir, String)> {
    let dir = match named {
        Some(dir) if !dir.is_dir() => {
            tracing::warn!(dir = %dir.display(), "the exercises directory does not exist: no exercises are served");
            let line = format!("none: {} does not exist", dir.display());
            return Ok((server::exercise_spec::ExerciseDir::default(), line));
        }
        Some(dir) => dir.to_owned(),
        None if Path::new(DEFAULT_EXERCISES_DIR).is_dir() => PathBuf::from(DEFAULT_EXERCISES_DIR),
        None => {
            let line = format!("none (no ./{DEFAULT_EXERCISES_DIR} directory; --exercises-dir names one)");
            return Ok((server::exercise_spec::ExerciseDir::default(), line));
        }
    };
    let exercises = server::exercise_spec::ExerciseDir::load(&dir, catalog)?;
    tracing::info!(dir = %dir.display(), count = exercises.exercises.len(), "exercises loaded");
    let line = format!("{} from {}", exercises.exercises.len(), dir.display());
    Ok((exercises, line))
}

/// `N of M installed: bash, c, …` for the banner (`tiderun runtimes` tells why one is missing).
fn runtimes_line(catalog: &runtimes::Catalog) -> String {
    let installed: Vec<&str> = catalog
        .iter()
        .filter(|r| r.installed)
        .map(|r| r.name.as_str())
        .collect();
    format!(
        "{} of {} installed: {}",
        installed.len(),
        catalog.iter().count(),
        installed.join(", ")
    )
}

/// The warm pools as the banner shows them.
fn pools_line(pools: &PoolConfig) -> String {
    if !pools.enabled {
        return "off (--no-warm-pools): every run starts cold".to_owned();
    }
    format!(
        "warm, emptied after {} s idle; {} fork servers at most",
        pools.idle_after.as_secs(),
        pools.forks.servers
    )
}

/// What `serve` prints on stdout once it listens. The first line names the address (with
/// `--addr` port 0, the port the system chose), so a script can read where to connect.
struct Banner {
    addr: std::net::SocketAddr,
    store: String,
    queue: Option<String>,
    exercises: String,
    runtimes: String,
    pools: String,
}

fn print_banner(b: &Banner) {
    use std::io::Write;
    let queue = b.queue.as_deref().unwrap_or("in-process (one node)");
    let text = format!(
        "tiderun serving on http://{}\n  store:     {}\n  queue:     {queue}\n  exercises: {}\n  runtimes:  {}\n  pools:     {}\n",
        b.addr, b.store, b.exercises, b.runtimes, b.pools
    );
    let mut out = std::io::stdout().lock();
    // stdout closed or full is no reason not to serve.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Name of the directory of precompiled headers in --data-dir.
const PRECOMPILED_IN_DATA_DIR: &str = "precompiled";

/// Where precompiled headers go: the flag's directory, which must be one a sandbox can bind
/// (else start-up stops), or `precompiled` in the data dir, when that is (else a warning, and
/// none). Made here, so its real path (symlinks resolved) is what compiles bind.
fn precompiled_config(on: bool, dir: Option<&Path>, data_dir: &Path) -> anyhow::Result<engine::PrecompiledConfig> {
    if !on {
        return Ok(engine::PrecompiledConfig::default());
    }
    let (path, named) = match dir {
        Some(d) => (d.to_path_buf(), true),
        None => (data_dir.join(PRECOMPILED_IN_DATA_DIR), false),
    };
    // Checked before it is made (nothing is left in /tmp), and again once symlinks are resolved.
    let bindable = |p: &Path| sandbox::check_bind(p).map_err(|e| anyhow::anyhow!("a sandbox cannot bind it: {e}"));
    let usable = std::path::absolute(&path)
        .map_err(anyhow::Error::from)
        .and_then(|abs| bindable(&abs).map(|()| abs))
        .and_then(|abs| {
            std::fs::create_dir_all(&abs)
                .and_then(|()| std::fs::canonicalize(&abs))
                .map_err(|e| anyhow::anyhow!("cannot make {}: {e}", abs.display()))
        })
        .and_then(|real| bindable(&real).map(|()| real));
    match usable {
        Ok(real) => Ok(engine::PrecompiledConfig { dir: Some(real) }),
        Err(e) if named => Err(e.context(format!("--precompiled-headers-dir {}", path.display()))),
        Err(e) => {
            tracing::warn!(
                dir = %path.display(),
                error = %e,
                "no precompiled headers (name another --precompiled-headers-dir)"
            );
            Ok(engine::PrecompiledConfig::default())
        }
    }
}

/// The per-request limits from their flags; out of bounds stops the start with the bounds.
fn request_limits(output_mb: u64, wall_s: u64) -> anyhow::Result<RequestLimits> {
    let (min_mb, max_mb) = (
        engine::MIN_REQUEST_OUTPUT_BYTES >> 20,
        engine::MAX_REQUEST_OUTPUT_BYTES >> 20,
    );
    if !(min_mb..=max_mb).contains(&output_mb) {
        anyhow::bail!("--request-output-mb must be between {min_mb} and {max_mb}, not {output_mb}");
    }
    let (min_s, max_s) = (engine::MIN_REQUEST_WALL.as_secs(), engine::MAX_REQUEST_WALL.as_secs());
    if !(min_s..=max_s).contains(&wall_s) {
        anyhow::bail!("--request-wall-s must be between {min_s} and {max_s}, not {wall_s}");
    }
    Ok(RequestLimits::new(output_mb << 20, Duration::from_secs(wall_s))?)
}

/// This node's id, lease and drain timeout from their flags; out of bounds stops the start.
struct NodeSettings {
    id: String,
    lease: Duration,
    drain_timeout: Duration,
}

fn node_settings(id: Option<&str>, lease_s: u64, drain_timeout_s: u64) -> anyhow::Result<NodeSettings> {
    use server::node::{MAX_DRAIN_TIMEOUT, MAX_LEASE, MIN_LEASE};
    let id = match id {
        Some(id) => {
            server::node::check_node_id(id).map_err(|e| anyhow::anyhow!("--node-id: {e}"))?;
            id.to_owned()
        }
        None => server::node::default_node_id(),
    };
    let (min, max) = (MIN_LEASE.as_secs(), MAX_LEASE.as_secs());
    if !(min..=max).contains(&lease_s) {
        anyhow::bail!("--lease-s must be between {min} and {max}, not {lease_s}");
    }
    if drain_timeout_s > MAX_DRAIN_TIMEOUT.as_secs() {
        anyhow::bail!(
            "--drain-timeout-s must be at most {}, not {drain_timeout_s}",
            MAX_DRAIN_TIMEOUT.as_secs()
        );
    }
    Ok(NodeSettings {
        id,
        lease: Duration::from_secs(lease_s),
        drain_timeout: Duration::from_secs(drain_timeout_s),
    })
}

/// A database or queue URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
