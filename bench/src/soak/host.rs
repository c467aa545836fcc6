//! What the soak reads of the server process and the host: resident memory, descriptors,
//! threads, the server's descendants, its run cgroups, its mounts and the network namespaces
//! it holds. Everything from `/proc` and the cgroup tree; parameters are paths so the parsing
//! can be tested on a fake tree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The directory name the sandbox makes its run cgroups under (`SandboxOptions::cgroup_prefix`).
const CGROUP_PREFIX: &str = "tiderun";

/// One reading of the server and what it owns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// Open descriptors of the server process, without the sandbox's per-slot `/dev` mounts
    /// (detached mounts, whose link reads `/`): a slot keeps one from its first run on, so
    /// they grow to the most runs that were ever at once and stay — bounded by the slots,
    /// not a leak.
    pub fds: u64,
    /// Its threads.
    pub threads: u64,
    /// Processes below it (warm instances' inits, running sandboxes, compilers...).
    pub descendants: u64,
    /// Its run cgroups (`run-<server pid>-<n>` under every `tiderun` cgroup directory; v1 has
    /// one per controller).
    pub cgroups: u64,
    /// Every directory under the `tiderun` cgroup directories, whoever made it (other
    /// tiderun processes on the host count here too).
    pub cgroups_all: u64,
    /// Lines of the server's `/proc/<pid>/mountinfo` (its mount namespace is the host's).
    pub mounts: u64,
    /// Network namespaces other than the server's own that the server or a descendant holds
    /// (as a descriptor or as its namespace).
    pub netns: u64,
}

impl Reading {
    /// Read everything about `pid` now. Fields that cannot be read are 0.
    pub fn take(pid: u32) -> Reading {
        Reading::take_in(Path::new("/proc"), Path::new(CGROUP_ROOT), pid)
    }

    fn take_in(proc: &Path, cgroup_root: &Path, pid: u32) -> Reading {
        let me = proc.join(pid.to_string());
        let status = std::fs::read_to_string(me.join("status")).unwrap_or_default();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let descendants = descendants(proc, pid);
        let (cgroups, cgroups_all) = run_cgroups(cgroup_root, pid);
        Reading {
            rss_kib: field("VmRSS:"),
            fds: open_descriptors(&me),
            threads: field("Threads:"),
            descendants: descendants.len() as u64,
            cgroups,
            cgroups_all,
            mounts: std::fs::read_to_string(me.join("mountinfo"))
                .map(|t| t.lines().count() as u64)
                .unwrap_or(0),
            netns: held_netns(proc, pid, &descendants),
        }
    }
}

/// The descriptors of the process at `me` (`/proc/<pid>`), but detached mounts.
fn open_descriptors(me: &Path) -> u64 {
    let Ok(dir) = std::fs::read_dir(me.join("fd")) else {
        return 0;
    };
    dir.flatten()
        .filter(|fd| std::fs::read_link(fd.path()).map_or(true, |target| target != Path::new("/")))
        .count() as u64
}

/// Every process whose parent chain reaches `pid`.
fn descendants(proc: &Path, pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir(proc) {
        for e in entries.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(pp) = ppid(&e.path()) {
                parent_of.push((p, pp));
            }
        }
    }
    let mut found: BTreeSet<u32> = BTreeSet::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for &(child, parent) in &parent_of {
            if parent == p && found.insert(child) {
                frontier.push(child);
            }
        }
    }
    found.into_iter().collect()
}

/// The parent pid from `/proc/<pid>/stat` (after the command name, which may hold spaces).
fn ppid(dir: &Path) -> Option<u32> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The namespace a `/proc/<pid>/ns/net` or descriptor link names: `net:[4026531840]`.
fn netns_of(link: &Path) -> Option<String> {
    let target = std::fs::read_link(link).ok()?;
    let t = target.to_str()?;
    t.starts_with("net:[").then(|| t.to_owned())
}

/// Network namespaces held by the server (descriptors) and its descendants (their own, and
/// their descriptors), not counting the server's own namespace.
fn held_netns(proc: &Path, pid: u32, descendants: &[u32]) -> u64 {
    let own = netns_of(&proc.join(pid.to_string()).join("ns/net"));
    let mut seen = BTreeSet::new();
    for p in std::iter::once(pid).chain(descendants.iter().copied()) {
        let dir = proc.join(p.to_string());
        if p != pid {
            seen.extend(netns_of(&dir.join("ns/net")));
        }
        if let Ok(fds) = std::fs::read_dir(dir.join("fd")) {
            seen.extend(fds.flatten().filter_map(|fd| netns_of(&fd.path())));
        }
    }
    if let Some(own) = own {
        seen.remove(&own);
    }
    seen.len() as u64
}

/// The `tiderun` cgroup directories: `<root>/tiderun` (v2) and `<root>/<controller>/tiderun`
/// (v1, and a v2 mount below the root such as `unified`).
fn prefix_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.join(CGROUP_PREFIX)];
    if let Ok(entries) = std::fs::read_dir(root) {
        dirs.extend(entries.flatten().map(|e| e.path().join(CGROUP_PREFIX)));
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

/// (run cgroups of `pid`, every directory) under the `tiderun` cgroup directories.
fn run_cgroups(root: &Path, pid: u32) -> (u64, u64) {
    let ours = format!("run-{pid}-");
    let (mut mine, mut all) = (0, 0);
    for dir in prefix_dirs(root) {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            if !e.path().is_dir() {
                continue;
            }
            all += 1;
            if e.file_name().to_str().is_some_and(|n| n.starts_with(&ours)) {
                mine += 1;
            }
        }
    }
    (mine, all)
}

/// Distinct network namespaces on the whole host (every process's own and every descriptor
/// that names one): other work on the machine moves this, so it is reported, not judged.
pub fn host_netns() -> u64 {
    let mut seen = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            if !e
                .file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            {
                continue;
            }
            seen.extend(netns_of(&e.path().join("ns/net")));
            if let Ok(fds) = std::fs::read_dir(e.path().join("fd")) {
                seen.extend(fds.flatten().filter_map(|fd| netns_of(&fd.path())));
            }
        }
    }
    seen.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_follow_the_parent_chain() {
        let proc = tempfile::tempdir().unwrap();
        // 10 → 11 → 12, 13 is someone else's; a command name with spaces and parentheses.
        for (pid, ppid) in [(10, 1), (11, 10), (12, 11), (13, 1)] {
            let dir = proc.path().join(pid.to_string());
            std::fs::create_dir_all(dir.join("fd")).unwrap();
            std::fs::write(dir.join("stat"), format!("{pid} (a (b) c) S {ppid} 1 1 0")).unwrap();
        }
        assert_eq!(descendants(proc.path(), 10), [11, 12]);
        assert_eq!(descendants(proc.path(), 13), Vec::<u32>::new());
    }

    #[test]
    fn run_cgroups_are_counted_per_owner() {
        let root = tempfile::tempdir().unwrap();
        for d in [
            "memory/tiderun/run-7-1",
            "pids/tiderun/run-7-1",
            "memory/tiderun/run-8-1",
            "memory/other/run-7-2",
        ] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        assert_eq!(run_cgroups(root.path(), 7), (2, 3));
        assert_eq!(run_cgroups(root.path(), 9), (0, 3));
    }

    #[test]
    fn this_process_can_be_read() {
        let r = Reading::take(std::process::id());
        assert!(r.rss_kib > 0 && r.fds > 0 && r.threads > 0 && r.mounts > 0, "{r:?}");
    }
}
