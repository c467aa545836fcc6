//! cgroup v1 backend, for hybrid and legacy hosts: one directory per controller.
//!
//! A run's cgroup is `<root>/<controller>/<prefix>/<name>` in each of memory (limit, peak,
//! OOM kills), pids (process limit), cpuacct (CPU time) and, when mounted, freezer (so that a
//! kill cannot race with forks). Every file of a run's cgroup is opened relative to a
//! directory fd held by its [`Manager`], never following a symlink.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::v2::{
    checked_pid, create_fresh_dir, decimal, describe, keyed_u64, kill_until_empty, mkdir_exist_ok, open_dir,
    parse_pids, parse_u64, read_all_at, read_at, remove_dir_retry, sigkill, validate_name, write_at, write_file_at,
    DECIMAL_BUF_BYTES, SMALL_FILE_BUF_BYTES,
};
use super::{CgroupError, CgroupLimits, CgroupManager, CgroupStats};

/// Controllers without which runs cannot be limited or measured. `cpuacct` is often co-mounted
/// as `cpu,cpuacct` with a `cpuacct` symlink to it; the path is accepted either way.
const REQUIRED_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpuacct"];

/// How long `kill` waits for freezer.state to read FROZEN. A task in uninterruptible sleep
/// (e.g. on a slow disk) keeps the cgroup FREEZING; past this, the kill goes ahead anyway and
/// the kill loop catches whatever forks meanwhile.
const FREEZE_WAIT: Duration = Duration::from_millis(100);

/// Pause between two reads of freezer.state.
const FREEZE_POLL_PAUSE: Duration = Duration::from_millis(1);

/// The cgroup v1 controller directories this process creates run cgroups in.
#[derive(Debug)]
pub struct Hierarchy {
    /// `<root>/memory/<prefix>`.
    memory: PathBuf,
    /// `<root>/pids/<prefix>`.
    pids: PathBuf,
    /// `<root>/cpuacct/<prefix>`.
    cpuacct: PathBuf,
    /// `<root>/freezer/<prefix>`, when the freezer is mounted.
    freezer: Option<PathBuf>,
}

impl Hierarchy {
    /// The directories holding run cgroups, one per controller.
    pub(crate) fn parents(&self) -> Vec<&Path> {
        let mut v = vec![self.memory.as_path(), self.pids.as_path(), self.cpuacct.as_path()];
        v.extend(self.freezer.as_deref());
        v
    }

    /// Look for the v1 controllers under `mount_root` (normally `/sys/fs/cgroup`) and create
    /// `<controller>/<prefix>` in each. `Err(reason)` when a required controller is missing
    /// or the prefix directories cannot be made (not root, read-only mount).
    pub fn detect(mount_root: &Path, prefix: &str) -> Result<Hierarchy, String> {
        validate_name(mount_root, prefix).map_err(|e| describe(&e))?;
        let missing: Vec<&str> = REQUIRED_CONTROLLERS
            .into_iter()
            .filter(|c| !mount_root.join(c).is_dir()) // follows a cpuacct -> cpu,cpuacct link
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "no cgroup v1 controller {} under {}",
                missing.join(", "),
                mount_root.display()
            ));
        }
        let hierarchy = Hierarchy {
            memory: mount_root.join("memory").join(prefix),
            pids: mount_root.join("pids").join(prefix),
            cpuacct: mount_root.join("cpuacct").join(prefix),
            freezer: None,
        };
        for dir in hierarchy.bases() {
            mkdir_exist_ok(dir).map_err(|e| describe(&CgroupError::new("mkdir", dir, e)))?;
            // The parent may exist (made by root earlier) without being ours to write: probe
            // that a run's cgroup can be made, so an ordinary user gets "unavailable" at
            // start-up rather than a failure on every run.
            let probe = dir.join(format!("probe-{}", std::process::id()));
            std::fs::create_dir(&probe).map_err(|e| describe(&CgroupError::new("mkdir", &probe, e)))?;
            let _ = std::fs::remove_dir(&probe);
        }
        // The freezer is not used: the sandbox ends a run by killing the init of its pid
        // namespace, which takes every process with it; a freezer cgroup would add a mkdir, a
        // write and an rmdir to every run for a kill path only used as a fallback.
        Ok(hierarchy)
    }

    /// Also use the freezer (`<root>/freezer/<prefix>`) so that `kill` is race-free. Off by
    /// default: the sandbox ends runs through its pid namespace, and the freezer would cost a
    /// mkdir, an attach and an rmdir per run.
    pub fn with_freezer(mut self, mount_root: &Path) -> Result<Self, String> {
        let prefix = self.memory.file_name().map(PathBuf::from).unwrap_or_default();
        let dir = mount_root.join("freezer").join(prefix);
        mkdir_exist_ok(&dir).map_err(|e| describe(&CgroupError::new("mkdir", &dir, e)))?;
        self.freezer = Some(dir);
        Ok(self)
    }

    /// Whether the freezer controller is used.
    pub fn has_freezer(&self) -> bool {
        self.freezer.is_some()
    }

    fn bases(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.memory, &self.pids, &self.cpuacct]
            .into_iter()
            .chain(self.freezer.as_ref())
    }

    /// Create the cgroup of one run, `<controller>/<prefix>/<name>` in every controller. A
    /// leftover cgroup of that name (from a crash) is emptied and replaced. If one controller
    /// fails, the directories already made are removed again.
    pub fn create(&self, name: &str) -> Result<Manager, CgroupError> {
        validate_name(&self.memory, name)?;
        let mut undo = Undo(Vec::new());
        let mut make = |base: &PathBuf| -> Result<Controller, CgroupError> {
            let path = base.join(name);
            create_fresh_dir(&path)?;
            undo.0.push(path.clone());
            let dir = open_dir(&path).map_err(|e| CgroupError::new("open", &path, e))?;
            Ok(Controller { path, dir })
        };
        let memory = make(&self.memory)?;
        let pids = make(&self.pids)?;
        let cpuacct = make(&self.cpuacct)?;
        let freezer = self.freezer.as_ref().map(&mut make).transpose()?;
        undo.0.clear();
        Ok(Manager {
            memory,
            pids,
            cpuacct,
            freezer,
        })
    }
}

/// Directories made by a `create` that has not completed; removed when dropped.
struct Undo(Vec<PathBuf>);

impl Drop for Undo {
    fn drop(&mut self) {
        for path in self.0.iter().rev() {
            let _ = remove_dir_retry(path);
        }
    }
}

/// One controller's directory of a run.
#[derive(Debug)]
struct Controller {
    path: PathBuf,
    dir: OwnedFd,
}

impl Controller {
    fn fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    fn write(&self, file: &str, value: &[u8]) -> Result<(), CgroupError> {
        write_at(self.fd(), &self.path, file, value)
    }

    fn read_u64(&self, file: &str) -> Result<u64, CgroupError> {
        let mut buf = [0u8; SMALL_FILE_BUF_BYTES];
        read_at(self.fd(), file, &mut buf)
            .and_then(parse_u64)
            .map_err(|e| CgroupError::new("read", &self.path.join(file), e))
    }
}

/// One run's cgroup v1: a directory in each controller.
#[derive(Debug)]
pub struct Manager {
    memory: Controller,
    pids: Controller,
    cpuacct: Controller,
    freezer: Option<Controller>,
}

impl Manager {
    fn controllers(&self) -> impl Iterator<Item = &Controller> {
        [&self.memory, &self.pids, &self.cpuacct]
            .into_iter()
            .chain(self.freezer.as_ref())
    }

    /// Set the memory limit, and the memory+swap limit to the same value so swap adds nothing.
    fn apply_memory(&self, bytes: &[u8]) -> Result<(), CgroupError> {
        let memory = &self.memory;
        // Swap accounting may be off (no memsw files): then there is no swap to cap.
        let write_memsw = || match write_file_at(memory.fd(), "memory.memsw.limit_in_bytes", bytes) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(|e| CgroupError::new("write", &memory.path.join("memory.memsw.limit_in_bytes"), e)),
        };
        match write_file_at(memory.fd(), "memory.limit_in_bytes", bytes) {
            Ok(()) => write_memsw(),
            // The kernel keeps limit_in_bytes <= memsw.limit_in_bytes: raising a limit set
            // earlier must raise memsw first.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                write_memsw()?;
                memory.write("memory.limit_in_bytes", bytes)
            }
            Err(e) => Err(CgroupError::new("write", &memory.path.join("memory.limit_in_bytes"), e)),
        }
    }

    /// Write FROZEN and wait (bounded) until the freezer reports it.
    fn freeze(&self, freezer: &Controller) -> Result<(), CgroupError> {
        freezer.write("freezer.state", b"FROZEN")?;
        let deadline = Instant::now() + FREEZE_WAIT;
        loop {
            let mut buf = [0u8; SMALL_FILE_BUF_BYTES];
            let state = read_at(freezer.fd(), "freezer.state", &mut buf)
                .map_err(|e| CgroupError::new("read", &freezer.path.join("freezer.state"), e))?;
            if state.trim_ascii() == b"FROZEN" {
                return Ok(());
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    path = %freezer.path.display(),
                    wait_ms = FREEZE_WAIT.as_millis(),
                    "cgroup not frozen in time, killing anyway"
                );
                return Ok(());
            }
            thread::sleep(FREEZE_POLL_PAUSE);
        }
    }

    /// Every thread of the cgroup (the memory controller's `tasks`).
    fn list_threads(&self) -> Result<Vec<i32>, CgroupError> {
        let dir = &self.memory;
        let content =
            read_all_at(dir.fd(), "tasks").map_err(|e| CgroupError::new("list threads", &dir.path.join("tasks"), e))?;
        Ok(parse_pids(&content).map(|p| p.as_raw_nonzero().get()).collect())
    }

    /// SIGKILL every task listed in the memory controller's cgroup.procs, once.
    fn kill_listed(&self) -> Result<(), CgroupError> {
        let procs = &self.memory;
        let procs_err = |e| CgroupError::new("kill", &procs.path.join("cgroup.procs"), e);
        let content = read_all_at(procs.fd(), "cgroup.procs").map_err(procs_err)?;
        for pid in parse_pids(&content) {
            sigkill(pid).map_err(procs_err)?;
        }
        Ok(())
    }
}

impl CgroupManager for Manager {
    fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = checked_pid(pid).map_err(|e| CgroupError::new("add task", &self.memory.path, e))?;
        let mut buf = [0u8; DECIMAL_BUF_BYTES];
        let pid = decimal(pid.as_raw_pid(), &mut buf);
        for controller in self.controllers() {
            controller.write("cgroup.procs", pid)?;
        }
        Ok(())
    }

    fn apply(&self, limits: &CgroupLimits) -> Result<(), CgroupError> {
        // Best effort: with memsw capped to the limit swap cannot be used anyway, and some
        // kernels refuse swappiness in a hierarchy; this only keeps reclaim off swap.
        let _ = write_file_at(self.memory.fd(), "memory.swappiness", b"0");
        self.apply_memory(limits.memory_bytes.to_string().as_bytes())?;
        self.pids.write("pids.max", limits.max_processes.to_string().as_bytes())
    }

    fn cpu_usage_ns(&self) -> Result<u64, CgroupError> {
        // Hot path: one openat + read into a stack buffer.
        self.cpuacct.read_u64("cpuacct.usage")
    }

    fn stats(&self) -> Result<CgroupStats, CgroupError> {
        let cpu_usage_ns = self.cpu_usage_ns()?;
        let memory_peak_bytes = self.memory.read_u64("memory.max_usage_in_bytes")?;
        // The oom_kill line appeared in Linux 4.13; older kernels cannot tell, so 0 (the
        // caller still sees the SIGKILL and memory_peak at the limit).
        let mut buf = [0u8; SMALL_FILE_BUF_BYTES];
        let oom_control = self.memory.path.join("memory.oom_control");
        let content = read_at(self.memory.fd(), "memory.oom_control", &mut buf)
            .map_err(|e| CgroupError::new("read", &oom_control, e))?;
        let oom_kills = keyed_u64(content, "oom_kill")
            .map_err(|e| CgroupError::new("parse", &oom_control, e))?
            .unwrap_or(0);
        Ok(CgroupStats {
            cpu_usage_ns,
            memory_peak_bytes,
            oom_kills,
        })
    }

    fn kill(&self) -> Result<(), CgroupError> {
        let mut freezer_error = None;
        if let Some(freezer) = &self.freezer {
            // Frozen tasks cannot fork between our read of cgroup.procs and the SIGKILLs;
            // they die as soon as they are thawed.
            let killed = self.freeze(freezer).and_then(|()| self.kill_listed());
            // Thaw whatever happened, or the tasks would stay frozen (and unkillable) forever.
            let thawed = freezer.write("freezer.state", b"THAWED");
            freezer_error = killed.and(thawed).err();
        }
        // Without a freezer this is the kill; after one, it waits for the killed tasks to
        // leave and catches any that escaped a partial freeze (or a failed one).
        match kill_until_empty(self.memory.fd(), &self.memory.path) {
            Ok(()) => {
                if let Some(e) = freezer_error {
                    tracing::warn!(error = %describe(&e), "cgroup killed without the freezer");
                }
                Ok(())
            }
            // The freezer's failure (a cgroup left frozen) explains the loop's.
            Err(e) => Err(freezer_error.unwrap_or(e)),
        }
    }

    fn threads(&self) -> Result<Vec<i32>, CgroupError> {
        self.list_threads()
    }

    fn processes(&self) -> Result<Vec<i32>, CgroupError> {
        let dir = &self.memory;
        let content = read_all_at(dir.fd(), "cgroup.procs")
            .map_err(|e| CgroupError::new("list processes", &dir.path.join("cgroup.procs"), e))?;
        Ok(parse_pids(&content).map(|p| p.as_raw_nonzero().get()).collect())
    }

    fn remove(&self) -> Result<(), CgroupError> {
        let mut first_error = None;
        for controller in self.controllers() {
            if let Err(e) = remove_dir_retry(&controller.path) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::CgroupHost;
    use std::fs;
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicU32, Ordering};
    use tempfile::TempDir;

    fn touch(path: &Path, content: &str) {
        fs::write(path, content).expect("write fake cgroup file");
    }

    fn read(path: &Path) -> String {
        fs::read_to_string(path).expect("read cgroup file")
    }

    /// A fake v1 root with the given controller directories.
    fn fake_root(controllers: &[&str]) -> TempDir {
        let root = TempDir::new().expect("temp dir");
        for c in controllers {
            fs::create_dir(root.path().join(c)).expect("mkdir controller");
        }
        root
    }

    #[test]
    fn missing_controllers_are_named() {
        let root = fake_root(&["memory", "cpu"]);
        let err = Hierarchy::detect(root.path(), "tr").expect_err("no pids, no cpuacct");
        assert!(err.contains("pids, cpuacct"), "{err}");
        assert!(!root.path().join("memory/tr").exists(), "nothing created");
    }

    #[test]
    fn detect_creates_prefixes_and_accepts_a_cpuacct_link() {
        let root = fake_root(&["memory", "pids", "cpu,cpuacct"]);
        std::os::unix::fs::symlink("cpu,cpuacct", root.path().join("cpuacct")).expect("link");
        let h = Hierarchy::detect(root.path(), "tr").expect("usable");
        assert!(!h.has_freezer());
        for c in ["memory", "pids", "cpu,cpuacct"] {
            assert!(root.path().join(c).join("tr").is_dir(), "{c}");
        }
        Hierarchy::detect(root.path(), "tr").expect("existing prefixes are fine");
        assert!(Hierarchy::detect(root.path(), "a/b").is_err());
    }

    /// The interface files a real cgroupfs would show in a new run directory.
    fn populate(root: &Path, name: &str) {
        let dir = |c: &str| root.join(c).join("tr").join(name);
        for c in ["memory", "pids", "cpuacct", "freezer"] {
            touch(&dir(c).join("cgroup.procs"), "");
        }
        for f in [
            "memory.limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "memory.swappiness",
        ] {
            touch(&dir("memory").join(f), "");
        }
        touch(&dir("memory").join("memory.max_usage_in_bytes"), "33554432\n");
        touch(
            &dir("memory").join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        );
        touch(&dir("pids").join("pids.max"), "");
        touch(&dir("cpuacct").join("cpuacct.usage"), "987654321\n");
        touch(&dir("freezer").join("freezer.state"), "THAWED\n");
    }

    fn clear(dir: &Path) {
        for entry in fs::read_dir(dir).expect("read dir") {
            fs::remove_file(entry.expect("entry").path()).expect("remove fake file");
        }
    }

    #[test]
    fn manager_on_a_fake_tree() {
        let root = fake_root(&["memory", "pids", "cpuacct", "freezer"]);
        let h = Hierarchy::detect(root.path(), "tr").expect("usable");
        assert!(!h.has_freezer(), "the freezer is opt-in");
        let h = h.with_freezer(root.path()).expect("freezer");
        assert!(h.has_freezer());
        let m = h.create("run-1").expect("create");
        let dir = |c: &str| root.path().join(c).join("tr/run-1");
        populate(root.path(), "run-1");

        m.apply(&CgroupLimits {
            memory_bytes: 134_217_728,
            max_processes: 32,
        })
        .expect("apply");
        assert_eq!(read(&dir("memory").join("memory.limit_in_bytes")), "134217728");
        assert_eq!(read(&dir("memory").join("memory.memsw.limit_in_bytes")), "134217728");
        assert_eq!(read(&dir("memory").join("memory.swappiness")), "0");
        assert_eq!(read(&dir("pids").join("pids.max")), "32");

        m.add_task(4242).expect("add task");
        assert_eq!(m.processes().expect("list processes"), [4242]);
        for c in ["memory", "pids", "cpuacct", "freezer"] {
            assert_eq!(read(&dir(c).join("cgroup.procs")), "4242", "{c}");
            touch(&dir(c).join("cgroup.procs"), ""); // kill below must not signal a real 4242
        }
        assert!(m.add_task(0).is_err(), "pid 0 would move the supervisor");

        assert_eq!(m.cpu_usage_ns().expect("cpu"), 987_654_321);
        assert_eq!(
            m.stats().expect("stats"),
            CgroupStats {
                cpu_usage_ns: 987_654_321,
                memory_peak_bytes: 33_554_432,
                oom_kills: 1
            }
        );

        m.kill().expect("kill");
        assert_eq!(read(&dir("freezer").join("freezer.state")), "THAWED");

        for c in ["memory", "pids", "cpuacct", "freezer"] {
            clear(&dir(c));
        }
        m.remove().expect("remove");
        for c in ["memory", "pids", "cpuacct", "freezer"] {
            assert!(!dir(c).exists(), "{c}");
        }
        m.remove().expect("removing twice is fine");
    }

    #[test]
    fn without_swap_accounting_or_oom_kill_line() {
        let root = fake_root(&["memory", "pids", "cpuacct"]);
        let h = Hierarchy::detect(root.path(), "tr").expect("usable");
        let m = h.create("old").expect("create");
        let memory = root.path().join("memory/tr/old");
        for f in ["memory.limit_in_bytes", "cgroup.procs"] {
            touch(&memory.join(f), "");
        }
        touch(&memory.join("memory.max_usage_in_bytes"), "1\n");
        touch(&memory.join("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\n");
        touch(&root.path().join("pids/tr/old/pids.max"), "");
        touch(&root.path().join("cpuacct/tr/old/cpuacct.usage"), "5\n");

        m.apply(&CgroupLimits {
            memory_bytes: 1 << 20,
            max_processes: 1,
        })
        .expect("apply");
        assert!(
            !memory.join("memory.memsw.limit_in_bytes").exists(),
            "no file was created"
        );
        assert_eq!(m.stats().expect("stats").oom_kills, 0);
        m.kill().expect("kill by pid with an empty cgroup.procs");
    }

    #[test]
    fn failed_create_removes_what_it_made() {
        let root = fake_root(&["memory", "pids", "cpuacct"]);
        let h = Hierarchy::detect(root.path(), "tr").expect("usable");
        // pids/tr is a file: mkdir of pids/tr/x fails after memory/tr/x was made.
        fs::remove_dir(root.path().join("pids/tr")).expect("rmdir");
        touch(&root.path().join("pids/tr"), "");
        let err = h.create("x").expect_err("pids cannot be made");
        assert_eq!(err.path, root.path().join("pids/tr/x"));
        assert!(!root.path().join("memory/tr/x").exists());
    }

    #[test]
    fn names_are_single_safe_components() {
        let root = fake_root(&["memory", "pids", "cpuacct"]);
        let h = Hierarchy::detect(root.path(), "tr").expect("usable");
        for bad in ["", "../x", "..", "a/b", "a.b", &"a".repeat(65)] {
            let err = h.create(bad).expect_err(bad);
            assert_eq!(err.action, "validate name");
        }
        assert!(!root.path().join("memory/x").exists());
    }

    // ---- against this machine's cgroup v1 hierarchy ----

    const REAL_ROOT: &str = "/sys/fs/cgroup";
    const REAL_PREFIX: &str = "tiderun-test";

    /// The real v1 hierarchy, or `None` (with a SKIPPED line, see `testkit`) where it cannot
    /// be used. The tests that use it are marked as needing root.
    fn real_hierarchy() -> Option<Hierarchy> {
        if !Path::new(REAL_ROOT).join("memory").is_dir() {
            testkit::other_host_kind(format_args!("no cgroup v1 memory controller at {REAL_ROOT}/memory"));
            return None;
        }
        if !testkit::root_or_skip("creating cgroup v1 groups") {
            return None;
        }
        Some(Hierarchy::detect(Path::new(REAL_ROOT), REAL_PREFIX).expect("v1 usable as root"))
    }

    /// A run name unique across tests and concurrent test processes.
    fn unique_name(what: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        format!("{what}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Kills the test's children and removes the cgroup even when an assertion fails.
    struct Run {
        manager: Manager,
        children: Vec<Child>,
    }

    impl Drop for Run {
        fn drop(&mut self) {
            for child in &mut self.children {
                let _ = child.kill();
                let _ = child.wait();
            }
            let _ = self.manager.kill();
            let _ = self.manager.remove();
        }
    }

    impl Run {
        /// Start `sh -c script` blocked on reading a line, move it into the cgroup, then let
        /// it go: everything the script starts is born inside the cgroup.
        fn spawn(&mut self, script: &str) -> i32 {
            let mut child = Command::new("sh")
                .args(["-c", &format!("read _ || exit 1; {script}")])
                .stdin(Stdio::piped())
                .spawn()
                .expect("spawn sh");
            let pid = i32::try_from(child.id()).expect("pid fits i32");
            self.manager.add_task(pid).expect("add task");
            child.stdin.take().expect("stdin").write_all(b"go\n").expect("release");
            self.children.push(child);
            pid
        }

        fn procs(&self) -> Vec<i32> {
            let content = read(&self.manager.memory.path.join("cgroup.procs"));
            content.lines().map(|l| l.parse().expect("pid")).collect()
        }

        fn wait_for_procs(&self, n: usize) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.procs().len() < n {
                assert!(Instant::now() < deadline, "only {:?} in the cgroup", self.procs());
                thread::sleep(Duration::from_millis(5));
            }
        }

        /// Wait for every child, which must have died of SIGKILL.
        fn assert_children_killed(&mut self) {
            for child in &mut self.children {
                let status = child.wait().expect("wait");
                assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
            }
            self.children.clear();
        }
    }

    #[test]
    #[ignore = "needs root: creating cgroup v1 groups"]
    fn real_host_detects_v1() {
        if real_hierarchy().is_none() {
            return;
        }
        // /sys/fs/cgroup is a tmpfs holding v1 mounts (and cgroup2 at ./unified, without
        // controllers): no cgroup.controllers at the root, so v2 detection passes to v1.
        let host = CgroupHost::detect(Path::new(REAL_ROOT), REAL_PREFIX);
        assert_eq!(host.mode(), "v1", "{host:?}");
    }

    #[test]
    #[ignore = "needs root: creating cgroup v1 groups"]
    fn real_run_lifecycle() {
        let Some(h) = real_hierarchy() else { return };
        let h = h
            .with_freezer(Path::new(REAL_ROOT))
            .expect("this host mounts the v1 freezer");
        let name = unique_name("life");
        let manager = h.create(&name).expect("create");
        let mut run = Run {
            manager,
            children: Vec::new(),
        };
        let memory = Path::new(REAL_ROOT).join("memory").join(REAL_PREFIX).join(&name);

        run.manager
            .apply(&CgroupLimits {
                memory_bytes: 64 << 20,
                max_processes: 16,
            })
            .expect("apply");
        assert_eq!(read(&memory.join("memory.limit_in_bytes")).trim(), "67108864");
        let pids_max = Path::new(REAL_ROOT).join("pids").join(REAL_PREFIX).join(&name);
        assert_eq!(read(&pids_max.join("pids.max")).trim(), "16");
        // Raising the limit needs memsw raised first.
        run.manager
            .apply(&CgroupLimits {
                memory_bytes: 128 << 20,
                max_processes: 16,
            })
            .expect("apply a higher limit");
        assert_eq!(read(&memory.join("memory.limit_in_bytes")).trim(), "134217728");
        if memory.join("memory.memsw.limit_in_bytes").exists() {
            assert_eq!(read(&memory.join("memory.memsw.limit_in_bytes")).trim(), "134217728");
        }

        // Some CPU work that finishes, then a tree of sleepers: sh, two sleeps.
        let before = run.manager.cpu_usage_ns().expect("cpu");
        run.spawn("i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done");
        let mut busy = run.children.pop().expect("busy child");
        assert!(busy.wait().expect("wait").success());
        let after = run.manager.cpu_usage_ns().expect("cpu");
        assert!(after > before, "cpu usage {before} -> {after} ns");

        let sh = run.spawn("sleep 10 & sleep 10; wait");
        run.wait_for_procs(3);
        assert!(run.procs().contains(&sh));

        let stats = run.manager.stats().expect("stats");
        assert!(stats.cpu_usage_ns >= after, "{stats:?}");
        assert!(stats.memory_peak_bytes > 0, "{stats:?}");
        assert_eq!(stats.oom_kills, 0, "{stats:?}");

        run.manager.kill().expect("kill");
        assert_eq!(run.procs(), Vec::<i32>::new());
        let freezer = Path::new(REAL_ROOT).join("freezer").join(REAL_PREFIX).join(&name);
        assert_eq!(read(&freezer.join("freezer.state")).trim(), "THAWED");
        // Removal works before the killed child is reaped: zombies have left the cgroup.
        run.manager.remove().expect("remove");
        for c in ["memory", "pids", "cpuacct", "freezer"] {
            let dir = Path::new(REAL_ROOT).join(c).join(REAL_PREFIX).join(&name);
            assert!(!dir.exists(), "{}", dir.display());
        }
        run.assert_children_killed();
    }

    #[test]
    #[ignore = "needs root: creating cgroup v1 groups"]
    fn real_kill_without_freezer() {
        let Some(mut h) = real_hierarchy() else {
            return;
        };
        h.freezer = None;
        let manager = h.create(&unique_name("nofreeze")).expect("create");
        let mut run = Run {
            manager,
            children: Vec::new(),
        };
        run.manager
            .apply(&CgroupLimits {
                memory_bytes: 64 << 20,
                max_processes: 16,
            })
            .expect("apply");
        run.spawn("sleep 10 & sleep 10 & sleep 10; wait");
        run.wait_for_procs(4);
        run.manager.kill().expect("kill");
        assert_eq!(run.procs(), Vec::<i32>::new());
        run.assert_children_killed();
        run.manager.remove().expect("remove");
    }

    #[test]
    #[ignore = "needs root: creating cgroup v1 groups"]
    fn real_oom_kill_is_counted() {
        let Some(h) = real_hierarchy() else { return };
        let manager = h.create(&unique_name("oom")).expect("create");
        let mut run = Run {
            manager,
            children: Vec::new(),
        };
        run.manager
            .apply(&CgroupLimits {
                memory_bytes: 32 << 20,
                max_processes: 16,
            })
            .expect("apply");
        // tail keeps a whole newline-less "line" in memory: it grows until the OOM killer.
        run.spawn("head -c 1000000000 /dev/zero | tail");
        let mut sh = run.children.pop().expect("child");
        let status = sh.wait().expect("wait");
        assert!(!status.success(), "tail should have been killed: {status:?}");
        let stats = run.manager.stats().expect("stats");
        assert!(stats.oom_kills >= 1, "{stats:?}");
        assert!(stats.memory_peak_bytes >= 24 << 20, "{stats:?}");
        run.manager.kill().expect("kill");
        run.manager.remove().expect("remove");
    }
}
