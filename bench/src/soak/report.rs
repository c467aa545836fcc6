//! The soak's report: the figures as markdown, and the violated bounds.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::host::Reading;
use super::tally::{Kind, KINDS};
use super::Samples;
use crate::machine::Machine;
use crate::stats::ms;

/// Everything one soak measured.
#[derive(Debug)]
pub struct Report {
    pub machine: Machine,
    pub command: String,
    pub server_args: Vec<String>,
    /// `sqlite` or `postgres`: where the server's store was.
    pub store: &'static str,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub load_at_start: String,
    pub load_at_end: String,
    pub warm_up: Duration,
    pub load_took: Duration,
    pub kinds: BTreeMap<&'static str, Kind>,
    /// Right after start-up.
    pub start: Reading,
    /// After the warm-up, pools drained: what the end is compared with.
    pub baseline: Reading,
    /// After the load, pools drained and settled.
    pub end: Reading,
    /// Under load (warm-up and main phase).
    pub samples: Samples,
    pub rss_end_kib: u64,
    pub max_rss_mb: u64,
    /// The pools drained to zero after the load, and how long that took.
    pub drained: bool,
    pub drain_took: Duration,
    pub settle_took: Duration,
    pub host_netns_before: u64,
    pub host_netns_after: u64,
    /// The server's stop on SIGTERM.
    pub stop: Result<(), String>,
    pub log_tail: String,
}

/// What grew from `before` to `after`: `(what, before, after)` for each resource that did.
pub fn growth(before: &Reading, after: &Reading) -> Vec<(&'static str, u64, u64)> {
    [
        ("open descriptors", before.fds, after.fds),
        ("threads", before.threads, after.threads),
        ("child processes", before.descendants, after.descendants),
        ("run cgroups", before.cgroups, after.cgroups),
        ("mounts", before.mounts, after.mounts),
        ("held network namespaces", before.netns, after.netns),
    ]
    .into_iter()
    .filter(|(_, b, a)| a > b)
    .collect()
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Report {
    /// Every violated bound, in words; empty when the soak passed.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (name, _) in KINDS {
            if let Some(k) = self.kinds.get(name) {
                if k.violations > 0 {
                    v.push(format!(
                        "{name}: {} of {} requests broke a bound, e.g. {}",
                        k.violations,
                        k.requests,
                        k.examples.join(" | ")
                    ));
                }
            }
        }
        let rss_max = self.samples.rss_kib.max.max(self.rss_end_kib);
        if rss_max > self.max_rss_mb * 1024 {
            v.push(format!(
                "server memory: {:.1} MiB resident, above the bound of {} MiB",
                mb(rss_max),
                self.max_rss_mb
            ));
        }
        if !self.drained {
            v.push(format!(
                "the warm pools did not drain within {:?} after the load",
                self.drain_took
            ));
        }
        for (what, before, after) in growth(&self.baseline, &self.end) {
            v.push(format!(
                "{what} grew: {before} after the warm-up, {after} after the load (settled for {:?})",
                self.settle_took
            ));
        }
        if let Err(e) = &self.stop {
            v.push(format!("the server did not stop cleanly on SIGTERM: {e}"));
        }
        v
    }

    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let date = self.started_at.format("%Y-%m-%d %H:%M UTC");
        let _ = writeln!(
            o,
            "## Soak: {:.0} s of mixed load against one server — {date}\n",
            self.load_took.as_secs_f64()
        );
        let _ = writeln!(o, "{}", self.machine.markdown());
        let _ = writeln!(
            o,
            "Load average (1 / 5 / 15 min): {} at the start, {} at the end.\n",
            self.load_at_start, self.load_at_end
        );
        let _ = writeln!(o, "Command, from the workspace root:\n\n```\n{}\n```\n", self.command);
        let _ = writeln!(
            o,
            "The harness started `tiderun {}` (a temporary data dir; the store on {}) and drove \
             it over loopback from one thread: a warm-up of {:.0} s, then {:.0} s of load; all \
             kinds at once.\n",
            self.server_args.join(" "),
            self.store,
            self.warm_up.as_secs_f64(),
            self.load_took.as_secs_f64()
        );

        let _ = writeln!(o, "### Requests (warm-up and load)\n");
        let _ = writeln!(
            o,
            "| kind | requests | statuses | p50 ms | p99 ms | max ms | violations |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|");
        let mut total = 0;
        for (name, what) in KINDS {
            let Some(k) = self.kinds.get(name) else { continue };
            total += k.requests;
            let statuses: Vec<String> = k.statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
            let l = k.latency();
            let _ = writeln!(
                o,
                "| {what} | {} | {} | {} | {} | {} | {} |",
                k.requests,
                statuses.join(", "),
                ms(l.p50),
                ms(l.p99),
                ms(l.max),
                k.violations
            );
        }
        let _ = writeln!(o, "\n{total} requests in all.\n");
        let _ = writeln!(o, "Outcomes per kind (a run's status, how a slow client ended):\n");
        for (name, _) in KINDS {
            let Some(k) = self.kinds.get(name) else { continue };
            if k.outcomes.is_empty() {
                continue;
            }
            let outcomes: Vec<String> = k.outcomes.iter().map(|(s, n)| format!("{s} ×{n}")).collect();
            let _ = writeln!(o, "- {name}: {}", outcomes.join("; "));
        }

        let findings: Vec<String> = KINDS
            .iter()
            .filter_map(|(name, _)| self.kinds.get(name).map(|k| (name, k)))
            .flat_map(|(name, k)| k.findings.iter().map(move |(f, n)| format!("- {name}: {f} ×{n}")))
            .collect();
        if !findings.is_empty() {
            let _ = writeln!(
                o,
                "\nFindings (against the API's conventions, not bounds of this soak):\n"
            );
            for f in findings {
                let _ = writeln!(o, "{f}");
            }
        }

        let _ = writeln!(o, "\n### The server's resources\n");
        let _ = writeln!(
            o,
            "Read from `/proc/<pid>` and the cgroup tree: at start-up, after the warm-up (pools \
             drained: the baseline), under load ({} samples, min–max) and after the load (pools \
             drained in {:.1} s, settled in {:.1} s).\n",
            self.samples.n,
            self.drain_took.as_secs_f64(),
            self.settle_took.as_secs_f64()
        );
        let _ = writeln!(o, "| | start-up | baseline | under load | after | bound |");
        let _ = writeln!(o, "|---|---|---|---|---|---|");
        let s = &self.samples;
        let rss_ok = s.rss_kib.max.max(self.rss_end_kib) <= self.max_rss_mb * 1024;
        let _ = writeln!(
            o,
            "| VmRSS MiB | {:.1} | {:.1} | {:.1} – {:.1} | {:.1} | ≤ {}: **{}** |",
            mb(self.start.rss_kib),
            mb(self.baseline.rss_kib),
            mb(s.rss_kib.min),
            mb(s.rss_kib.max),
            mb(self.end.rss_kib),
            self.max_rss_mb,
            if rss_ok { "pass" } else { "miss" }
        );
        let trend: Vec<String> = s.rss_trend_kib.iter().map(|k| format!("{:.1}", mb(*k))).collect();
        let trend_note = format!(
            "\nVmRSS, the highest in each tenth of the load (MiB): {}.\n",
            trend.join(" · ")
        );
        let grown = growth(&self.baseline, &self.end);
        let field = |r: &Reading, what: &str| match what {
            "open descriptors" => r.fds,
            "threads" => r.threads,
            "child processes" => r.descendants,
            "run cgroups" => r.cgroups,
            "mounts" => r.mounts,
            _ => r.netns,
        };
        let range = |what: &str| match what {
            "open descriptors" => format!("{} – {}", s.fds.min, s.fds.max),
            "threads" => format!("{} – {}", s.threads.min, s.threads.max),
            "child processes" => format!("{} – {}", s.descendants.min, s.descendants.max),
            _ => "—".to_owned(),
        };
        for what in [
            "open descriptors",
            "threads",
            "child processes",
            "run cgroups",
            "mounts",
            "held network namespaces",
        ] {
            let verdict = if grown.iter().any(|(w, _, _)| *w == what) {
                "miss"
            } else {
                "pass"
            };
            let _ = writeln!(
                o,
                "| {what} | {} | {} | {} | {} | no growth: **{verdict}** |",
                field(&self.start, what),
                field(&self.baseline, what),
                range(what),
                field(&self.end, what)
            );
        }
        let _ = writeln!(o, "{trend_note}");
        let _ = writeln!(
            o,
            "Host-wide (other work on the machine moves these; not judged): cgroups under the \
             `tiderun` directories {} → {}, network namespaces {} → {}.\n",
            self.start.cgroups_all, self.end.cgroups_all, self.host_netns_before, self.host_netns_after
        );
        let _ = writeln!(
            o,
            "Stop on SIGTERM: {}.\n",
            match &self.stop {
                Ok(()) => "clean".to_owned(),
                Err(e) => format!("**{e}**"),
            }
        );
        let violations = self.violations();
        if violations.is_empty() {
            let _ = writeln!(o, "**Every bound held.**");
        } else {
            let _ = writeln!(o, "**Violated bounds:**\n");
            for v in &violations {
                let _ = writeln!(o, "- {v}");
            }
            let _ = writeln!(o, "\nServer log tail: `{}`", self.log_tail);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_growth_counts() {
        let before = Reading {
            fds: 10,
            threads: 8,
            cgroups: 0,
            ..Reading::default()
        };
        let after = Reading {
            fds: 9,
            threads: 9,
            cgroups: 2,
            ..Reading::default()
        };
        let grown: Vec<&str> = growth(&before, &after).into_iter().map(|(w, _, _)| w).collect();
        assert_eq!(grown, ["threads", "run cgroups"]);
    }
}
