//! tiderun's sandbox: runs one untrusted program in a fresh set of namespaces (user, pid,
//! mount, net, ipc, uts, cgroup), on a new read-only root with a size-limited tmpfs, under a
//! seccomp deny-list, cgroup limits and rlimits; measures it and kills the whole tree on any
//! limit.
//!
//! It owns everything that touches the kernel for a run. It must never know about languages,
//! HTTP or storage, and it never writes, chowns or deletes through a path the program could
//! have planted. Sync and Linux-only: callers run it on a blocking thread.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub mod cgroup;
mod child;
mod cleanup;
mod collect;
mod config;
mod control;
mod devices;
mod error;
mod forkserver;
mod instance;
mod launch;
mod layout;
mod netns;
mod result;
mod seccomp;
mod start;
mod status;
mod stdin_wait;
mod supervise;
mod validate;
mod watch;
mod workdir;

pub use config::{
    Collect, InputFile, Limits, Output, OutputFile, RunIo, RunSpec, SkipReason, Stdin, StreamKind, MAX_INPUT_FILES,
    MAX_WALL_MS, MIN_MEMORY_BYTES, MIN_OPEN_FILES, MIN_PROCESSES,
};
pub use control::{control_channel, ControlReceiver, Controller, MAX_SIGNAL};
pub use error::{SandboxError, SetupStep, Unfit};
pub use forkserver::{ForkServer, Forked};
pub use instance::{Instance, InstanceSpec, ZygoteSpec};
pub use launch::MAX_LAUNCH_BYTES;
pub use layout::{check_bind, validate_relative, ETC_PATHS, PROGRAM_UID, SYSTEM_PATHS};
pub use result::{RunResult, StartFailure, StartFailureKind};
pub use status::Status;

use cgroup::CgroupHost;

/// First host uid given to sandbox slots when running as root: far above ordinary users and
/// the usual /etc/subuid ranges (100000 + 65536·n), so a run's files and processes belong to
/// nobody else.
pub const DEFAULT_UID_BASE: u32 = 2_000_000_000;
/// Concurrent runs: each holds one slot (one host uid) for its lifetime.
pub const DEFAULT_SLOTS: u32 = 1024;
/// Network namespaces kept ready: enough for a short burst on a small node.
pub const DEFAULT_NETNS_POOL: usize = 8;
/// The most network namespaces kept ready (each is a few dozen KiB of kernel memory).
pub const MAX_NETNS_POOL: usize = netns::MAX_POOL_SIZE;

/// Host-wide settings, fixed at start-up.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Where cgroup hierarchies are mounted (`/sys/fs/cgroup`).
    pub cgroup_root: PathBuf,
    /// Name of tiderun's cgroup below the root (or below the delegated cgroup).
    pub cgroup_prefix: String,
    /// An empty directory the new root is mounted on (in the run's private mount namespace;
    /// nothing is ever written to it on the host).
    pub root_dir: Option<PathBuf>,
    pub uid_base: u32,
    pub slots: u32,
    /// Empty network namespaces kept ready (root only; at most [`MAX_NETNS_POOL`]); 0 makes
    /// every run create its own at clone.
    pub netns_pool: usize,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            cgroup_prefix: default_cgroup_prefix(),
            root_dir: None,
            uid_base: DEFAULT_UID_BASE,
            slots: DEFAULT_SLOTS,
            netns_pool: DEFAULT_NETNS_POOL,
        }
    }
}

/// `tiderun` as root; `tiderun-<uid>` for an ordinary user, so that root's runs and each
/// user's live in cgroups of their own (on a cgroup v1 host, root delegates a user's by making
/// `<controller>/tiderun-<uid>` and giving it to the user).
pub fn default_cgroup_prefix() -> String {
    let uid = rustix::process::geteuid();
    if uid.is_root() {
        "tiderun".to_string()
    } else {
        format!("tiderun-{}", uid.as_raw())
    }
}

/// The sandbox factory: one per process, shared by every run.
#[derive(Debug)]
pub struct Sandbox {
    cgroups: CgroupHost,
    privileged: bool,
    root_dir: PathBuf,
    /// The run-independent steps of every root.
    root_template: layout::RootTemplate,
    uid_base: u32,
    seccomp: Vec<libc::sock_filter>,
    slots: Arc<Slots>,
    /// Network namespaces made ahead of time (root only).
    netns: Option<netns::NetnsPool>,
    /// Each slot's own `/dev` (root only).
    devices: Option<devices::Devices>,
    reaper: cleanup::Reaper,
}

impl Sandbox {
    /// Detect the host (root or not, cgroup mode), compile the seccomp filter, prepare the
    /// mount point of new roots.
    pub fn new(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let privileged = rustix::process::geteuid().is_root();
        let cgroups = CgroupHost::detect(&opts.cgroup_root, &opts.cgroup_prefix);
        // Before this process has named a run, a cgroup carrying its pid is a dead
        // namesake's (pids are reused).
        let swept = cgroups.sweep_dead_runs(RUNS.load(Ordering::Relaxed) == 0);
        if swept > 0 {
            tracing::info!(count = swept, "removed run cgroups left by processes that are gone");
        }
        if let CgroupHost::Unavailable(reason) = &cgroups {
            tracing::warn!(%reason, "no usable cgroup: memory, process-count and exact CPU limits are NOT enforced");
        }
        let root_dir = match opts.root_dir {
            Some(dir) => dir,
            None if privileged => PathBuf::from("/run/tiderun/root"),
            None => std::env::temp_dir().join(format!("tiderun-root-{}", rustix::process::getuid().as_raw())),
        };
        std::fs::create_dir_all(&root_dir).map_err(|e| SandboxError::Os {
            what: "create the sandbox mount point",
            source: e,
        })?;
        let uid_base = if privileged {
            opts.uid_base
        } else {
            rustix::process::getuid().as_raw()
        };
        let slots = opts.slots.max(1);
        if privileged && (uid_base == 0 || uid_base.checked_add(slots).is_none()) {
            return Err(SandboxError::InvalidSpec(format!(
                "uid base {uid_base} with {slots} slots is out of range"
            )));
        }
        let devices = if privileged {
            match devices::Devices::start(slots) {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot make device nodes of the sandbox's own: runs share the host's (a lock on /dev/null is seen by another run)");
                    None
                }
            }
        } else {
            None
        };
        Ok(Sandbox {
            root_template: layout::root_template(&root_dir, devices.is_some())?,
            cgroups,
            privileged,
            root_dir,
            uid_base,
            seccomp: seccomp::build()?,
            slots: Arc::new(Slots::new(slots)),
            netns: if privileged && opts.netns_pool > 0 {
                Some(netns::NetnsPool::start(opts.netns_pool.min(netns::MAX_POOL_SIZE))?)
            } else {
                None
            },
            devices,
            reaper: cleanup::Reaper::start(),
        })
    }

    /// Run one program to its end (or to a limit). Blocks the calling thread.
    pub fn run(&self, spec: &RunSpec, io: RunIo<'_>) -> Result<RunResult, SandboxError> {
        supervise::run(self, spec, io)
    }

    /// Wait (up to `timeout`) until every finished run is fully torn down: init reaped,
    /// cgroup removed. Runs return before that last step; call this before asserting that
    /// nothing is left, or at shutdown. True when nothing is pending.
    pub fn wait_idle(&self, timeout: std::time::Duration) -> bool {
        self.reaper.wait_idle(timeout)
    }

    /// What this host lets the sandbox enforce, for `tiderun doctor` and start-up logs.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            privileged: self.privileged,
            cgroup_mode: self.cgroups.mode(),
            cgroup_problem: match &self.cgroups {
                CgroupHost::Unavailable(reason) => Some(reason.clone()),
                _ => None,
            },
            seccomp_instructions: self.seccomp.len(),
            slots: self.slots.len(),
            per_slot_uid: self.privileged,
            own_devices: self.devices.is_some(),
            // Root drops them for every run; an unprivileged user namespace may not change them.
            inherited_groups: if self.privileged {
                0
            } else {
                rustix::process::getgroups().map_or(0, |g| g.len())
            },
        }
    }

    fn cgroups_enforced(&self) -> bool {
        !matches!(self.cgroups, CgroupHost::Unavailable(_))
    }

    fn outside_id(&self, slot: u32) -> u32 {
        if self.privileged {
            self.uid_base + slot
        } else {
            self.uid_base
        }
    }

    /// The host id of every sandbox's init (root inside its namespace, nobody outside).
    fn init_id(&self) -> u32 {
        self.uid_base - 1
    }
}

/// A name for a run (and its cgroup), unique in this process: one counter for every sandbox
/// of the process, as they share one cgroup prefix (two sandboxes counting on their own would
/// both name a run `run-<pid>-0`, and the second would replace the first one's cgroup as a
/// leftover, killing its tasks).
fn next_run_name() -> String {
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    format!("run-{}-{n}", std::process::id())
}

/// Runs named so far in this process (see [`next_run_name`]).
static RUNS: AtomicU64 = AtomicU64::new(0);

impl Drop for Sandbox {
    /// A process that exits right after its last run must not leave that run's cgroup behind:
    /// finish the deferred teardowns (bounded).
    fn drop(&mut self) {
        if !self.reaper.wait_idle(std::time::Duration::from_secs(5)) {
            tracing::warn!("sandbox teardown still pending at exit");
        }
    }
}

/// What the sandbox can enforce on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Running as root: a distinct host uid per slot, supplementary groups dropped.
    pub privileged: bool,
    /// "v1", "v2" or "none".
    pub cgroup_mode: &'static str,
    pub cgroup_problem: Option<String>,
    pub seccomp_instructions: usize,
    pub slots: u32,
    pub per_slot_uid: bool,
    /// Each slot has device nodes of its own (root, and the mount API).
    pub own_devices: bool,
    /// Supplementary groups of the server that its programs keep (without root).
    pub inherited_groups: usize,
}

impl Capabilities {
    /// Limits this host cannot enforce, in words.
    pub fn unenforced(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.cgroup_mode == "none" {
            v.push("memory limit (no memory cgroup)");
            v.push("process/thread limit (no pids cgroup; RLIMIT_NPROC only when root)");
            v.push("exact CPU time of the whole tree (RLIMIT_CPU per process only)");
        }
        if !self.per_slot_uid {
            v.push("a distinct uid per concurrent run (all runs share the caller's uid)");
            v.push("read-only input files, such as build outputs (a run's copy is its program's own)");
        }
        if self.inherited_groups > 0 {
            v.push("dropping the caller's supplementary groups (its programs keep them; run tiderun as a user without any)");
        }
        if !self.own_devices {
            v.push(
                "device nodes of each run's own (runs share the host's /dev/null: a lock on it is seen by another run)",
            );
        }
        v
    }
}

/// Free slot numbers; each run holds one for its lifetime.
#[derive(Debug)]
struct Slots {
    free: Mutex<Vec<u32>>,
    total: u32,
}

impl Slots {
    fn new(total: u32) -> Self {
        Slots {
            free: Mutex::new((0..total).rev().collect()),
            total,
        }
    }

    fn len(&self) -> u32 {
        self.total
    }

    fn acquire(self: &Arc<Self>) -> Result<SlotGuard, SandboxError> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        match free.pop() {
            Some(index) => Ok(SlotGuard {
                slots: Arc::clone(self),
                index,
            }),
            None => Err(SandboxError::Busy { slots: self.total }),
        }
    }
}

/// One slot, held by a run or a prepared sandbox from its clone to its teardown.
#[derive(Debug)]
struct SlotGuard {
    slots: Arc<Slots>,
    index: u32,
}

impl SlotGuard {
    fn index(&self) -> u32 {
        self.index
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut free = self.slots.free.lock().unwrap_or_else(|p| p.into_inner());
        free.push(self.index);
    }
}

/// A pipe for interactive stdin: pass the read end as [`Stdin::Pipe`], write to the other.
pub fn stdin_pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(SandboxError::os("create stdin pipe"))
}

#[cfg(test)]
mod tests {
    use super::Capabilities;

    #[test]
    fn an_ordinary_user_is_told_what_its_mode_does_not_enforce() {
        let user = Capabilities {
            privileged: false,
            cgroup_mode: "v1",
            cgroup_problem: None,
            seccomp_instructions: 1,
            slots: 1,
            per_slot_uid: false,
            own_devices: false,
            inherited_groups: 2,
        };
        let said = user.unenforced().join("\n");
        for what in [
            "distinct uid",
            "read-only input files",
            "supplementary groups",
            "device nodes",
        ] {
            assert!(said.contains(what), "{what:?} not in {said}");
        }
        let root = Capabilities {
            privileged: true,
            per_slot_uid: true,
            own_devices: true,
            inherited_groups: 0,
            ..user
        };
        assert!(root.unenforced().is_empty(), "{:?}", root.unenforced());
    }
}
