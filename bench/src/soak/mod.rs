//! `tiderun bench soak`: one real `tiderun serve` under mixed load for a while — hello worlds
//! through the three APIs, C compiles, interactive WebSocket sessions, hostile programs (only
//! ever through the server, so inside its sandbox), malformed and oversized requests, slow
//! clients, the store — and then its bounds checked:
//! - no 5xx but the documented ones (queue full, database unavailable or full, shutting down),
//!   every answer what the API promises (a hello world prints hello, a malformed request gets a
//!   4xx, a hostile program ends with a limit, never `ok` or `internal_error`);
//! - the server's resident memory stays under a bound;
//! - afterwards, when the warm pools drained, no more descriptors, threads, child processes,
//!   run cgroups, mounts or held network namespaces than after the warm-up;
//! - the server stops cleanly on SIGTERM.
//!
//! The report gives every figure (requests, statuses, p50/p99 per kind, memory and resources
//! before, during and after) and lists the violated bounds; the command fails when there is one.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::e2e::client::{pooled_but_fork_servers, Client};
use crate::e2e::server::Server;

mod host;
mod load;
mod report;
mod slow;
mod tally;

pub use host::Reading;
pub use report::Report;
use slow::Slow;
use tally::{Event, Tally};

/// The full soak: ten minutes.
pub const DEFAULT_DURATION_S: f64 = 600.0;
/// Upper bound, so a typo cannot start a week-long run.
pub const MAX_DURATION_S: f64 = 86_400.0;
/// Below this the warm-up and the settling dominate and the figures mean little.
pub const MIN_DURATION_S: f64 = 10.0;
/// The server's resident memory may not pass this (MiB). Idle it holds ~20 MiB; the largest
/// answers of the mix (a 16 MiB output flood) and the build cache of the compile load come on
/// top, a few at once.
pub const DEFAULT_MAX_RSS_MB: u64 = 384;
/// Clients sending hello worlds back to back (the rest of the mix has one client per kind).
pub const DEFAULT_HELLO_CLIENTS: usize = 3;
pub const MAX_HELLO_CLIENTS: usize = 256;
/// The warm-up: this fraction of the duration, within [`WARM_UP_MIN`, `WARM_UP_MAX`]. Its
/// load opens what the server keeps open for good (store connections, the tokio worker
/// threads), so the baseline after it holds them.
const WARM_UP_FRACTION: f64 = 0.1;
const WARM_UP_MIN: Duration = Duration::from_secs(5);
const WARM_UP_MAX: Duration = Duration::from_secs(60);
/// Snippets saved at once in the warm-up: more than the store's connection pool holds.
const STORE_BURST: usize = 32;
/// How often the server's memory, descriptors and threads are read under load.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How often `/healthz` is asked, on a new connection each time.
const HEALTHZ_EVERY: Duration = Duration::from_millis(500);
/// After the load: how long the pools may take to drain to zero...
const DRAIN_TIMEOUT: Duration = Duration::from_secs(90);
/// ...and then descriptors, threads and the rest to come back to the baseline (idle tokio
/// blocking threads exit after 10 s).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `tiderun` binary to start as `tiderun serve`.
    pub server_exe: PathBuf,
    /// More `serve` arguments (`--database-url=postgres://…`); they win over the harness's.
    pub server_args: Vec<String>,
    pub duration: Duration,
    pub max_rss_mb: u64,
    pub hello_clients: usize,
    /// The command line, for the report.
    pub command: String,
}

impl Options {
    pub fn check(&self) -> anyhow::Result<()> {
        let secs = self.duration.as_secs_f64();
        anyhow::ensure!(
            (MIN_DURATION_S..=MAX_DURATION_S).contains(&secs),
            "--duration-s must be {MIN_DURATION_S} to {MAX_DURATION_S}"
        );
        anyhow::ensure!(self.max_rss_mb > 0, "--max-rss-mb must be above 0");
        anyhow::ensure!(
            (1..=MAX_HELLO_CLIENTS).contains(&self.hello_clients),
            "--hello-clients must be 1 to {MAX_HELLO_CLIENTS}"
        );
        Ok(())
    }

    fn warm_up(&self) -> Duration {
        self.duration.mul_f64(WARM_UP_FRACTION).clamp(WARM_UP_MIN, WARM_UP_MAX)
    }
}

/// Start the server, load it, check it, stop it.
pub fn run(opts: &Options) -> anyhow::Result<Report> {
    opts.check()?;
    // One thread for every client: the server gets the cores.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(soak(opts))
}

/// Minimum and maximum of the samples taken under load.
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    pub min: u64,
    pub max: u64,
}

impl Range {
    fn add(&mut self, v: u64) {
        if self.max == 0 && self.min == 0 {
            *self = Range { min: v, max: v };
        }
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }
}

/// The samples under load.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub n: usize,
    pub rss_kib: Range,
    pub fds: Range,
    pub threads: Range,
    pub descendants: Range,
    /// The highest VmRSS (KiB) in each tenth of the load after the warm-up: flat once the
    /// caches are full, rising if something leaks.
    pub rss_trend_kib: [u64; TREND_PARTS],
}

/// The parts of the load the memory trend is given for.
pub const TREND_PARTS: usize = 10;

async fn soak(opts: &Options) -> anyhow::Result<Report> {
    let machine = crate::machine::Machine::detect();
    let load_at_start = crate::machine::load_average();
    let started_at = chrono::Utc::now();
    let mut server = Server::start(&opts.server_exe, &opts.server_args)?;
    let pid = server.pid();
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(load::REQUEST_TIMEOUT)
        .build()?;
    server.wait_ready(&probe).await?;
    let languages = Client::new(&server.base)?.languages().await?;
    let installed = |name: &str| languages.iter().any(|l| l.name == name && l.installed);
    anyhow::ensure!(
        installed("python") && installed("c"),
        "the soak needs Python and C on the server"
    );
    let (has_javascript, has_bash) = (installed("javascript"), installed("bash"));
    let host_netns_before = host::host_netns();
    let start = Reading::take(pid);

    let tally = Tally::default();
    let mut samples = Samples::default();
    let warm_up = opts.warm_up();
    eprintln!("bench soak: warm-up for {warm_up:?}");
    {
        let target = load::Target::new(&server.base, has_javascript, has_bash)?;
        load::store_burst(&target, &tally, STORE_BURST).await;
        mix(opts, &target, &server, &probe, &tally, &mut samples, warm_up, 0).await;
    }
    let (drained_warm, _) = drain(&probe, &server.base).await;
    anyhow::ensure!(drained_warm, "the warm pools did not drain after the warm-up");
    let baseline = Reading::take(pid);
    eprintln!("bench soak: baseline {baseline:?}; load for {:?}", opts.duration);

    let load_started = Instant::now();
    {
        let target = load::Target::new(&server.base, has_javascript, has_bash)?;
        mix(opts, &target, &server, &probe, &tally, &mut samples, opts.duration, 1).await;
    }
    let load_took = load_started.elapsed();
    eprintln!("bench soak: load done; waiting for the server to settle");
    let settle_started = Instant::now();
    let (drained, drain_took) = drain(&probe, &server.base).await;
    let end = settle(pid, &baseline).await;
    let settle_took = settle_started.elapsed();
    let host_netns_after = host::host_netns();
    let rss_end_kib = end.rss_kib;
    let server_args = server.args.clone();
    let log_tail = server.stderr_tail();
    let stop = server.stop().map_err(|e| format!("{e:#}"));
    Ok(Report {
        machine,
        command: opts.command.clone(),
        server_args,
        store: store_backend(&opts.server_args),
        started_at,
        load_at_start,
        load_at_end: crate::machine::load_average(),
        warm_up,
        load_took,
        kinds: tally.snapshot(),
        start,
        baseline,
        end,
        samples,
        rss_end_kib,
        max_rss_mb: opts.max_rss_mb,
        drained,
        drain_took,
        settle_took,
        host_netns_before,
        host_netns_after,
        stop,
        log_tail,
    })
}

type Task<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Every kind of load at once, for `length`; the server sampled meanwhile.
#[allow(clippy::too_many_arguments)]
async fn mix(
    opts: &Options,
    t: &load::Target,
    server: &Server,
    probe: &reqwest::Client,
    tally: &Tally,
    samples: &mut Samples,
    length: Duration,
    phase: u64,
) {
    let deadline = Instant::now() + length;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let ws_base = server.base.replacen("http://", "ws://", 1);
    let salt = chrono::Utc::now().timestamp_millis() as u64 % 1_000_000 + phase;
    // Each kind on connections of its own.
    let own = |t: &load::Target| t.own().unwrap_or_else(|_| t.clone());
    let targets: Vec<load::Target> = (0..opts.hello_clients + 5).map(|_| own(t)).collect();
    let (hello, rest) = targets.split_at(opts.hello_clients);
    let mut tasks: Vec<Task<'_>> = Vec::new();
    for (c, t) in hello.iter().enumerate() {
        tasks.push(Box::pin(load::hello(t, tally, deadline, c as u64)));
    }
    tasks.push(Box::pin(load::compile(&rest[0], tally, deadline, salt)));
    tasks.push(Box::pin(load::interactive(&rest[1], tally, deadline)));
    tasks.push(Box::pin(load::hostile(&rest[2], tally, deadline)));
    tasks.push(Box::pin(load::malformed(&rest[3], tally, deadline)));
    tasks.push(Box::pin(load::store(&rest[4], tally, deadline)));
    for kind in [
        Slow::Headers,
        Slow::Headers,
        Slow::Body,
        Slow::Idle,
        Slow::StalledReader,
    ] {
        let (addr, ws_base) = (addr.clone(), ws_base.clone());
        tasks.push(Box::pin(async move {
            slow::slow(&addr, &ws_base, kind, tally, deadline).await
        }));
    }
    tasks.push(Box::pin(healthz(probe, &server.base, tally, deadline)));
    let began = Instant::now();
    let sampler = async {
        let pid = server.pid();
        while Instant::now() < deadline {
            let r = Reading::take(pid);
            samples.n += 1;
            samples.rss_kib.add(r.rss_kib);
            samples.fds.add(r.fds);
            samples.threads.add(r.threads);
            samples.descendants.add(r.descendants);
            if phase == 1 {
                let part = (began.elapsed().as_secs_f64() / length.as_secs_f64() * TREND_PARTS as f64) as usize;
                let slot = &mut samples.rss_trend_kib[part.min(TREND_PARTS - 1)];
                *slot = (*slot).max(r.rss_kib);
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    };
    tokio::join!(futures_util::future::join_all(tasks), sampler);
}

/// `/healthz` on a fresh connection every [`HEALTHZ_EVERY`].
async fn healthz(probe: &reqwest::Client, base: &str, tally: &Tally, deadline: Instant) {
    let url = format!("{base}/healthz");
    while Instant::now() < deadline {
        let started = Instant::now();
        let got = probe.get(&url).send().await;
        let took = started.elapsed();
        let (status, problem) = match got {
            Ok(r) if r.status().is_success() => (r.status().as_u16().to_string(), None),
            Ok(r) => (
                r.status().as_u16().to_string(),
                Some(format!("/healthz answered {}", r.status())),
            ),
            Err(e) => ("connection error".to_owned(), Some(format!("/healthz: {e}"))),
        };
        tally.add(
            "healthz",
            Event {
                status,
                took,
                outcome: None,
                problem,
            },
        );
        tokio::time::sleep(HEALTHZ_EVERY.saturating_sub(took)).await;
    }
}

/// Wait until the warm pools hold no instance (servers without pools: at once). Fork servers
/// are left out: each runtime keeps its minimum (`--fork-servers-min`) while idle, and the
/// baseline is read with it. Whether they drained within [`DRAIN_TIMEOUT`], and how long it
/// took.
async fn drain(probe: &reqwest::Client, base: &str) -> (bool, Duration) {
    let started = Instant::now();
    loop {
        let text = match probe.get(format!("{base}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        match pooled_but_fork_servers(&text) {
            None => return (true, started.elapsed()),
            Some(0.0) => return (true, started.elapsed()),
            Some(_) if started.elapsed() > DRAIN_TIMEOUT => return (false, started.elapsed()),
            Some(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Read the server until everything is back to `baseline` or [`SETTLE_TIMEOUT`] passed; the
/// last reading.
async fn settle(pid: u32, baseline: &Reading) -> Reading {
    let started = Instant::now();
    loop {
        let r = Reading::take(pid);
        if report::growth(baseline, &r).is_empty() || started.elapsed() > SETTLE_TIMEOUT {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Where the server keeps its store: the last `--database-url` argument, else the
/// environment's `TIDERUN_DATABASE_URL` (which the server inherits), else SQLite.
fn store_backend(server_args: &[String]) -> &'static str {
    let url = server_args
        .iter()
        .rev()
        .find_map(|a| a.strip_prefix("--database-url=").map(str::to_owned))
        .or_else(|| std::env::var("TIDERUN_DATABASE_URL").ok())
        .unwrap_or_default();
    if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(duration_s: f64, max_rss_mb: u64, hello_clients: usize) -> Options {
        Options {
            server_exe: PathBuf::from("tiderun"),
            server_args: Vec::new(),
            duration: Duration::from_secs_f64(duration_s),
            max_rss_mb,
            hello_clients,
            command: String::new(),
        }
    }

    #[test]
    fn options_are_checked_against_their_bounds() {
        assert!(options(DEFAULT_DURATION_S, DEFAULT_MAX_RSS_MB, DEFAULT_HELLO_CLIENTS)
            .check()
            .is_ok());
        assert!(options(MIN_DURATION_S, 1, 1).check().is_ok());
        assert!(options(MAX_DURATION_S, 1, MAX_HELLO_CLIENTS).check().is_ok());
        for bad in [
            options(MIN_DURATION_S - 1.0, 1, 1),
            options(MAX_DURATION_S + 1.0, 1, 1),
            options(60.0, 0, 1),
            options(60.0, 1, 0),
            options(60.0, 1, MAX_HELLO_CLIENTS + 1),
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_warm_up_is_a_tenth_within_its_bounds() {
        assert_eq!(options(600.0, 1, 1).warm_up(), Duration::from_secs(60));
        assert_eq!(options(60.0, 1, 1).warm_up(), Duration::from_secs(6));
        assert_eq!(options(10.0, 1, 1).warm_up(), WARM_UP_MIN);
        assert_eq!(options(86_400.0, 1, 1).warm_up(), WARM_UP_MAX);
    }

    #[test]
    fn the_store_is_named_by_the_server_arguments() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(store_backend(&args(&["--database-url=postgres://x@y/z"])), "postgres");
        assert_eq!(
            store_backend(&args(&[
                "--database-url=postgres://x@y/z",
                "--database-url=sqlite:///tmp/a.db"
            ])),
            "sqlite"
        );
    }
}
