//! The four measurements of `tiderun bench e2e`, each against the running server.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::bare::{self, Bare};
use super::client::{Client, Language, Reply, POOL_GAUGE};
use super::server::Server;
use crate::stats::Summary;

/// Most time one language of the sequential comparison may take (a JVM start is ~0.5 s, so
/// Java stops early; the report gives the real number of runs).
const SEQUENTIAL_BUDGET: Duration = Duration::from_secs(60);
/// Without warm pools there is nothing to drain; this lets the last runs' teardown finish.
const NO_POOL_SETTLE: Duration = Duration::from_secs(1);
/// How long the pools may take to drain to zero after their idle time.
const POOL_DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the pool gauge is read while waiting for it to reach zero.
const POOL_POLL: Duration = Duration::from_millis(250);
/// The share of each concurrency level's duration not recorded: connections open, pools
/// grow, then the measurement starts.
const WARM_UP_FRACTION: u32 = 10;
/// Errors of a set of runs: how many, and the first one's words.
#[derive(Debug, Clone, Default)]
pub struct Errors {
    pub count: usize,
    pub first: Option<String>,
}

impl Errors {
    pub(crate) fn add(&mut self, error: String) {
        self.count += 1;
        self.first.get_or_insert(error);
    }

    fn merge(&mut self, other: Errors) {
        self.count += other.count;
        if self.first.is_none() {
            self.first = other.first;
        }
    }
}

/// One row of the sequential comparison.
#[derive(Debug, Clone)]
pub struct SequentialRow {
    pub language: String,
    /// What the row measures when it is not the plain case (a first compile, a cache hit).
    pub variant: Option<&'static str>,
    pub tiderun: Summary,
    pub bare: Option<Summary>,
    /// Mean CPU time of one bare run (user and system, the harness's reaped child).
    pub bare_cpu: Option<Duration>,
    pub bare_command: String,
    pub errors: Errors,
    /// Runs whose compile stage was a build cache hit (compiled languages).
    pub cache_hits: usize,
}

/// Scenario 1: each language's hello world through `POST /api/v1/run`, interleaved with the
/// bare process, `runs` times (or [`SEQUENTIAL_BUDGET`]). For a compiled language the first
/// submission compiles and is its own row; the resubmissions that follow are cache hits.
/// Returns the rows and the languages left out, with why.
pub async fn sequential(
    client: &Client,
    languages: &[Language],
    runs: usize,
    work: &Path,
) -> anyhow::Result<(Vec<SequentialRow>, Vec<String>)> {
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for name in bare::languages() {
        let Some(lang) = languages.iter().find(|l| l.name == name && l.installed) else {
            skipped.push(format!("{name}: not installed on the server"));
            continue;
        };
        let Some(bare) = Bare::prepare(name, &lang.file, &lang.hello, &work.join(name))? else {
            skipped.push(format!("{name}: the host has no toolchain to run it bare"));
            continue;
        };
        eprintln!("bench e2e: sequential {name}");
        let body = Client::run_body(name, &lang.hello);
        let check = |reply: &Reply| match &reply.error {
            Some(e) => Some(e.clone()),
            None if reply.stdout.as_bytes() != bare.expected => Some(format!("printed {:?}", reply.stdout)),
            None => None,
        };
        if lang.compiled {
            let first = client.run(&body).await;
            let mut errors = Errors::default();
            if let Some(e) = check(&first) {
                errors.add(e);
            }
            rows.push(SequentialRow {
                language: name.to_string(),
                variant: Some("first submission: compile and run"),
                tiderun: Summary::of(&[first.took]),
                bare: None,
                bare_cpu: None,
                bare_command: bare.command(),
                errors,
                cache_hits: usize::from(first.cached),
            });
        }
        let (mut ours, mut theirs) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
        let mut errors = Errors::default();
        let mut cache_hits = 0;
        // The bare runs' CPU: the harness's reaped children's time (the server, its other
        // child, is reaped only at the end).
        let mut bare_cpu = Some(Duration::ZERO);
        let mut run_bare = |theirs: &mut Vec<Duration>| -> anyhow::Result<()> {
            let before = crate::cpu::own_and_children().map(|c| c.1);
            theirs.push(bare.run_once()?.0);
            let after = crate::cpu::own_and_children().map(|c| c.1);
            bare_cpu = bare_cpu
                .zip(before.zip(after))
                .map(|(sum, (b, a))| sum + a.saturating_sub(b));
            Ok(())
        };
        let started = Instant::now();
        for i in 0..runs {
            if started.elapsed() > SEQUENTIAL_BUDGET {
                break;
            }
            // Alternate which goes first, so neither always follows the other's teardown.
            if i % 2 == 1 {
                run_bare(&mut theirs)?;
            }
            let reply = client.run(&body).await;
            match check(&reply) {
                Some(e) => errors.add(e),
                None => ours.push(reply.took),
            }
            cache_hits += usize::from(reply.cached);
            if i % 2 == 0 {
                run_bare(&mut theirs)?;
            }
        }
        let bare_cpu = bare_cpu
            .filter(|_| !theirs.is_empty())
            .map(|sum| sum / theirs.len() as u32);
        rows.push(SequentialRow {
            language: name.to_string(),
            variant: lang.compiled.then_some("resubmitted: build cache hit"),
            tiderun: Summary::of(&ours),
            bare: Some(Summary::of(&theirs)),
            bare_cpu,
            bare_command: bare.command(),
            errors,
            cache_hits,
        });
    }
    Ok((rows, skipped))
}

/// Scenario 1b's result.
#[derive(Debug, Clone)]
pub struct Judge0Row {
    /// Recorded runs (after the warm-up).
    pub latency: Summary,
    pub errors: Errors,
    /// Runs sent before recording: the first arrival fills the pool.
    pub warm_up: usize,
    /// Over the recorded runs: Python run starts from a pool (`tiderun_starts_total`), and
    /// Python jobs that started a sandbox cold (`faas_coldstarts_total`); `None` when the
    /// server does not export it.
    pub warm: Option<f64>,
    pub cold: Option<f64>,
}

/// Judge0's id of Python 3 (`language_id` 71).
const JUDGE0_PYTHON: u64 = 71;
/// The counter of run starts, labelled `start="warm|cold"`.
const STARTS: &str = "tiderun_starts_total";
/// The counter of jobs that started a sandbox cold, whichever API and pool.
const COLD_JOBS: &str = "faas_coldstarts_total";

/// Scenario 1b: Python's hello world through Judge0's `POST /submissions?wait=true`, naming no
/// limit (so Judge0 1.13.1's defaults apply: 5 s CPU, 10 s wall, 1024 KB files), `runs` times
/// back to back. The first tenth is a warm-up, not recorded; the server's counters of warm
/// starts and of cold-started jobs say which the recorded runs were.
pub async fn judge0(client: &Client, hello: &str, runs: usize) -> Judge0Row {
    eprintln!("bench e2e: judge0 wait=true python");
    let body = Client::judge0_body(JUDGE0_PYTHON, hello);
    let warm_up = (runs / WARM_UP_FRACTION as usize).max(1);
    for _ in 0..warm_up {
        client.judge0_wait(&body).await;
    }
    let counts = || async {
        let warm = ["phase=\"run\"", "runtime=\"python\"", "start=\"warm\""];
        let warm = client.metric_sum_with(STARTS, &warm).await.ok().flatten();
        let cold = client
            .metric_sum_with(COLD_JOBS, &["runtime=\"python\""])
            .await
            .ok()
            .flatten();
        (warm, cold)
    };
    let (warm0, cold0) = counts().await;
    let (mut took, mut errors) = (Vec::with_capacity(runs), Errors::default());
    for _ in 0..runs {
        let reply = client.judge0_wait(&body).await;
        match reply.error {
            Some(e) => errors.add(e),
            None if reply.stdout != "Hello, world!\n" => errors.add(format!("printed {:?}", reply.stdout)),
            None => took.push(reply.took),
        }
    }
    let (warm1, cold1) = counts().await;
    Judge0Row {
        latency: Summary::of(&took),
        errors,
        warm_up,
        warm: warm0.zip(warm1).map(|(a, b)| b - a),
        cold: cold0.zip(cold1).map(|(a, b)| b - a),
    }
}

/// One concurrency level of scenario 2.
#[derive(Debug, Clone)]
pub struct Level {
    pub concurrency: usize,
    pub latency: Summary,
    pub errors: Errors,
    pub runs_per_s: f64,
    /// The machine's busy CPU time over the recorded part less the harness's own, per run
    /// answered: the server's whole cost on a quiet machine (see [`crate::cpu`]).
    pub cpu_per_run: Option<Duration>,
}

/// Scenario 2: `concurrency` clients each sending the run back to back for `duration`; the
/// first tenth is a warm-up and is not recorded.
pub async fn concurrency(client: &Client, body: &str, levels: &[usize], duration: Duration) -> Vec<Level> {
    let mut out = Vec::new();
    for &c in levels {
        eprintln!("bench e2e: concurrency {c}");
        let start = Instant::now();
        let record_from = start + duration / WARM_UP_FRACTION;
        let deadline = start + duration;
        let tasks: Vec<_> = (0..c)
            .map(|_| {
                let (client, body) = (client.clone(), body.to_string());
                tokio::spawn(async move {
                    let (mut took, mut errors) = (Vec::new(), Errors::default());
                    while Instant::now() < deadline {
                        let sent = Instant::now();
                        let reply = client.run(&body).await;
                        if sent < record_from {
                            continue;
                        }
                        match reply.error {
                            Some(e) => errors.add(e),
                            None => took.push(reply.took),
                        }
                    }
                    (took, errors)
                })
            })
            .collect();
        tokio::time::sleep_until(record_from.into()).await;
        let cpu = crate::cpu::Window::start();
        let (mut took, mut errors) = (Vec::new(), Errors::default());
        for t in tasks {
            match t.await {
                Ok((t, e)) => {
                    took.extend(t);
                    errors.merge(e);
                }
                Err(e) => errors.add(format!("client task failed: {e}")),
            }
        }
        let window = record_from.elapsed().as_secs_f64();
        let answered = (took.len() + errors.count).max(1) as u32;
        out.push(Level {
            cpu_per_run: cpu.and_then(|w| w.others()).map(|d| d / answered),
            concurrency: c,
            // Successful runs only: a server that fails fast must not look fast.
            runs_per_s: took.len() as f64 / window.max(1e-9),
            latency: Summary::of(&took),
            errors,
        });
    }
    out
}

/// Scenario 3's result.
#[derive(Debug, Clone)]
pub struct Burst {
    pub size: usize,
    pub latency: Summary,
    pub errors: Errors,
    /// From the release of the burst to the last answer.
    pub all_done: Duration,
    /// What was waited for before it.
    pub idle: IdleWait,
}

/// Scenario 3: `size` runs released at the same instant.
pub async fn burst(client: &Client, body: &str, size: usize, idle: IdleWait) -> Burst {
    eprintln!("bench e2e: burst of {size}");
    let gate = Arc::new(tokio::sync::Barrier::new(size + 1));
    let tasks: Vec<_> = (0..size)
        .map(|_| {
            let (client, body, gate) = (client.clone(), body.to_string(), Arc::clone(&gate));
            tokio::spawn(async move {
                gate.wait().await;
                client.run(&body).await
            })
        })
        .collect();
    gate.wait().await;
    let released = Instant::now();
    let (mut took, mut errors) = (Vec::new(), Errors::default());
    for t in tasks {
        match t.await {
            Ok(Reply { error: Some(e), .. }) => errors.add(e),
            Ok(reply) => took.push(reply.took),
            Err(e) => errors.add(format!("client task failed: {e}")),
        }
    }
    Burst {
        size,
        all_done: released.elapsed(),
        latency: Summary::of(&took),
        errors,
        idle,
    }
}

/// How the harness knew the server was idle.
#[derive(Debug, Clone)]
pub enum IdleWait {
    /// The server has no warm pools (no `--pool-idle-s`): a short settle only.
    NoPools(Duration),
    /// The pools' gauge summed to zero after this long.
    Drained(Duration),
    /// The server has pools but no gauge: their idle time was waited.
    IdleTime(Duration),
    /// The gauge was still above zero at the timeout.
    NotDrained { after: Duration, left: f64 },
}

impl IdleWait {
    pub fn describe(&self) -> String {
        let s = |d: &Duration| format!("{:.1} s", d.as_secs_f64());
        match self {
            IdleWait::NoPools(d) => format!("the server has no warm pools (no `--pool-idle-s`); settled {}", s(d)),
            IdleWait::Drained(d) => format!(
                "pools drained to zero (sum of `{POOL_GAUGE}` = 0 but the fork servers kept idle) after {}",
                s(d)
            ),
            IdleWait::IdleTime(d) => format!("no `{POOL_GAUGE}` gauge; waited the pools' idle time, {}", s(d)),
            IdleWait::NotDrained { after, left } => {
                format!("pools NOT drained after {}: `{POOL_GAUGE}` still {left}", s(after))
            }
        }
    }
}

/// Wait until the server's warm pools are empty (see [`IdleWait`]).
pub async fn wait_idle(client: &Client, server: &Server) -> IdleWait {
    let started = Instant::now();
    let Some(idle_s) = server.pool_idle_s else {
        tokio::time::sleep(NO_POOL_SETTLE).await;
        return IdleWait::NoPools(started.elapsed());
    };
    eprintln!("bench e2e: waiting for the pools to drain");
    tokio::time::sleep(Duration::from_secs(idle_s)).await;
    let deadline = started + Duration::from_secs(idle_s) + POOL_DRAIN_TIMEOUT;
    loop {
        // A failed scrape counts as "not drained yet".
        let left = match client.pooled_but_fork_servers().await {
            Ok(None) => return IdleWait::IdleTime(started.elapsed()),
            Ok(Some(n)) if n <= 0.0 => return IdleWait::Drained(started.elapsed()),
            Ok(Some(n)) => n,
            Err(_) => f64::NAN,
        };
        if Instant::now() > deadline {
            return IdleWait::NotDrained {
                after: started.elapsed(),
                left,
            };
        }
        tokio::time::sleep(POOL_POLL).await;
    }
}
