//! The one status enum every layer of tiderun speaks.

use serde::{Deserialize, Serialize};

/// How a run ended. The same names appear in the CLI, the native API and the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Exit code 0.
    Ok,
    /// Exited with a non-zero code.
    RuntimeError,
    /// Killed by a signal that is not one of the limits below.
    Signal,
    /// Used more CPU time than allowed (cgroup CPU accounting, RLIMIT_CPU as backstop).
    TimeLimit,
    /// Ran longer than the wall-clock limit (sleeping, blocked on input, ...).
    WallTimeLimit,
    /// An interactive run's waits for input together passed its input wait budget.
    InputWaitLimit,
    /// The memory cgroup ran out and the OOM killer fired.
    MemoryLimit,
    /// stdout + stderr went past the byte cap.
    OutputLimit,
    /// A write went past RLIMIT_FSIZE (SIGXFSZ).
    FileSizeLimit,
    /// The compile step failed (set by the engine, never by a bare sandbox run).
    CompileError,
    /// tiderun itself failed; the detail is in the log, not shown to the caller. (The default:
    /// a result nobody filled in is an internal error, never a false `ok`.)
    #[default]
    InternalError,
}

impl Status {
    /// The wire name (`time_limit`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::RuntimeError => "runtime_error",
            Status::Signal => "signal",
            Status::TimeLimit => "time_limit",
            Status::WallTimeLimit => "wall_time_limit",
            Status::InputWaitLimit => "input_wait_limit",
            Status::MemoryLimit => "memory_limit",
            Status::OutputLimit => "output_limit",
            Status::FileSizeLimit => "file_size_limit",
            Status::CompileError => "compile_error",
            Status::InternalError => "internal_error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
