//! `tiderun bench e2e`: the whole service measured from outside, in one run. The harness
//! starts `tiderun serve` as a child process and measures, through `POST /api/v1/run`:
//! 1. sequential hello world per language against the bare process started by the harness;
//!    then (1b) Python's through Judge0's `wait=true`, no limit named;
//! 2. a hello world (Python's, or `--language`'s) at several concurrencies (runs/s, p50, p99,
//!    errors);
//! 3. a burst of its runs released at once after the warm pools drained to zero;
//! 4. the server's resident memory when idle after scale-to-zero.
//!
//! The report is markdown with the machine, the command and a target column per table.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

mod bare;
pub(crate) mod client;
mod report;
pub(crate) mod scenarios;
pub(crate) mod server;

pub use report::Report;

/// Runs of each language in scenario 1.
pub const DEFAULT_RUNS: usize = 200;
/// Seconds of each concurrency level in scenario 2.
pub const DEFAULT_DURATION_S: f64 = 10.0;
/// The concurrency levels of scenario 2.
pub const DEFAULT_CONCURRENCY: &[usize] = &[1, 8, 32, 128];
/// Runs released at once in scenario 3.
pub const DEFAULT_BURST: usize = 200;
/// Upper bounds, so a typo cannot start a day-long run or exhaust descriptors.
pub const MAX_RUNS: usize = 100_000;
pub const MAX_DURATION_S: f64 = 3600.0;
pub const MAX_CONCURRENCY: usize = 1024;
pub const MAX_BURST: usize = 1024;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `tiderun` binary to start as `tiderun serve` (this one, or another build to compare).
    pub server_exe: PathBuf,
    /// More `serve` arguments (`--max-concurrent=16`); they win over the harness's own.
    pub server_args: Vec<String>,
    pub runs: usize,
    /// Judge0 `wait=true` runs in scenario 1b.
    pub judge0_runs: usize,
    pub duration: Duration,
    pub concurrency: Vec<usize>,
    pub burst: usize,
    /// The runtime of scenarios 2 and 3 (`python`).
    pub language: String,
    /// The command line, for the report.
    pub command: String,
}

impl Options {
    /// Check the numbers against their bounds.
    pub fn check(&self) -> anyhow::Result<()> {
        let secs = self.duration.as_secs_f64();
        anyhow::ensure!((1..=MAX_RUNS).contains(&self.runs), "--runs must be 1 to {MAX_RUNS}");
        anyhow::ensure!(
            (1..=MAX_RUNS).contains(&self.judge0_runs),
            "--judge0-runs must be 1 to {MAX_RUNS}"
        );
        anyhow::ensure!(
            secs > 0.0 && secs <= MAX_DURATION_S,
            "--duration-s must be above 0 and at most {MAX_DURATION_S}"
        );
        anyhow::ensure!(
            !self.concurrency.is_empty() && self.concurrency.iter().all(|c| (1..=MAX_CONCURRENCY).contains(c)),
            "--concurrency must be a list of 1 to {MAX_CONCURRENCY}"
        );
        anyhow::ensure!(
            (1..=MAX_BURST).contains(&self.burst),
            "--burst must be 1 to {MAX_BURST}"
        );
        Ok(())
    }
}

/// Start the server, run the four scenarios, stop the server.
pub fn run(opts: &Options) -> anyhow::Result<Report> {
    opts.check()?;
    // One runtime on one thread: the client shares the cores with the server.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(measure(opts))
}

async fn measure(opts: &Options) -> anyhow::Result<Report> {
    let machine = crate::machine::Machine::detect();
    let load_at_start = crate::machine::load_average();
    let mut server = server::Server::start(&opts.server_exe, &opts.server_args)?;
    let client = client::Client::new(&server.base)?;
    server.wait_ready(client.http()).await?;
    let rss_at_start_kib = server.rss_kib()?;
    let languages = client.languages().await?;
    let work = tempfile::Builder::new().prefix("tiderun-bench-bare-").tempdir()?;

    let (sequential, skipped) = scenarios::sequential(&client, &languages, opts.runs, work.path()).await?;
    let python = languages
        .iter()
        .find(|l| l.name == "python" && l.installed)
        .context("scenario 1b needs Python, which the server does not have")?;
    let judge0 = scenarios::judge0(&client, &python.hello, opts.judge0_runs).await;
    let loaded = languages
        .iter()
        .find(|l| l.name == opts.language && l.installed)
        .with_context(|| {
            format!(
                "scenarios 2 and 3 run {}, which the server does not have",
                opts.language
            )
        })?;
    let body = client::Client::run_body(&loaded.name, &loaded.hello);
    let levels = scenarios::concurrency(&client, &body, &opts.concurrency, opts.duration).await;
    let idle = scenarios::wait_idle(&client, &server).await;
    let burst = scenarios::burst(&client, &body, opts.burst, idle).await;
    let idle_after = scenarios::wait_idle(&client, &server).await;
    let rss_idle_kib = server.rss_kib()?;
    let server_args = server.args.clone();
    server.stop()?;
    Ok(Report {
        machine,
        command: opts.command.clone(),
        server_args,
        load_at_start,
        load_at_end: crate::machine::load_average(),
        sequential,
        skipped,
        judge0,
        language: loaded.name.clone(),
        levels,
        burst,
        rss_at_start_kib,
        rss_idle_kib,
        idle_after,
    })
}
