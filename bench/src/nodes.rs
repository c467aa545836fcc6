//! `tiderun bench nodes`: asynchronous Judge0 submissions through one node and through three,
//! on this one machine — the same run slots and workers in total, so the difference is the
//! overhead of several nodes sharing a queue and a store, not a speed-up.
//!
//! Each scenario starts its own `nats-server -js` (a free loopback port, a temporary store)
//! when it uses JetStream, and its nodes (`tiderun serve`, this binary) on the Postgres at
//! `--database-url`. After a warm-up, the client submits `--submissions` Python hello worlds,
//! `--clients` at a time, round-robin over the nodes; each carries a `callback_url` to a
//! listener of the harness, so a submission's latency is from just before its POST to the
//! arrival of its result's callback (the result is stored before the callback is sent). The
//! rate is the submissions over the time from the first POST to the last callback.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::e2e::server::Server;
use crate::stats::{ms, Summary};

/// Submissions measured per scenario.
pub const DEFAULT_SUBMISSIONS: usize = 300;
/// Submissions sent one at a time (each after the previous one's result): the latency of an
/// empty queue.
const ONE_AT_A_TIME: usize = 50;
/// Submissions in flight from the client at once.
pub const DEFAULT_CLIENTS: usize = 16;
/// Workers (and run slots) of all nodes together in every scenario.
pub const DEFAULT_WORKERS: usize = 6;
pub const MAX_SUBMISSIONS: usize = 100_000;
pub const MAX_CLIENTS: usize = 1024;
pub const MAX_WORKERS: usize = 256;
/// How long a scenario may take before it is reported as failed.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(600);
/// A NATS server starting.
const NATS_START_TIMEOUT: Duration = Duration::from_secs(30);
const PYTHON: u32 = 71;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `tiderun` binary to start as `tiderun serve`.
    pub server_exe: PathBuf,
    /// Postgres, shared by the nodes (the rows of each run stay; they are few).
    pub database_url: String,
    /// `nats-server`; `None`: from PATH or Debian's /usr/sbin.
    pub nats_server: Option<PathBuf>,
    pub submissions: usize,
    pub clients: usize,
    pub workers: usize,
    /// The command line, for the report.
    pub command: String,
}

impl Options {
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=MAX_SUBMISSIONS).contains(&self.submissions),
            "--submissions must be 1 to {MAX_SUBMISSIONS}"
        );
        anyhow::ensure!(
            (1..=MAX_CLIENTS).contains(&self.clients),
            "--clients must be 1 to {MAX_CLIENTS}"
        );
        anyhow::ensure!(
            (3..=MAX_WORKERS).contains(&self.workers) && self.workers.is_multiple_of(3),
            "--workers must be a multiple of 3 from 3 to {MAX_WORKERS} (three nodes share them)"
        );
        anyhow::ensure!(
            self.database_url.starts_with("postgres://") || self.database_url.starts_with("postgresql://"),
            "--database-url must be a postgres:// URL (several nodes share it)"
        );
        Ok(())
    }
}

/// One scenario's figures.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: &'static str,
    pub nodes: usize,
    pub workers_per_node: usize,
    pub submissions: usize,
    /// Not accepted (no 201) or not finished with status 3 and `hi`.
    pub errors: usize,
    pub per_second: f64,
    pub latency: Summary,
    /// One submission at a time.
    pub alone: Summary,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    pub machine: crate::machine::Machine,
    pub command: String,
    pub load_at_start: String,
    pub load_at_end: String,
    pub nats_version: String,
    pub clients: usize,
    pub rows: Vec<Row>,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("{}\n", self.machine.markdown()));
        out.push_str(&format!(
            "Load average (1 / 5 / 15 min): {} at the start, {} at the end. {}.\n\n",
            self.load_at_start, self.load_at_end, self.nats_version
        ));
        out.push_str(&format!("Command:\n\n```\n{}\n```\n\n", self.command));
        out.push_str(
            "| scenario | nodes × workers | submissions | errors | submissions/s | p50 ms | p99 ms | max ms | alone: p50 ms | alone: p99 ms |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} × {} | {} | {} | {:.1} | {} | {} | {} | {} | {} |\n",
                r.name,
                r.nodes,
                r.workers_per_node,
                r.submissions,
                r.errors,
                r.per_second,
                ms(r.latency.p50),
                ms(r.latency.p99),
                ms(r.latency.max),
                ms(r.alone.p50),
                ms(r.alone.p99)
            ));
        }
        out.push_str(&format!(
            "\nLatency: from just before a submission's POST to the arrival of its result's callback \
             (stored, then sent), with the submissions sent as fast as the client can ({} at a time), \
             and \"alone\": {ONE_AT_A_TIME} sent one at a time, each after the previous result (an empty queue). \
             Same workers and run slots in total in every row, on the same cores.\n",
            self.clients
        ));
        out
    }
}

struct Scenario {
    name: &'static str,
    nodes: usize,
    jetstream: bool,
}

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "1 node, in-process queue",
        nodes: 1,
        jetstream: false,
    },
    Scenario {
        name: "1 node, JetStream",
        nodes: 1,
        jetstream: true,
    },
    Scenario {
        name: "3 nodes, JetStream",
        nodes: 3,
        jetstream: true,
    },
];

pub fn run(opts: &Options) -> anyhow::Result<Report> {
    opts.check()?;
    let nats_exe = match &opts.nats_server {
        Some(p) => p.clone(),
        None => find_nats().context("no nats-server on PATH or in /usr/sbin (apt-get install nats-server)")?,
    };
    let nats_version = Command::new(&nats_exe)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let load_at_start = crate::machine::load_average();
    let mut rows = Vec::new();
    for s in &SCENARIOS {
        rows.push(rt.block_on(scenario(opts, &nats_exe, s))?);
    }
    Ok(Report {
        machine: crate::machine::Machine::detect(),
        command: opts.command.clone(),
        load_at_start,
        load_at_end: crate::machine::load_average(),
        nats_version,
        clients: opts.clients,
        rows,
    })
}

fn find_nats() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("nats-server"))
        .chain(["/usr/sbin/nats-server", "/usr/bin/nats-server"].map(PathBuf::from))
        .find(|p| p.exists())
}

/// A `nats-server -js` of the harness's own, killed when dropped.
struct Nats {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nats {
    fn start(exe: &Path) -> anyhow::Result<Nats> {
        let dir = tempfile::Builder::new().prefix("tiderun-bench-nats-").tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(exe)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > NATS_START_TIMEOUT {
                bail!("nats-server did not start within {NATS_START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Nats { child, port, _dir: dir })
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Results by token, as their callbacks arrive: when, and whether right.
type Arrivals = Arc<Mutex<HashMap<String, (Instant, bool)>>>;

/// A loopback listener for the callbacks (axum: a small, well-kept HTTP server).
async fn callback_listener() -> anyhow::Result<(String, Arrivals, tokio::task::JoinHandle<()>)> {
    let arrivals: Arrivals = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/done", listener.local_addr()?);
    let app = axum::Router::new()
        .route(
            "/done",
            axum::routing::put(
                |axum::extract::State(arrivals): axum::extract::State<Arrivals>, body: axum::body::Bytes| async move {
                    let at = Instant::now();
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                        if let Some(token) = v["token"].as_str() {
                            // Judge0's default fields in base64: stdout `hi\n` is `aGkK`.
                            let right = v["status"]["id"].as_i64() == Some(3)
                                && v["stdout"].as_str().map(str::trim) == Some("aGkK");
                            arrivals
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(token.to_owned(), (at, right));
                        }
                    }
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(arrivals.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, arrivals, task))
}

async fn scenario(opts: &Options, nats_exe: &Path, s: &Scenario) -> anyhow::Result<Row> {
    let nats = if s.jetstream {
        Some(Nats::start(nats_exe)?)
    } else {
        None
    };
    let per_node = opts.workers / s.nodes;
    let mut nodes = Vec::new();
    for n in 0..s.nodes {
        let mut args = vec![
            format!("--database-url={}", opts.database_url),
            format!("--node-id=bench-{n}"),
            format!("--workers={per_node}"),
            format!("--max-concurrent={per_node}"),
            "--max-queue=100000".to_owned(),
            "--allow-private-callbacks".to_owned(),
        ];
        if let Some(nats) = &nats {
            args.push(format!("--queue-url=nats://127.0.0.1:{}", nats.port));
        }
        nodes.push(Server::start(&opts.server_exe, &args)?);
    }
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?;
    for node in &mut nodes {
        node.wait_ready(&http).await?;
    }
    let (callback, arrivals, listener) = callback_listener().await?;
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let body = serde_json::json!({
        "language_id": PYTHON,
        "source_code": "print('hi')",
        "callback_url": callback,
    })
    .to_string();
    // Warm-up: the pools of every node, the build of the stream and the consumer.
    let warm = batch(&http, &bases, &body, opts.workers * 4, opts.clients).await;
    wait_all(
        &arrivals,
        &warm.iter().filter_map(|(t, _)| t.clone()).collect::<Vec<_>>(),
    )
    .await;
    let start = Instant::now();
    let sent = batch(&http, &bases, &body, opts.submissions, opts.clients).await;
    let tokens: Vec<String> = sent.iter().filter_map(|(t, _)| t.clone()).collect();
    wait_all(&arrivals, &tokens).await;
    let got = arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut latencies = Vec::new();
    let mut errors = sent.len() - tokens.len();
    let mut last = start;
    for (token, posted) in sent.iter().filter_map(|(t, at)| Some((t.as_ref()?, at))) {
        match got.get(token) {
            Some((at, right)) => {
                latencies.push(at.duration_since(*posted));
                last = last.max(*at);
                if !right {
                    errors += 1;
                }
            }
            None => errors += 1,
        }
    }
    // One at a time, round-robin over the nodes.
    let mut alone = Vec::new();
    for i in 0..ONE_AT_A_TIME {
        let one = batch(&http, &bases[i % bases.len()..=i % bases.len()], &body, 1, 1).await;
        if let Some((Some(token), posted)) = one.first() {
            wait_all(&arrivals, std::slice::from_ref(token)).await;
            let got = arrivals.lock().unwrap_or_else(|p| p.into_inner()).get(token).copied();
            match got {
                Some((at, true)) => alone.push(at.duration_since(*posted)),
                _ => errors += 1,
            }
        } else {
            errors += 1;
        }
    }
    listener.abort();
    for node in nodes {
        node.stop()?;
    }
    drop(nats);
    Ok(Row {
        name: s.name,
        nodes: s.nodes,
        workers_per_node: per_node,
        submissions: opts.submissions,
        errors,
        per_second: latencies.len() as f64 / last.duration_since(start).as_secs_f64().max(1e-9),
        latency: Summary::of(&latencies),
        alone: Summary::of(&alone),
    })
}

/// Submit `n` times, `clients` at a time, round-robin over `bases`: each submission's token
/// (`None` when refused) and the instant just before its POST.
async fn batch(
    http: &reqwest::Client,
    bases: &[String],
    body: &str,
    n: usize,
    clients: usize,
) -> Vec<(Option<String>, Instant)> {
    let limit = Arc::new(tokio::sync::Semaphore::new(clients));
    let mut all = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = limit.clone().acquire_owned().await.expect("never closed");
        let (http, url, body) = (
            http.clone(),
            format!("{}/submissions", bases[i % bases.len()]),
            body.to_owned(),
        );
        all.spawn(async move {
            let posted = Instant::now();
            let token = match http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(r) if r.status().as_u16() == 201 => r
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| v["token"].as_str().map(str::to_owned)),
                _ => None,
            };
            drop(permit);
            (i, token, posted)
        });
    }
    let mut out = vec![(None, Instant::now()); n];
    while let Some(done) = all.join_next().await {
        if let Ok((i, token, posted)) = done {
            out[i] = (token, posted);
        }
    }
    out
}

/// Until a callback came for every token (or the scenario's time is up).
async fn wait_all(arrivals: &Arrivals, tokens: &[String]) {
    let deadline = Instant::now() + SCENARIO_TIMEOUT;
    while Instant::now() < deadline {
        let all_came = {
            let got = arrivals.lock().unwrap_or_else(|p| p.into_inner());
            tokens.iter().all(|t| got.contains_key(t))
        };
        if all_came {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
