//! The function-compute core of tiderun: one [`Job`] (language, files, stdin, limits) becomes
//! one [`Outcome`] (status, compile stage, run stage). Every API dialect and the command line
//! go through here, so limits, statuses and the compile-then-run flow exist once.
//!
//! Owns: resolving a job against the catalog, checking requested limits against the runtime's
//! maxima, compiling in one sandbox and running the build outputs in a fresh one.
//! Must never: parse HTTP or any wire format, touch the kernel directly (that is `sandbox`), or
//! know a language by name (that is the catalog's data).

use std::os::fd::OwnedFd;

use runtimes::{Catalog, LimitSet, Runtime};
use sandbox::{Collect, InputFile, Output, RunIo, RunSpec, Sandbox, Status, Stdin};

mod limits;
mod outcome;

pub use limits::{LimitRequest, PhaseRequest};
pub use outcome::{Outcome, StageOutcome};

/// Most files one job may carry.
pub const MAX_FILES: usize = sandbox::MAX_INPUT_FILES;
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

/// One source file of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Relative path in the work dir; `None` means "the runtime's default" for the first file
    /// and `file<N>` for the others.
    pub name: Option<String>,
    pub content: Vec<u8>,
}

/// A program to run, as every API dialect describes it once translated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Job {
    /// Language name, alias (`py`) or the catalog name.
    pub language: String,
    /// Semver selector (`3.x`, `*`); `None` is any.
    pub version: Option<String>,
    /// The first file is the main one.
    pub files: Vec<SourceFile>,
    pub args: Vec<String>,
    pub limits: LimitRequest,
}

/// Where the run stage's stdin comes from and where its output goes; the compile stage is
/// always captured.
#[derive(Debug, Default)]
pub struct Interaction<'a> {
    pub stdin: Stdin,
    pub output: Output<'a>,
    /// Signals for the running program (see [`sandbox::control_pipe`]).
    pub control: Option<OwnedFd>,
}

impl<'a> Interaction<'a> {
    /// Fixed stdin, captured output.
    pub fn with_stdin(stdin: Vec<u8>) -> Self {
        Interaction {
            stdin: Stdin::Bytes(stdin),
            ..Interaction::default()
        }
    }
}

/// What went wrong before or around running the program. A program that fails is not an
/// error: it is an [`Outcome`] with its status.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Resolve(#[from] runtimes::ResolveError),
    #[error(transparent)]
    Plan(#[from] runtimes::PlanError),
    #[error("{name} = {value} is out of range (at most {max})")]
    LimitOutOfRange { name: &'static str, value: u64, max: u64 },
    #[error("{name} must be at least {min}")]
    LimitTooSmall { name: &'static str, min: u64 },
    #[error("{0}")]
    BadFiles(String),
    #[error("sandbox failure")]
    Sandbox(#[source] sandbox::SandboxError),
    #[error("the server is at capacity")]
    Busy,
}

impl EngineError {
    /// True when the caller's request was at fault (an API answers 4xx), false for tiderun's
    /// own failures (5xx, details only in the log).
    pub fn is_caller_mistake(&self) -> bool {
        !matches!(self, EngineError::Sandbox(_) | EngineError::Busy)
    }
}

impl From<sandbox::SandboxError> for EngineError {
    fn from(e: sandbox::SandboxError) -> Self {
        match e {
            sandbox::SandboxError::InvalidSpec(m) => EngineError::BadFiles(m),
            sandbox::SandboxError::Busy { .. } => EngineError::Busy,
            other => EngineError::Sandbox(other),
        }
    }
}

/// The engine: a catalog and a sandbox.
#[derive(Debug)]
pub struct Engine {
    catalog: Catalog,
    sandbox: Sandbox,
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

    /// Compile (if the runtime has a compile step) and run a job. Blocks the calling thread
    /// for as long as the program runs.
    pub fn execute(&self, job: &Job, io: Interaction<'_>) -> Result<Outcome, EngineError> {
        let runtime = self.catalog.resolve(&job.language, job.version.as_deref())?;
        let files = input_files(runtime, &job.files)?;
        let main = files[0].path.clone();
        let plan = runtime.plan(&main, &job.args)?;
        let run_limits = job.limits.run.resolve(&runtime.limits().run, "")?;
        let compile_limits = job.limits.compile.resolve(&runtime.limits().compile, "compile_")?;

        let mut outcome = Outcome::new(runtime);
        let run_files = match &plan.compile {
            Some(compile) => {
                let mut spec = spec_for(runtime, &compile.argv, &compile.env, &compile_limits);
                spec.files = files;
                spec.collect = Some(Collect {
                    max_files: MAX_BUILD_OUTPUT_FILES,
                    max_total_bytes: MAX_BUILD_OUTPUT_BYTES,
                });
                let result = self.sandbox.run(&spec, RunIo::default())?;
                let ok = result.status == Status::Ok;
                let built: Vec<InputFile> = result
                    .files
                    .iter()
                    .map(|f| InputFile {
                        path: f.path.clone(),
                        content: f.content.clone(),
                        executable: f.executable,
                    })
                    .collect();
                outcome.compile = Some(StageOutcome::from(result));
                if !ok {
                    outcome.status = Status::CompileError;
                    return Ok(outcome);
                }
                built
            }
            None => files,
        };
        let mut spec = spec_for(runtime, &plan.run.argv, &plan.run.env, &run_limits);
        spec.files = run_files;
        let result = self.sandbox.run(
            &spec,
            RunIo {
                stdin: io.stdin,
                output: io.output,
                control: io.control,
            },
        )?;
        outcome.status = result.status;
        outcome.run = Some(StageOutcome::from(result));
        Ok(outcome)
    }
}

/// Name the job's files: the first is the main file (the runtime's default name unless the
/// job named it), unnamed others become `file1`, `file2`...
fn input_files(runtime: &Runtime, files: &[SourceFile]) -> Result<Vec<InputFile>, EngineError> {
    if files.is_empty() {
        return Err(EngineError::BadFiles("no source file given".into()));
    }
    if files.len() > MAX_FILES {
        return Err(EngineError::BadFiles(format!(
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
            sandbox::validate_relative(&path).map_err(|e| EngineError::BadFiles(e.to_string()))?;
            Ok(InputFile {
                path,
                content: f.content.clone(),
                executable: false,
            })
        })
        .collect()
}

fn spec_for(runtime: &Runtime, argv: &[String], env: &[(String, String)], limits: &LimitSet) -> RunSpec {
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
        stack_bytes: STACK_BYTES.min((limits.memory_mib << 20) / 4),
    };
    spec
}
