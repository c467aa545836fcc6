//! What every crate's tests share: the one rule for a test that cannot run on this machine.
//!
//! A test that cannot run here (no root, no Postgres URL, no setuid `su`, a toolchain not
//! installed) is never a silent pass: it calls [`skip`] (the whole test, then returns) or
//! [`skip_part`] (one part of it, then goes on), which print `SKIPPED: reason` or
//! `SKIPPED PART: reason` for `./x test` to count. Where the machine should be able to run
//! everything — `./x test` as root sets [`REQUIRE_ALL_ENV`] — both panic instead, so a test
//! that would skip fails. A test that needs root is also marked `#[ignore = "needs root: …"]`,
//! so a run without root lists it as skipped; `./x test` as root runs the ignored tests too.
//!
//! Only [`other_host_kind`] never fails: a test written for another kind of host (cgroup v1
//! when this one is v2) cannot run here whatever the privileges, and its counterpart runs.
//!
//! Must never: depend on another tiderun crate (every crate's tests use it, the sandbox's
//! included), or be used outside tests.

use std::fmt::Display;

/// Set to `1` (as `./x test` does when run as root) to turn every skip into a failure.
pub const REQUIRE_ALL_ENV: &str = "TIDERUN_REQUIRE_ALL";

/// The line prefix of a test that was skipped as a whole at run time.
pub const SKIPPED: &str = "SKIPPED:";
/// The line prefix of a test that left out a part of itself at run time.
pub const SKIPPED_PART: &str = "SKIPPED PART:";

/// Whether this run must run everything ([`REQUIRE_ALL_ENV`] is `1`).
pub fn require_all() -> bool {
    required(std::env::var(REQUIRE_ALL_ENV).ok().as_deref())
}

/// [`require_all`] for the variable's value: only `1` requires (an unset, empty or `0` one
/// does not).
fn required(value: Option<&str>) -> bool {
    value == Some("1")
}

/// What a skip does: `Ok(line)` to print, or `Err(message)` to fail with when everything is
/// required.
fn skip_outcome(prefix: &str, reason: &dyn Display, require_all: bool) -> Result<String, String> {
    if require_all {
        Err(format!(
            "this test would be skipped, and {REQUIRE_ALL_ENV}=1 forbids it: {prefix} {reason}"
        ))
    } else {
        Ok(format!("{prefix} {reason}"))
    }
}

#[track_caller]
fn print_or_fail(prefix: &str, reason: &dyn Display) {
    match skip_outcome(prefix, reason, require_all()) {
        Ok(line) => println!("{line}"),
        Err(message) => panic!("{message}"),
    }
}

/// The whole test cannot run here: print `SKIPPED: reason` (the caller then returns), or,
/// under [`REQUIRE_ALL_ENV`], fail.
#[track_caller]
pub fn skip(reason: impl Display) {
    print_or_fail(SKIPPED, &reason);
}

/// A part of the test cannot run here (the rest does): print `SKIPPED PART: reason`, or,
/// under [`REQUIRE_ALL_ENV`], fail.
#[track_caller]
pub fn skip_part(reason: impl Display) {
    print_or_fail(SKIPPED_PART, &reason);
}

/// The line of a test for another kind of host.
fn other_host_kind_line(reason: &dyn Display) -> String {
    format!("{SKIPPED} {reason} (a test for another kind of host)")
}

/// The test is written for another kind of host than this one (cgroup v1 on a v2 host, say),
/// where its counterpart runs instead: print `SKIPPED: reason`, also under
/// [`REQUIRE_ALL_ENV`] — no privilege could make it run here.
pub fn other_host_kind(reason: impl Display) {
    println!("{}", other_host_kind_line(&reason));
}

/// Whether this test process runs as root (effective uid 0).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Why a test that needs root is skipped, or `None` when it runs (as root).
fn without_root(root: bool, why: &str) -> Option<String> {
    (!root).then(|| format!("needs root: {why}"))
}

/// True as root; otherwise [`skip`] with `needs root: {why}` and false. For the guard of a
/// test marked `#[ignore = "needs root: …"]` (run without root with `--run-ignored`).
#[track_caller]
pub fn root_or_skip(why: &str) -> bool {
    match without_root(is_root(), why) {
        None => true,
        Some(reason) => {
            skip(reason);
            false
        }
    }
}

/// [`root_or_skip`] for a part of a test: true as root; otherwise [`skip_part`] and false.
#[track_caller]
pub fn root_or_skip_part(part: &str, why: &str) -> bool {
    match without_root(is_root(), why) {
        None => true,
        Some(reason) => {
            skip_part(format_args!("{part}: {reason}"));
            false
        }
    }
}

/// What `tiderun serve --addr=127.0.0.1:0` prints at start, read from its stdout: the lines
/// up to the `pools:` line that ends the banner, and the base URL its first line names (the
/// port the system picked: no port chosen by a test can be taken by another in between). The
/// rest of stdout is read and dropped, so the server never blocks on the pipe. Panics when
/// nothing comes within `timeout` (the server did not start: its log says why).
pub fn serve_banner(stdout: std::process::ChildStdout, timeout: std::time::Duration) -> (String, Vec<String>) {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = Vec::new();
        let mut lines = std::io::BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            let last = line.trim_start().starts_with("pools:");
            banner.push(line);
            if last {
                break;
            }
        }
        let _ = tx.send(banner);
        for _ in lines {}
    });
    let banner = rx
        .recv_timeout(timeout)
        .expect("tiderun serve prints where it listens (else see its log)");
    let base = banner
        .first()
        .and_then(|l| l.strip_prefix("tiderun serving on "))
        .unwrap_or_else(|| panic!("the server did not start (its first lines: {banner:?}); see its log"))
        .to_owned();
    (base, banner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_requires_everything() {
        assert!(required(Some("1")));
        for value in [None, Some(""), Some("0"), Some("yes")] {
            assert!(!required(value), "{value:?}");
        }
    }

    #[test]
    fn a_skip_prints_its_line_or_fails_when_everything_is_required() {
        assert_eq!(
            skip_outcome(SKIPPED, &"no x here", false).as_deref(),
            Ok("SKIPPED: no x here")
        );
        assert_eq!(
            skip_outcome(SKIPPED_PART, &"the y part: no y here", false).as_deref(),
            Ok("SKIPPED PART: the y part: no y here")
        );
        let failure = skip_outcome(SKIPPED, &"no x here", true).expect_err("fails");
        assert!(
            failure.contains("TIDERUN_REQUIRE_ALL=1") && failure.contains("no x here"),
            "{failure}"
        );
        assert!(skip_outcome(SKIPPED_PART, &"no y here", true).is_err());
        // A test for another kind of host has no failing form, and counts as skipped.
        assert!(other_host_kind_line(&"no cgroup v1 here").starts_with(SKIPPED));
    }

    #[test]
    fn tests_that_need_root_run_exactly_as_root() {
        assert_eq!(without_root(true, "the full sandbox"), None);
        assert_eq!(
            without_root(false, "the full sandbox").as_deref(),
            Some("needs root: the full sandbox")
        );
    }
}
