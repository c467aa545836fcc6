//! What runs a checked job, as the [`crate::Runner`] sees it: the [`crate::Engine`] (compile and
//! run stages in sandboxes), or a stand-in with the same answers and no sandbox — what the
//! server's tests put behind the router to test authentication, validation, error bodies and
//! every dialect's shapes without root or a kernel feature.
//!
//! The Runner keeps admission, budgets of slots and sessions' streaming; an executor only does
//! the blocking work it is given after admission. The check is not an executor's to change:
//! [`dyn Executor::check`](trait.Executor.html#method.check) is [`Checked::new`] against the
//! executor's catalog and request limits, the same code whatever runs the job.

use runtimes::Catalog;

use crate::{
    BuildCacheStats, Checked, EngineError, Graded, Interaction, Job, MemoryStats, Outcome, PoolStats, PrecompiledStats,
    Prepared, RequestLimits, StageOutcome, TestCase,
};

/// The blocking work of a checked job. Every method but the accessors may block for as long as
/// programs run: the Runner calls them on blocking threads, holding the job's run slot.
pub trait Executor: Send + Sync + std::fmt::Debug + 'static {
    /// The runtimes jobs are checked against and resolved to.
    fn catalog(&self) -> &Catalog;

    /// The per-request limits (output budget, total wall time) jobs are checked against.
    fn request_limits(&self) -> RequestLimits;

    /// Compile (if needed) and run once, within the request limits.
    fn execute(&self, job: &Checked, io: Interaction<'_>) -> Result<Outcome, EngineError>;

    /// Compile once, then run `runs` times with the same stdin (Judge0's `number_of_runs`);
    /// the outcome's `run` is the last run.
    fn execute_runs(
        &self,
        job: &Checked,
        stdin: &[u8],
        runs: usize,
    ) -> Result<(Outcome, Vec<StageOutcome>), EngineError>;

    /// Compile once, run every test case and grade them ([`Graded`]: a verdict per test, also
    /// after a compile error, the score; a hidden test's run is not given back).
    fn execute_tests(&self, job: &Checked, tests: Vec<TestCase>) -> Result<Graded, EngineError>;

    /// A session's compile stage: what [`Executor::run_prepared`] runs.
    fn prepare(&self, job: &Checked) -> Result<Prepared, EngineError>;

    /// A session's run: stdin from a pipe, output streamed, signals from the client.
    fn run_prepared(&self, prepared: &Prepared, io: Interaction<'_>) -> Result<StageOutcome, EngineError>;

    /// The warm pools, for metrics (none by default).
    fn pool_stats(&self) -> Vec<PoolStats> {
        Vec::new()
    }

    /// The node's memory budget and what holds it, for metrics (all zero by default).
    fn memory_stats(&self) -> MemoryStats {
        MemoryStats::default()
    }

    /// The build cache's counters, for metrics (an empty cache by default).
    fn build_cache_stats(&self) -> BuildCacheStats {
        BuildCacheStats::default()
    }

    /// Each runtime's precompiled headers, for metrics (none by default).
    fn precompiled_stats(&self) -> Vec<PrecompiledStats> {
        Vec::new()
    }

    /// Drop warm instances (graceful shutdown); nothing by default.
    fn shutdown_pools(&self) {}

    /// Wait up to `timeout` until what runs left behind is torn down (the engine's sandboxes
    /// and their cgroups); true when nothing is left. Nothing to wait for by default.
    fn wait_idle(&self, _timeout: std::time::Duration) -> bool {
        true
    }
}

impl dyn Executor {
    /// The one check before admission, whatever runs the job: [`Checked::new`] against this
    /// executor's catalog and request limits (for the engine, the same as
    /// [`crate::Engine::check`]).
    pub fn check(&self, job: Job) -> Result<Checked, EngineError> {
        Checked::new(job, self.catalog(), self.request_limits())
    }
}

impl Executor for crate::Engine {
    fn catalog(&self) -> &Catalog {
        crate::Engine::catalog(self)
    }

    fn request_limits(&self) -> RequestLimits {
        crate::Engine::request_limits(self)
    }

    fn execute(&self, job: &Checked, io: Interaction<'_>) -> Result<Outcome, EngineError> {
        crate::Engine::execute(self, job, io)
    }

    fn execute_runs(
        &self,
        job: &Checked,
        stdin: &[u8],
        runs: usize,
    ) -> Result<(Outcome, Vec<StageOutcome>), EngineError> {
        crate::Engine::execute_runs(self, job, stdin, runs)
    }

    fn execute_tests(&self, job: &Checked, tests: Vec<TestCase>) -> Result<Graded, EngineError> {
        crate::Engine::execute_tests(self, job, tests)
    }

    fn prepare(&self, job: &Checked) -> Result<Prepared, EngineError> {
        crate::Engine::prepare(self, job)
    }

    fn run_prepared(&self, prepared: &Prepared, io: Interaction<'_>) -> Result<StageOutcome, EngineError> {
        crate::Engine::run_prepared(self, prepared, io)
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        crate::Engine::pool_stats(self)
    }

    fn build_cache_stats(&self) -> BuildCacheStats {
        self.build_cache().stats()
    }

    fn memory_stats(&self) -> MemoryStats {
        crate::Engine::memory_stats(self)
    }

    fn precompiled_stats(&self) -> Vec<PrecompiledStats> {
        crate::Engine::precompiled_stats(self)
    }

    fn shutdown_pools(&self) {
        crate::Engine::shutdown_pools(self)
    }

    fn wait_idle(&self, timeout: std::time::Duration) -> bool {
        self.sandbox().wait_idle(timeout)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{mpsc, Arc, Mutex};
    use std::time::Duration;

    use sandbox::Status;

    use super::*;
    use crate::{Runner, RunnerConfig, SourceFile};

    /// Runs nothing: each `execute` waits for a release, then answers `ok`.
    #[derive(Debug)]
    struct Stub {
        catalog: Catalog,
        release: Mutex<mpsc::Receiver<()>>,
    }

    impl Executor for Stub {
        fn catalog(&self) -> &Catalog {
            &self.catalog
        }

        fn request_limits(&self) -> RequestLimits {
            RequestLimits::default()
        }

        fn execute(&self, job: &Checked, _io: Interaction<'_>) -> Result<Outcome, EngineError> {
            let _ = self.release.lock().expect("release").recv();
            let mut outcome = Prepared::new(job, job.files().to_vec(), None).outcome;
            outcome.status = Status::Ok;
            Ok(outcome)
        }

        fn execute_runs(&self, _: &Checked, _: &[u8], _: usize) -> Result<(Outcome, Vec<StageOutcome>), EngineError> {
            Err(EngineError::Internal("not in this test".into()))
        }

        fn execute_tests(&self, _: &Checked, _: Vec<TestCase>) -> Result<Graded, EngineError> {
            Err(EngineError::Internal("not in this test".into()))
        }

        fn prepare(&self, _: &Checked) -> Result<Prepared, EngineError> {
            Err(EngineError::Internal("not in this test".into()))
        }

        fn run_prepared(&self, _: &Prepared, _: Interaction<'_>) -> Result<StageOutcome, EngineError> {
            Err(EngineError::Internal("not in this test".into()))
        }
    }

    fn job(language: &str) -> Job {
        Job {
            language: language.into(),
            files: vec![SourceFile {
                name: None,
                content: b"echo hi".to_vec(),
            }],
            ..Job::default()
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_runner_without_a_sandbox_checks_admits_and_refuses_as_the_engines() {
        let script = r#"
name = "script"
display_name = "Script"
file = "main.sh"
run = ["/bin/sh", "{file}"]
detect = ["/bin/sh", "-c", "echo 'script 1.0.0'"]
[example]
hello = "echo hi"
echo = "cat"
runtime_error = "exit 1"
"#;
        let mut catalog = Catalog::from_files([("script.toml", script)]).expect("catalog");
        catalog.detect();
        let (release, waiting) = mpsc::channel();
        let stub = Stub {
            catalog,
            release: Mutex::new(waiting),
        };
        let runner = Runner::with_executor(
            Arc::new(stub),
            RunnerConfig {
                max_concurrent: 1,
                max_waiting: 0,
                max_wait: Duration::from_secs(1),
            },
        );
        // The check is the engine's, against the executor's catalog.
        assert!(matches!(
            runner.engine().check(job("no-such-language")),
            Err(EngineError::Resolve(_))
        ));
        let first = tokio::spawn({
            let runner = Arc::clone(&runner);
            let job = runner.engine().check(job("script")).expect("checked");
            async move { runner.execute("test", job, Vec::new()).await }
        });
        while runner.running() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The only slot is taken and nothing may wait: refused at once.
        let second = runner
            .execute(
                "test",
                runner.engine().check(job("script")).expect("checked"),
                Vec::new(),
            )
            .await;
        assert!(matches!(second, Err(EngineError::Busy { .. })), "{second:?}");
        release.send(()).expect("release");
        let outcome = first.await.expect("task").expect("the first ran");
        assert_eq!((outcome.status, outcome.language.as_str()), (Status::Ok, "script"));
        assert_eq!(runner.running(), 0);
    }
}
