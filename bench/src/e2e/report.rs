//! The markdown report of `tiderun bench e2e`, with the issue's targets as pass/miss columns.

use std::fmt::Write;

use super::scenarios::{Burst, IdleWait, Judge0Row, Level, SequentialRow};
use crate::machine::Machine;
use crate::stats::ms;

/// p50 of Python hello world end to end, at most this share of the bare `python3`'s.
const PYTHON_RATIO_TARGET: f64 = 0.35;
/// p50 of Node hello world end to end, at most this share of the bare `node`'s.
const NODE_RATIO_TARGET: f64 = 0.15;
/// p50 of a resubmitted C hello world (a build cache hit), end to end.
const C_CACHED_P50_TARGET_MS: f64 = 3.0;
/// Python hello world runs per second at some concurrency ...
const THROUGHPUT_TARGET_PER_S: f64 = 1000.0;
/// ... with a p99 below this.
const THROUGHPUT_P99_TARGET_MS: f64 = 50.0;
/// Resident memory of the idle server after scale-to-zero, in MB (10^6 bytes).
const IDLE_RSS_TARGET_MB: f64 = 40.0;

/// Everything one run of the harness measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub machine: Machine,
    pub command: String,
    pub server_args: Vec<String>,
    pub load_at_start: String,
    pub load_at_end: String,
    pub sequential: Vec<SequentialRow>,
    /// Languages of scenario 1 left out, with why.
    pub skipped: Vec<String>,
    pub judge0: Judge0Row,
    /// The runtime of scenarios 2 and 3.
    pub language: String,
    pub levels: Vec<Level>,
    pub burst: Burst,
    pub rss_at_start_kib: u64,
    pub rss_idle_kib: u64,
    pub idle_after: IdleWait,
}

/// A target's verdict, as a table cell.
fn verdict(target: &str, pass: bool) -> String {
    format!("{target}: **{}**", if pass { "pass" } else { "miss" })
}

fn millis(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

impl Report {
    /// The target of a sequential row, if the issue sets one.
    fn sequential_target(row: &SequentialRow) -> Option<String> {
        let ratio = row.bare.map(|b| millis(row.tiderun.p50) / millis(b.p50).max(1e-9));
        let ok = row.errors.count == 0 && row.tiderun.n > 0;
        match (row.language.as_str(), row.variant) {
            ("python", None) => ratio.map(|r| {
                verdict(
                    &format!("≤ {PYTHON_RATIO_TARGET} × bare"),
                    ok && r <= PYTHON_RATIO_TARGET,
                )
            }),
            ("javascript", None) => {
                ratio.map(|r| verdict(&format!("≤ {NODE_RATIO_TARGET} × bare"), ok && r <= NODE_RATIO_TARGET))
            }
            ("c", Some(v)) if v.starts_with("resubmitted") => Some(verdict(
                &format!("p50 ≤ {C_CACHED_P50_TARGET_MS} ms"),
                ok && millis(row.tiderun.p50) <= C_CACHED_P50_TARGET_MS,
            )),
            _ => None,
        }
    }

    fn level_pass(l: &Level) -> bool {
        l.errors.count == 0
            && l.runs_per_s >= THROUGHPUT_TARGET_PER_S
            && millis(l.latency.p99) < THROUGHPUT_P99_TARGET_MS
    }

    /// The report as markdown.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
        let _ = writeln!(o, "## End to end: the service against the bare process — {date}\n");
        let _ = writeln!(o, "{}", self.machine.markdown());
        let _ = writeln!(
            o,
            "Load average (1 / 5 / 15 min): {} at the start, {} at the end.\n",
            self.load_at_start, self.load_at_end
        );
        let _ = writeln!(o, "Command, from the workspace root:\n\n```\n{}\n```\n", self.command);
        let _ = writeln!(
            o,
            "The harness started `tiderun {}` (a temporary data dir) and drove it over loopback \
             with one keep-alive HTTP/1.1 client on one thread.\n",
            self.server_args.join(" ")
        );

        let _ = writeln!(
            o,
            "### 1. Sequential hello world: `POST /api/v1/run` against the bare process\n"
        );
        let _ = writeln!(
            o,
            "| language | runs | errors | tiderun p50 ms | tiderun p99 ms | bare p50 ms | bare p99 ms | p50 tiderun / bare | target |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
        for row in &self.sequential {
            let name = match row.variant {
                Some(v) => format!("{} ({v})", row.language),
                None => row.language.clone(),
            };
            let (bare_p50, bare_p99, ratio) = match row.bare {
                Some(b) => (
                    ms(b.p50),
                    ms(b.p99),
                    format!("{:.2}", millis(row.tiderun.p50) / millis(b.p50).max(1e-9)),
                ),
                None => ("—".into(), "—".into(), "—".into()),
            };
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} | {} | {bare_p50} | {bare_p99} | {ratio} | {} |",
                row.tiderun.n,
                row.errors.count,
                ms(row.tiderun.p50),
                ms(row.tiderun.p99),
                Self::sequential_target(row).unwrap_or_else(|| "—".into())
            );
        }
        let _ = writeln!(o);
        let bare: Vec<String> = self
            .sequential
            .iter()
            .filter(|r| r.bare.is_some())
            .map(|r| format!("{} `{}`", r.language, r.bare_command))
            .collect();
        if !bare.is_empty() {
            let _ = writeln!(
                o,
                "Bare processes (interleaved with the requests, alternating which goes first; the \
                 environment only PATH, LANG and HOME, like a sandboxed program's): {}.",
                bare.join(", ")
            );
        }
        for row in self
            .sequential
            .iter()
            .filter(|r| r.variant.is_some_and(|v| v.starts_with("resubmitted")))
        {
            let _ = writeln!(
                o,
                "Build cache: {} of {} resubmissions of {} were hits.",
                row.cache_hits,
                row.tiderun.n + row.errors.count,
                row.language
            );
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(o, "Left out: {}.", self.skipped.join("; "));
        }
        for row in &self.sequential {
            if let Some(e) = &row.errors.first {
                let _ = writeln!(o, "First error of {}: {e}.", row.language);
            }
        }

        let j = &self.judge0;
        let _ = writeln!(
            o,
            "\n### 1b. Judge0 `wait=true`: Python hello world, no limit named (Judge0's defaults)\n"
        );
        let _ = writeln!(
            o,
            "`POST /submissions?base64_encoded=false&wait=true` with `language_id` 71, back to back; \
             the first {} not recorded (the first arrival fills the pool).\n",
            j.warm_up
        );
        let count = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0}"));
        let _ = writeln!(
            o,
            "| runs | errors | p50 ms | p99 ms | warm starts | jobs started cold |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|");
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            j.latency.n,
            j.errors.count,
            ms(j.latency.p50),
            ms(j.latency.p99),
            count(j.warm),
            count(j.cold)
        );
        if let Some(e) = &j.errors.first {
            let _ = writeln!(o, "\nFirst error: {e}.");
        }

        let _ = writeln!(o, "\n### 2. {} hello world under concurrency\n", self.language);
        let _ = writeln!(
            o,
            "Each level sends back to back from N clients; its first tenth is a warm-up, not recorded.\n"
        );
        // A bare run's CPU, for the server's CPU per run against it.
        let bare_cpu = self
            .sequential
            .iter()
            .find(|r| r.language == self.language && r.variant.is_none())
            .and_then(|r| r.bare_cpu);
        let _ = writeln!(
            o,
            "CPU per run: the machine's busy time over the recorded part less the harness's own, per run answered — the server, its sandboxes and the runs; meaningful only on an otherwise quiet machine (see the load above). Bare: the mean CPU of one bare run in table 1{}.\n",
            bare_cpu.map_or(String::new(), |d| format!(" ({} ms)", ms(d)))
        );
        let _ = writeln!(
            o,
            "| clients | runs | errors | runs/s | p50 ms | p99 ms | CPU per run ms | ÷ bare CPU | target: ≥ {THROUGHPUT_TARGET_PER_S} runs/s, p99 < {THROUGHPUT_P99_TARGET_MS} ms |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
        for l in &self.levels {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | **{}** |",
                l.concurrency,
                l.latency.n,
                l.errors.count,
                l.runs_per_s,
                ms(l.latency.p50),
                ms(l.latency.p99),
                l.cpu_per_run.map_or("—".into(), ms),
                l.cpu_per_run
                    .zip(bare_cpu.filter(|b| !b.is_zero()))
                    .map_or("—".into(), |(c, b)| format!(
                        "{:.2}",
                        c.as_secs_f64() / b.as_secs_f64()
                    )),
                if Self::level_pass(l) { "pass" } else { "miss" }
            );
        }
        for l in &self.levels {
            if let Some(e) = &l.errors.first {
                let _ = writeln!(o, "\nFirst error at {} clients: {e}.", l.concurrency);
            }
        }

        let b = &self.burst;
        let _ = writeln!(o, "\n### 3. Burst from idle\n");
        let _ = writeln!(o, "Before the burst: {}.\n", b.idle.describe());
        let _ = writeln!(
            o,
            "| runs released at once | errors | p50 ms | p99 ms | max ms | last answer after ms | target: zero errors |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|");
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | **{}** |",
            b.size,
            b.errors.count,
            ms(b.latency.p50),
            ms(b.latency.p99),
            ms(b.latency.max),
            ms(b.all_done),
            if b.errors.count == 0 { "pass" } else { "miss" }
        );
        if let Some(e) = &b.errors.first {
            let _ = writeln!(o, "\nFirst error: {e}.");
        }

        let _ = writeln!(o, "\n### 4. Server memory when idle\n");
        let _ = writeln!(o, "After the burst: {}.\n", self.idle_after.describe());
        let _ = writeln!(
            o,
            "| VmRSS after start-up MB | VmRSS idle after scale-to-zero MB | target: < {IDLE_RSS_TARGET_MB} MB |"
        );
        let _ = writeln!(o, "|---|---|---|");
        let idle = mb(self.rss_idle_kib);
        let _ = writeln!(
            o,
            "| {:.1} | {idle:.1} | **{}** |",
            mb(self.rss_at_start_kib),
            if idle < IDLE_RSS_TARGET_MB { "pass" } else { "miss" }
        );
        o
    }
}
