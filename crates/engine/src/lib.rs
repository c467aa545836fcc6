//! The function-compute core of tiderun: one [`Job`] (language, files, args, limits) becomes
//! one [`Outcome`] (status, compile stage, run stage). Every API dialect and the command line
//! go through here, so limits, statuses, verdicts and the compile-then-run flow exist once.
//!
//! Owns: the one check before admission ([`Engine::check`] → [`Checked`]: the job resolved
//! against the catalog, its limits checked against the runtime's maxima and the request's
//! wall time; a refused limit is one typed [`EngineError::Limit`]), compiling once in one
//! sandbox (or not at all, on a build cache hit) and running the build outputs in fresh ones
//! (once, per test case, or N times), grading test cases (verdicts, score, the hidden-test
//! rule: [`Graded`]), admission (bounded concurrency and queue; only checked jobs), reporting
//! every request once to the runner's [`Observer`]s, and interactive sessions.
//! Must never: parse or define HTTP or any wire format (nothing here is `Serialize`: each API
//! renders an [`Outcome`] in its own shape), touch the kernel directly (that is `sandbox`), or
//! know a language by name (that is the catalog's data).

use std::path::Path;
use std::sync::{Arc, Mutex};

use runtimes::{Catalog, LimitSet, Runtime};
use sandbox::{Collect, InputFile, Output, RunIo, RunSpec, Sandbox, Status, StreamKind};

mod budget;
mod build_cache;
mod check;
mod error;
mod executor;
mod images;
mod job;
mod limits;
mod observe;
mod outcome;
mod pool;
mod precompiled;
mod runner;
mod support;
mod verdict;

pub use budget::{
    OutputHold, RequestLimits, DEFAULT_REQUEST_OUTPUT_BYTES, DEFAULT_REQUEST_WALL, MAX_REQUEST_OUTPUT_BYTES,
    MAX_REQUEST_WALL, MIN_REQUEST_OUTPUT_BYTES, MIN_REQUEST_WALL,
};
pub use build_cache::{BuildCache, BuildCacheStats, DEFAULT_BUILD_CACHE_MIB, MAX_BUILD_CACHE_MIB};
pub use check::Checked;
pub use error::EngineError;
pub use executor::Executor;
pub use images::{mime, Image, IMAGE_SUFFIXES, MAX_IMAGE_BYTES, MAX_IMAGE_FILES, MAX_SKIPPED_IMAGES};
pub use job::{Interaction, Job, SourceFile};
pub use limits::{Bound, Limit, LimitRequest, Phase, PhaseRequest, DEFAULT_INPUT_WAIT_MS, MAX_INPUT_WAIT_MS};
pub use observe::{Observation, Observer, RunId, Start, Trigger, Usage};
pub use outcome::{LimitHit, Outcome, StageOutcome};
pub use pool::{
    default_memory_budget, ForkConfig, MemoryStats, PoolConfig, PoolStats, DEFAULT_FORK_SERVERS,
    DEFAULT_FORK_SERVERS_MIN, DEFAULT_FORK_SERVER_MAX_AGE, DEFAULT_FORK_SERVER_MAX_RUNS, DEFAULT_MAX_AGE,
    DEFAULT_POOL_IDLE, MAX_FORK_SERVERS, MAX_FORK_SERVER_MAX_AGE, MAX_FORK_SERVER_MAX_RUNS, MAX_POOL_IDLE,
    PANIC_WINDOW, STABLE_WINDOW,
};
pub use precompiled::{PrecompiledConfig, PrecompiledStats, MAX_PRECOMPILED_BYTES};
pub use runner::{public_message, Event, Runner, RunnerConfig, Session};
pub use support::install as install_support_files;
pub use verdict::{Comparison, Graded, TestCase, TestResult, Verdict, MAX_TESTS};

/// Most files one job may carry.
pub const MAX_FILES: usize = sandbox::MAX_INPUT_FILES;
/// Most runs of one job (Judge0's `number_of_runs`).
pub const MAX_RUNS: usize = 20;
/// Most program or compiler arguments.
pub const MAX_ARGS: usize = 256;
/// Build outputs read back from a compile sandbox: enough for a Rust binary with debug info,
/// small enough that a hostile compile cannot make the server hold gigabytes.
pub const MAX_BUILD_OUTPUT_BYTES: u64 = 256 << 20;
/// Files read back from a compile (Java makes one class file per class).
pub const MAX_BUILD_OUTPUT_FILES: usize = 1024;
/// Inodes of a run's tmpfs per MiB of its size: plenty for student programs, bounded for
/// inode-exhaustion attacks.
const TMPFS_INODES_PER_MIB: u64 = 64;
/// Stack of a program (RLIMIT_STACK): deep recursion in student code is common. At most a
/// quarter of the memory limit, so a runaway recursion ends as a stack overflow (SIGSEGV), not
/// as a memory limit.
const STACK_BYTES: u64 = 64 << 20;

/// The engine: a catalog, a sandbox and a build cache. Its methods block for as long as
/// programs run; the async [`Runner`] calls them on blocking threads.
#[derive(Debug)]
pub struct Engine {
    catalog: Catalog,
    sandbox: Arc<Sandbox>,
    pools: Arc<pool::Pools>,
    forks: Arc<pool::forks::ForkServers>,
    build_cache: BuildCache,
    request_limits: RequestLimits,
    precompiled: precompiled::Precompiled,
}

impl Drop for Engine {
    /// Warm instances go with the engine: torn down (not left running until the process
    /// exits, which would leave their cgroups behind).
    fn drop(&mut self) {
        self.pools.shutdown();
        self.forks.shutdown();
        if !self.sandbox.wait_idle(std::time::Duration::from_secs(5)) {
            tracing::warn!("warm instances still being torn down");
        }
    }
}

/// A job whose compile stage is done: what every run of it needs.
#[derive(Debug)]
pub struct Prepared {
    runtime: Runtime,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    files: Vec<InputFile>,
    limits: LimitSet,
    stack_bytes: u64,
    /// An interactive run's waits for input, in total ([`crate::Limit::InputWaitMs`]).
    input_wait_ms: u64,
    /// Read back the images each run leaves in its work dir ([`Job::images`]).
    images: bool,
    /// The outcome so far: the compile stage, and `compile_error` if it failed.
    pub outcome: Outcome,
}

impl Prepared {
    /// `job` ready to run `files` (its own, or what its compile made), after `compile`, its
    /// compile stage if it has one (a compile stage that is not `ok` makes the outcome
    /// `compile_error`). The engine's [`Engine::prepare`] ends here; another [`Executor`] (a
    /// stand-in in tests) prepares with it too.
    pub fn new(job: &Checked, files: Vec<InputFile>, compile: Option<StageOutcome>) -> Prepared {
        let mut outcome = Outcome::new(&job.runtime);
        if compile.as_ref().is_some_and(|c| c.status != Status::Ok) {
            outcome.status = Status::CompileError;
        }
        if let Some(stage) = &compile {
            outcome.usage.add(stage);
        }
        outcome.compile = compile;
        Prepared {
            runtime: job.runtime.clone(),
            argv: job.plan.run.argv.clone(),
            env: job.plan.run.env.clone(),
            files,
            limits: job.run,
            stack_bytes: job.stack_bytes,
            input_wait_ms: job.input_wait_ms,
            images: job.images,
            outcome,
        }
    }

    /// False when the compile stage failed: there is nothing to run.
    pub fn runnable(&self) -> bool {
        self.outcome.status != Status::CompileError
    }

    /// The runtime the job resolved to.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The run's command: the runtime's, the program's arguments last.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The files each run gets: the job's own, or its build's.
    pub fn files(&self) -> &[InputFile] {
        &self.files
    }

    /// The limits of each run.
    pub fn limits(&self) -> &LimitSet {
        &self.limits
    }

    /// How long an interactive run may wait for input, in total across all its waits.
    pub fn input_wait_ms(&self) -> u64 {
        self.input_wait_ms
    }
}

impl Engine {
    /// An engine whose every run starts cold, with a build cache of
    /// [`DEFAULT_BUILD_CACHE_MIB`].
    pub fn new(catalog: Catalog, sandbox: Sandbox) -> Self {
        Engine::with_pools(catalog, sandbox, PoolConfig::disabled())
    }

    /// An engine with warm pools: for every installed runtime, one for its run phase (zygotes
    /// where the runtime file defines one) and one for its compile phase, made for the
    /// runtime's default limits.
    ///
    /// Without root there are no pools: the parent could not write a prepared sandbox's files
    /// (its init is not dumpable and not ours to trace), so every run starts cold.
    pub fn with_pools(catalog: Catalog, sandbox: Sandbox, config: PoolConfig) -> Self {
        Engine::start(catalog, sandbox, config, &PrecompiledConfig::default())
    }

    /// An engine with warm pools (see [`Engine::with_pools`]) and precompiled headers: the
    /// headers of every installed runtime that lists some are built (in the background, in
    /// sandboxes) into `precompiled.dir`, and a compile whose program allows it uses them.
    /// Without root, or without a directory, compiles go without.
    pub fn start(
        mut catalog: Catalog,
        sandbox: Sandbox,
        mut config: PoolConfig,
        precompiled: &PrecompiledConfig,
    ) -> Self {
        // Before any spec is made: the support files' directory is one of the runtime's binds.
        support::install(&mut catalog, sandbox.capabilities().privileged);
        if config.enabled && !sandbox.capabilities().privileged {
            tracing::warn!("warm pools need root; every run starts cold");
            config.enabled = false;
        }
        let forking = config.enabled && config.forks.servers > 0;
        let fork_specs: Vec<pool::forks::ForkSpec> = if forking {
            catalog.iter().filter(|r| r.installed).filter_map(fork_spec).collect()
        } else {
            Vec::new()
        };
        let specs: Vec<pool::PoolSpec> = catalog
            .iter()
            .filter(|r| r.installed)
            .flat_map(pool_specs)
            // A runtime with fork servers has no zygote pool for its runs.
            .filter(|s| !(s.phase == Phase::Run && fork_specs.iter().any(|f| f.runtime == s.runtime)))
            .collect();
        let sandbox = Arc::new(sandbox);
        let precompiled = precompiled::Precompiled::start(precompiled, catalog.iter(), &sandbox);
        let specs = specs
            .into_iter()
            .map(|mut s: pool::PoolSpec| {
                if s.phase == Phase::Compile {
                    s.instance
                        .binds
                        .extend(precompiled.bind(&s.runtime).map(Path::to_path_buf));
                }
                s
            })
            .collect();
        let (forking, idle_after) = (config.forks, config.idle_after);
        let pools = pool::Pools::start(config, Arc::clone(&sandbox), specs);
        let forks = pool::forks::ForkServers::start(
            forking,
            idle_after,
            Arc::clone(&sandbox),
            Arc::clone(&pools),
            fork_specs,
        );
        Engine {
            catalog,
            sandbox,
            pools,
            forks,
            build_cache: BuildCache::default(),
            request_limits: RequestLimits::default(),
            precompiled,
        }
    }

    /// Replace the per-request limits (output budget, total wall time).
    pub fn with_request_limits(mut self, limits: RequestLimits) -> Self {
        self.request_limits = limits;
        self
    }

    pub fn request_limits(&self) -> RequestLimits {
        self.request_limits
    }

    /// The warm pools, for metrics: a runtime's fork servers count as the pool of its runs.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let mut stats = self.pools.stats();
        stats.extend(self.forks.stats());
        stats
    }

    /// The node's memory budget and what holds it, for metrics.
    pub fn memory_stats(&self) -> MemoryStats {
        self.pools.memory()
    }

    /// Runs forked from fork servers so far, and fork servers idle now, per runtime.
    pub fn fork_server_stats(&self) -> Vec<(String, u64, usize)> {
        self.forks.runs()
    }

    /// Warm instances made since start-up.
    pub fn instances_made(&self) -> u64 {
        self.pools.made()
    }

    /// Drop every warm instance and stop the autoscaler (graceful shutdown).
    pub fn shutdown_pools(&self) {
        self.pools.shutdown();
        self.forks.shutdown();
    }

    /// Each runtime's precompiled headers: how many are ready, builds, compiles that used one.
    pub fn precompiled_stats(&self) -> Vec<PrecompiledStats> {
        self.precompiled.stats()
    }

    /// Wait until no precompiled header is being built, at most `timeout`; true when none is.
    pub fn wait_precompiled(&self, timeout: std::time::Duration) -> bool {
        self.precompiled.wait_built(timeout)
    }

    /// Replace the build cache (another size, or off).
    pub fn with_build_cache(mut self, cache: BuildCache) -> Self {
        self.build_cache = cache;
        self
    }

    pub fn build_cache(&self) -> &BuildCache {
        &self.build_cache
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The one check before admission ([`Checked::new`] against this engine's catalog and
    /// request limits): what running `job` would refuse for the caller's reasons, refused
    /// before anything runs or waits. Every API and the command line call it; nothing runs a
    /// job that did not pass it.
    pub fn check(&self, job: Job) -> Result<Checked, EngineError> {
        Checked::new(job, &self.catalog, self.request_limits)
    }

    /// Run a checked job's compile stage (if the language has one), unless the build cache
    /// has its build: then the compile stage is the cached one with `cached: true` and zero
    /// time and memory.
    pub fn prepare(&self, job: &Checked) -> Result<Prepared, EngineError> {
        let runtime = &job.runtime;
        let Some(compile) = &job.plan.compile else {
            return Ok(Prepared::new(job, job.files.clone(), None));
        };
        let mut argv = compile.argv.clone();
        // A precompiled header, when the program allows it: its flags after the compiler's name.
        let precompiled = self.precompiled.flags_for(runtime, &job.files, &job.compile_args);
        if let Some((_, flags)) = precompiled {
            argv.splice(1..1, flags.iter().cloned());
        }
        argv.extend(job.compile_args.iter().cloned());
        let key = self.build_cache.key(&build_cache::KeyInput {
            runtime,
            argv: &argv,
            env: &compile.env,
            compile_args: &job.compile_args,
            files: &job.files,
            limits: &job.compile,
        });
        let (build, cached) = self.build_cache.get_or_build(key, || {
            if let Some((entry, _)) = precompiled {
                entry.count_compile();
            }
            self.compile(runtime, &argv, &compile.env, &job.compile, job.files.clone())
        })?;
        let build = Arc::try_unwrap(build).unwrap_or_else(|shared| (*shared).clone());
        let mut stage = build.compile;
        if cached {
            // Nothing ran for this job.
            stage.cached = true;
            stage.start = None;
            stage.cpu_time_ms = 0;
            stage.wall_time_ms = 0;
            stage.memory_kb = 0;
        }
        Ok(Prepared::new(job, build.files, Some(stage)))
    }

    /// Compile in a sandbox and read the work dir back. The files come back read-only for the
    /// runs, cached or not, so a program sees its build the same way on a hit and a miss.
    fn compile(
        &self,
        runtime: &Runtime,
        argv: &[String],
        env: &[(String, String)],
        limits: &LimitSet,
        files: Vec<InputFile>,
    ) -> Result<build_cache::Build, EngineError> {
        let mut spec = spec_for(runtime, argv, env, limits, default_stack(limits.memory_mib));
        // Read-only, as every bind: a compile cannot change the headers.
        spec.binds
            .extend(self.precompiled.bind(&runtime.name).map(Path::to_path_buf));
        spec.files = files;
        spec.collect = Some(Collect::all(MAX_BUILD_OUTPUT_FILES, MAX_BUILD_OUTPUT_BYTES));
        let mut captured = outcome::Captured::default();
        let (mut result, start) = self.run_captured(runtime, Phase::Compile, &spec, RunIo::default(), &mut captured)?;
        let files = std::mem::take(&mut result.files)
            .into_iter()
            .map(|f| InputFile {
                path: f.path,
                content: f.content,
                executable: f.executable,
                read_only: true,
            })
            .collect();
        let mut compile = StageOutcome::from_run(result, captured, start);
        compile.memory_limit_mb = limits.memory_mib;
        compile.limit = LimitHit::of(compile.status, Phase::Compile, limits, None);
        Ok(build_cache::Build { files, compile })
    }

    /// Run a prepared job once, in a fresh sandbox.
    pub fn run_prepared(&self, prepared: &Prepared, io: Interaction<'_>) -> Result<StageOutcome, EngineError> {
        self.run_with(prepared, &prepared.limits, io)
    }

    /// Run a prepared job once within what its request has left: not at all when that is
    /// nothing, else with its output cap and wall limit lowered to it, its output counted.
    /// Returns the stage and what its output counts for.
    fn run_within(
        &self,
        prepared: &Prepared,
        io: Interaction<'_>,
        request: &mut budget::RequestBudget,
    ) -> Result<(StageOutcome, u64), EngineError> {
        if let Some(stage) = request.not_run() {
            return Ok((stage, 0));
        }
        let mut limits = prepared.limits;
        let lowered = request.fit(&mut limits);
        let mut stage = self.run_with(prepared, &limits, io)?;
        let cost = request.charge(&mut stage, lowered);
        Ok((stage, cost))
    }

    fn run_with(
        &self,
        prepared: &Prepared,
        limits: &LimitSet,
        io: Interaction<'_>,
    ) -> Result<StageOutcome, EngineError> {
        let mut spec = spec_for(
            &prepared.runtime,
            &prepared.argv,
            &prepared.env,
            limits,
            prepared.stack_bytes,
        );
        spec.files = prepared.files.clone();
        if prepared.images {
            spec.collect = Some(images::collect());
        }
        // Input typed while it runs: waiting for it is the student's time, not the program's.
        if matches!(io.stdin, sandbox::Stdin::Pipe(_)) {
            spec.limits.input_wait_ms = Some(prepared.input_wait_ms);
        }
        let mut captured = outcome::Captured::default();
        let (mut result, start) = self.run_captured(
            &prepared.runtime,
            Phase::Run,
            &spec,
            RunIo {
                stdin: io.stdin,
                output: io.output,
                control: io.control,
                waiting: io.waiting,
            },
            &mut captured,
        )?;
        let files = std::mem::take(&mut result.files);
        let mut stage = StageOutcome::from_run(result, captured, start);
        stage.memory_limit_mb = limits.memory_mib;
        stage.limit = LimitHit::of(stage.status, Phase::Run, limits, spec.limits.input_wait_ms);
        if prepared.images {
            stage.files = Some(images::from_outputs(files, &spec.files));
        }
        Ok(stage)
    }

    /// Compile (if needed) and run once, within the request limits.
    pub fn execute(&self, job: &Checked, io: Interaction<'_>) -> Result<Outcome, EngineError> {
        let (mut prepared, mut request) = self.begin_request(job, 1)?;
        let runnable = prepared.runnable();
        let mut outcome = Outcome {
            hold: request.hold(),
            ..std::mem::take(&mut prepared.outcome)
        };
        if runnable {
            let (run, _) = self.run_within(&prepared, io, &mut request)?;
            outcome.usage.add(&run);
            outcome.status = run.status;
            outcome.run = Some(run);
        }
        Ok(outcome)
    }

    /// Compile once, then run `runs` times with the same stdin, each in a fresh sandbox
    /// (Judge0's `number_of_runs`), all within the request limits. The outcome's `run` is the
    /// last run.
    pub fn execute_runs(
        &self,
        job: &Checked,
        stdin: &[u8],
        runs: usize,
    ) -> Result<(Outcome, Vec<StageOutcome>), EngineError> {
        check_runs(runs)?;
        let (mut prepared, mut request) = self.begin_request(job, runs)?;
        let mut all = Vec::with_capacity(runs);
        if prepared.runnable() {
            for _ in 0..runs {
                let (run, _) = self.run_within(&prepared, Interaction::with_stdin(stdin.to_vec()), &mut request)?;
                all.push(run);
            }
        }
        let mut outcome = Outcome {
            hold: request.hold(),
            ..std::mem::take(&mut prepared.outcome)
        };
        for run in &all {
            outcome.usage.add(run);
        }
        if let Some(last) = all.last() {
            outcome.status = last.status;
            outcome.run = Some(last.clone());
        }
        Ok((outcome, all))
    }

    /// Compile once and run every test case in a fresh sandbox, all within the request
    /// limits, and grade them: a verdict per test (after a compile error too), the score,
    /// and the hidden tests' runs left out. A hidden test's output is dropped once it is judged.
    pub fn execute_tests(&self, job: &Checked, tests: Vec<TestCase>) -> Result<Graded, EngineError> {
        check_tests(&tests)?;
        let (mut prepared, mut request) = self.begin_request(job, tests.len())?;
        let runnable = prepared.runnable();
        let mut outcome = Outcome {
            hold: request.hold(),
            ..std::mem::take(&mut prepared.outcome)
        };
        if !runnable {
            return Ok(Graded::not_compiled(outcome, tests));
        }
        let mut results = Vec::with_capacity(tests.len());
        for mut test in tests {
            let stdin = std::mem::take(&mut test.stdin);
            let (run, cost) = self.run_within(&prepared, Interaction::with_stdin(stdin), &mut request)?;
            outcome.usage.add(&run);
            if test.hidden {
                request.give_back(cost);
            }
            results.push(TestResult::judged(test, run));
        }
        outcome.status = Status::Ok;
        Ok(Graded {
            outcome,
            tests: results,
        })
    }

    /// Start a request of `runs` runs: reserve the most output it may hold in the node's
    /// memory budget (429 when the node has no room), prepare it, and count its compile output.
    fn begin_request(&self, job: &Checked, runs: usize) -> Result<(Prepared, budget::RequestBudget), EngineError> {
        let limits = self.request_limits;
        let compile_cap = if job.runtime.compiled() {
            job.compile.max_output_bytes
        } else {
            0
        };
        let output_bytes = limits.output_budget(job.output_share, compile_cap, job.run.max_output_bytes, runs);
        let hold = self
            .pools
            .hold(output_bytes.saturating_mul(budget::HELD_PER_BUDGET_BYTE))
            .map_err(|o| {
                tracing::warn!(budget_bytes = o.budget_bytes, "node memory budget exhausted");
                EngineError::Busy { retry_after_s: 1 }
            })?;
        let mut request = budget::RequestBudget::new(output_bytes, limits.wall_ms(), OutputHold::new(hold));
        let mut prepared = self.prepare(job)?;
        if let Some(compile) = &mut prepared.outcome.compile {
            request.charge(compile, budget::Lowered::default());
            if compile.status != Status::Ok {
                prepared.outcome.status = Status::CompileError;
            }
        }
        Ok((prepared, request))
    }

    /// Run a sandbox; when the caller wants output captured, capture it here so stdout,
    /// stderr and their interleaving (Piston's `output`) are all kept.
    fn run_captured(
        &self,
        runtime: &Runtime,
        phase: Phase,
        spec: &RunSpec,
        io: RunIo<'_>,
        captured: &mut outcome::Captured,
    ) -> Result<(sandbox::RunResult, Start), EngineError> {
        let RunIo {
            stdin,
            output,
            control,
            mut waiting,
        } = io;
        match output {
            Output::Capture => {
                captured.used = true;
                let cell = Mutex::new(&mut *captured);
                let mut sink = |kind: StreamKind, chunk: &[u8]| {
                    let mut c = cell.lock().unwrap_or_else(|p| p.into_inner());
                    match kind {
                        StreamKind::Stdout => c.stdout.extend_from_slice(chunk),
                        StreamKind::Stderr => c.stderr.extend_from_slice(chunk),
                    }
                    c.combined.extend_from_slice(chunk);
                };
                self.launch(
                    runtime,
                    phase,
                    spec,
                    RunIo {
                        stdin,
                        output: Output::Stream(&mut sink),
                        control,
                        waiting: waiting
                            .as_mut()
                            .map(|w| &mut **w as &mut dyn FnMut(bool, std::time::Duration)),
                    },
                )
            }
            stream => self.launch(
                runtime,
                phase,
                spec,
                RunIo {
                    stdin,
                    output: stream,
                    control,
                    waiting,
                },
            ),
        }
    }

    /// Run in a warm instance when the pool has one that fits, else in a new sandbox.
    fn launch(
        &self,
        runtime: &Runtime,
        phase: Phase,
        spec: &RunSpec,
        io: RunIo<'_>,
    ) -> Result<(sandbox::RunResult, Start), EngineError> {
        let (mut flight, instance) = self.pools.begin(&runtime.name, phase, spec).map_err(|o| {
            tracing::warn!(budget_bytes = o.budget_bytes, "node memory budget exhausted");
            EngineError::Busy { retry_after_s: 1 }
        })?;
        // A child of a fork server, when one is idle and serves this run; a run its fork
        // servers could serve but found none idle stays counted in their tide while it runs.
        let mut _cold_claim = None;
        if phase == Phase::Run && instance.is_none() {
            match self.forks.claim(&runtime.name, spec) {
                pool::forks::Forking::Forked(claim, forked) => {
                    let result = self.sandbox.run_forked(*forked, spec, io);
                    drop(claim);
                    drop(flight);
                    return Ok((result?, Start::Warm));
                }
                pool::forks::Forking::Cold(claim) => _cold_claim = Some(claim),
                pool::forks::Forking::NotServed => {}
            }
        }
        // The run's own limits, set in the instance before anything of the run is in it; an
        // instance that cannot take them is torn down and the run starts cold.
        let instance = instance.and_then(|i| match self.sandbox.fit_prepared(i, spec) {
            Ok(i) => {
                flight.starts_warm();
                Some(i)
            }
            Err(e) => {
                tracing::debug!(error = %e, runtime = %runtime.name, "warm instance unfit; starting cold");
                flight.starts_cold();
                None
            }
        });
        let (result, start) = match instance {
            Some(instance) => (self.sandbox.run_prepared(instance, spec, io), Start::Warm),
            None => (self.sandbox.run(spec, io), Start::Cold),
        };
        drop(flight);
        Ok((result?, start))
    }
}

/// Runs of one job: 1 to [`MAX_RUNS`].
pub(crate) fn check_runs(runs: usize) -> Result<(), EngineError> {
    match runs {
        0 => Err(EngineError::limit(Limit::Runs, 0, Bound::Min(1))),
        n if n > MAX_RUNS => Err(EngineError::limit(Limit::Runs, n as u64, Bound::Max(MAX_RUNS as u64))),
        _ => Ok(()),
    }
}

/// Tests of one job: 1 to [`MAX_TESTS`].
pub(crate) fn check_tests(tests: &[TestCase]) -> Result<(), EngineError> {
    if tests.is_empty() || tests.len() > MAX_TESTS {
        return Err(EngineError::BadRequest(format!("give between 1 and {MAX_TESTS} tests")));
    }
    Ok(())
}

/// The pools of one runtime: its run phase (a zygote when the runtime file has one) and its
/// compile phase, for the runtime's default limits.
fn pool_specs(runtime: &Runtime) -> Vec<pool::PoolSpec> {
    let plan = match runtime.plan(&runtime.file, &[]) {
        Ok(plan) => plan,
        Err(e) => {
            tracing::warn!(runtime = %runtime.name, error = %e, "no warm pool");
            return Vec::new();
        }
    };
    let limits = runtime.limits();
    let instance = |argv: &[String], env: &[(String, String)], l: &LimitSet, zygote: Option<&Vec<String>>| {
        let spec = spec_for(runtime, argv, env, l, default_stack(l.memory_mib));
        sandbox::InstanceSpec {
            limits: spec.limits,
            binds: spec.binds,
            network: spec.network,
            zygote: zygote.map(|argv| sandbox::ZygoteSpec {
                argv: argv.clone(),
                env: spec.env,
            }),
        }
    };
    let warm = &runtime.warm;
    let mut specs = vec![pool::PoolSpec {
        runtime: runtime.name.clone(),
        phase: Phase::Run,
        instance: instance(
            &plan.run.argv,
            &plan.run.env,
            &limits.run.defaults,
            warm.zygote.as_ref(),
        ),
        min: warm.min_instances,
        max: warm.max_instances,
    }];
    if let Some(compile) = &plan.compile {
        specs.push(pool::PoolSpec {
            runtime: runtime.name.clone(),
            phase: Phase::Compile,
            instance: instance(&compile.argv, &compile.env, &limits.compile.defaults, None),
            min: warm.min_instances,
            max: warm.max_instances,
        });
    }
    specs
}

/// The fork servers of a runtime whose file declares one, made for its run's default limits.
fn fork_spec(runtime: &Runtime) -> Option<pool::forks::ForkSpec> {
    let argv = runtime.warm.fork_server.as_ref()?;
    let plan = runtime.plan(&runtime.file, &[]).ok()?;
    let limits = runtime.limits().run.defaults;
    let spec = spec_for(
        runtime,
        &plan.run.argv,
        &plan.run.env,
        &limits,
        default_stack(limits.memory_mib),
    );
    if spec.network {
        tracing::warn!(runtime = %runtime.name, "a runtime with network gets no fork servers");
        return None;
    }
    // The fork server's own cgroup holds the interpreter and the next run's child until it is
    // moved into its run's cgroup, which has the run's memory limit: its own is smaller, and
    // that is what it holds of the node's memory budget.
    let mut own = spec.limits;
    own.memory_bytes = own.memory_bytes.min(pool::forks::FORK_SERVER_MEMORY_BYTES);
    Some(pool::forks::ForkSpec {
        runtime: runtime.name.clone(),
        instance: sandbox::InstanceSpec {
            limits: own,
            binds: spec.binds,
            network: false,
            zygote: Some(sandbox::ZygoteSpec {
                argv: argv.clone(),
                env: spec.env,
            }),
        },
    })
}

/// The stack limit when the job does not ask for one.
pub(crate) fn default_stack(memory_mib: u64) -> u64 {
    STACK_BYTES.min((memory_mib << 20) / 4)
}

fn spec_for(
    runtime: &Runtime,
    argv: &[String],
    env: &[(String, String)],
    limits: &LimitSet,
    stack_bytes: u64,
) -> RunSpec {
    let mut spec = RunSpec::new(argv.to_vec());
    spec.env = env.to_vec();
    spec.binds = runtime.binds.clone();
    spec.network = runtime.network;
    spec.limits = sandbox::Limits {
        cpu_ms: limits.cpu_ms,
        wall_ms: limits.wall_ms,
        memory_bytes: limits.memory_mib << 20,
        max_processes: limits.max_processes,
        max_output_bytes: limits.max_output_bytes,
        max_file_size_bytes: limits.max_file_size_bytes,
        max_open_files: limits.max_open_files,
        tmpfs_bytes: limits.tmpfs_mib << 20,
        tmpfs_inodes: (limits.tmpfs_mib * TMPFS_INODES_PER_MIB).max(256),
        stack_bytes,
        input_wait_ms: None,
    };
    spec
}
