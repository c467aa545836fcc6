//! What the soak counts: per kind of load, the requests, their HTTP statuses (or what went
//! wrong on the wire), the outcomes (a run's status, how a slow client ended), latencies, and
//! the violations of the soak's bounds with the first few examples.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::stats::Summary;

/// Examples kept per kind; the count goes on.
const MAX_EXAMPLES: usize = 5;

/// The kinds of load, in report order.
pub const KINDS: &[(&str, &str)] = &[
    ("hello", "hello world (native, Piston, Judge0 wait=true)"),
    ("compile", "C compile and run"),
    ("interactive", "WebSocket session (stdin in, stdout back)"),
    ("hostile", "hostile program (fork/memory bomb, output flood, spin)"),
    ("malformed", "malformed or oversized request"),
    ("store", "store (snippets, Judge0 async, exercises)"),
    ("slow", "slow client (trickled headers or body, idle, stalled reader)"),
    ("healthz", "/healthz probe"),
];

/// 5xx answers the API documents, by the start of their `error`: the Judge0 queue is full,
/// the database is unavailable (503) or its disk is full (507), the server is shutting down.
pub const DOCUMENTED_5XX: &[(u16, &str)] = &[
    (503, "queue is full"),
    (503, "the database is unavailable"),
    (507, "the server's storage is full"),
    (503, "the server is shutting down"),
];

/// One thing that happened.
#[derive(Debug, Clone)]
pub struct Event {
    /// `"200"`, `"connection error"`, `"timeout"`, `"closed by server"`...
    pub status: String,
    pub took: Duration,
    /// What the answer said (a run's status, a verdict), when it matters.
    pub outcome: Option<String>,
    /// A violated bound, in words.
    pub problem: Option<String>,
}

/// The tally of one kind.
#[derive(Debug, Clone, Default)]
pub struct Kind {
    pub requests: u64,
    pub statuses: BTreeMap<String, u64>,
    pub outcomes: BTreeMap<String, u64>,
    pub latencies: Vec<Duration>,
    pub violations: u64,
    pub examples: Vec<String>,
    /// Answers against the API's conventions that this soak does not hold as a bound (a 4xx
    /// whose body is not the JSON error shape), counted by what they were.
    pub findings: BTreeMap<String, u64>,
}

impl Kind {
    pub fn latency(&self) -> Summary {
        Summary::of(&self.latencies)
    }
}

/// Every kind's tally. The soak's client runs on one thread, so a `RefCell` does.
#[derive(Debug, Default)]
pub struct Tally {
    kinds: RefCell<BTreeMap<&'static str, Kind>>,
}

impl Tally {
    pub fn add(&self, kind: &'static str, e: Event) {
        let mut kinds = self.kinds.borrow_mut();
        let k = kinds.entry(kind).or_default();
        k.requests += 1;
        *k.statuses.entry(e.status).or_default() += 1;
        if let Some(o) = e.outcome {
            *k.outcomes.entry(o).or_default() += 1;
        }
        k.latencies.push(e.took);
        if let Some(p) = e.problem {
            k.violations += 1;
            if k.examples.len() < MAX_EXAMPLES {
                k.examples.push(p);
            }
        }
    }

    /// Note a finding (reported, not a violation).
    pub fn find(&self, kind: &'static str, what: String) {
        let mut kinds = self.kinds.borrow_mut();
        *kinds.entry(kind).or_default().findings.entry(what).or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, Kind> {
        self.kinds.borrow().clone()
    }
}

/// Whether a 5xx answer with this `error` text is one the API documents.
pub fn documented_5xx(status: u16, error: &str) -> bool {
    DOCUMENTED_5XX
        .iter()
        .any(|(s, prefix)| *s == status && error.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_with_their_first_problems() {
        let t = Tally::default();
        for i in 0..8 {
            t.add(
                "hello",
                Event {
                    status: "200".into(),
                    took: Duration::from_millis(i),
                    outcome: Some("ok".into()),
                    problem: (i % 2 == 0).then(|| format!("problem {i}")),
                },
            );
        }
        let k = &t.snapshot()["hello"];
        assert_eq!((k.requests, k.violations, k.examples.len()), (8, 4, 4));
        assert_eq!(k.statuses["200"], 8);
        assert_eq!(k.outcomes["ok"], 8);
    }

    #[test]
    fn only_documented_5xx_pass() {
        assert!(documented_5xx(503, "queue is full"));
        assert!(documented_5xx(
            507,
            "the server's storage is full: nothing new can be saved"
        ));
        assert!(!documented_5xx(500, "internal error"));
        assert!(!documented_5xx(503, "internal error"));
    }
}
