//! What a run produced, and how the measurements become a [`Status`].

use std::time::Duration;

use crate::cgroup::CgroupStats;
use crate::child::{Report, REPORT_EXITED};
use crate::config::{Limits, OutputFile};
use crate::error::{SandboxError, SetupStep};
use crate::Status;

/// The outcome of one sandboxed program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    pub status: Status,
    /// Exit code, when the program exited.
    pub exit_code: Option<i32>,
    /// Signal number, when a signal ended it.
    pub signal: Option<i32>,
    /// Empty when output was streamed.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// CPU time used by the whole tree (a measurement; the limit is `Limits::cpu_ms`).
    pub cpu_time_ms: u64,
    /// Wall-clock time from start to end (the limit is `Limits::wall_ms`).
    pub wall_time_ms: u64,
    pub memory_kb: u64,
    /// Files read back when [`crate::RunSpec::collect`] asked for them.
    pub files: Vec<OutputFile>,
    /// A short explanation of a limit or of an exec failure, for the caller.
    pub message: Option<String>,
    /// Why the program could not be started (its status is then `internal_error`, and
    /// `message` says it in words).
    pub start_failure: Option<StartFailure>,
}

/// Why a program could not be started: the errno of its `execve` (or of its own setup just
/// before it), sorted into the cases a caller tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StartFailure {
    pub kind: StartFailureKind,
    /// The errno, as the kernel gave it.
    pub errno: i32,
}

/// The cases of [`StartFailure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartFailureKind {
    /// `argv[0]` exists at none of the places it was looked up (ENOENT).
    NotFound,
    /// No permission to execute it: no execute bit, a directory, a `noexec` mount (EACCES).
    NotExecutable,
    /// A format the kernel does not run: neither an ELF for this machine nor a `#!` script
    /// (ENOEXEC).
    ExecFormat,
    /// The file is open for writing (ETXTBSY).
    TextBusy,
    /// `execve` failed otherwise (E2BIG, ELOOP, ENOMEM, ...).
    Other,
    /// The program's setup before its `execve` failed (stdio, rlimits, ids, seccomp): the
    /// sandbox's failure, not the program's.
    Setup,
}

impl StartFailure {
    /// The failure the init reported: the step that failed and its errno.
    pub(crate) fn reported(step: u32, errno: i32) -> StartFailure {
        let kind = if step != SetupStep::Exec as u32 {
            StartFailureKind::Setup
        } else {
            match errno {
                libc::ENOENT => StartFailureKind::NotFound,
                libc::EACCES => StartFailureKind::NotExecutable,
                libc::ENOEXEC => StartFailureKind::ExecFormat,
                libc::ETXTBSY => StartFailureKind::TextBusy,
                _ => StartFailureKind::Other,
            }
        };
        StartFailure { kind, errno }
    }
}

/// The words the caller sees (`RunResult::message`).
impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let err = std::io::Error::from_raw_os_error(self.errno);
        write!(f, "cannot start the program: {err}")
    }
}

/// The inputs of the status decision.
pub(crate) struct Verdict<'a> {
    pub limits: &'a Limits,
    pub report: Option<Report>,
    /// Output went past the cap (the run was killed for it, or ended with bytes left over).
    pub output_over: bool,
    pub killed_for_output: bool,
    pub killed_for_wall: bool,
    pub killed_for_cpu: bool,
    pub killed_for_input_wait: bool,
    pub killed_on_request: bool,
    pub stats: Option<CgroupStats>,
    pub wall: Duration,
}

impl Verdict<'_> {
    pub(crate) fn into_result(self) -> Result<RunResult, SandboxError> {
        let report = self.report.filter(|r| r.kind == REPORT_EXITED);
        let (cpu_time_ms, memory_kb, oom) = match (self.stats, report) {
            (Some(s), _) => (s.cpu_usage_ns / 1_000_000, s.memory_peak_bytes / 1024, s.oom_kills > 0),
            (None, Some(r)) => (r.cpu_us / 1000, r.maxrss_kb, false),
            (None, None) => (0, 0, false),
        };
        let (exit_code, signal) = match report {
            Some(r) if libc::WIFEXITED(r.wait_status) => (Some(libc::WEXITSTATUS(r.wait_status)), None),
            Some(r) if libc::WIFSIGNALED(r.wait_status) => (None, Some(libc::WTERMSIG(r.wait_status))),
            _ => (None, None),
        };
        let l = self.limits;
        let over_cpu = cpu_time_ms > l.cpu_ms;
        let mut start_failure = None;
        let (status, message) = if self.output_over || self.killed_for_output {
            (
                Status::OutputLimit,
                Some(format!("output exceeded {} bytes", l.max_output_bytes)),
            )
        } else if self.killed_for_cpu || signal == Some(libc::SIGXCPU) || (over_cpu && report.is_some()) {
            (Status::TimeLimit, Some(format!("cpu time exceeded {} ms", l.cpu_ms)))
        } else if oom {
            (
                Status::MemoryLimit,
                Some(format!("memory exceeded {} MiB", l.memory_bytes >> 20)),
            )
        } else if self.killed_for_input_wait {
            (
                Status::InputWaitLimit,
                Some(format!(
                    "waited for input longer than {} ms in total",
                    l.input_wait_ms.unwrap_or_default()
                )),
            )
        } else if self.killed_for_wall {
            (
                Status::WallTimeLimit,
                Some(format!("wall time exceeded {} ms", l.wall_ms)),
            )
        } else if self.killed_on_request {
            (Status::Signal, Some("killed on request".to_string()))
        } else if let Some(r) = report.filter(|r| r.exec_errno != 0) {
            let failure = StartFailure::reported(r.exec_step, r.exec_errno);
            start_failure = Some(failure);
            (Status::InternalError, Some(failure.to_string()))
        } else if signal == Some(libc::SIGXFSZ) {
            (
                Status::FileSizeLimit,
                Some(format!("a file exceeded {} bytes", l.max_file_size_bytes)),
            )
        } else if let Some(sig) = signal {
            (Status::Signal, Some(format!("killed by signal {sig}")))
        } else if let Some(code) = exit_code {
            (if code == 0 { Status::Ok } else { Status::RuntimeError }, None)
        } else {
            return Err(SandboxError::NoReport);
        };
        // Killed by the supervisor, or by the OOM killer together with the init (which then
        // could not report): the program died of SIGKILL.
        let killed_without_report = report.is_none() && oom;
        let (signal, exit_code) = if self.killed_for_output
            || self.killed_for_wall
            || self.killed_for_cpu
            || self.killed_for_input_wait
            || self.killed_on_request
            || killed_without_report
        {
            (Some(libc::SIGKILL), None)
        } else {
            (signal, exit_code)
        };
        Ok(RunResult {
            status,
            exit_code,
            signal,
            stdout: Vec::new(),
            stderr: Vec::new(),
            cpu_time_ms,
            wall_time_ms: self.wall.as_millis() as u64,
            memory_kb,
            files: Vec::new(),
            message,
            start_failure,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::REPORT_EXITED;

    fn exited(exec_step: SetupStep, exec_errno: i32) -> RunResult {
        let limits = Limits::default();
        Verdict {
            limits: &limits,
            report: Some(Report {
                kind: REPORT_EXITED,
                // What the init's wait reports for the program's `_exit(127)`.
                wait_status: 127 << 8,
                exec_errno,
                exec_step: exec_step as u32,
                ..Report::default()
            }),
            output_over: false,
            killed_for_output: false,
            killed_for_wall: false,
            killed_for_cpu: false,
            killed_for_input_wait: false,
            killed_on_request: false,
            stats: None,
            wall: Duration::from_millis(1),
        }
        .into_result()
        .unwrap()
    }

    #[test]
    fn a_program_that_cannot_start_says_why_as_a_type_and_in_words() {
        use StartFailureKind::*;
        for (step, errno, kind) in [
            (SetupStep::Exec, libc::ENOEXEC, ExecFormat),
            (SetupStep::Exec, libc::ENOENT, NotFound),
            (SetupStep::Exec, libc::EACCES, NotExecutable),
            (SetupStep::Exec, libc::ETXTBSY, TextBusy),
            (SetupStep::Exec, libc::E2BIG, Other),
            // The same errno before the exec is the sandbox's own failure.
            (SetupStep::ProgramSetup, libc::EACCES, Setup),
        ] {
            let r = exited(step, errno);
            assert_eq!(r.status, Status::InternalError, "{r:?}");
            assert_eq!(r.start_failure, Some(StartFailure { kind, errno }), "{r:?}");
            let words = std::io::Error::from_raw_os_error(errno).to_string();
            assert_eq!(r.message, Some(format!("cannot start the program: {words}")));
        }
    }

    #[test]
    fn a_program_that_started_has_no_start_failure() {
        let r = exited(SetupStep::WaitParent, 0);
        assert_eq!(
            (r.status, r.exit_code, r.start_failure),
            (Status::RuntimeError, Some(127), None)
        );
    }
}
