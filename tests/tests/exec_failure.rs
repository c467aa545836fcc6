//! A program that cannot be started is tiderun's failure, said in words and as a type
//! (`RunResult::start_failure`: why the exec failed), and nothing of it leaks into the
//! program's output (the exec error travels on its own pipe, never on 0-2).

use sandbox::{StartFailure, StartFailureKind};
use tiderun_tests::{hostile, InputFile, RunIo, RunResult, RunSpec, Status};

/// Run `./prog` holding `content`.
fn run_file(content: &[u8], executable: bool) -> RunResult {
    let mut spec = RunSpec::new(vec!["./prog".into()]);
    spec.files.push(InputFile {
        path: "prog".into(),
        content: content.to_vec(),
        executable,
        read_only: false,
    });
    hostile(&spec, RunIo::default())
}

fn assert_cannot_start(r: &RunResult, kind: StartFailureKind, errno: i32) {
    assert_eq!(r.status, Status::InternalError, "{r:?}");
    assert_eq!(r.start_failure, Some(StartFailure { kind, errno }), "{r:?}");
    let words = std::io::Error::from_raw_os_error(errno).to_string();
    assert_eq!(
        r.message.as_deref(),
        Some(format!("cannot start the program: {words}").as_str()),
        "{r:?}"
    );
    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{r:?}");
}

#[test]
fn a_missing_program_is_an_internal_error_with_clean_output() {
    let r = hostile(&RunSpec::new(vec!["/usr/bin/no-such-program".into()]), RunIo::default());
    assert_cannot_start(&r, StartFailureKind::NotFound, libc::ENOENT);
}

#[test]
fn an_executable_file_of_no_known_format_is_an_exec_format_error() {
    // Neither an ELF for this machine nor a `#!` script: the kernel refuses it (a shell would
    // run it as a script; execve does not).
    let r = run_file(b"\x7fELG\x02garbage, not a program\n", true);
    assert_cannot_start(&r, StartFailureKind::ExecFormat, libc::ENOEXEC);
}

#[test]
fn a_file_without_the_execute_bit_is_not_executable() {
    let r = run_file(b"#!/bin/sh\necho never\n", false);
    assert_cannot_start(&r, StartFailureKind::NotExecutable, libc::EACCES);
}
