//! Watching runs: every request the [`crate::Runner`] is given — a run, runs, tests or an
//! interactive session, from any API — is reported once, when it ends, to the observers
//! registered with [`crate::Runner::observe_with`] (the server's metrics; a per-run log line).
//! No API records a run by hand.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::{EngineError, Outcome, StageOutcome};

/// Something that watches runs. Called on the run's own thread or task, once per request,
/// after its outcome is known and before the caller gets it: keep it short and never block.
pub trait Observer: Send + Sync {
    fn observe(&self, run: &Observation<'_>);
}

/// Who asked for a request, for observers only (metrics, the run log, metering): the API it
/// came through and, on a server with API keys, the name of the key that made it. Nothing of
/// it reaches the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// A label the caller gave (the server's API: `native`, `piston`, `judge0`, `native_ws`...).
    pub api: &'static str,
    /// The caller's key (its name), if it gave one.
    pub key: Option<Arc<str>>,
}

impl Trigger {
    /// A request through `api` with no key.
    pub fn new(api: &'static str) -> Trigger {
        Trigger { api, key: None }
    }

    /// The same request, made with `key`.
    pub fn with_key(self, key: Option<Arc<str>>) -> Trigger {
        Trigger { key, ..self }
    }
}

impl From<&'static str> for Trigger {
    fn from(api: &'static str) -> Trigger {
        Trigger::new(api)
    }
}

/// The id of one request to the runner: a UUID v7 (the `uuid` crate) — 48 bits of Unix
/// milliseconds, then random bits —, written lower-case hyphenated, so ids made on any node
/// are unique and sort (as text too) in the order the requests started, to the millisecond.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(uuid::Uuid);

impl RunId {
    /// A fresh id, for a request starting now.
    pub fn new() -> RunId {
        RunId(uuid::Uuid::now_v7())
    }
}

impl Default for RunId {
    fn default() -> RunId {
        RunId::new()
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// One request to the runner, as it ended.
#[derive(Debug)]
pub struct Observation<'a> {
    /// This request's id (unique; ids sort by the time requests started).
    pub id: &'a RunId,
    /// Who asked.
    pub trigger: &'a Trigger,
    /// The runtime's name (not the alias asked for).
    pub runtime: &'a str,
    /// The outcome (for tests: the graded outcome, `ok` or `compile_error`; its
    /// [`Outcome::usage`] counts every sandbox it started), or why there was none (refused at
    /// admission, a bad request, a failure of tiderun).
    pub result: Result<&'a Outcome, &'a EngineError>,
    /// From the runner being asked to the end: the wait for a run slot included.
    pub took: Duration,
}

impl Observation<'_> {
    /// Whether the request failed for tiderun's reasons rather than the caller's or its
    /// program's: refused for capacity, a failure of tiderun, or a run that ended
    /// `internal_error`. A node shutting down is not an error. The one definition the run
    /// ledger and the console count by.
    pub fn is_error(&self) -> bool {
        match self.result {
            Ok(outcome) => outcome.status == sandbox::Status::InternalError,
            Err(EngineError::ShuttingDown) => false,
            Err(e) => !e.is_caller_mistake(),
        }
    }
}

/// How a stage's sandbox started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A prepared sandbox (or zygote) from a warm pool.
    Warm,
    /// Made for this run.
    Cold,
}

/// What a job used, over every sandbox it started (a hidden test's run too). Not part of
/// what an outcome says to its caller: for observers (metrics, a log line, metering).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Sandboxes started from a warm pool.
    pub warm_starts: u32,
    /// Sandboxes made for the job.
    pub cold_starts: u32,
    /// CPU time of every stage together.
    pub cpu_time_ms: u64,
    /// The largest peak memory of a stage.
    pub memory_kb: u64,
    /// Wall time of every stage that started, together.
    pub wall_time_ms: u64,
    /// The largest memory limit of a stage that started, MiB.
    pub memory_limit_mb: u64,
    /// Each started stage's memory limit × its wall time, together, in MiB·ms: what cloud
    /// functions bill (GB-seconds = this / 1024 / 1000).
    pub memory_mb_ms: u64,
}

impl Usage {
    /// Count a stage (a cached compile or a run not started counts no start and no time).
    pub fn add(&mut self, stage: &StageOutcome) {
        match stage.start {
            Some(Start::Warm) => self.warm_starts += 1,
            Some(Start::Cold) => self.cold_starts += 1,
            None => return,
        }
        self.cpu_time_ms = self.cpu_time_ms.saturating_add(stage.cpu_time_ms);
        self.memory_kb = self.memory_kb.max(stage.memory_kb);
        self.wall_time_ms = self.wall_time_ms.saturating_add(stage.wall_time_ms);
        self.memory_limit_mb = self.memory_limit_mb.max(stage.memory_limit_mb);
        self.memory_mb_ms = self
            .memory_mb_ms
            .saturating_add(stage.memory_limit_mb.saturating_mul(stage.wall_time_ms));
    }
}

/// The observers of one runner.
#[derive(Default)]
pub(crate) struct Observers(RwLock<Vec<Arc<dyn Observer>>>);

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Observers({})", self.read().len())
    }
}

impl Observers {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<dyn Observer>>> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add(&self, observer: Arc<dyn Observer>) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).push(observer);
    }

    /// Start watching a request.
    pub(crate) fn watch(self: &Arc<Self>, trigger: Trigger, runtime: &str) -> Watch {
        Watch {
            id: RunId::new(),
            observers: Some(Arc::clone(self)),
            trigger,
            runtime: runtime.to_owned(),
            started: Instant::now(),
        }
    }
}

/// One request being watched: reported exactly once, by [`Watch::done`] or — if the request
/// ended without a result (its task died) — when dropped.
#[derive(Debug)]
pub(crate) struct Watch {
    id: RunId,
    observers: Option<Arc<Observers>>,
    trigger: Trigger,
    runtime: String,
    started: Instant,
}

impl Watch {
    pub(crate) fn done(mut self, result: Result<&Outcome, &EngineError>) {
        self.report(result);
    }

    fn report(&mut self, result: Result<&Outcome, &EngineError>) {
        let Some(observers) = self.observers.take() else {
            return;
        };
        let observation = Observation {
            id: &self.id,
            trigger: &self.trigger,
            runtime: &self.runtime,
            result,
            took: self.started.elapsed(),
        };
        for observer in observers.read().iter() {
            observer.observe(&observation);
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.observers.is_some() {
            self.report(Err(&EngineError::Internal("the run ended without a result".into())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl Observer for Seen {
        fn observe(&self, run: &Observation<'_>) {
            let what = match run.result {
                Ok(o) => o.status.to_string(),
                Err(e) => e.to_string(),
            };
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {} {what}", run.trigger.api, run.runtime));
        }
    }

    #[test]
    fn run_ids_are_unique_and_sort_by_time() {
        let ids: Vec<String> = (0..1000).map(|_| RunId::new().to_string()).collect();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let earlier = RunId::new().to_string();
        std::thread::sleep(Duration::from_millis(2));
        assert!(RunId::new().to_string() > earlier, "a later id sorts after");
        assert_eq!(earlier.len(), 36);
    }

    #[test]
    fn a_request_is_reported_once_even_when_it_dies() {
        let observers = Arc::new(Observers::default());
        let seen = Arc::new(Seen::default());
        observers.add(seen.clone());
        let ok = Outcome {
            status: sandbox::Status::Ok,
            ..Outcome::default()
        };
        observers.watch("native".into(), "python").done(Ok(&ok));
        drop(observers.watch("piston".into(), "c"));
        assert_eq!(
            *seen.0.lock().unwrap(),
            [
                "native python ok".to_string(),
                "piston c internal error: the run ended without a result".to_string()
            ]
        );
    }

    #[test]
    fn an_error_is_tiderun_s_failure_not_the_caller_s_or_the_program_s() {
        fn seen(result: Result<&Outcome, &EngineError>) -> bool {
            Observation {
                id: &RunId::new(),
                trigger: &Trigger::new("native"),
                runtime: "python",
                result,
                took: Duration::ZERO,
            }
            .is_error()
        }
        let outcome = |status| Outcome {
            status,
            ..Outcome::default()
        };
        assert!(seen(Ok(&outcome(sandbox::Status::InternalError))));
        assert!(!seen(Ok(&outcome(sandbox::Status::RuntimeError))));
        assert!(!seen(Ok(&outcome(sandbox::Status::TimeLimit))));
        assert!(seen(Err(&EngineError::Busy { retry_after_s: 1 })));
        assert!(seen(Err(&EngineError::Internal("x".into()))));
        assert!(!seen(Err(&EngineError::ShuttingDown)));
        assert!(!seen(Err(&EngineError::BadRequest("no code".into()))));
    }

    #[test]
    fn usage_counts_starts_time_and_peak_memory() {
        let stage = |start, cpu, memory, wall, limit| StageOutcome {
            start,
            cpu_time_ms: cpu,
            memory_kb: memory,
            wall_time_ms: wall,
            memory_limit_mb: limit,
            ..StageOutcome::default()
        };
        let mut usage = Usage::default();
        for s in [
            stage(Some(Start::Cold), 10, 300, 40, 256),
            stage(Some(Start::Warm), 5, 900, 20, 512),
            // A cached compile: nothing started, nothing billed.
            stage(None, 7, 100, 1000, 1024),
        ] {
            usage.add(&s);
        }
        assert_eq!(
            usage,
            Usage {
                warm_starts: 1,
                cold_starts: 1,
                cpu_time_ms: 15,
                memory_kb: 900,
                wall_time_ms: 60,
                memory_limit_mb: 512,
                memory_mb_ms: 256 * 40 + 512 * 20,
            }
        );
    }
}
