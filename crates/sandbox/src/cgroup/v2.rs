//! cgroup v2 (unified hierarchy) backend.
//!
//! Runs live in `<parent>/<name>`, where `<parent>` is `<mount root>/<prefix>` when this process
//! may manage the root of the hierarchy, or `<own cgroup>/<prefix>` when it may only manage a
//! subtree delegated to it (systemd `Delegate=yes`, a container with its own cgroup namespace).
//! Every file of a run's cgroup is opened relative to the directory fd held by its [`Manager`],
//! never following a symlink.
//!
//! The low-level file helpers at the end of this module are shared with [`super::v1`]: both
//! backends talk to cgroupfs the same way, only the file names differ.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Signal};

use super::{CgroupError, CgroupLimits, CgroupManager, CgroupStats};

/// Where the kernel tells a process which cgroups it is in.
const PROC_SELF_CGROUP: &str = "/proc/self/cgroup";

/// Controllers a run's cgroup needs: memory and pids for the limits, cpu for `cpu.stat`'s
/// usage to be exact per cgroup (and for any later cpu.max).
const REQUIRED_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

/// The leaf this process moves itself into when it manages a delegated subtree: cgroup v2
/// forbids processes in a cgroup that enables controllers for its children ("no internal
/// processes"), so the supervisor cannot stay in the cgroup whose children are the runs.
const SUPERVISOR_LEAF: &str = "supervisor";

/// The cgroup v2 hierarchy this process creates run cgroups in.
#[derive(Debug)]
pub struct Hierarchy {
    /// `<root>/<prefix>` or `<own delegated cgroup>/<prefix>`; run cgroups are its children.
    parent: PathBuf,
}

impl Hierarchy {
    /// Look at `mount_root` (normally `/sys/fs/cgroup`).
    ///
    /// `Ok(None)`: not a cgroup2 mount (no `cgroup.controllers` file), try v1.
    /// `Err(reason)`: cgroup2, but neither the root nor a subtree delegated to this process can
    /// host runs with the memory, pids and cpu controllers.
    pub fn detect(mount_root: &Path, prefix: &str) -> Result<Option<Hierarchy>, String> {
        Self::detect_with(mount_root, prefix, Path::new(PROC_SELF_CGROUP))
    }

    /// [`Hierarchy::detect`] with the `/proc/self/cgroup` path as a parameter, for tests.
    pub(crate) fn detect_with(
        mount_root: &Path,
        prefix: &str,
        proc_self_cgroup: &Path,
    ) -> Result<Option<Hierarchy>, String> {
        // The file-existence test (rather than statfs' magic number) lets a plain temp dir
        // stand in for cgroupfs in tests.
        if !mount_root.join("cgroup.controllers").is_file() {
            return Ok(None);
        }
        if let Err(e) = validate_name(mount_root, prefix) {
            return Err(describe(&e));
        }
        let at_root = match setup_parent(mount_root, prefix) {
            Ok(parent) => return Ok(Some(Hierarchy { parent })),
            Err(unusable) => unusable,
        };
        match setup_delegated(mount_root, prefix, proc_self_cgroup, &at_root) {
            Ok(parent) => Ok(Some(Hierarchy { parent })),
            Err(delegated) => Err(format!(
                "cgroup2 at {} is not usable ({}), nor is a delegated cgroup ({delegated})",
                mount_root.display(),
                at_root.reason
            )),
        }
    }

    /// The directory run cgroups are created in.
    pub fn parent(&self) -> &Path {
        &self.parent
    }

    /// Create the cgroup of one run, `<parent>/<name>`. A leftover cgroup of that name (from a
    /// crash) is emptied and replaced.
    pub fn create(&self, name: &str) -> Result<Manager, CgroupError> {
        validate_name(&self.parent, name)?;
        let path = self.parent.join(name);
        create_fresh_dir(&path)?;
        let dir = open_dir(&path).map_err(|e| CgroupError::new("open", &path, e))?;
        Ok(Manager {
            path,
            dir: File::from(dir),
        })
    }
}

/// Why a cgroup cannot be the parent of runs.
#[derive(Debug)]
struct Unusable {
    reason: String,
    /// Enabling controllers failed with EBUSY: the cgroup has processes (the "no internal
    /// processes" rule), which moving this process into a leaf may fix.
    busy: bool,
}

impl From<String> for Unusable {
    fn from(reason: String) -> Self {
        Unusable { reason, busy: false }
    }
}

/// Use `<dir>/<prefix>` as the parent of runs, enabling the controllers on the way. Works on
/// the real root (as root), or on a delegated cgroup once this process has left it.
fn setup_parent(dir: &Path, prefix: &str) -> Result<PathBuf, Unusable> {
    check_controllers(dir)?;
    enable_controllers(dir)?;
    let parent = dir.join(prefix);
    mkdir_exist_ok(&parent).map_err(|e| describe(&CgroupError::new("mkdir", &parent, e)))?;
    enable_controllers(&parent)?;
    Ok(parent)
}

/// Use the cgroup this process is in (if delegated to it): move ourselves into its
/// `supervisor` leaf, then host runs under `<own>/<prefix>`.
fn setup_delegated(root: &Path, prefix: &str, proc_self_cgroup: &Path, at_root: &Unusable) -> Result<PathBuf, String> {
    let relative = own_cgroup(proc_self_cgroup)?;
    let mut own = root.join(relative);
    // Already moved by an earlier detection (or inherited across an exec): the delegated
    // cgroup is the supervisor leaf's parent.
    if own != root && own.file_name().is_some_and(|n| n == SUPERVISOR_LEAF) {
        own.pop();
    }
    // In the mount's root cgroup (a container's cgroup namespace), the root attempt above
    // already tried this cgroup: leaving it for a leaf helps only if it had failed on our
    // own presence.
    if own == root && !at_root.busy {
        return Err("this process is in the root cgroup of the mount".to_string());
    }
    check_controllers(&own)?;
    // Creating the leaf is the test for delegation: only the owner of the subtree can.
    let leaf = own.join(SUPERVISOR_LEAF);
    mkdir_exist_ok(&leaf).map_err(|e| describe(&CgroupError::new("mkdir", &leaf, e)))?;
    let pid = rustix::process::getpid().as_raw_pid().to_string();
    let procs = leaf.join("cgroup.procs");
    write_path(&procs, pid.as_bytes()).map_err(|e| describe(&CgroupError::new("move supervisor", &procs, e)))?;
    setup_parent(&own, prefix).map_err(|unusable| unusable.reason)
}

/// The cgroup2 path of this process, relative to the mount root, from the `0::/path` line.
fn own_cgroup(proc_self_cgroup: &Path) -> Result<PathBuf, String> {
    let content = std::fs::read_to_string(proc_self_cgroup)
        .map_err(|e| format!("cannot read {}: {e}", proc_self_cgroup.display()))?;
    let path = content
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .ok_or_else(|| format!("no cgroup2 entry in {}", proc_self_cgroup.display()))?;
    let path = Path::new(path.trim_end());
    // Outside our cgroup namespace the kernel shows paths like "/../..": nothing we can use.
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::RootDir => {}
            Component::Normal(c) => relative.push(c),
            _ => return Err(format!("own cgroup {} is outside the mount", path.display())),
        }
    }
    Ok(relative)
}

/// Check that `<dir>/cgroup.controllers` lists every required controller.
fn check_controllers(dir: &Path) -> Result<(), String> {
    let path = dir.join("cgroup.controllers");
    let available = std::fs::read_to_string(&path).map_err(|e| describe(&CgroupError::new("read", &path, e)))?;
    let missing: Vec<&str> = REQUIRED_CONTROLLERS
        .into_iter()
        .filter(|c| !available.split_whitespace().any(|a| a == *c))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "controllers {} missing from {}",
            missing.join(", "),
            path.display()
        ))
    }
}

/// Enable the required controllers for the children of `dir`. Only the ones not yet enabled
/// are written, in one write, so an already set-up hierarchy needs no write permission.
fn enable_controllers(dir: &Path) -> Result<(), Unusable> {
    let path = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&path).map_err(|e| describe(&CgroupError::new("read", &path, e)))?;
    let missing: Vec<String> = REQUIRED_CONTROLLERS
        .into_iter()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    write_path(&path, missing.join(" ").as_bytes()).map_err(|e| Unusable {
        busy: e.raw_os_error() == Some(libc::EBUSY),
        reason: describe(&CgroupError::new("enable controllers", &path, e)),
    })
}

/// One run's cgroup v2.
#[derive(Debug)]
pub struct Manager {
    path: PathBuf,
    /// The cgroup directory, opened read-only: usable as `clone3`'s `cgroup` fd and as the base
    /// of every `openat`.
    dir: File,
}

impl Manager {
    /// The cgroup directory, for `clone3(CLONE_INTO_CGROUP)`.
    pub fn dir(&self) -> &File {
        &self.dir
    }

    /// The cgroup directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self, file: &str, value: &[u8]) -> Result<(), CgroupError> {
        write_at(self.dir.as_fd(), &self.path, file, value)
    }

    /// Read the first `key value` line of a flat-keyed file; `Ok(None)` if the key is absent.
    fn read_keyed(&self, file: &str, key: &str) -> Result<Option<u64>, CgroupError> {
        let mut buf = [0u8; SMALL_FILE_BUF_BYTES];
        let content = read_at(self.dir.as_fd(), file, &mut buf)
            .map_err(|e| CgroupError::new("read", &self.path.join(file), e))?;
        keyed_u64(content, key).map_err(|e| CgroupError::new("parse", &self.path.join(file), e))
    }

    fn read_u64(&self, file: &str) -> io::Result<u64> {
        let mut buf = [0u8; SMALL_FILE_BUF_BYTES];
        parse_u64(read_at(self.dir.as_fd(), file, &mut buf)?)
    }
}

impl CgroupManager for Manager {
    fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = checked_pid(pid).map_err(|e| CgroupError::new("add task", &self.path, e))?;
        let mut buf = [0u8; DECIMAL_BUF_BYTES];
        self.write("cgroup.procs", decimal(pid.as_raw_pid(), &mut buf))
    }

    fn apply(&self, limits: &CgroupLimits) -> Result<(), CgroupError> {
        self.write("memory.max", limits.memory_bytes.to_string().as_bytes())?;
        // No swap, so memory.max is the whole budget. Absent when the kernel has no swap
        // accounting (CONFIG_MEMCG_SWAP off or swapaccount=0): there is no swap to cap then.
        match write_file_at(self.dir.as_fd(), "memory.swap.max", b"0") {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other.map_err(|e| CgroupError::new("write", &self.path.join("memory.swap.max"), e))?,
        }
        self.write("pids.max", limits.max_processes.to_string().as_bytes())
    }

    fn cpu_usage_ns(&self) -> Result<u64, CgroupError> {
        // Hot path: one openat + read into a stack buffer; `usage_usec` is the first line.
        match self.read_keyed("cpu.stat", "usage_usec")? {
            Some(usec) => Ok(usec.saturating_mul(1000)),
            None => Err(CgroupError::new(
                "parse",
                &self.path.join("cpu.stat"),
                invalid_data("no usage_usec line"),
            )),
        }
    }

    fn stats(&self) -> Result<CgroupStats, CgroupError> {
        let cpu_usage_ns = self.cpu_usage_ns()?;
        // memory.peak appeared in Linux 5.19; before it the current usage is the best we have.
        let memory_peak_bytes = match self.read_u64("memory.peak") {
            Ok(v) => v,
            Err(e) if e.kind() == io::ErrorKind::NotFound => self
                .read_u64("memory.current")
                .map_err(|e| CgroupError::new("read", &self.path.join("memory.current"), e))?,
            Err(e) => return Err(CgroupError::new("read", &self.path.join("memory.peak"), e)),
        };
        let oom_kills = self.read_keyed("memory.events", "oom_kill")?.unwrap_or(0);
        Ok(CgroupStats {
            cpu_usage_ns,
            memory_peak_bytes,
            oom_kills,
        })
    }

    fn kill(&self) -> Result<(), CgroupError> {
        // cgroup.kill (Linux 5.14) kills the whole subtree atomically, racing no fork.
        match write_file_at(self.dir.as_fd(), "cgroup.kill", b"1") {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => kill_until_empty(self.dir.as_fd(), &self.path),
            Err(e) => Err(CgroupError::new("kill", &self.path.join("cgroup.kill"), e)),
        }
    }

    fn remove(&self) -> Result<(), CgroupError> {
        remove_dir_retry(&self.path)
    }

    fn threads(&self) -> Result<Vec<i32>, CgroupError> {
        let content = read_all_at(self.dir.as_fd(), "cgroup.threads")
            .map_err(|e| CgroupError::new("list threads", &self.path.join("cgroup.threads"), e))?;
        Ok(parse_pids(&content).map(|p| p.as_raw_nonzero().get()).collect())
    }

    fn processes(&self) -> Result<Vec<i32>, CgroupError> {
        let content = read_all_at(self.dir.as_fd(), "cgroup.procs")
            .map_err(|e| CgroupError::new("list processes", &self.path.join("cgroup.procs"), e))?;
        Ok(parse_pids(&content).map(|p| p.as_raw_nonzero().get()).collect())
    }
}

// ---- cgroupfs helpers, shared with v1 ----

/// The longest run or prefix name accepted.
pub(super) const MAX_NAME_LEN: usize = 64;

/// Stack buffer for the small files read on hot paths (cpu.stat is ~250 bytes with every
/// field of a 6.x kernel; cpuacct.usage is at most 21).
pub(super) const SMALL_FILE_BUF_BYTES: usize = 1024;

/// How long `remove` keeps retrying an `EBUSY` rmdir: killed tasks leave the cgroup only once
/// they have finished exiting, which takes a few milliseconds for a large address space.
pub(super) const REMOVE_RETRY_TOTAL: Duration = Duration::from_millis(100);

/// Pause between two rmdir attempts.
pub(super) const REMOVE_RETRY_PAUSE: Duration = Duration::from_millis(5);

/// Rounds of "read cgroup.procs, SIGKILL each" before giving up on an emptying cgroup; a fork
/// bomb is capped by pids.max, so each round leaves fewer survivors.
pub(super) const KILL_ROUNDS_MAX: u32 = 100;

/// Pause between two kill rounds, so that killed tasks get to exit.
pub(super) const KILL_ROUND_PAUSE: Duration = Duration::from_millis(1);

/// Accept `name` as a single, plain path component: `[A-Za-z0-9_-]{1,64}`.
pub(super) fn validate_name(parent: &Path, name: &str) -> Result<(), CgroupError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(CgroupError::new(
            "validate name",
            parent,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cgroup name {name:?} is not 1 to {MAX_NAME_LEN} of [A-Za-z0-9_-]"),
            ),
        ))
    }
}

/// One line for a detection failure: what failed, where, and why.
pub(super) fn describe(e: &CgroupError) -> String {
    format!("{e}: {}", e.source)
}

pub(super) fn invalid_data(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Room for an i32 in decimal.
pub(super) const DECIMAL_BUF_BYTES: usize = 12;

/// `n` in decimal, formatted into `buf` rather than a `String`: a pid is written to
/// cgroup.procs between the clone and the child's release, where every newly touched heap
/// page would first be copied for the child.
pub(super) fn decimal(n: i32, buf: &mut [u8; DECIMAL_BUF_BYTES]) -> &[u8] {
    let len = {
        let mut cursor = &mut buf[..];
        // Cannot fail: an i32 has at most 11 characters.
        let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{n}"));
        DECIMAL_BUF_BYTES - cursor.len()
    };
    &buf[..len]
}

/// A pid that may be written to cgroup.procs or signalled: positive. (0 would mean "the
/// writer" to cgroup.procs, and a negative pid a process group to kill(2).)
pub(super) fn checked_pid(pid: i32) -> io::Result<Pid> {
    match Pid::from_raw(pid.max(0)) {
        Some(pid) => Ok(pid),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid pid {pid}"),
        )),
    }
}

/// Open a cgroup directory: a real (not `O_PATH`) fd, so `clone3` accepts it.
pub(super) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    Ok(rustix::fs::open(path, flags, Mode::empty())?)
}

/// mkdir, where an existing directory is fine.
pub(super) fn mkdir_exist_ok(path: &Path) -> io::Result<()> {
    match std::fs::create_dir(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// mkdir a run's cgroup. If it exists (left over by a crash), kill what is in it and remove it
/// first.
pub(super) fn create_fresh_dir(path: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(CgroupError::new("mkdir", path, e)),
    }
    tracing::warn!(path = %path.display(), "replacing a leftover cgroup");
    match std::fs::remove_dir(path) {
        Ok(()) => {}
        // Still has tasks.
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let dir = open_dir(path).map_err(|e| CgroupError::new("open", path, e))?;
            kill_until_empty(dir.as_fd(), path)?;
            remove_dir_retry(path)?;
        }
        Err(e) => return Err(CgroupError::new("remove leftover", path, e)),
    }
    std::fs::create_dir(path).map_err(|e| CgroupError::new("mkdir", path, e))
}

/// rmdir a cgroup, retrying briefly while it is busy with exiting tasks. Already gone is fine.
pub(super) fn remove_dir_retry(path: &Path) -> Result<(), CgroupError> {
    let deadline = Instant::now() + REMOVE_RETRY_TOTAL;
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                thread::sleep(REMOVE_RETRY_PAUSE);
            }
            Err(e) => return Err(CgroupError::new("remove", path, e)),
        }
    }
}

/// Write `value` to `<dir>/<file>` in one write(2): cgroupfs parses each write on its own.
pub(super) fn write_file_at(dir: BorrowedFd<'_>, file: &str, value: &[u8]) -> io::Result<()> {
    // O_TRUNC is a no-op on cgroupfs and keeps a fake tree's files exact; no O_CREAT: a missing
    // file means a missing feature, which callers may want to know.
    let flags = OFlags::WRONLY | OFlags::TRUNC | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = rustix::fs::openat(dir, file, flags, Mode::empty())?;
    write_all_once(fd.as_fd(), value)
}

/// [`write_file_at`], with the error naming the file.
pub(super) fn write_at(dir: BorrowedFd<'_>, dir_path: &Path, file: &str, value: &[u8]) -> Result<(), CgroupError> {
    write_file_at(dir, file, value).map_err(|e| CgroupError::new("write", &dir_path.join(file), e))
}

/// Write `value` to a cgroup file by path (used before a run's directory fd exists).
pub(super) fn write_path(path: &Path, value: &[u8]) -> io::Result<()> {
    let flags = OFlags::WRONLY | OFlags::TRUNC | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = rustix::fs::open(path, flags, Mode::empty())?;
    write_all_once(fd.as_fd(), value)
}

fn write_all_once(fd: BorrowedFd<'_>, value: &[u8]) -> io::Result<()> {
    let written = rustix::io::write(fd, value)?;
    if written == value.len() {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::WriteZero, "short write to a cgroup file"))
    }
}

/// Read `<dir>/<file>` into `buf` (up to its size) without allocating; returns the bytes read.
pub(super) fn read_at<'b>(dir: BorrowedFd<'_>, file: &str, buf: &'b mut [u8]) -> io::Result<&'b [u8]> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = rustix::fs::openat(dir, file, flags, Mode::empty())?;
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(&buf[..len])
}

/// Read all of `<dir>/<file>`: for cgroup.procs, whose size is bounded by pids.max.
pub(super) fn read_all_at(dir: BorrowedFd<'_>, file: &str) -> io::Result<Vec<u8>> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let mut f = File::from(rustix::fs::openat(dir, file, flags, Mode::empty())?);
    let mut content = Vec::new();
    f.read_to_end(&mut content)?;
    Ok(content)
}

/// Parse a file holding one decimal number (and a newline).
pub(super) fn parse_u64(content: &[u8]) -> io::Result<u64> {
    parse_decimal(content.trim_ascii()).ok_or_else(|| invalid_data("not a decimal number"))
}

/// The value of the first `key value` line in a flat-keyed file (memory.events, cpu.stat,
/// memory.oom_control), or `None` when no line has that key.
pub(super) fn keyed_u64(content: &[u8], key: &str) -> io::Result<Option<u64>> {
    for line in content.split(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(key.as_bytes()) else {
            continue;
        };
        // "oom_kill 3" must not match the key "oom" nor "oom_kill_disable".
        let Some(value) = rest.strip_prefix(b" ") else {
            continue;
        };
        return match parse_decimal(value.trim_ascii()) {
            Some(v) => Ok(Some(v)),
            None => Err(invalid_data("value of a keyed line is not a decimal number")),
        };
    }
    Ok(None)
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// The pids listed in a cgroup.procs content (one decimal per line).
pub(super) fn parse_pids(content: &[u8]) -> impl Iterator<Item = Pid> + '_ {
    content.split(|&b| b == b'\n').filter_map(|line| {
        let n = parse_decimal(line.trim_ascii())?;
        Pid::from_raw(i32::try_from(n).ok()?)
    })
}

/// SIGKILL `pid`; one that has already exited is not an error.
///
/// Like every kill-by-pid, this races with the pid being reaped and reused. The pids come from
/// the run's own cgroup.procs and are reaped only by the run's own parent (the sandbox init or
/// the supervisor), so the window is tiny; v1's freezer closes it, v2's cgroup.kill avoids it.
pub(super) fn sigkill(pid: Pid) -> io::Result<()> {
    match rustix::process::kill_process(pid, Signal::KILL) {
        Ok(()) | Err(Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// SIGKILL every task of the cgroup at `dir` until its cgroup.procs reads empty, bounded by
/// [`KILL_ROUNDS_MAX`]. Without a freezer (or cgroup.kill) a task may fork between the read
/// and the kill, so one round is not enough.
pub(super) fn kill_until_empty(dir: BorrowedFd<'_>, dir_path: &Path) -> Result<(), CgroupError> {
    let procs_err = |e| CgroupError::new("kill", &dir_path.join("cgroup.procs"), e);
    for _ in 0..KILL_ROUNDS_MAX {
        let content = read_all_at(dir, "cgroup.procs").map_err(procs_err)?;
        let mut any = false;
        for pid in parse_pids(&content) {
            any = true;
            sigkill(pid).map_err(procs_err)?;
        }
        if !any {
            return Ok(());
        }
        thread::sleep(KILL_ROUND_PAUSE);
    }
    Err(procs_err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("tasks still present after {KILL_ROUNDS_MAX} rounds of SIGKILL"),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use tempfile::TempDir;

    const ALL: &str = "cpuset cpu io memory hugetlb pids rdma misc\n";

    fn touch(path: &Path, content: &str) {
        fs::write(path, content).expect("write fake cgroup file");
    }

    fn read(path: &Path) -> String {
        fs::read_to_string(path).expect("read fake cgroup file")
    }

    /// A fake cgroup2 root with every controller, and `<root>/<prefix>` pre-made (mkdir on a
    /// plain fs does not create the interface files).
    fn fake_root(prefix: &str) -> TempDir {
        let root = TempDir::new().expect("temp dir");
        touch(&root.path().join("cgroup.controllers"), ALL);
        touch(&root.path().join("cgroup.subtree_control"), "");
        fs::create_dir(root.path().join(prefix)).expect("mkdir prefix");
        touch(&root.path().join(prefix).join("cgroup.subtree_control"), "");
        root
    }

    fn proc_self(root: &TempDir, line: &str) -> PathBuf {
        let path = root.path().join("proc-self-cgroup");
        touch(&path, line);
        path
    }

    #[test]
    fn not_cgroup2_is_none() {
        let root = TempDir::new().expect("temp dir");
        let none = Hierarchy::detect_with(root.path(), "tr", Path::new("/nonexistent"));
        assert!(matches!(none, Ok(None)), "{none:?}");
    }

    #[test]
    fn real_root_enables_controllers() {
        let root = fake_root("tr");
        let ps = proc_self(&root, "0::/\n");
        let h = Hierarchy::detect_with(root.path(), "tr", &ps)
            .expect("usable")
            .expect("cgroup2");
        assert_eq!(h.parent(), root.path().join("tr"));
        assert_eq!(read(&root.path().join("cgroup.subtree_control")), "+memory +pids +cpu");
        assert_eq!(
            read(&root.path().join("tr/cgroup.subtree_control")),
            "+memory +pids +cpu"
        );
    }

    #[test]
    fn enabled_controllers_are_not_rewritten() {
        let root = fake_root("tr");
        touch(&root.path().join("cgroup.subtree_control"), "cpu memory pids\n");
        touch(&root.path().join("tr/cgroup.subtree_control"), "memory pids\n");
        let ps = proc_self(&root, "0::/\n");
        Hierarchy::detect_with(root.path(), "tr", &ps)
            .expect("usable")
            .expect("cgroup2");
        assert_eq!(read(&root.path().join("cgroup.subtree_control")), "cpu memory pids\n");
        assert_eq!(read(&root.path().join("tr/cgroup.subtree_control")), "+cpu");
    }

    #[test]
    fn missing_controllers_without_delegation_is_unusable() {
        let root = fake_root("tr");
        touch(&root.path().join("cgroup.controllers"), "cpu io\n");
        let ps = proc_self(&root, "0::/\n");
        let err = Hierarchy::detect_with(root.path(), "tr", &ps).expect_err("unusable");
        assert!(err.contains("memory, pids"), "{err}");
        // Nothing was moved or created.
        assert!(!root.path().join(SUPERVISOR_LEAF).exists());
    }

    #[test]
    fn bad_prefix_is_unusable() {
        let root = fake_root("tr");
        let ps = proc_self(&root, "0::/\n");
        let err = Hierarchy::detect_with(root.path(), "../etc", &ps).expect_err("bad prefix");
        assert!(err.contains("validate name"), "{err}");
    }

    #[test]
    fn delegated_subtree_is_used() {
        let root = fake_root("tr");
        touch(&root.path().join("cgroup.controllers"), ""); // the root offers nothing to us
        let own = root.path().join("system.slice/tiderun.service");
        fs::create_dir_all(own.join(SUPERVISOR_LEAF)).expect("mkdir own");
        touch(&own.join("cgroup.controllers"), "cpu memory pids\n");
        touch(&own.join("cgroup.subtree_control"), "");
        touch(&own.join(SUPERVISOR_LEAF).join("cgroup.procs"), "");
        fs::create_dir(own.join("tr")).expect("mkdir prefix");
        touch(&own.join("tr/cgroup.subtree_control"), "");
        let ps = proc_self(&root, "1:name=systemd:/x\n0::/system.slice/tiderun.service\n");

        let h = Hierarchy::detect_with(root.path(), "tr", &ps)
            .expect("usable")
            .expect("cgroup2");
        assert_eq!(h.parent(), own.join("tr"));
        let pid = std::process::id().to_string();
        assert_eq!(read(&own.join(SUPERVISOR_LEAF).join("cgroup.procs")), pid);
        assert_eq!(read(&own.join("cgroup.subtree_control")), "+memory +pids +cpu");
        assert_eq!(read(&own.join("tr/cgroup.subtree_control")), "+memory +pids +cpu");

        // Detecting again from inside the supervisor leaf finds the same parent.
        let ps = proc_self(&root, "0::/system.slice/tiderun.service/supervisor\n");
        let h = Hierarchy::detect_with(root.path(), "tr", &ps)
            .expect("usable")
            .expect("cgroup2");
        assert_eq!(h.parent(), own.join("tr"));
    }

    #[test]
    fn own_cgroup_outside_the_namespace_is_refused() {
        let root = TempDir::new().expect("temp dir");
        let ps = proc_self(&root, "0::/../../user.slice\n");
        let err = own_cgroup(&ps).expect_err("outside");
        assert!(err.contains("outside"), "{err}");
        let ps = proc_self(&root, "1:memory:/x\n");
        assert!(own_cgroup(&ps).is_err());
    }

    fn fake_hierarchy() -> (TempDir, Hierarchy) {
        let root = fake_root("tr");
        let ps = proc_self(&root, "0::/\n");
        let h = Hierarchy::detect_with(root.path(), "tr", &ps)
            .expect("usable")
            .expect("cgroup2");
        (root, h)
    }

    /// The interface files a real cgroupfs would show in a new run directory.
    fn populate(dir: &Path) {
        for f in [
            "memory.max",
            "memory.swap.max",
            "pids.max",
            "cgroup.procs",
            "cgroup.kill",
        ] {
            touch(&dir.join(f), "");
        }
        touch(
            &dir.join("cpu.stat"),
            "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnr_periods 0\n",
        );
        touch(&dir.join("memory.peak"), "52428800\n");
        touch(&dir.join("memory.current"), "4096\n");
        touch(
            &dir.join("memory.events"),
            "low 0\nhigh 0\nmax 17\noom 2\noom_kill 2\noom_group_kill 0\n",
        );
    }

    fn clear(dir: &Path) {
        for entry in fs::read_dir(dir).expect("read dir") {
            fs::remove_file(entry.expect("entry").path()).expect("remove fake file");
        }
    }

    #[test]
    fn manager_on_a_fake_tree() {
        let (root, h) = fake_hierarchy();
        let m = h.create("run-1").expect("create");
        let dir = root.path().join("tr/run-1");
        assert_eq!(m.path(), dir);
        assert!(m.dir().metadata().expect("fstat").is_dir());
        populate(&dir);

        m.apply(&CgroupLimits {
            memory_bytes: 268_435_456,
            max_processes: 64,
        })
        .expect("apply");
        assert_eq!(read(&dir.join("memory.max")), "268435456");
        assert_eq!(read(&dir.join("memory.swap.max")), "0");
        assert_eq!(read(&dir.join("pids.max")), "64");

        m.add_task(4242).expect("add task");
        assert_eq!(read(&dir.join("cgroup.procs")), "4242");
        assert_eq!(m.processes().expect("list processes"), [4242]);
        assert!(m.add_task(0).is_err(), "pid 0 would move the supervisor");
        assert!(m.add_task(-1).is_err());
        touch(&dir.join("cgroup.procs"), ""); // kill below must not signal a real pid 4242

        assert_eq!(m.cpu_usage_ns().expect("cpu"), 1_234_567_000);
        let stats = m.stats().expect("stats");
        assert_eq!(
            stats,
            CgroupStats {
                cpu_usage_ns: 1_234_567_000,
                memory_peak_bytes: 52_428_800,
                oom_kills: 2
            }
        );

        m.kill().expect("kill");
        assert_eq!(read(&dir.join("cgroup.kill")), "1");

        clear(&dir);
        m.remove().expect("remove");
        assert!(!dir.exists());
        m.remove().expect("removing twice is fine");
    }

    #[test]
    fn fallbacks_for_older_kernels() {
        let (root, h) = fake_hierarchy();
        let m = h.create("old").expect("create");
        let dir = root.path().join("tr/old");
        populate(&dir);
        // No memory.swap.max (no swap accounting), memory.peak (< 5.19), cgroup.kill (< 5.14).
        for f in ["memory.swap.max", "memory.peak", "cgroup.kill"] {
            fs::remove_file(dir.join(f)).expect("remove");
        }
        touch(&dir.join("memory.events"), "low 0\nhigh 0\nmax 0\noom 0\n");
        m.apply(&CgroupLimits {
            memory_bytes: 1 << 20,
            max_processes: 1,
        })
        .expect("apply");
        assert!(!dir.join("memory.swap.max").exists(), "no file was created");
        let stats = m.stats().expect("stats");
        assert_eq!(stats.memory_peak_bytes, 4096);
        assert_eq!(stats.oom_kills, 0);
        m.kill().expect("kill by pid with an empty cgroup.procs");
        assert!(!dir.join("cgroup.kill").exists());
    }

    #[test]
    fn missing_files_are_errors_that_name_the_path() {
        let (root, h) = fake_hierarchy();
        let m = h.create("bare").expect("create");
        let err = m.cpu_usage_ns().expect_err("no cpu.stat");
        assert_eq!(err.path, root.path().join("tr/bare/cpu.stat"));
        assert_eq!(err.to_string(), format!("cgroup read failed on {}", err.path.display()));
        let err = m
            .apply(&CgroupLimits {
                memory_bytes: 1,
                max_processes: 1,
            })
            .expect_err("no memory.max");
        assert_eq!(err.source.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn names_are_single_safe_components() {
        let (root, h) = fake_hierarchy();
        for bad in ["", "../x", "..", ".", "a/b", "a b", "é", "x\0", &"a".repeat(65)] {
            let err = h.create(bad).expect_err(bad);
            assert_eq!(err.action, "validate name");
            assert_eq!(err.source.kind(), io::ErrorKind::InvalidInput);
        }
        assert!(!root.path().join("x").exists());
        h.create(&"a".repeat(64)).expect("64 characters is fine");
        h.create("Run_2-b").expect("letters, digits, _ and -");
    }

    #[test]
    fn leftover_run_is_replaced() {
        let (root, h) = fake_hierarchy();
        let dir = root.path().join("tr/stale");
        fs::create_dir(&dir).expect("mkdir");
        let m = h.create("stale").expect("create over a leftover");
        assert!(m.dir().metadata().expect("fstat").is_dir());
        assert!(dir.is_dir());
    }

    #[test]
    fn decimals_without_allocation() {
        let mut buf = [0u8; DECIMAL_BUF_BYTES];
        for n in [0, 7, 4242, i32::MAX, i32::MIN] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_u64(b"123\n").ok(), Some(123));
        assert!(parse_u64(b"max\n").is_err());
        assert!(parse_u64(b"").is_err());
        assert!(parse_u64(b"99999999999999999999999").is_err());
        let events = b"oom 1\noom_kill_disable 0\noom_kill 3\n";
        assert_eq!(keyed_u64(events, "oom_kill").ok(), Some(Some(3)));
        assert_eq!(keyed_u64(events, "oom").ok(), Some(Some(1)));
        assert_eq!(keyed_u64(events, "max").ok(), Some(None));
        assert!(keyed_u64(b"oom_kill x\n", "oom_kill").is_err());
        let pids: Vec<i32> = parse_pids(b"1\n22\n\n0\n-3\nx\n").map(|p| p.as_raw_pid()).collect();
        assert_eq!(pids, [1, 22]);
    }

    /// This host's cgroup2 mount, if it is the controller-less half of a hybrid v1 host: the
    /// detection must refuse it without creating or moving anything.
    #[test]
    fn real_hybrid_cgroup2_is_refused() {
        let unified = Path::new("/sys/fs/cgroup/unified");
        match fs::read_to_string(unified.join("cgroup.controllers")) {
            // On a hybrid host only controllers unused by v1 (e.g. hugetlb) show up here.
            Ok(c) if !c.split_whitespace().any(|c| c == "memory") => {}
            _ => {
                testkit::other_host_kind(format_args!(
                    "no cgroup2 mount without memory at {} (a hybrid v1 host has one)",
                    unified.display()
                ));
                return;
            }
        }
        let err = Hierarchy::detect(unified, "tiderun-test").expect_err("no memory controller");
        assert!(err.contains("memory, pids, cpu"), "{err}");
        assert!(!unified.join("tiderun-test").exists());
        assert!(!unified.join(SUPERVISOR_LEAF).exists());
    }
}
