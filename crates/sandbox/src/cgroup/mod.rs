//! cgroups: one interface, two backends (v1 controllers on hybrid hosts, v2 unified), picked
//! once at start-up by [`CgroupHost::detect`]. Every OS path is a parameter so tests can point
//! a backend at a fake cgroupfs in a temp dir.

use std::fs::File;
use std::path::{Path, PathBuf};

pub mod v1;
pub mod v2;

/// What a run's cgroup enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupLimits {
    /// memory.limit_in_bytes (v1) / memory.max (v2); swap is capped to the same total.
    pub memory_bytes: u64,
    /// pids.max: processes plus threads.
    pub max_processes: u64,
}

/// What the cgroup measured for the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupStats {
    /// Total CPU time of every task that ever ran in the cgroup, waited for or not.
    pub cpu_usage_ns: u64,
    /// High-water mark of memory use.
    pub memory_peak_bytes: u64,
    /// How many times the OOM killer fired inside the cgroup.
    pub oom_kills: u64,
}

/// A cgroup error: what was being done, on which path, and the OS cause.
#[derive(Debug, thiserror::Error)]
#[error("cgroup {action} failed on {path}")]
pub struct CgroupError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl CgroupError {
    pub(crate) fn new(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        CgroupError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The pid in a run cgroup's name (`run-<pid>-<n>`, see `next_run_name`).
fn run_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("run-")?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// The operations the supervisor needs on one run's cgroup.
pub trait CgroupManager {
    /// Move a process (host pid) into the cgroup.
    fn add_task(&self, pid: i32) -> Result<(), CgroupError>;
    /// Write the limits.
    fn apply(&self, limits: &CgroupLimits) -> Result<(), CgroupError>;
    /// CPU time used so far; called often while a run is going, so it reads one file.
    fn cpu_usage_ns(&self) -> Result<u64, CgroupError>;
    /// CPU, peak memory and OOM kills.
    fn stats(&self) -> Result<CgroupStats, CgroupError>;
    /// Kill every task in the cgroup (v2: cgroup.kill; v1: freeze, SIGKILL each, thaw).
    fn kill(&self) -> Result<(), CgroupError>;
    /// Remove the cgroup directories (tasks must be gone; retries briefly on EBUSY).
    fn remove(&self) -> Result<(), CgroupError>;
    /// Every thread in the cgroup (host tids): v1's `tasks`, v2's `cgroup.threads`.
    fn threads(&self) -> Result<Vec<i32>, CgroupError>;
    /// Every process in the cgroup (host pids): `cgroup.procs` (v1: the memory controller's).
    fn processes(&self) -> Result<Vec<i32>, CgroupError>;
}

/// The host's cgroup setup, detected once.
#[derive(Debug)]
pub enum CgroupHost {
    V1(v1::Hierarchy),
    V2(v2::Hierarchy),
    /// No usable cgroup: memory, process and exact CPU limits cannot be enforced. The reason is
    /// shown by `tiderun doctor` and logged at start-up.
    Unavailable(String),
}

/// One run's cgroup.
#[derive(Debug)]
pub enum Cgroup {
    V1(v1::Manager),
    V2(v2::Manager),
}

impl CgroupHost {
    /// Look at `mount_root` (normally `/sys/fs/cgroup`): if it is a cgroup2 mount with the
    /// memory and pids controllers, use v2 under `<root>/<prefix>` (or, when `<root>` is not
    /// writable, the delegated cgroup this process lives in); if it holds v1 controller
    /// directories (memory, pids, cpuacct), use v1 under `<root>/<ctrl>/<prefix>`.
    pub fn detect(mount_root: &Path, prefix: &str) -> CgroupHost {
        match v2::Hierarchy::detect(mount_root, prefix) {
            Ok(Some(h)) => return CgroupHost::V2(h),
            Ok(None) => {}
            Err(reason) => return CgroupHost::Unavailable(reason),
        }
        match v1::Hierarchy::detect(mount_root, prefix) {
            Ok(h) => CgroupHost::V1(h),
            Err(reason) => CgroupHost::Unavailable(reason),
        }
    }

    /// Remove the empty run cgroups that processes which no longer exist left behind (a
    /// crash, or an exit with warm instances). Names are `run-<pid>-<n>`: a cgroup whose pid
    /// is alive (another tiderun) or that still holds a task is left alone; one with this
    /// process's own pid only when `own_pid_is_stale` (this process has made no run yet, so
    /// it is a dead namesake's). Returns how many were removed.
    pub fn sweep_dead_runs(&self, own_pid_is_stale: bool) -> usize {
        let own = std::process::id();
        let dirs: Vec<&Path> = match self {
            CgroupHost::V1(h) => h.parents(),
            CgroupHost::V2(h) => vec![h.parent()],
            CgroupHost::Unavailable(_) => return 0,
        };
        let mut removed = 0;
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(run_owner) else {
                    continue;
                };
                let stale_own = own_pid_is_stale && pid == own;
                if !stale_own && Path::new("/proc").join(pid.to_string()).exists() {
                    continue;
                }
                let path = entry.path();
                let empty = std::fs::read_to_string(path.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty());
                if empty && std::fs::remove_dir(&path).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// "v1", "v2" or "none", for doctor and logs.
    pub fn mode(&self) -> &'static str {
        match self {
            CgroupHost::V1(_) => "v1",
            CgroupHost::V2(_) => "v2",
            CgroupHost::Unavailable(_) => "none",
        }
    }

    /// Create the cgroup for one run, named `name` (unique per run), with limits applied.
    /// Returns `None` when cgroups are unavailable.
    pub fn create(&self, name: &str, limits: &CgroupLimits) -> Result<Option<Cgroup>, CgroupError> {
        let cgroup = match self {
            CgroupHost::V1(h) => Cgroup::V1(h.create(name)?),
            CgroupHost::V2(h) => Cgroup::V2(h.create(name)?),
            CgroupHost::Unavailable(_) => return Ok(None),
        };
        if let Err(e) = cgroup.apply(limits) {
            let _ = cgroup.remove();
            return Err(e);
        }
        Ok(Some(cgroup))
    }
}

impl Cgroup {
    /// v2 only: the cgroup directory, opened for `clone3(CLONE_INTO_CGROUP)`.
    pub fn dir_for_clone(&self) -> Option<&File> {
        match self {
            Cgroup::V1(_) => None,
            Cgroup::V2(m) => Some(m.dir()),
        }
    }

    fn inner(&self) -> &dyn CgroupManager {
        match self {
            Cgroup::V1(m) => m,
            Cgroup::V2(m) => m,
        }
    }
}

impl CgroupManager for Cgroup {
    fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        self.inner().add_task(pid)
    }
    fn apply(&self, limits: &CgroupLimits) -> Result<(), CgroupError> {
        self.inner().apply(limits)
    }
    fn cpu_usage_ns(&self) -> Result<u64, CgroupError> {
        self.inner().cpu_usage_ns()
    }
    fn stats(&self) -> Result<CgroupStats, CgroupError> {
        self.inner().stats()
    }
    fn kill(&self) -> Result<(), CgroupError> {
        self.inner().kill()
    }
    fn remove(&self) -> Result<(), CgroupError> {
        self.inner().remove()
    }
    fn threads(&self) -> Result<Vec<i32>, CgroupError> {
        self.inner().threads()
    }
    fn processes(&self) -> Result<Vec<i32>, CgroupError> {
        self.inner().processes()
    }
}
