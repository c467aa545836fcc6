//! The store failing under a running server: Postgres stopped mid-way (a throwaway cluster of
//! this test's own, started with `scripts/test-postgres`) and SQLite's disk full (a small
//! tmpfs). Runs keep answering through every API, store operations answer 503 or 507 with a
//! message that says so (never 500), nothing accepted is lost, and everything works again once
//! the database is back or space is freed — with a sound SQLite file afterwards.

extern crate tiderun_server as server;

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use server::{AppState, ServerConfig};

/// The ports tried for this test's own Postgres start here (the shared one is on 55432).
const FAULT_PG_FIRST_PORT: u16 = 56432;
/// Each cluster starts its search at its own offset from [`FAULT_PG_FIRST_PORT`] (by process
/// and by cluster), so suites and tests started at once do not race for the same first free
/// port between the script's check and the server's bind.
const FAULT_PG_PORT_SPREAD: u32 = 2000;

/// Where the next cluster of this process starts looking for a free port.
fn first_port() -> u16 {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let offset = (std::process::id().wrapping_mul(7) + n * 101) % FAULT_PG_PORT_SPREAD;
    FAULT_PG_FIRST_PORT + offset as u16
}
/// How long a submission accepted before an outage may take to finish after it.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(90);
/// A tmpfs this small fills up at once; the SQLite file and its WAL fit in it.
const FULL_DISK_SIZE: &str = "size=2m";

/// A server bound to 127.0.0.1:0 on the given database.
struct Server {
    base: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    state: AppState,
}

impl Server {
    async fn start(url: &str, config: ServerConfig) -> Server {
        let store = store::Store::connect(url).await.expect("store");
        let state = AppState::new(common::runner(engine::RunnerConfig::default()), store, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::serve_on(listener, state.clone(), async {
            let _ = rx.await;
        }));
        Server {
            base,
            shutdown: Some(tx),
            task,
            state,
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(40), &mut self.task).await;
        self.state.store().close().await;
    }
}

/// An answer: status, body (JSON, or the text as a JSON string), Retry-After.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<String>,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.timeout(Duration::from_secs(60)).send().await.expect("request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        body,
        retry_after,
    }
}

async fn post(base: &str, path: &str, body: Value) -> Answer {
    send(
        reqwest::Client::new()
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

async fn get(base: &str, path: &str) -> Answer {
    send(reqwest::Client::new().get(format!("{base}{path}"))).await
}

/// The three ways to run a program answer with its output.
async fn runs_answer(base: &str, why: &str) {
    let native = post(
        base,
        "/api/v1/run",
        json!({"language": "python", "code": "print(6 * 7)"}),
    )
    .await;
    assert_eq!(native.status, 200, "{why}: native run: {native:?}");
    assert_eq!(native.body["run"]["stdout"], "42\n", "{why}: {native:?}");
    let piston = post(
        base,
        "/api/v2/execute",
        json!({"language": "python", "version": "*", "files": [{"content": "print(6 * 7)"}]}),
    )
    .await;
    assert_eq!(piston.status, 200, "{why}: piston execute: {piston:?}");
    assert_eq!(piston.body["run"]["stdout"], "42\n", "{why}: {piston:?}");
    let judge0 = post(
        base,
        "/submissions?wait=true",
        json!({"language_id": 71, "source_code": "print(6 * 7)"}),
    )
    .await;
    assert_eq!(judge0.status, 201, "{why}: judge0 wait=true: {judge0:?}");
    assert_eq!(judge0.body["stdout"], "42\n", "{why}: {judge0:?}");
    assert_eq!(judge0.body["status"]["id"], 3, "{why}: {judge0:?}");
}

/// A refusal of the store: `status`, the API's `{"error"}` body with `message`.
fn assert_refused(answer: &Answer, status: u16, message: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}: {answer:?}");
    assert_eq!(answer.body["error"], message, "{what}: {answer:?}");
}

/// A Judge0 submission's status id, once it is past `processing` (or the timeout).
async fn finished(base: &str, token: &str) -> Value {
    let started = Instant::now();
    loop {
        let a = get(base, &format!("/submissions/{token}")).await;
        if a.status == 200 && a.body["status"]["id"].as_i64().unwrap_or(0) >= 3 {
            return a.body;
        }
        assert!(
            started.elapsed() < RECOVERY_TIMEOUT,
            "submission {token} not finished after {RECOVERY_TIMEOUT:?}: {a:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A throwaway Postgres cluster of this test's own, in a temp dir; stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

fn test_postgres() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-postgres")
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("tiderun-fault-pg-")
            .tempdir()
            .expect("tempdir");
        let url = Self::script(dir.path(), first_port(), false);
        let port = url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
            .expect("a port in the URL");
        Cluster { dir, port }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn stop(&self) {
        Self::script(self.dir.path(), self.port, true);
    }

    /// Start it again on its port (the server's URL names it).
    fn restart(&self) {
        let url = Self::script(self.dir.path(), self.port, false);
        assert_eq!(url, self.url(), "the cluster came back on another port");
    }

    fn script(dir: &Path, port: u16, stop: bool) -> String {
        let out = Command::new(test_postgres())
            .env("TIDERUN_PG_DIR", dir)
            .env("TIDERUN_PG_PORT", port.to_string())
            .env("TIDERUN_PG_STOP", if stop { "1" } else { "0" })
            .output()
            .expect("run scripts/test-postgres");
        assert!(
            out.status.success(),
            "scripts/test-postgres failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(test_postgres())
            .env("TIDERUN_PG_DIR", self.dir.path())
            .env("TIDERUN_PG_STOP", "1")
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs root: the full sandbox"]
async fn postgres_stopped_mid_way_runs_answer_stores_say_503_and_all_recovers() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let cluster = Cluster::start();
    // One worker: the second submission waits in the queue while the first runs.
    let config = ServerConfig {
        workers: 1,
        ..ServerConfig::default()
    };
    let server = Server::start(&cluster.url(), config).await;
    let base = server.base.clone();

    runs_answer(&base, "postgres up").await;
    let saved = post(
        &base,
        "/api/v1/snippets",
        json!({"language": "python", "code": "print(1)"}),
    )
    .await;
    assert_eq!(saved.status, 201, "{saved:?}");
    let snippet = saved.body["id"].as_str().expect("an id").to_owned();

    // Accepted before the outage: one running through it, one still queued behind it.
    let slow = "import time\ntime.sleep(4)\nprint('slow')";
    let a = post(&base, "/submissions", json!({"language_id": 71, "source_code": slow})).await;
    let b = post(
        &base,
        "/submissions",
        json!({"language_id": 71, "source_code": "print('queued')"}),
    )
    .await;
    assert_eq!((a.status, b.status), (201, 201), "{a:?} {b:?}");
    let (a, b) = (
        a.body["token"].as_str().unwrap().to_owned(),
        b.body["token"].as_str().unwrap().to_owned(),
    );
    let started = Instant::now();
    while get(&base, &format!("/submissions/{a}")).await.body["status"]["id"] != 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "submission {a} never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    cluster.stop();
    let (snippet_path, a_path) = (format!("/api/v1/snippets/{snippet}"), format!("/submissions/{a}"));
    let store_ops = async {
        tokio::join!(
            post(
                &base,
                "/api/v1/snippets",
                json!({"language": "python", "code": "print(2)"})
            ),
            get(&base, &snippet_path),
            post(
                &base,
                "/submissions",
                json!({"language_id": 71, "source_code": "print(3)"})
            ),
            get(&base, &a_path),
            get(&base, "/submissions"),
            get(&base, "/api/v1/exercises"),
        )
    };
    let (ops, ()) = tokio::join!(store_ops, runs_answer(&base, "postgres stopped"));
    let unavailable = server::STORE_UNAVAILABLE;
    for (answer, what) in [
        (&ops.0, "save a snippet"),
        (&ops.1, "load a snippet"),
        (&ops.2, "create a judge0 submission"),
        (&ops.3, "show a judge0 submission"),
        (&ops.4, "list judge0 submissions"),
        (&ops.5, "list exercises"),
    ] {
        assert_refused(answer, 503, unavailable, what);
        assert_eq!(answer.retry_after.as_deref(), Some("5"), "{what}: {answer:?}");
    }
    let ready = get(&base, "/readyz").await;
    assert_eq!(
        (ready.status, &ready.body["store"]),
        (503, &json!("unavailable")),
        "{ready:?}"
    );

    cluster.restart();
    let started = Instant::now();
    let again = loop {
        let a = post(
            &base,
            "/api/v1/snippets",
            json!({"language": "python", "code": "print(4)"}),
        )
        .await;
        if a.status != 503 || started.elapsed() > RECOVERY_TIMEOUT {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(again.status, 201, "saving works again: {again:?}");
    assert_eq!(get(&base, &format!("/api/v1/snippets/{snippet}")).await.status, 200);
    assert_eq!(get(&base, "/api/v1/exercises").await.status, 200);
    // Nothing accepted before the outage was lost: both finish.
    assert_eq!(finished(&base, &a).await["stdout"], "slow\n");
    assert_eq!(finished(&base, &b).await["stdout"], "queued\n");
    let c = post(
        &base,
        "/submissions",
        json!({"language_id": 71, "source_code": "print('after')"}),
    )
    .await;
    assert_eq!(c.status, 201, "{c:?}");
    assert_eq!(
        finished(&base, c.body["token"].as_str().unwrap()).await["stdout"],
        "after\n"
    );
    runs_answer(&base, "postgres back").await;
    assert_eq!(get(&base, "/readyz").await.status, 200);
    server.stop().await;
}

/// A tmpfs mounted on a temp dir, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(options: &str) -> SmallDisk {
        let dir = tempfile::Builder::new()
            .prefix("tiderun-full-disk-")
            .tempdir()
            .expect("tempdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tiderun-full-disk"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed");
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Write zeros into `path` until the disk is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create the filler");
    let block = vec![0u8; 4096];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs root: the full sandbox"]
async fn sqlite_disk_full_says_507_keeps_the_database_sound_and_recovers() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let disk = SmallDisk::mount(FULL_DISK_SIZE);
    let db = disk.path().join("data/tiderun.db");
    let url = format!("sqlite://{}", db.display());
    let server = Server::start(&url, ServerConfig::default()).await;
    let base = server.base.clone();
    let saved = post(
        &base,
        "/api/v1/snippets",
        json!({"language": "python", "code": "print(1)"}),
    )
    .await;
    assert_eq!(saved.status, 201, "{saved:?}");
    let snippet = saved.body["id"].as_str().expect("an id").to_owned();

    let filler = disk.path().join("filler");
    fill(&filler);
    // Snippets of 60 KB until the database cannot grow: the WAL may hold a few first.
    let big = format!("print(1)\n{}", "#".repeat(60_000));
    let mut refused = None;
    for _ in 0..64 {
        let a = post(&base, "/api/v1/snippets", json!({"language": "python", "code": big})).await;
        assert!(a.status == 201 || a.status == 507, "saving on a full disk: {a:?}");
        if a.status == 507 {
            refused = Some(a);
            break;
        }
    }
    let refused = refused.expect("a full disk refuses a snippet");
    assert_refused(&refused, 507, server::STORE_FULL, "save a snippet");
    let judge0 = post(
        &base,
        "/submissions",
        json!({"language_id": 71, "source_code": "print(3)"}),
    )
    .await;
    assert_refused(&judge0, 507, server::STORE_FULL, "create a judge0 submission");
    // Reading still works, and so do runs.
    assert_eq!(get(&base, &format!("/api/v1/snippets/{snippet}")).await.status, 200);
    runs_answer(&base, "disk full").await;

    std::fs::remove_file(&filler).expect("free the space");
    let again = post(&base, "/api/v1/snippets", json!({"language": "python", "code": big})).await;
    assert_eq!(again.status, 201, "saving works again: {again:?}");
    let c = post(
        &base,
        "/submissions",
        json!({"language_id": 71, "source_code": "print('after')"}),
    )
    .await;
    assert_eq!(c.status, 201, "{c:?}");
    assert_eq!(
        finished(&base, c.body["token"].as_str().unwrap()).await["stdout"],
        "after\n"
    );
    runs_answer(&base, "space freed").await;
    server.stop().await;

    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open the database");
    let check: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .expect("integrity_check");
    assert_eq!(
        check,
        [("ok".to_owned(),)],
        "the database is sound after the disk was full"
    );
    let count: (i64,) = sqlx::query_as("SELECT count(*) FROM snippets")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert!(count.0 >= 2, "saved snippets are kept: {count:?}");
    conn.close().await.expect("close");
}
