//! A server killed with SIGKILL in the middle of a run takes the run with it: the sandbox's
//! init sees its supervisor gone (the control pipe's end of file) and kills the program — no
//! one would enforce its limits any more — and its run cgroup, left empty, is removed by the
//! next sandbox. (What `tiderun serve` restarted after a kill -9 relies on:
//! `crates/tiderun/tests/nodes.rs` checks it end to end.)

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the orphaned sandbox may take to go; a sleeping program without the fix stays
/// far longer (forever).
const GONE_WITHIN: Duration = Duration::from_secs(10);

/// Parent of every process now.
fn parents() -> HashMap<u32, u32> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command's closing parenthesis: state, then the parent's pid.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        if state == "Z" {
            continue;
        }
        if let Some(ppid) = fields.next().and_then(|p| p.parse().ok()) {
            out.insert(pid, ppid);
        }
    }
    out
}

/// The live processes that descend from `root` (not `root` itself).
fn descendants(root: u32) -> Vec<u32> {
    let parents = parents();
    let mut out = Vec::new();
    for (&pid, _) in parents.iter() {
        let mut p = pid;
        for _ in 0..parents.len() {
            match parents.get(&p) {
                Some(&pp) if pp == root => {
                    out.push(pid);
                    break;
                }
                Some(&pp) if pp > 1 => p = pp,
                _ => break,
            }
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    parents().contains_key(&pid)
}

/// Pid namespaces `pid` is in, counted from the host's (its `NSpid` fields).
fn ns_depth(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .map(|v| v.split_whitespace().count())
        })
        .unwrap_or(0)
}

#[test]
fn a_program_dies_with_its_killed_server() {
    // Orphans of our children come to us: the killed stand-in's sandbox init, which we reap.
    // SAFETY: prctl with valid arguments on this process.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }, 0);
    let mut server = Command::new(env!("CARGO_BIN_EXE_sandbox-stand-in"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .args(["--auth-token", "x", "c", "limits_sleep_forever.c"])
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the stand-in server");
    let server_pid = server.id();
    // Its run: the init (its child, pid 1 of a namespace below ours) and the program, `./prog`
    // (the init's child). (Before it, the stand-in compiles the fixture with the host's gcc
    // and runs a probe in a sandbox of its own.)
    let own_depth = ns_depth(std::process::id());
    let deadline = Instant::now() + Duration::from_secs(30);
    let run = loop {
        let sandboxed: Vec<u32> = descendants(server_pid)
            .into_iter()
            .filter(|&p| ns_depth(p) > own_depth)
            .collect();
        let program = |p: &u32| std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.starts_with(b"./prog\0"));
        if sandboxed.iter().any(program) {
            break sandboxed;
        }
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    // Killed mid-run (its wall limit of 3 s would end the run otherwise).
    server.kill().expect("kill -9 the server");
    server.wait().expect("reap the server");
    let deadline = Instant::now() + GONE_WITHIN;
    loop {
        // SAFETY: waitpid on our own children (the reparented init), without blocking.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        let left: Vec<u32> = run.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sandbox processes {left:?} outlived their killed server by {GONE_WITHIN:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its cgroup is empty now; the next sandbox (a restarted server) removes it. (Without root
    // the run cgroups live under the user's delegated prefix, which the same call names.)
    let prefix = format!("run-{server_pid}-");
    let left_behind = || -> Vec<String> {
        ["memory", "pids", "cpuacct", "freezer", ""]
            .iter()
            .filter_map(|ctrl| {
                std::fs::read_dir(
                    Path::new("/sys/fs/cgroup")
                        .join(ctrl)
                        .join(sandbox::default_cgroup_prefix()),
                )
                .ok()
            })
            .flat_map(|d| d.flatten())
            .map(|e| e.path().display().to_string())
            .filter(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with(&prefix)))
            .collect()
    };
    drop(
        sandbox::Sandbox::new(sandbox::SandboxOptions {
            uid_base: tiderun_tests::uid_base(),
            ..sandbox::SandboxOptions::default()
        })
        .expect("sandbox"),
    );
    assert_eq!(left_behind(), Vec::<String>::new(), "run cgroups of the killed server");
}
