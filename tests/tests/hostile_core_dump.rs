//! A crash loop under a `core_pattern` that pipes core dumps to a helper, as Ubuntu's apport
//! and systemd-coredump set it: the kernel ignores RLIMIT_CORE=0 for a pipe and would start
//! the helper, as the host's root and outside the sandbox, for every crash. The test installs
//! a helper of its own that records each crash it is started for, and restores the host's
//! pattern afterwards whatever happens. The pattern is host-wide: the test holds the
//! exclusive [`core_pattern_lock`] (tests that watch the pattern hold it shared) and is a
//! test binary of its own.

use std::path::Path;
use std::time::Duration;

use tiderun_tests::*;

const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";

/// Puts the host's core_pattern back when dropped (also when the test panics).
struct RestorePattern(String);

impl Drop for RestorePattern {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(CORE_PATTERN, &self.0) {
            eprintln!("CANNOT RESTORE the host's core_pattern {:?}: {e}", self.0);
        }
    }
}

/// A pipe pattern running `helper` (through /bin/sh: the directory may be noexec) with the
/// crashing thread's name.
fn install_pipe_helper(dir: &Path) -> (RestorePattern, std::path::PathBuf) {
    let marker = dir.join("started");
    let helper = dir.join("helper.sh");
    std::fs::write(&helper, format!("echo \"$1\" >> {}\n", marker.display())).expect("write the helper");
    let original = std::fs::read_to_string(CORE_PATTERN).expect("read core_pattern");
    let restore = RestorePattern(original.trim_end_matches('\n').to_string());
    let pattern = format!("|/bin/sh {} %e", helper.display());
    std::fs::write(CORE_PATTERN, &pattern).expect("set a pipe core_pattern");
    (restore, marker)
}

#[test]
#[ignore = "needs root: writing the host's core_pattern"]
fn crash_loop_under_a_pipe_core_pattern_starts_no_helper() {
    if !testkit::root_or_skip("writing the host's core_pattern") {
        return;
    }
    let _lock = core_pattern_lock(true);
    let dir = tempfile::Builder::new()
        .prefix("tiderun-core-")
        .tempdir_in("/run")
        .expect("helper dir");
    let (restore, marker) = install_pipe_helper(dir.path());
    let mut spec = c_spec("limits_core_pipe.c", &[]);
    spec.limits = tight_limits();
    let r = hostile(&spec, RunIo::default());
    // A helper is started (exec'd) before the crash completes; give it time to write.
    std::thread::sleep(Duration::from_millis(500));
    drop(restore);

    let started = std::fs::read_to_string(&marker).unwrap_or_default();
    let ours = started.lines().filter(|l| l.contains("tdr-coreprobe")).count();
    assert_eq!(
        ours, 0,
        "the host's core_pattern helper was started for sandboxed crashes:\n{started}"
    );
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        stdout(&r),
        "core limit 1 1\nsetrlimit-0 EPERM\nsetrlimit-soft-0 EPERM\nprlimit-0 EPERM\n\
         prlimit-high-bits EPERM\nsetrlimit-high-bits EPERM\ncore limit now 1 1\ncrashed 20 dumped 0\n",
        "{r:?}"
    );
}
