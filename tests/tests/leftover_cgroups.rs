//! Run cgroups left behind by a process that is gone (a crash, a kill -9 with warm instances)
//! are removed when the next sandbox starts; those of a live process are not touched.

use std::path::Path;

use tiderun_tests::uid_base;

#[test]
#[ignore = "needs root: the sandbox's cgroup directories are root's"]
fn a_new_sandbox_sweeps_the_empty_cgroups_of_dead_processes() {
    if !testkit::root_or_skip("the sandbox's cgroup directories are root's") {
        return;
    }
    let options = || sandbox::SandboxOptions {
        uid_base: uid_base(),
        ..sandbox::SandboxOptions::default()
    };
    // A sandbox makes the tiderun directory where there is none yet (a fresh host); it makes
    // no run, so this process's pid stays a dead namesake's below.
    drop(sandbox::Sandbox::new(options()).expect("sandbox"));
    // v1 (this machine) or v2: the memory hierarchy's tiderun directory.
    let parent = ["/sys/fs/cgroup/memory/tiderun", "/sys/fs/cgroup/tiderun"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("cgroup.procs").exists())
        .expect("a sandbox made its tiderun cgroup directory");
    // Above the kernel's largest pid (4194304): no process can have it.
    let dead = parent.join("run-4194999-7");
    // A live process's (the parent of this test process, which outlives it).
    let alive = parent.join(format!("run-{}-999999", std::os::unix::process::parent_id()));
    let not_ours = parent.join("probe-4194999");
    // This process has made no run yet: a cgroup with its pid is a dead namesake's.
    let namesake = parent.join(format!("run-{}-888888", std::process::id()));
    for dir in [&dead, &alive, &not_ours, &namesake] {
        let _ = std::fs::create_dir(dir);
    }
    let _sandbox = sandbox::Sandbox::new(options()).expect("sandbox");
    assert!(!dead.exists(), "the dead process's cgroup was swept");
    assert!(!namesake.exists(), "a dead namesake's cgroup was swept");
    assert!(alive.exists(), "a live process's cgroup stays");
    assert!(not_ours.exists(), "only run cgroups are swept");
    for dir in [&alive, &not_ours] {
        std::fs::remove_dir(dir).unwrap();
    }
}
