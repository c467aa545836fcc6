//! The `tiderun` command: `run` a program in the sandbox, list `runtimes`, check the host
//! with `doctor`. Owns argument parsing and printing; all work is done by the engine, the
//! catalog and the sandbox. Must never hold run logic of its own.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod doctor;
mod keys_cmd;
mod run;
mod runtimes_cmd;
mod serve;
mod usage_cmd;

#[derive(Debug, Parser)]
#[command(
    name = "tiderun",
    version,
    about = "A fast, safe code runner for programming classes"
)]
struct Cli {
    /// A directory of runtime files (*.toml) that add to or replace the built-in ones.
    #[arg(long, global = true, env = "TIDERUN_RUNTIMES_DIR")]
    runtimes_dir: Option<PathBuf>,
    /// As root: the first host uid of the sandbox's slots (one per concurrent run; the runs'
    /// init is this minus one). In a container with its own user namespace (Kubernetes'
    /// `hostUsers: false`: ids 0-65535) it must leave every slot inside the mapped range,
    /// e.g. 60000. Ignored without root, where every run is the caller's uid.
    #[arg(long, global = true, env = "TIDERUN_SANDBOX_UID_BASE",
          default_value_t = sandbox::DEFAULT_UID_BASE,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SANDBOX_UID_BASE)))]
    sandbox_uid_base: u32,
    /// How log lines are written to stderr: `text` (for people) or `json` (one JSON object per
    /// line, for a log collector). Levels and targets: TIDERUN_LOG (default
    /// `warn,tiderun::run=info`: warnings, and the one line per run).
    #[arg(long, global = true, env = "TIDERUN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// The log filter when TIDERUN_LOG is not set: warnings, and the run log line (INFO, target
/// `tiderun::run`, one per run).
const DEFAULT_LOG_FILTER: &str = "warn,tiderun::run=info";

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a program in the sandbox: the first file is the main one.
    Run(Box<run::RunArgs>),
    /// Serve the classroom page and the HTTP APIs (native, Piston v2, Judge0 CE).
    ///
    /// Open http://ADDR/ for the classroom page: an editor, a live console, exercises and
    /// share links. The APIs: /api/v1 (native; its OpenAPI document at /api/v1/openapi.json),
    /// /api/v2 (Piston) and the root (Judge0 CE: /submissions, /languages...). Exercises come
    /// from --exercises-dir (one TOML file each) and, when API tokens are set, from
    /// POST /api/v1/exercises.
    Serve(Box<serve::ServeArgs>),
    /// API keys of the server's store: create (prints the key once), list, revoke.
    Keys(keys_cmd::KeysArgs),
    /// List the languages, their versions and whether they are installed.
    ///
    /// `tiderun runtimes install NAME... | --all` installs the packages the runtime files list
    /// (apt-get, npm; as root), then lists them again.
    Runtimes {
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: Option<RuntimesAction>,
    },
    /// Show what this kernel and host let the sandbox enforce.
    Doctor,
    /// Print the usage per UTC day, key and runtime from the store (what `GET /api/v1/usage`
    /// answers): runs, errors, limits hit, CPU-, wall- and GB-seconds.
    Usage(usage_cmd::UsageArgs),
    /// Measure tiderun against the bare process and print a markdown table.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(Debug, Subcommand)]
enum RuntimesAction {
    /// Install runtimes' toolchains: the packages their runtime files list under [install]
    /// (apt-get install --no-install-recommends after apt-get update; npm install -g), and only
    /// those. Needs root. Then detects again and prints the table.
    Install(runtimes_cmd::InstallArgs),
}

#[derive(Debug, Subcommand)]
enum BenchWhat {
    /// Per-run sandbox overhead: prebuilt C hello world, sandboxed vs bare, interleaved.
    Sandbox {
        /// Runs of each path.
        #[arg(long, default_value_t = 500)]
        runs: usize,
    },
    /// The service end to end: starts `tiderun serve` and measures sequential latency per
    /// language against the bare process, throughput under concurrency, a burst from idle
    /// and the idle server's memory.
    E2e(E2eArgs),
    /// Every installed runtime's own hello world through the service — a first submission (a
    /// compile, for compiled languages) and the same again (a build cache hit) — beside its
    /// bare compile and run commands from the catalog, interleaved: one table, p50 and p99.
    Languages(LanguagesArgs),
    /// An edited C++ hello world (`<bits/stdc++.h>`, `<iostream>`) compiled and run through the
    /// service, with precompiled headers off and on, alternating servers: p50, p99, CPU per
    /// request at each client level. Needs root (precompiled headers do).
    Compile(CompileArgs),
    /// The service under mixed load and hostile clients for a while (10 minutes by default),
    /// then its bounds checked: no undocumented 5xx, bounded memory, no leaked descriptors,
    /// threads, processes, cgroups, mounts or network namespaces. Fails when one is violated.
    Soak(SoakArgs),
    /// Asynchronous Judge0 submissions through one node and through three on this machine
    /// (the same workers in total): submissions per second and the latency from submit to
    /// result, p50 and p99. Needs Postgres (`--database-url`) and `nats-server`.
    Nodes(NodesArgs),
}

#[derive(Debug, clap::Args)]
struct CompileArgs {
    /// Requests of each program at each client level (shared out among the clients).
    #[arg(long, default_value_t = bench::compile::DEFAULT_REQUESTS)]
    requests: usize,
    /// Client levels (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = bench::compile::DEFAULT_CLIENTS.to_vec())]
    clients: Vec<usize>,
    /// Rounds of one server without precompiled headers, then one with.
    #[arg(long, default_value_t = bench::compile::DEFAULT_ROUNDS)]
    rounds: usize,
    /// Where the servers keep precompiled headers (default: a temporary directory in /var/cache).
    #[arg(long)]
    headers_dir: Option<PathBuf>,
    /// The `tiderun` binary to measure (default: this one).
    #[arg(long)]
    server_exe: Option<PathBuf>,
    /// Also write the markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// An argument for `tiderun serve` (repeat).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct NodesArgs {
    /// The Postgres the nodes share (`postgres://USER@HOST:PORT/DB`).
    #[arg(long)]
    database_url: String,
    /// Submissions measured per scenario.
    #[arg(long, default_value_t = bench::nodes::DEFAULT_SUBMISSIONS)]
    submissions: usize,
    /// Submissions in flight from the client at once.
    #[arg(long, default_value_t = bench::nodes::DEFAULT_CLIENTS)]
    clients: usize,
    /// Workers (and run slots) of all nodes together, a multiple of 3.
    #[arg(long, default_value_t = bench::nodes::DEFAULT_WORKERS)]
    workers: usize,
    /// The nats-server binary (default: from PATH or /usr/sbin).
    #[arg(long)]
    nats_server: Option<PathBuf>,
    /// Also write the markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct SoakArgs {
    /// Seconds of load after the warm-up.
    #[arg(long, default_value_t = bench::soak::DEFAULT_DURATION_S)]
    duration_s: f64,
    /// The server's resident memory may not pass this many MiB.
    #[arg(long, default_value_t = bench::soak::DEFAULT_MAX_RSS_MB)]
    max_rss_mb: u64,
    /// Clients sending hello worlds back to back.
    #[arg(long, default_value_t = bench::soak::DEFAULT_HELLO_CLIENTS)]
    hello_clients: usize,
    /// Also write the markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// An argument for `tiderun serve` (repeat; `--server-arg=--database-url=postgres://…`).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct E2eArgs {
    /// Runs of each language in the sequential comparison.
    #[arg(long, default_value_t = bench::e2e::DEFAULT_RUNS)]
    runs: usize,
    /// Judge0 `wait=true` Python runs (no limit named); default: `--runs`.
    #[arg(long)]
    judge0_runs: Option<usize>,
    /// The `tiderun` binary to measure (default: this one), e.g. an earlier build to compare.
    #[arg(long)]
    server_exe: Option<PathBuf>,
    /// Seconds of each concurrency level.
    #[arg(long, default_value_t = bench::e2e::DEFAULT_DURATION_S)]
    duration_s: f64,
    /// Concurrency levels (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = bench::e2e::DEFAULT_CONCURRENCY.to_vec())]
    concurrency: Vec<usize>,
    /// Runs released at once after the pools drained.
    #[arg(long, default_value_t = bench::e2e::DEFAULT_BURST)]
    burst: usize,
    /// The runtime whose hello world the concurrency levels and the burst run.
    #[arg(long, default_value = "python")]
    language: String,
    /// Also write the markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// An argument for `tiderun serve` (repeat; `--server-arg=--max-concurrent=16`).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct LanguagesArgs {
    /// A runtime to measure, by name or alias (repeat; default: every installed runtime).
    #[arg(long = "language")]
    languages: Vec<String>,
    /// Recorded rounds per language (default: 5 for compiled languages, 10 for interpreted).
    #[arg(long)]
    runs: Option<usize>,
    /// Seconds one language's rounds may take; the round that passes it is its last.
    #[arg(long, default_value_t = bench::languages::DEFAULT_BUDGET_S)]
    budget_s: f64,
    /// The `tiderun` binary to measure (default: this one).
    #[arg(long)]
    server_exe: Option<PathBuf>,
    /// Also write the markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// An argument for `tiderun serve` (repeat; `--server-arg=--max-concurrent=16`).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
}

/// The highest `--sandbox-uid-base`: its last slot stays below 2^32 - 1, which the kernel
/// reserves for "no id".
const MAX_SANDBOX_UID_BASE: u32 = u32::MAX - sandbox::DEFAULT_SLOTS - 1;

/// The sandbox's host-wide settings from the global flags, set once before a command runs.
/// (A static rather than a parameter of every command's `main`: `run`, `serve` and `doctor`
/// each make their sandbox deep inside, and only this one value comes from the command line.)
static SANDBOX_UID_BASE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// The options every command makes its sandbox with.
fn sandbox_options() -> sandbox::SandboxOptions {
    sandbox::SandboxOptions {
        uid_base: SANDBOX_UID_BASE.get().copied().unwrap_or(sandbox::DEFAULT_UID_BASE),
        ..sandbox::SandboxOptions::default()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("TIDERUN_LOG").unwrap_or_else(|_| DEFAULT_LOG_FILTER.into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // One object per line: the event's fields at the top level (`run_id`, `key`...), its
        // spans' fields in `spans`.
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
    }
    SANDBOX_UID_BASE
        .set(cli.sandbox_uid_base)
        .expect("set once, before any command runs");
    let result = match cli.command {
        Command::Run(args) => run::main(cli.runtimes_dir.as_deref(), *args),
        Command::Serve(args) => serve::main(cli.runtimes_dir.as_deref(), *args),
        Command::Keys(args) => keys_cmd::main(args),
        Command::Runtimes { json, action: None } => runtimes_cmd::main(cli.runtimes_dir.as_deref(), json),
        Command::Runtimes {
            json,
            action: Some(RuntimesAction::Install(args)),
        } => runtimes_cmd::install(cli.runtimes_dir.as_deref(), json, args),
        Command::Doctor => doctor::main(cli.runtimes_dir.as_deref()),
        Command::Usage(args) => usage_cmd::main(args),
        Command::Bench {
            what: BenchWhat::Sandbox { runs },
        } => bench::sandbox_overhead::run(runs).map(|report| {
            println!("{}", report.markdown());
            ExitCode::SUCCESS
        }),
        Command::Bench {
            what: BenchWhat::E2e(args),
        } => bench_e2e(cli.runtimes_dir.as_deref(), args),
        Command::Bench {
            what: BenchWhat::Languages(args),
        } => bench_languages(cli.runtimes_dir.as_deref(), args),
        Command::Bench {
            what: BenchWhat::Soak(args),
        } => bench_soak(cli.runtimes_dir.as_deref(), args),
        Command::Bench {
            what: BenchWhat::Nodes(args),
        } => bench_nodes(args),
        Command::Bench {
            what: BenchWhat::Compile(args),
        } => bench_compile(cli.runtimes_dir.as_deref(), args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line: the error and its causes.
            let mut line = format!("tiderun: {e}");
            for cause in e.chain().skip(1) {
                line.push_str(&format!(": {cause}"));
            }
            eprintln!("{line}");
            ExitCode::from(2)
        }
    }
}

/// Load the catalog (built-in plus override dir) and detect the installed toolchains.
fn load_catalog(dir: Option<&std::path::Path>) -> anyhow::Result<runtimes::Catalog> {
    let mut catalog = runtimes::Catalog::load(dir)?;
    catalog.detect();
    Ok(catalog)
}

/// The binary a bench harness starts as `tiderun serve` (`--server-exe`, else this one), with
/// the caller's `--runtimes-dir` passed on first.
fn server_under_test(
    runtimes_dir: Option<&std::path::Path>,
    exe: Option<std::path::PathBuf>,
    server_args: &mut Vec<String>,
) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    if let Some(dir) = runtimes_dir {
        server_args.insert(0, format!("--runtimes-dir={}", dir.display()));
    }
    match exe {
        Some(exe) => Ok(exe),
        None => std::env::current_exe().context("cannot find this executable"),
    }
}

/// `tiderun bench e2e`: this very binary is the server under test.
fn bench_e2e(runtimes_dir: Option<&std::path::Path>, mut a: E2eArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    if !a.duration_s.is_finite() || a.duration_s <= 0.0 || a.duration_s > bench::e2e::MAX_DURATION_S {
        anyhow::bail!(
            "--duration-s must be above 0 and at most {}",
            bench::e2e::MAX_DURATION_S
        );
    }
    let server_exe = server_under_test(runtimes_dir, a.server_exe, &mut a.server_args)?;
    let opts = bench::e2e::Options {
        server_exe,
        server_args: a.server_args,
        runs: a.runs,
        judge0_runs: a.judge0_runs.unwrap_or(a.runs),
        duration: std::time::Duration::from_secs_f64(a.duration_s),
        concurrency: a.concurrency,
        burst: a.burst,
        language: a.language,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let report = bench::e2e::run(&opts)?.markdown();
    println!("{report}");
    if let Some(path) = &a.out {
        std::fs::write(path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `tiderun bench languages`: this very binary is the server under test; the catalog (the
/// same runtime files the server loads) gives the hello worlds and the bare commands.
fn bench_languages(runtimes_dir: Option<&std::path::Path>, mut a: LanguagesArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    if !a.budget_s.is_finite() || a.budget_s <= 0.0 || a.budget_s > bench::languages::MAX_BUDGET_S {
        anyhow::bail!(
            "--budget-s must be above 0 and at most {}",
            bench::languages::MAX_BUDGET_S
        );
    }
    let catalog = load_catalog(runtimes_dir)?;
    let server_exe = server_under_test(runtimes_dir, a.server_exe, &mut a.server_args)?;
    let opts = bench::languages::Options {
        server_exe,
        server_args: a.server_args,
        languages: a.languages,
        runs: a.runs,
        budget: std::time::Duration::from_secs_f64(a.budget_s),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let report = bench::languages::run(&opts, &catalog)?.markdown();
    println!("{report}");
    if let Some(path) = &a.out {
        std::fs::write(path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `tiderun bench compile`: this very binary is the server under test, with and without
/// precompiled headers.
fn bench_compile(runtimes_dir: Option<&std::path::Path>, mut a: CompileArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let server_exe = server_under_test(runtimes_dir, a.server_exe, &mut a.server_args)?;
    let opts = bench::compile::Options {
        server_exe,
        server_args: a.server_args,
        requests: a.requests,
        clients: a.clients,
        rounds: a.rounds,
        headers_dir: a.headers_dir,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let report = bench::compile::run(&opts)?.markdown();
    println!("{report}");
    if let Some(path) = &a.out {
        std::fs::write(path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `tiderun bench soak`: this very binary is the server under test; exit 1 on a violated bound.
fn bench_soak(runtimes_dir: Option<&std::path::Path>, mut a: SoakArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    if !a.duration_s.is_finite() {
        anyhow::bail!("--duration-s must be a number of seconds");
    }
    let opts = bench::soak::Options {
        server_exe: server_under_test(runtimes_dir, None, &mut a.server_args)?,
        server_args: a.server_args,
        duration: std::time::Duration::from_secs_f64(a.duration_s.max(0.0)),
        max_rss_mb: a.max_rss_mb,
        hello_clients: a.hello_clients,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    opts.check()?;
    let report = bench::soak::run(&opts)?;
    let text = report.markdown();
    println!("{text}");
    if let Some(path) = &a.out {
        std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let violations = report.violations();
    if violations.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("tiderun bench soak: {} bound(s) violated:", violations.len());
        for v in &violations {
            eprintln!("  - {v}");
        }
        Ok(ExitCode::from(1))
    }
}

/// `tiderun bench nodes`: this very binary is every node.
fn bench_nodes(a: NodesArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let opts = bench::nodes::Options {
        server_exe: std::env::current_exe().context("cannot find this executable")?,
        database_url: a.database_url,
        nats_server: a.nats_server,
        submissions: a.submissions,
        clients: a.clients,
        workers: a.workers,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let report = bench::nodes::run(&opts)?.markdown();
    println!("{report}");
    if let Some(path) = &a.out {
        std::fs::write(path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
