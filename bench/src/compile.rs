//! `tiderun bench compile`: an edited C++ hello world compiled and run through
//! `POST /api/v1/run`, with precompiled headers off and on, on the same binary, alternating.
//!
//! Each round starts one server with `--precompiled-headers=false`, then one with `true` (the
//! headers in one directory for the whole run, so the second and later "on" servers find them
//! built; the first waits for its build before measuring). Against each, for each program —
//! `<bits/stdc++.h>` (common in class) and `<iostream>` (the runtime's example) —, after one
//! warm-up request, `--requests` requests from each client level of `--clients`, each client
//! back to back, every request's source edited (a comment with a counter after the program,
//! its first line untouched), so the build cache never has it: p50, p99, requests per second,
//! and the CPU the server and its sandboxes used per request.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::e2e::client::Client;
use crate::e2e::server::Server;
use crate::stats::{ms, Summary};

/// Requests of each program at each client level.
pub const DEFAULT_REQUESTS: usize = 24;
/// Client levels.
pub const DEFAULT_CLIENTS: &[usize] = &[1, 8];
/// Rounds of (off, on).
pub const DEFAULT_ROUNDS: usize = 2;
pub const MAX_REQUESTS: usize = 10_000;
pub const MAX_CLIENTS: usize = 256;
pub const MAX_ROUNDS: usize = 20;
/// How long the first "on" server may take to build its headers.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// How often the metrics are read while waiting for the build.
const BUILD_POLL: Duration = Duration::from_millis(250);
/// Lets the last sandboxes be reaped (their CPU time reaches the server's children's) before
/// the server's CPU time is read.
const SETTLE: Duration = Duration::from_millis(500);
/// /proc/<pid>/stat counts CPU time in USER_HZ ticks, 100 per second on Linux.
const TICKS_PER_SECOND: f64 = 100.0;
/// The runtime measured.
const LANGUAGE: &str = "c++";

/// The programs, by their first line.
const PROGRAMS: &[(&str, &str)] = &[
    (
        "<bits/stdc++.h>",
        "#include <bits/stdc++.h>\nusing namespace std;\n\nint main() {\n    cout << \"Hello, world!\" << endl;\n    return 0;\n}\n",
    ),
    (
        "<iostream>",
        "#include <iostream>\n\nint main() {\n    std::cout << \"Hello, world!\" << std::endl;\n    return 0;\n}\n",
    ),
];

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    pub server_exe: PathBuf,
    /// More `serve` arguments; they win over the harness's own.
    pub server_args: Vec<String>,
    pub requests: usize,
    pub clients: Vec<usize>,
    pub rounds: usize,
    /// Where the "on" servers keep their headers; `None`: a temporary directory in
    /// /var/cache (the sandbox mounts /tmp itself, so it cannot be there).
    pub headers_dir: Option<PathBuf>,
    /// The command line, for the report.
    pub command: String,
}

impl Options {
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=MAX_REQUESTS).contains(&self.requests),
            "--requests must be 1 to {MAX_REQUESTS}"
        );
        anyhow::ensure!(
            !self.clients.is_empty() && self.clients.iter().all(|c| (1..=MAX_CLIENTS).contains(c)),
            "--clients must be a list of 1 to {MAX_CLIENTS}"
        );
        anyhow::ensure!(
            (1..=MAX_ROUNDS).contains(&self.rounds),
            "--rounds must be 1 to {MAX_ROUNDS}"
        );
        Ok(())
    }
}

/// One program at one client level against one server.
#[derive(Debug, Clone)]
pub struct Row {
    pub round: usize,
    /// Precompiled headers on.
    pub precompiled: bool,
    pub program: &'static str,
    pub clients: usize,
    pub latency: Summary,
    pub per_second: f64,
    /// CPU seconds of the server and everything it reaped, per request.
    pub cpu_per_request: Duration,
    pub errors: usize,
    pub first_error: Option<String>,
    /// Requests whose compile was a build cache hit (should be none).
    pub cached: usize,
    pub load: String,
}

/// The result of `tiderun bench compile`.
#[derive(Debug, Clone)]
pub struct Report {
    pub machine: crate::machine::Machine,
    pub command: String,
    pub load_at_start: String,
    pub load_at_end: String,
    pub rows: Vec<Row>,
    /// Compiles that used a precompiled header on the "on" servers (from their metrics).
    pub precompiled_compiles: f64,
}

/// Start the servers in turn and measure.
pub fn run(opts: &Options) -> anyhow::Result<Report> {
    opts.check()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(measure(opts))
}

async fn measure(opts: &Options) -> anyhow::Result<Report> {
    let machine = crate::machine::Machine::detect();
    let load_at_start = crate::machine::load_average();
    let temp;
    let headers_dir = match &opts.headers_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("tiderun-bench-precompiled-")
                .tempdir_in("/var/cache")
                .context("a directory for the headers in /var/cache")?;
            temp.path().to_path_buf()
        }
    };
    let mut rows = Vec::new();
    let mut precompiled_compiles = 0.0;
    let mut edit = 0u64;
    for round in 1..=opts.rounds {
        for precompiled in [false, true] {
            let mut args = vec![
                format!("--precompiled-headers={precompiled}"),
                format!("--precompiled-headers-dir={}", headers_dir.display()),
            ];
            args.extend(opts.server_args.iter().cloned());
            let mut server = Server::start(&opts.server_exe, &args)?;
            let client = Client::new(&server.base)?;
            server.wait_ready(client.http()).await?;
            if precompiled {
                wait_built(&client, &server).await?;
            }
            for &(program, code) in PROGRAMS {
                // Warm-up: the page cache, the pools.
                let warm = client.run(&body(code, &mut edit)).await;
                if let Some(e) = warm.error {
                    bail!("{program}: the warm-up request failed: {e}: {}", server.stderr_tail());
                }
                for &clients in &opts.clients {
                    eprintln!(
                        "bench compile: round {round}, precompiled headers {}, {program}, {clients} client(s)",
                        if precompiled { "on" } else { "off" }
                    );
                    let row = level(&client, &server, code, clients, opts.requests, &mut edit).await?;
                    rows.push(Row {
                        round,
                        precompiled,
                        program,
                        ..row
                    });
                }
            }
            if precompiled {
                let used = client
                    .metric_sum("tiderun_precompiled_header_compiles_total")
                    .await?
                    .unwrap_or(0.0);
                if used == 0.0 {
                    bail!("the server with precompiled headers never used one (are they built? root?)");
                }
                precompiled_compiles += used;
            }
            server.stop()?;
        }
    }
    Ok(Report {
        machine,
        command: opts.command.clone(),
        load_at_start,
        load_at_end: crate::machine::load_average(),
        rows,
        precompiled_compiles,
    })
}

/// A run request of `code` with a comment after it that no earlier request had.
fn body(code: &str, edit: &mut u64) -> String {
    *edit += 1;
    let edited = format!("{code}// edit {} {}\n", std::process::id(), edit);
    Client::run_body(LANGUAGE, &edited)
}

/// Wait until the server's headers are built: none building, some ready.
async fn wait_built(client: &Client, server: &Server) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let building = client.metric_sum("tiderun_precompiled_headers_building").await?;
        let ready = client.metric_sum("tiderun_precompiled_headers_ready").await?;
        if building == Some(0.0) && ready.is_some_and(|r| r > 0.0) {
            return Ok(());
        }
        if started.elapsed() > BUILD_TIMEOUT {
            bail!(
                "no precompiled headers built within {BUILD_TIMEOUT:?} (building {building:?}, ready {ready:?}; \
                 they need root): {}",
                server.stderr_tail()
            );
        }
        tokio::time::sleep(BUILD_POLL).await;
    }
}

/// `requests` edited requests of `code` from `clients` clients back to back (each its share).
async fn level(
    client: &Client,
    server: &Server,
    code: &'static str,
    clients: usize,
    requests: usize,
    edit: &mut u64,
) -> anyhow::Result<Row> {
    let load = crate::machine::load_average();
    let per_client = requests.div_ceil(clients);
    let mut bodies: Vec<Vec<String>> = (0..clients)
        .map(|_| (0..per_client).map(|_| body(code, edit)).collect())
        .collect();
    let cpu_before = cpu_seconds(server.pid())?;
    let started = Instant::now();
    let tasks: Vec<_> = bodies
        .drain(..)
        .map(|mine| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut replies = Vec::with_capacity(mine.len());
                for b in mine {
                    replies.push(client.run(&b).await);
                }
                replies
            })
        })
        .collect();
    let mut took = Vec::new();
    let (mut errors, mut first_error, mut cached) = (0, None, 0);
    let mut done = 0;
    for t in tasks {
        for reply in t.await.context("a client task failed")? {
            done += 1;
            cached += usize::from(reply.cached);
            let error = reply
                .error
                .or_else(|| (reply.stdout != "Hello, world!\n").then(|| format!("printed {:?}", reply.stdout)));
            match error {
                Some(e) => {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
                None => took.push(reply.took),
            }
        }
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let cpu = cpu_seconds(server.pid())? - cpu_before;
    Ok(Row {
        round: 0,
        precompiled: false,
        program: "",
        clients,
        per_second: took.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        latency: Summary::of(&took),
        cpu_per_request: Duration::from_secs_f64((cpu / done.max(1) as f64).max(0.0)),
        errors,
        first_error,
        cached,
        load,
    })
}

/// CPU seconds of `pid` and of the children it reaped (the sandboxes' inits, which reaped the
/// compilers and programs), from /proc/<pid>/stat.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))?;
    // The fields after the command, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').context("no command in /proc/<pid>/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14-17 of the line, 12-15 after the command.
    let ticks: f64 = fields
        .get(11..15)
        .context("short /proc/<pid>/stat")?
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    Ok(ticks / TICKS_PER_SECOND)
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("{}\n", self.machine.markdown()));
        out.push_str(&format!(
            "Load average (1 / 5 / 15 min): {} at the start, {} at the end.\n\n",
            self.load_at_start, self.load_at_end
        ));
        out.push_str(&format!("Command:\n\n```\n{}\n```\n\n", self.command));
        out.push_str(
            "| round | precompiled headers | program | clients | requests | errors | cache hits | p50 ms | p99 ms | requests/s | CPU per request ms | load (1 min) |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | `{}` | {} | {} | {} | {} | {} | {} | {:.2} | {:.0} | {} |\n",
                r.round,
                if r.precompiled { "on" } else { "off" },
                r.program,
                r.clients,
                r.latency.n + r.errors,
                r.errors,
                r.cached,
                ms(r.latency.p50),
                ms(r.latency.p99),
                r.per_second,
                r.cpu_per_request.as_secs_f64() * 1e3,
                r.load.split(" / ").next().unwrap_or("?"),
            ));
        }
        out.push_str("\nMedians over the rounds, on ÷ off (target for p50: ≤ 0.5):\n\n");
        out.push_str("| program | clients | p50 off ms | p50 on ms | p50 on ÷ off | p99 off ms | p99 on ms | p99 on ÷ off | CPU per request on ÷ off |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|\n");
        let mut keys: Vec<(&str, usize)> = self.rows.iter().map(|r| (r.program, r.clients)).collect();
        keys.dedup();
        keys.sort_unstable();
        keys.dedup();
        for (program, clients) in keys {
            let pick = |on: bool, f: &dyn Fn(&Row) -> f64| {
                let mut v: Vec<f64> = self
                    .rows
                    .iter()
                    .filter(|r| r.program == program && r.clients == clients && r.precompiled == on)
                    .map(f)
                    .collect();
                median(&mut v)
            };
            let p50 = |r: &Row| r.latency.p50.as_secs_f64() * 1e3;
            let p99 = |r: &Row| r.latency.p99.as_secs_f64() * 1e3;
            let cpu = |r: &Row| r.cpu_per_request.as_secs_f64() * 1e3;
            let (a, b) = (pick(false, &p50), pick(true, &p50));
            let (c, d) = (pick(false, &p99), pick(true, &p99));
            out.push_str(&format!(
                "| `{program}` | {clients} | {a:.0} | {b:.0} | **{:.2}** | {c:.0} | {d:.0} | {:.2} | {:.2} |\n",
                b / a.max(1e-9),
                d / c.max(1e-9),
                pick(true, &cpu) / pick(false, &cpu).max(1e-9),
            ));
        }
        out.push_str(&format!(
            "\nCompiles that used a precompiled header on the \"on\" servers: {} (`tiderun_precompiled_header_compiles_total`). \
             Every request's source is new (a comment with a counter after the program), so every one compiles; the \
             latency is from just before the request to the last byte of its answer (compile and run).\n",
            self.precompiled_compiles
        ));
        out
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_is_another_source_with_the_same_first_line() {
        let mut edit = 0;
        let (a, b) = (body(PROGRAMS[0].1, &mut edit), body(PROGRAMS[0].1, &mut edit));
        assert_ne!(a, b);
        let code = |b: &str| {
            serde_json::from_str::<serde_json::Value>(b).unwrap()["code"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert!(code(&a).starts_with("#include <bits/stdc++.h>\n"));
        assert!(code(&b).ends_with(&format!("// edit {} 2\n", std::process::id())));
    }

    #[test]
    fn medians_and_bounds() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0]), 2.5);
        assert!(median(&mut []).is_nan());
        let ok = Options {
            server_exe: PathBuf::from("/x"),
            server_args: vec![],
            requests: 1,
            clients: vec![1, 8],
            rounds: 1,
            headers_dir: None,
            command: String::new(),
        };
        assert!(ok.check().is_ok());
        for bad in [
            Options {
                requests: 0,
                ..ok.clone()
            },
            Options {
                clients: vec![],
                ..ok.clone()
            },
            Options {
                clients: vec![0],
                ..ok.clone()
            },
            Options {
                rounds: MAX_ROUNDS + 1,
                ..ok.clone()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cpu_time_of_this_process() {
        let t = cpu_seconds(std::process::id()).expect("own stat");
        assert!(t >= 0.0);
    }
}
