//! A real `tiderun serve` for tests: bound to 127.0.0.1:0, on a fresh SQLite file or (when
//! `TIDERUN_TEST_POSTGRES_URL` is set, as `./x test` does) a fresh Postgres database.
#![allow(dead_code)]

pub mod clients;
pub mod fake;
pub mod http;

use std::sync::Arc;
use std::time::Duration;

use engine::{Engine, Runner, RunnerConfig};
use sandbox::{Sandbox, SandboxOptions};
use server::{AppState, ServerConfig};

/// The databases a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; Postgres when the test command started one (otherwise a skipped part).
pub fn backends() -> Vec<Backend> {
    if std::env::var_os("TIDERUN_TEST_POSTGRES_URL").is_some() {
        vec![Backend::Sqlite, Backend::Postgres]
    } else {
        testkit::skip_part("the Postgres backend: TIDERUN_TEST_POSTGRES_URL is not set (./x test starts one)");
        vec![Backend::Sqlite]
    }
}

/// A running server.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub state: AppState,
    pub backend: Backend,
    /// The database's URL (another node may share it).
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// `ws://127.0.0.1:PORT`
    pub fn ws_base(&self) -> String {
        self.base.replacen("http://", "ws://", 1)
    }

    /// Graceful shutdown, as on SIGTERM; waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(40), task).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A fresh database URL for `backend`.
pub async fn database_url(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("tiderun.db").display()),
        Backend::Postgres => {
            use sqlx::Connection;
            let admin = std::env::var("TIDERUN_TEST_POSTGRES_URL").expect("postgres url");
            let name = format!("tiderun_test_{}", uuid_like());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("connect to the test postgres");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
            format!("{base}/{name}")
        }
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        chrono_nanos()
    )
}

fn chrono_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or(0)
}

/// The runner every test server uses (one sandbox per test process).
pub fn runner(config: RunnerConfig) -> Arc<Runner> {
    runner_with_pools(config, engine::PoolConfig::disabled())
}

/// A runner with warm pools.
pub fn runner_with_pools(config: RunnerConfig, pools: engine::PoolConfig) -> Arc<Runner> {
    runner_with_catalog(catalog(), config, pools)
}

/// A runner around a given (detected) catalog.
pub fn runner_with_catalog(catalog: runtimes::Catalog, config: RunnerConfig, pools: engine::PoolConfig) -> Arc<Runner> {
    Runner::new(engine_with_catalog(catalog, pools), config)
}

/// An engine around a given (detected) catalog, with this test process's sandbox uids.
pub fn engine_with_catalog(catalog: runtimes::Catalog, pools: engine::PoolConfig) -> Engine {
    let uid_base = sandbox::DEFAULT_UID_BASE + (std::process::id() % 1_000_000) * 1100;
    let sandbox = Sandbox::new(SandboxOptions {
        uid_base,
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    Engine::with_pools(catalog, sandbox, pools)
}

/// The catalog every test server uses, detected on this host.
pub fn catalog() -> runtimes::Catalog {
    let mut catalog = runtimes::Catalog::load(None).expect("catalog");
    catalog.detect();
    catalog
}

/// Start a server with `config` on `backend`.
pub async fn start(config: ServerConfig, backend: Backend) -> TestServer {
    start_with(config, RunnerConfig::default(), backend).await
}

pub async fn start_with(config: ServerConfig, runner_config: RunnerConfig, backend: Backend) -> TestServer {
    start_with_runner(config, runner(runner_config), backend).await
}

/// Start a server around a given runner.
pub async fn start_with_runner(config: ServerConfig, runner: Arc<Runner>, backend: Backend) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database_url(backend, dir.path()).await;
    start_in(config, runner, backend, url, dir).await
}

/// A server on an existing database (another node).
pub async fn start_on_url(config: ServerConfig, runner: Arc<Runner>, backend: Backend, url: String) -> TestServer {
    start_in(config, runner, backend, url, tempfile::tempdir().expect("tempdir")).await
}

async fn start_in(
    config: ServerConfig,
    runner: Arc<Runner>,
    backend: Backend,
    url: String,
    dir: tempfile::TempDir,
) -> TestServer {
    let store = store::Store::connect(&url).await.expect("store");
    let state = AppState::new(runner, store, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve_on(listener, state.clone(), async {
        let _ = rx.await;
    }));
    TestServer {
        base,
        state,
        backend,
        url,
        shutdown: Some(tx),
        task: Some(task),
        _dir: dir,
    }
}
