//! The result of a job. No wire format: each API (and `tiderun run --json`, which prints the
//! native API's) renders it in its own shape.

use runtimes::{LimitSet, Runtime};
use sandbox::{RunResult, StartFailure, Status};

use crate::{Limit, Phase};

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
    /// Which limit ended the stage, or why it could not start (stable English words).
    pub message: Option<String>,
    /// The limit that ended the stage (or kept it from starting) and its value, for a caller
    /// that words it in its own language; `None` when no limit did.
    pub limit: Option<LimitHit>,
    /// Why the stage's program could not be started, as a type (the status is then
    /// `internal_error`; `message` says it in words); the APIs word it.
    pub start_failure: Option<StartFailure>,
    /// A compile stage answered by the build cache: nothing ran, times and memory are 0, the
    /// rest is the original compile's.
    pub cached: bool,
    /// The output was cut at a limit (the run's output cap or the request's budget): stdout,
    /// stderr and `output` end on a whole character, the rest was dropped.
    pub truncated: bool,
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
        let (mut stdout, mut stderr, mut output) = if captured.used {
            (captured.stdout, captured.stderr, captured.combined)
        } else {
            (r.stdout, r.stderr, Vec::new())
        };
        // The cap falls on a byte: the character it split is dropped whole, never shown as
        // U+FFFD.
        let truncated = r.status == Status::OutputLimit;
        if truncated {
            for bytes in [&mut stdout, &mut stderr, &mut output] {
                bytes.truncate(whole_chars_len(bytes));
            }
        }
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
            limit: None,
            start_failure: r.start_failure,
            cached: false,
            truncated,
            files: None,
            start: Some(start),
        }
    }
}

/// A limit that ended a stage, with the value it had, in the limit's unit ([`Limit::name`]
/// says which: `cpu_ms`, `memory_mb`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitHit {
    pub limit: Limit,
    pub value: u64,
}

impl LimitHit {
    /// The limit of `phase` a sandbox status names, with the value the stage was given.
    pub(crate) fn of(status: Status, phase: Phase, limits: &LimitSet, input_wait_ms: Option<u64>) -> Option<LimitHit> {
        let (limit, value) = match status {
            Status::TimeLimit => (Limit::CpuMs(phase), limits.cpu_ms),
            Status::WallTimeLimit => (Limit::WallMs(phase), limits.wall_ms),
            Status::MemoryLimit => (Limit::MemoryMb(phase), limits.memory_mib),
            Status::InputWaitLimit => (Limit::InputWaitMs, input_wait_ms?),
            Status::OutputLimit => (Limit::MaxOutputBytes(phase), limits.max_output_bytes),
            Status::FileSizeLimit => (Limit::MaxFileSizeBytes(phase), limits.max_file_size_bytes),
            Status::Ok | Status::RuntimeError | Status::Signal | Status::CompileError | Status::InternalError => {
                return None
            }
        };
        Some(LimitHit { limit, value })
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

/// The length of `bytes` without a character cut at its end: the start of a UTF-8 sequence
/// whose remaining bytes are missing. Anything else (whole characters, bytes that are not
/// UTF-8 at all) is left as it is.
pub(crate) fn whole_chars_len(bytes: &[u8]) -> usize {
    let len = bytes.len();
    // A sequence is at most 4 bytes: its lead is among the last 3 when it is incomplete.
    for back in 1..=len.min(3) {
        let b = bytes[len - back];
        if b & 0xc0 == 0x80 {
            continue; // a continuation byte: the lead is further back
        }
        let needed = match b {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        return if needed > back { len - back } else { len };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_character_is_dropped_whole() {
        let line = "第 75691 行".as_bytes();
        for cut in 0..=line.len() {
            let kept = whole_chars_len(&line[..cut]);
            let text = std::str::from_utf8(&line[..kept]).expect("whole characters");
            assert!(line.starts_with(text.as_bytes()));
            assert!(cut - kept < 4, "at most one character dropped");
        }
        assert_eq!(whole_chars_len("行".as_bytes()), 3);
        assert_eq!(whole_chars_len(&"行".as_bytes()[..2]), 0);
        assert_eq!(whole_chars_len("🎉".as_bytes()), 4);
        assert_eq!(whole_chars_len(&"🎉".as_bytes()[..3]), 0);
        // Not UTF-8 to begin with: left alone, the API replaces it as before.
        assert_eq!(whole_chars_len(b"ab\xff"), 3);
        assert_eq!(whole_chars_len(b"a\x80\x80\x80"), 4);
    }
}
