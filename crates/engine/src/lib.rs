//! The function-compute core of tiderun: one [`Job`] (language, files, args, limits) becomes
//! one [`Outcome`] (status, compile stage, run stage). Every API dialect and the command line
//! go through here, so limits, statuses, verdicts and the compile-then-run flow exist once.
//!
//! Owns: resolving a job against the catalog, checking requested limits against the runtime's
//! maxima, compiling once in one sandbox and running the build outputs in fresh ones (once, per
//! test case, or N times), comparing outputs, admission (bounded concurrency and queue), and
//! interactive sessions.
//! Must never: parse HTTP or any wire format, touch the kernel directly (that is `sandbox`), or
//! know a language by name (that is the catalog's data).

use std::sync::Mutex;

use runtimes::{Catalog, LimitSet, Runtime};
use sandbox::{Collect, InputFile, Output, RunIo, RunSpec, Sandbox, Status, StreamKind};

mod error;
mod images;
mod job;
mod limits;
mod outcome;
mod runner;
mod verdict;

pub use error::EngineError;
pub use images::{mime, Image, IMAGE_SUFFIXES, MAX_IMAGE_BYTES, MAX_IMAGE_FILES, MAX_SKIPPED_IMAGES};
pub use job::{Interaction, Job, SourceFile};
pub use limits::{LimitRequest, PhaseRequest};
pub use outcome::{Outcome, StageOutcome};
pub use runner::{public_message, Admission, Event, Runner, RunnerConfig, Session, Stage};
pub use verdict::{outputs_match, TestCase, TestResult, Verdict, MAX_TESTS};

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

/// The engine: a catalog and a sandbox. Its methods block for as long as programs run; the
/// async [`Runner`] calls them on blocking threads.
#[derive(Debug)]
pub struct Engine {
    catalog: Catalog,
    sandbox: Sandbox,
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
    /// Read back the images each run leaves in its work dir ([`Job::images`]).
    images: bool,
    /// The outcome so far: the compile stage, and `compile_error` if it failed.
    pub outcome: Outcome,
}

impl Prepared {
    /// False when the compile stage failed: there is nothing to run.
    pub fn runnable(&self) -> bool {
        self.outcome.status != Status::CompileError
    }
}

impl Engine {
    pub fn new(catalog: Catalog, sandbox: Sandbox) -> Self {
        Engine { catalog, sandbox }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Check a job and run its compile stage (if the language has one).
    pub fn prepare(&self, job: &Job) -> Result<Prepared, EngineError> {
        let runtime = self.catalog.resolve(&job.language, job.version.as_deref())?;
        if job.args.len() > MAX_ARGS || job.compile_args.len() > MAX_ARGS {
            return Err(EngineError::BadRequest(format!("more than {MAX_ARGS} arguments")));
        }
        if !job.compile_args.is_empty() && !runtime.compiled() {
            return Err(EngineError::BadRequest(format!(
                "{} is not compiled: compiler options do not apply",
                runtime.name
            )));
        }
        let files = input_files(runtime, &job.files)?;
        let main = files[0].path.clone();
        let plan = runtime.plan(&main, &job.args)?;
        let run_limits = job.limits.run.resolve(&runtime.limits().run, "")?;
        let compile_limits = job.limits.compile.resolve(&runtime.limits().compile, "compile_")?;
        let stack_bytes = job.limits.stack_bytes(run_limits.memory_mib)?;

        let mut outcome = Outcome::new(runtime);
        let files = match &plan.compile {
            Some(compile) => {
                let mut argv = compile.argv.clone();
                argv.extend(job.compile_args.iter().cloned());
                let mut spec = spec_for(
                    runtime,
                    &argv,
                    &compile.env,
                    &compile_limits,
                    default_stack(compile_limits.memory_mib),
                );
                spec.files = files;
                spec.collect = Some(Collect::all(MAX_BUILD_OUTPUT_FILES, MAX_BUILD_OUTPUT_BYTES));
                let mut captured = outcome::Captured::default();
                let result = self.run_captured(&spec, RunIo::default(), &mut captured)?;
                let ok = result.status == Status::Ok;
                let built = result
                    .files
                    .iter()
                    .map(|f| InputFile {
                        path: f.path.clone(),
                        content: f.content.clone(),
                        executable: f.executable,
                    })
                    .collect();
                outcome.compile = Some(StageOutcome::from_run(result, captured));
                if !ok {
                    outcome.status = Status::CompileError;
                }
                built
            }
            None => files,
        };
        Ok(Prepared {
            runtime: runtime.clone(),
            argv: plan.run.argv,
            env: plan.run.env,
            files,
            limits: run_limits,
            stack_bytes,
            images: job.images,
            outcome,
        })
    }

    /// Run a prepared job once, in a fresh sandbox.
    pub fn run_prepared(&self, prepared: &Prepared, io: Interaction<'_>) -> Result<StageOutcome, EngineError> {
        let mut spec = spec_for(
            &prepared.runtime,
            &prepared.argv,
            &prepared.env,
            &prepared.limits,
            prepared.stack_bytes,
        );
        spec.files = prepared.files.clone();
        if prepared.images {
            spec.collect = Some(images::collect());
        }
        let mut captured = outcome::Captured::default();
        let mut result = self.run_captured(
            &spec,
            RunIo {
                stdin: io.stdin,
                output: io.output,
                control: io.control,
            },
            &mut captured,
        )?;
        let files = std::mem::take(&mut result.files);
        let mut stage = StageOutcome::from_run(result, captured);
        if prepared.images {
            stage.files = Some(images::from_outputs(files, &spec.files));
        }
        Ok(stage)
    }

    /// Compile (if needed) and run once.
    pub fn execute(&self, job: &Job, io: Interaction<'_>) -> Result<Outcome, EngineError> {
        let prepared = self.prepare(job)?;
        if !prepared.runnable() {
            return Ok(prepared.outcome);
        }
        let run = self.run_prepared(&prepared, io)?;
        let mut outcome = prepared.outcome;
        outcome.status = run.status;
        outcome.run = Some(run);
        Ok(outcome)
    }

    /// Run a sandbox; when the caller wants output captured, capture it here so stdout,
    /// stderr and their interleaving (Piston's `output`) are all kept.
    fn run_captured(
        &self,
        spec: &RunSpec,
        io: RunIo<'_>,
        captured: &mut outcome::Captured,
    ) -> Result<sandbox::RunResult, EngineError> {
        let RunIo { stdin, output, control } = io;
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
                Ok(self.sandbox.run(
                    spec,
                    RunIo {
                        stdin,
                        output: Output::Stream(&mut sink),
                        control,
                    },
                )?)
            }
            stream => Ok(self.sandbox.run(
                spec,
                RunIo {
                    stdin,
                    output: stream,
                    control,
                },
            )?),
        }
    }
}

/// Name the job's files: the first is the main one (the runtime's default name unless the
/// job named it), unnamed others become `file1`, `file2`...
fn input_files(runtime: &Runtime, files: &[SourceFile]) -> Result<Vec<InputFile>, EngineError> {
    if files.is_empty() {
        return Err(EngineError::BadRequest("no source file given".into()));
    }
    if files.len() > MAX_FILES {
        return Err(EngineError::BadRequest(format!(
            "{} files is more than the limit of {MAX_FILES}",
            files.len()
        )));
    }
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let path = match (&f.name, i) {
                (Some(name), _) => name.clone(),
                (None, 0) => runtime.file.clone(),
                (None, i) => format!("file{i}"),
            };
            sandbox::validate_relative(&path).map_err(|e| EngineError::BadRequest(e.to_string()))?;
            Ok(InputFile {
                path,
                content: f.content.clone(),
                executable: false,
            })
        })
        .collect()
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
    };
    spec
}
