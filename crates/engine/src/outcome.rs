//! The result of a job. No wire format: each API (and `tiderun run --json`, which prints the
//! native API's) renders it in its own shape.

use runtimes::Runtime;
use sandbox::{RunResult, StartFailure, Status};

/// The result of one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// `compile_error` when the compile stage failed, otherwise the run stage's status.
    pub status: Status,
    pub language: String,
    pub version: String,
    pub compile: Option<StageOutcome>,
    pub run: Option<StageOutcome>,
    /// The node memory counted for this job's output (see [`crate::OutputHold`]): an API keeps
    /// it until its answer is sent. Not part of what the outcome says (never compared).
    pub hold: crate::OutputHold,
    /// What the job used, over every sandbox it started (hidden tests' runs too): for the
    /// runner's observers, not part of what an API answers.
    pub usage: crate::Usage,
}

impl Outcome {
    pub(crate) fn new(runtime: &Runtime) -> Self {
        Outcome {
            status: Status::InternalError,
            language: runtime.name.clone(),
            version: runtime.version.clone().unwrap_or_default(),
            compile: None,
            run: None,
            hold: crate::OutputHold::default(),
            usage: crate::Usage::default(),
        }
    }
}

/// One stage (compile or run) of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageOutcome {
    pub status: Status,
    /// Bytes as produced. Empty when the output was streamed to the caller instead.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// stdout and stderr interleaved in the order they were read (Piston's `output`).
    pub output: Vec<u8>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub cpu_time_ms: u64,
    pub wall_time_ms: u64,
    pub memory_kb: u64,
    /// The stage's memory limit, MiB (what it was given, not what it used): metering bills a
    /// stage's memory limit × its wall time, as cloud functions do.
    pub memory_limit_mb: u64,
    /// Which limit ended the stage, or why it could not start.
    pub message: Option<String>,
    /// Why the stage's program could not be started, as a type (the status is then
    /// `internal_error`; `message` says it in words); the APIs word it.
    pub start_failure: Option<StartFailure>,
    /// A compile stage answered by the build cache: nothing ran, times and memory are 0, the
    /// rest is the original compile's.
    pub cached: bool,
    /// The images the run left in its work dir, when the job asked for them ([`crate::Job::images`];
    /// read only after the program exited by itself, not after a limit or a kill).
    pub files: Option<Vec<crate::Image>>,
    /// How its sandbox started; `None` when none did (a cached compile, a run the request
    /// had nothing left for). For observers, not for callers.
    pub start: Option<crate::Start>,
}

impl StageOutcome {
    /// The outcome of a sandbox run whose output was captured into these buffers.
    pub(crate) fn from_run(r: RunResult, captured: Captured, start: crate::Start) -> Self {
        let (stdout, stderr, output) = if captured.used {
            (captured.stdout, captured.stderr, captured.combined)
        } else {
            (r.stdout, r.stderr, Vec::new())
        };
        StageOutcome {
            status: r.status,
            stdout,
            stderr,
            output,
            exit_code: r.exit_code,
            signal: r.signal,
            cpu_time_ms: r.cpu_time_ms,
            wall_time_ms: r.wall_time_ms,
            memory_kb: r.memory_kb,
            memory_limit_mb: 0,
            message: r.message,
            start_failure: r.start_failure,
            cached: false,
            files: None,
            start: Some(start),
        }
    }
}

/// Output gathered by the engine's own stream callback.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub used: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub combined: Vec<u8>,
}
