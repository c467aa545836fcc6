//! Judge0's statuses, and an engine `Outcome` rendered as a Judge0 result. No run logic: the
//! statuses come from the engine, `expected_output` is judged by the engine's
//! `Verdict::judge` (the one comparison of every API).

use engine::{Outcome, StageOutcome, Verdict};
use sandbox::{StartFailureKind, Status};

use super::wire::{decimal, StoredRequest, StoredResult};

pub const IN_QUEUE: i32 = 1;
pub const PROCESSING: i32 = 2;
pub const ACCEPTED: i32 = 3;
pub const WRONG_ANSWER: i32 = 4;
pub const TIME_LIMIT_EXCEEDED: i32 = 5;
pub const COMPILATION_ERROR: i32 = 6;
pub const SIGSEGV: i32 = 7;
pub const SIGXFSZ: i32 = 8;
pub const SIGFPE: i32 = 9;
pub const SIGABRT: i32 = 10;
pub const NZEC: i32 = 11;
pub const OTHER: i32 = 12;
pub const INTERNAL_ERROR: i32 = 13;
pub const EXEC_FORMAT_ERROR: i32 = 14;

/// Judge0's status table (`GET /statuses`).
pub const STATUSES: [(i32, &str); 14] = [
    (IN_QUEUE, "In Queue"),
    (PROCESSING, "Processing"),
    (ACCEPTED, "Accepted"),
    (WRONG_ANSWER, "Wrong Answer"),
    (TIME_LIMIT_EXCEEDED, "Time Limit Exceeded"),
    (COMPILATION_ERROR, "Compilation Error"),
    (SIGSEGV, "Runtime Error (SIGSEGV)"),
    (SIGXFSZ, "Runtime Error (SIGXFSZ)"),
    (SIGFPE, "Runtime Error (SIGFPE)"),
    (SIGABRT, "Runtime Error (SIGABRT)"),
    (NZEC, "Runtime Error (NZEC)"),
    (OTHER, "Runtime Error (Other)"),
    (INTERNAL_ERROR, "Internal Error"),
    (EXEC_FORMAT_ERROR, "Exec Format Error"),
];

/// Judge0's compile_output when the compiler ran out of time.
const COMPILE_TIMEOUT_OUTPUT: &[u8] = b"Compilation time limit exceeded.";

pub fn status_description(id: i32) -> &'static str {
    STATUSES.iter().find(|(i, _)| *i == id).map_or("Unknown", |(_, d)| d)
}

/// The Judge0 result of a job: `runs` are the run stages (one, or `number_of_runs`).
///
/// Like Judge0, the runs stop counting at the first one that is not accepted: that run is
/// the one reported, and time and memory are averaged over the runs up to it.
pub fn from_outcome(req: &StoredRequest, outcome: &Outcome, runs: &[StageOutcome]) -> (i32, StoredResult) {
    if outcome.status == Status::CompileError {
        let compile = outcome.compile.as_ref();
        let timed_out = compile.is_some_and(|c| matches!(c.status, Status::TimeLimit | Status::WallTimeLimit));
        let compile_output = if timed_out {
            Some(COMPILE_TIMEOUT_OUTPUT.to_vec())
        } else {
            compile.map(combined).filter(|o| !o.is_empty())
        };
        return (
            COMPILATION_ERROR,
            StoredResult {
                compile_output,
                ..StoredResult::default()
            },
        );
    }
    let compile_output = outcome.compile.as_ref().map(combined).filter(|o| !o.is_empty());
    let judged: Vec<(i32, Vec<u8>)> = runs
        .iter()
        .map(|run| {
            let stdout = if req.redirect_stderr_to_stdout {
                combined(run)
            } else {
                run.stdout.clone()
            };
            (run_status(run, req.expected_output.as_deref(), &stdout), stdout)
        })
        .collect();
    let Some(last) = judged
        .iter()
        .position(|(status, _)| *status != ACCEPTED)
        .or_else(|| judged.len().checked_sub(1))
    else {
        tracing::error!("judge0: the engine returned no run stage");
        return internal_error("Internal Error");
    };
    let counted = &runs[..=last];
    let run = &runs[last];
    let (status, stdout) = judged.into_iter().nth(last).unwrap_or((INTERNAL_ERROR, Vec::new()));
    let average = |f: fn(&StageOutcome) -> u64| counted.iter().map(f).sum::<u64>() as f64 / counted.len() as f64;
    (
        status,
        StoredResult {
            stdout: Some(stdout).filter(|o| !o.is_empty()),
            stderr: Some(run.stderr.clone()).filter(|e| !e.is_empty() && !req.redirect_stderr_to_stdout),
            compile_output,
            message: message(run),
            // Judge0 (isolate) reports 0 when the program was killed by a signal.
            exit_code: Some(run.exit_code.unwrap_or(0)),
            exit_signal: run.signal,
            time: Some(decimal(average(|r| r.cpu_time_ms) / 1000.0, 3)),
            wall_time: Some(decimal(average(|r| r.wall_time_ms) / 1000.0, 3)),
            memory: Some(average(|r| r.memory_kb).round() as u64),
        },
    )
}

/// A submission that could not run: status 13 with a message safe to show.
pub fn internal_error(message: &str) -> (i32, StoredResult) {
    (
        INTERNAL_ERROR,
        StoredResult {
            message: Some(message.to_owned()),
            ..StoredResult::default()
        },
    )
}

/// Judge0's status of one run. A memory-limit kill is 12 (Judge0's OOM kill is a SIGKILL,
/// "Runtime Error (Other)"); the output cap is 8 (Judge0's stdout is a file bounded by
/// max_file_size, so too much output is SIGXFSZ there).
fn run_status(run: &StageOutcome, expected: Option<&[u8]>, stdout: &[u8]) -> i32 {
    match run.status {
        Status::Ok => match Verdict::judge(run.status, stdout, expected) {
            Verdict::WrongAnswer => WRONG_ANSWER,
            Verdict::Accepted | Verdict::Failed(_) => ACCEPTED,
        },
        // Judge0's runs are never interactive; a wait for input is time all the same.
        Status::TimeLimit | Status::WallTimeLimit | Status::InputWaitLimit => TIME_LIMIT_EXCEEDED,
        Status::Signal => match run.signal {
            Some(11) => SIGSEGV,
            Some(25) => SIGXFSZ,
            Some(8) => SIGFPE,
            Some(6) => SIGABRT,
            _ => OTHER,
        },
        Status::RuntimeError => NZEC,
        Status::MemoryLimit => OTHER,
        Status::OutputLimit | Status::FileSizeLimit => SIGXFSZ,
        Status::CompileError => COMPILATION_ERROR,
        Status::InternalError if exec_failed(run) => EXEC_FORMAT_ERROR,
        Status::InternalError => INTERNAL_ERROR,
    }
}

/// The program's exec failed as Judge0 reports with status 14: isolate's `execve` said "Exec
/// format error", "No such file or directory" or "Permission denied". Any other failure to start
/// (a busy file, the sandbox's own setup) is Judge0's Internal Error.
fn exec_failed(run: &StageOutcome) -> bool {
    match run.start_failure.map(|f| f.kind) {
        Some(StartFailureKind::ExecFormat | StartFailureKind::NotFound | StartFailureKind::NotExecutable) => true,
        Some(StartFailureKind::TextBusy | StartFailureKind::Other | StartFailureKind::Setup) | None => false,
    }
}

/// Judge0's `message`: isolate's wording for exits, signals and timeouts, the engine's for the
/// limits isolate does not have.
fn message(run: &StageOutcome) -> Option<String> {
    let fixed = |s: &str| Some(s.to_owned());
    match run.status {
        Status::Ok | Status::CompileError => None,
        Status::RuntimeError => Some(format!("Exited with error status {}", run.exit_code.unwrap_or(0))),
        Status::Signal => Some(format!("Caught fatal signal {}", run.signal.unwrap_or(0))),
        // The request's limits (not isolate's) say so in their own words.
        _ if run.ended_by_request() => run.message.clone(),
        Status::TimeLimit => fixed("Time limit exceeded"),
        Status::WallTimeLimit | Status::InputWaitLimit => fixed("Time limit exceeded (wall clock)"),
        Status::MemoryLimit | Status::OutputLimit | Status::FileSizeLimit => {
            run.message.clone().or_else(|| fixed(run.status.as_str()))
        }
        Status::InternalError if exec_failed(run) => run.message.clone(),
        Status::InternalError => fixed("Internal Error"),
    }
}

/// stdout and stderr interleaved as produced (the engine's `output`), for compile output and
/// `redirect_stderr_to_stdout`.
fn combined(stage: &StageOutcome) -> Vec<u8> {
    if stage.output.is_empty() {
        [stage.stdout.as_slice(), stage.stderr.as_slice()].concat()
    } else {
        stage.output.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(expected: Option<&str>) -> StoredRequest {
        StoredRequest {
            language_id: 71,
            source_code: b"x".to_vec(),
            stdin: None,
            expected_output: expected.map(|e| e.as_bytes().to_vec()),
            compiler_options: None,
            command_line_arguments: None,
            number_of_runs: 1,
            cpu_time_limit: 5.0,
            cpu_extra_time: 0.0,
            wall_time_limit: 10.0,
            memory_limit: 128_000,
            stack_limit: 64_000,
            max_processes_and_or_threads: 60,
            max_file_size: 1024,
            redirect_stderr_to_stdout: false,
            callback_url: None,
            additional_files: None,
            output_share: None,
        }
    }

    fn run(status: Status, stdout: &str) -> StageOutcome {
        StageOutcome {
            status,
            stdout: stdout.as_bytes().to_vec(),
            output: stdout.as_bytes().to_vec(),
            exit_code: Some(0),
            cpu_time_ms: 12,
            wall_time_ms: 30,
            memory_kb: 1000,
            ..StageOutcome::default()
        }
    }

    fn outcome(status: Status) -> Outcome {
        Outcome {
            status,
            language: "python".into(),
            version: "3".into(),
            compile: None,
            run: None,
            ..Outcome::default()
        }
    }

    #[test]
    fn statuses_map_like_judge0() {
        let sig = |s| StageOutcome {
            status: Status::Signal,
            signal: Some(s),
            ..StageOutcome::default()
        };
        assert_eq!(run_status(&sig(11), None, b""), SIGSEGV);
        assert_eq!(run_status(&sig(25), None, b""), SIGXFSZ);
        assert_eq!(run_status(&sig(8), None, b""), SIGFPE);
        assert_eq!(run_status(&sig(6), None, b""), SIGABRT);
        assert_eq!(run_status(&sig(9), None, b""), OTHER);
        assert_eq!(run_status(&run(Status::RuntimeError, ""), None, b""), NZEC);
        assert_eq!(
            run_status(&run(Status::WallTimeLimit, ""), None, b""),
            TIME_LIMIT_EXCEEDED
        );
        assert_eq!(run_status(&run(Status::MemoryLimit, ""), None, b""), OTHER);
        assert_eq!(run_status(&run(Status::Ok, "3 \n"), Some(b"3"), b"3 \n"), ACCEPTED);
        assert_eq!(run_status(&run(Status::Ok, "4"), Some(b"3"), b"4"), WRONG_ANSWER);
        assert_eq!(status_description(6), "Compilation Error");
    }

    #[test]
    fn runs_stop_counting_at_the_first_failure() {
        let runs = vec![run(Status::Ok, "1\n"), run(Status::Ok, "2\n"), run(Status::Ok, "1\n")];
        let (status, result) = from_outcome(&req(Some("1")), &outcome(Status::Ok), &runs);
        assert_eq!(status, WRONG_ANSWER);
        assert_eq!(result.stdout.as_deref(), Some(&b"2\n"[..]));
        assert_eq!(result.time.as_deref(), Some("0.012"));
        assert_eq!(result.memory, Some(1000));
        assert_eq!(result.message, None);
        assert_eq!(result.exit_code, Some(0));
    }

    #[test]
    fn the_request_limits_keep_their_own_words() {
        let ended = |status, message: &str| StageOutcome {
            status,
            message: Some(message.to_owned()),
            ..StageOutcome::default()
        };
        let own = ended(Status::WallTimeLimit, "wall time exceeded 5000 ms");
        assert_eq!(message(&own).as_deref(), Some("Time limit exceeded (wall clock)"));
        for (status, text) in [
            (
                Status::WallTimeLimit,
                "not run: this request used up its wall time of 120000 ms",
            ),
            (
                Status::OutputLimit,
                "output exceeded this request's budget of 33554432 bytes",
            ),
        ] {
            assert_eq!(message(&ended(status, text)).as_deref(), Some(text));
        }
    }

    #[test]
    fn exec_format_error_comes_from_the_typed_start_failure() {
        use sandbox::StartFailure;
        let failed = |kind, errno, message: &str| StageOutcome {
            status: Status::InternalError,
            message: Some(message.to_owned()),
            start_failure: Some(StartFailure { kind, errno }),
            ..StageOutcome::default()
        };
        let not_elf = failed(
            StartFailureKind::ExecFormat,
            libc::ENOEXEC,
            "cannot start the program: Exec format error (os error 8)",
        );
        let (status, result) = from_outcome(&req(None), &outcome(Status::InternalError), &[not_elf]);
        assert_eq!(status, EXEC_FORMAT_ERROR);
        assert_eq!(
            result.message.as_deref(),
            Some("cannot start the program: Exec format error (os error 8)")
        );
        for (kind, errno) in [
            (StartFailureKind::NotFound, libc::ENOENT),
            (StartFailureKind::NotExecutable, libc::EACCES),
        ] {
            assert_eq!(run_status(&failed(kind, errno, "x"), None, b""), EXEC_FORMAT_ERROR);
        }
        // Judge0's Internal Error: a busy file, the sandbox's own setup, or any other failure;
        // and the wording of a message alone decides nothing.
        for kind in [
            StartFailureKind::TextBusy,
            StartFailureKind::Setup,
            StartFailureKind::Other,
        ] {
            let run = failed(kind, libc::ETXTBSY, "cannot start the program: Text file busy");
            assert_eq!(run_status(&run, None, b""), INTERNAL_ERROR, "{kind:?}");
            assert_eq!(message(&run).as_deref(), Some("Internal Error"));
        }
        let worded = StageOutcome {
            start_failure: None,
            ..failed(
                StartFailureKind::ExecFormat,
                libc::ENOEXEC,
                "cannot start the program: Exec format error",
            )
        };
        assert_eq!(run_status(&worded, None, b""), INTERNAL_ERROR);
        assert_eq!(message(&worded).as_deref(), Some("Internal Error"));
    }

    #[test]
    fn compile_errors_carry_only_compile_output() {
        let mut o = outcome(Status::CompileError);
        o.compile = Some(StageOutcome {
            status: Status::RuntimeError,
            output: b"main.c:1: error".to_vec(),
            ..StageOutcome::default()
        });
        let (status, result) = from_outcome(&req(None), &o, &[]);
        assert_eq!(status, COMPILATION_ERROR);
        assert_eq!(result.compile_output.as_deref(), Some(&b"main.c:1: error"[..]));
        assert_eq!((result.time, result.stdout, result.exit_code), (None, None, None));
    }
}
