//! Starting a sandbox: everything its child needs is prepared first (the root's steps, the
//! launch parameters, pipes, the run's cgroup, a network namespace), then `clone3` into new
//! namespaces, the uid/gid maps are written and (cgroup v1) the child is attached to its
//! cgroup, and the child is released into its setup. A prepared sandbox's start ends when its
//! init reports its root built ([`wait_ready`]).

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::pipe::PipeFlags;

use crate::cgroup::{Cgroup, CgroupLimits, CgroupManager};
use crate::child::{self, ChildPlan, Report, INSIDE_ID};
use crate::cleanup::Cleanup;
use crate::config::{InputFile, Limits, RunSpec, Stdin};
use crate::error::{SandboxError, SetupStep};
use crate::launch::{environment, exec_candidates, rlimits, zygote_rlimits, LaunchArea};
use crate::layout::{self, cstring};
use crate::Sandbox;

/// How long a prepared sandbox may take to report that its root is built.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// What is known when a sandbox is cloned.
pub(crate) struct StartSpec<'a> {
    pub limits: &'a Limits,
    pub binds: &'a [PathBuf],
    pub network: bool,
    pub mode: StartMode<'a>,
    /// A cold run's stdin (a prepared sandbox always gets a pipe the parent feeds).
    pub stdin: Stdin,
}

/// When the program starts.
pub(crate) enum StartMode<'a> {
    /// At once: a cold run, whose files the init writes itself.
    Now { spec: &'a RunSpec },
    /// When the parent says go (a prepared sandbox).
    OnGo,
    /// A zygote: its interpreter at once, the run's request later on [`child::REQUEST_FD`].
    Zygote {
        argv: &'a [String],
        env: &'a [(String, String)],
    },
    /// A fork server (`forkserver.rs`): like a zygote, but its request channel is a socket
    /// (runs arrive with their descriptors) and it keeps the namespace's root.
    ForkServer {
        argv: &'a [String],
        env: &'a [(String, String)],
    },
}

/// A sandbox from its clone until its program is watched: the init and the parent's ends of
/// every pipe. Dropping it kills the init and tears the sandbox down.
pub(crate) struct Started {
    pub outside_id: u32,
    pub pid: i32,
    pub cleanup: Cleanup,
    /// The go byte of a prepared sandbox.
    pub go: Option<OwnedFd>,
    pub report: OwnedFd,
    pub release: OwnedFd,
    pub control: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// The program's stdin when the parent feeds it (a prepared sandbox, or bytes).
    pub stdin: Option<OwnedFd>,
    /// Bytes to feed a cold run's stdin.
    pub stdin_bytes: Vec<u8>,
    /// A cold run's stdin pipe from the caller, relayed (without root; see [`stdio_pair`]).
    pub stdin_relay: Option<OwnedFd>,
    /// What the program's fd 0 is (see `stdin_wait.rs`).
    pub stdin_id: Option<crate::stdin_wait::FileId>,
    /// A zygote's request pipe (a fork server's socket).
    pub request: Option<OwnedFd>,
    pub launch: LaunchArea,
    /// The limits in force: those it was made with, or, once a prepared sandbox was given its
    /// run's (`instance::fit`), the run's. A prepared one runs only a spec with the same.
    pub limits: Limits,
    pub binds: Vec<PathBuf>,
    pub network: bool,
    pub zygote_env: Option<Vec<(String, String)>>,
    /// The rlimits a zygote's interpreter has now, as `(resource, soft, hard)`: those it was
    /// started with, then its run's.
    pub zygote_rlimits: Option<Vec<(u32, u64, u64)>>,
    pub created: Instant,
    /// A prepared sandbox's READY report has been read ([`wait_ready`]).
    pub ready: bool,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("pid", &self.pid)
            .field("slot", &self.cleanup.slot)
            .finish()
    }
}

/// Clone a sandbox: its init builds the root and, depending on `start.mode`, starts the
/// program at once, waits for go, or starts a zygote.
pub(crate) fn start(sb: &Sandbox, start: StartSpec<'_>) -> Result<Started, SandboxError> {
    let slot = sb.slots.acquire()?;
    let outside_id = sb.outside_id(slot.index());
    // The slot's own /dev, for the init to attach (root only).
    let devices = match &sb.devices {
        Some(d) => Some(d.clone_for(slot.index())?),
        None => None,
    };
    let run_name = crate::next_run_name();
    let _span = tracing::debug_span!("sandbox", run = %run_name, slot = slot.index()).entered();

    // Everything the child reads is prepared here, before the clone.
    let run_layout = layout::run_steps(&sb.root_template, start.binds, start.limits)?;
    let no_files: &[InputFile] = &[];
    let files = match &start.mode {
        StartMode::Now { spec, .. } => &spec.files[..],
        _ => no_files,
    };
    let (work_dirs, work_files) = layout::work_files(files)?;
    let mut launch = LaunchArea::new()?;
    let mut zygote_env = None;
    let mut zygote_rlimits_now = None;
    match &start.mode {
        StartMode::Now { spec, .. } => {
            let argv_c: Vec<CString> = spec.argv.iter().map(cstring).collect::<Result<_, _>>()?;
            launch.fill(
                &argv_c,
                &environment(&spec.env)?,
                &exec_candidates(&spec.argv[0])?,
                &rlimits(start.limits, sb.cgroups_enforced(), sb.privileged),
            )?;
        }
        StartMode::Zygote { argv, env } | StartMode::ForkServer { argv, env } => {
            if argv.is_empty() || argv[0].is_empty() {
                return Err(SandboxError::InvalidSpec("the zygote's argv is empty".into()));
            }
            let argv_c: Vec<CString> = argv.iter().map(cstring).collect::<Result<_, _>>()?;
            // With a cgroup to find its interpreter by, a run sets its own rlimits there
            // (`instance::fit`); without, the zygote serves runs with these only.
            let limits = if sb.cgroups_enforced() {
                zygote_rlimits(start.limits, sb.cgroups_enforced(), sb.privileged)
            } else {
                rlimits(start.limits, sb.cgroups_enforced(), sb.privileged)
            };
            launch.fill(&argv_c, &environment(env)?, &exec_candidates(&argv[0])?, &limits)?;
            zygote_env = Some(env.to_vec());
            zygote_rlimits_now = Some(limits);
        }
        StartMode::OnGo => {}
    }
    let root_c = cstring(sb.root_dir.as_os_str())?;
    let root_options = cstring(layout::ROOT_TMPFS_OPTIONS)?;

    let cgroup = sb.cgroups.create(
        &run_name,
        &CgroupLimits {
            memory_bytes: start.limits.memory_bytes,
            max_processes: start.limits.max_processes,
        },
    )?;
    let mut cleanup = Cleanup {
        init: None,
        cgroup,
        slot: Some(slot),
    };
    let id_maps = IdMaps::new(sb, outside_id);

    let (sync_r, sync_w) = pipe()?;
    let (report_r, report_w) = pipe()?;
    let (release_r, release_w) = pipe()?;
    let (control_r, control_w) = pipe()?;
    // The supervisor forwards signals to the init without ever waiting for it.
    rustix::io::ioctl_fionbio(&control_w, true).map_err(SandboxError::os("set control nonblocking"))?;
    let (out_r, out_w) = stdio_pair(sb)?;
    let (err_r, err_w) = stdio_pair(sb)?;
    let (request_r, request_w) = match &start.mode {
        StartMode::Zygote { .. } => {
            let (r, w) = pipe()?;
            (Some(r), Some(w))
        }
        StartMode::ForkServer { .. } => {
            let (r, w) = crate::forkserver::socket_pair()?;
            (Some(r), Some(w))
        }
        _ => (None, None),
    };
    let cold = matches!(start.mode, StartMode::Now { .. });
    let mut stdin_relay = None;
    let (stdin_child, stdin_w, stdin_bytes) = match start.stdin {
        Stdin::Pipe(fd) if cold && sb.privileged => (above_stdio(fd)?, None, Vec::new()),
        Stdin::Pipe(fd) if cold => {
            let (r, w) = stdio_pair(sb)?;
            stdin_relay = Some(fd);
            (r, Some(w), Vec::new())
        }
        Stdin::Bytes(bytes) if cold && !bytes.is_empty() => {
            let (r, w) = stdio_pair(sb)?;
            (r, Some(w), bytes)
        }
        _ if cold => (stdio_pair(sb)?.0, None, Vec::new()),
        _ => {
            let (r, w) = stdio_pair(sb)?;
            (r, Some(w), Vec::new())
        }
    };
    let stdin_id = crate::stdin_wait::file_id(&stdin_child);
    if let Some(w) = &stdin_w {
        rustix::io::ioctl_fionbio(w, true).map_err(SandboxError::os("set stdin nonblocking"))?;
    }

    // A namespace made ahead of time (loopback already up), or a new one at clone.
    let pooled_netns = if start.network {
        None
    } else {
        sb.netns.as_ref().and_then(|p| p.take().map(|ns| (p, ns)))
    };
    if !start.network && pooled_netns.is_none() {
        tracing::debug!("no prepared network namespace; making one at clone");
    }
    let prepared = !cold;
    let plan = ChildPlan {
        sync_read: sync_r.as_raw_fd(),
        report_write: report_w.as_raw_fd(),
        release_read: release_r.as_raw_fd(),
        control_read: control_r.as_raw_fd(),
        stdio: [stdin_child.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()],
        unshare_cgroup: cleanup.cgroup.as_ref().is_some_and(|c| c.dir_for_clone().is_none()),
        init_is_root: sb.privileged,
        bring_up_loopback: !start.network && pooled_netns.is_none(),
        root: &root_c,
        root_options: &root_options,
        steps: [sb.root_template.steps(), &run_layout.steps],
        bind_sources: [sb.root_template.sources(), &run_layout.sources],
        work_dirs: &work_dirs,
        work_files: &work_files,
        hostname: c"tiderun",
        seccomp: &sb.seccomp,
        launch: launch.params(),
        announce_ready: prepared,
        wait_go: matches!(start.mode, StartMode::OnGo),
        request_fd: request_r.as_ref().map_or(-1, |fd| fd.as_raw_fd()),
        devices: devices.as_ref().map_or(-1, |fd| fd.as_raw_fd()),
        fork_server: matches!(start.mode, StartMode::ForkServer { .. }),
    };

    let mut flags =
        (libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) as u64
            | libc::CLONE_PIDFD as u64;
    if !start.network && pooled_netns.is_none() {
        flags |= libc::CLONE_NEWNET as u64;
    }
    let mut pidfd_raw: RawFd = -1;
    let mut args = CloneArgs {
        flags,
        pidfd: &mut pidfd_raw as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(dir) = cleanup.cgroup.as_ref().and_then(|c| c.dir_for_clone()) {
        args.flags |= CLONE_INTO_CGROUP | libc::CLONE_NEWCGROUP as u64;
        args.cgroup = dir.as_raw_fd() as u64;
    }
    let netns_guard = match &pooled_netns {
        Some((pool, ns)) => Some(pool.enter(ns)?),
        None => None,
    };
    // SAFETY: clone3 without CLONE_VM and without a stack behaves like fork: the child gets a
    // copy-on-write copy of this thread's stack and runs `init_main`, which never returns and
    // makes only raw syscalls on data prepared above (see child.rs).
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid != 0 {
        drop(netns_guard);
    }
    if pid == 0 {
        // SAFETY: we are the child of clone3 and `plan` was prepared for it.
        unsafe { child::init_main(&plan) }
    }
    if pid < 0 {
        return Err(SandboxError::Os {
            what: "clone3 the sandbox",
            source: std::io::Error::last_os_error(),
        });
    }
    let pid = pid as i32;
    // SAFETY: CLONE_PIDFD stored a new descriptor that nothing else owns.
    cleanup.init = Some(unsafe { OwnedFd::from_raw_fd(pidfd_raw) });
    drop((
        sync_r,
        report_w,
        release_r,
        control_r,
        stdin_child,
        out_w,
        err_w,
        request_r,
        devices,
    ));

    // Map the program's uid, then release the child into its setup.
    start_child(pid, &id_maps, cleanup.cgroup.as_ref())?;
    rustix::io::write(&sync_w, &[1]).map_err(SandboxError::os("start sandbox child"))?;
    let go = if plan.wait_go { Some(sync_w) } else { None };
    Ok(Started {
        outside_id,
        pid,
        cleanup,
        go,
        report: report_r,
        release: release_w,
        control: control_w,
        stdout: out_r,
        stderr: err_r,
        stdin: stdin_w,
        stdin_bytes,
        stdin_relay,
        stdin_id,
        request: request_w,
        launch,
        limits: *start.limits,
        binds: start.binds.to_vec(),
        network: start.network,
        zygote_env,
        zygote_rlimits: zygote_rlimits_now,
        created: Instant::now(),
        ready: false,
    })
}

/// `struct clone_args` of clone3(2); glibc's headers (and so the libc crate) do not have it.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The child's uid and gid maps (and whether setgroups must be denied first), worked out
/// before the clone.
struct IdMaps {
    deny_setgroups: bool,
    uid_map: String,
    gid_map: String,
}

impl IdMaps {
    fn new(sb: &Sandbox, outside_id: u32) -> IdMaps {
        if sb.privileged {
            // Root inside (the init) is one shared unprivileged host id; the program's 1000 is
            // the slot's own id.
            let map = format!("0 {} 1\n{INSIDE_ID} {outside_id} 1\n", sb.init_id());
            IdMaps {
                deny_setgroups: false,
                uid_map: map.clone(),
                gid_map: map,
            }
        } else {
            // An unprivileged writer may only map its own ids, and only with setgroups denied.
            IdMaps {
                deny_setgroups: true,
                uid_map: format!("{INSIDE_ID} {outside_id} 1\n"),
                gid_map: format!("{INSIDE_ID} {} 1\n", rustix::process::getgid().as_raw()),
            }
        }
    }
}

/// Room for `/proc/<pid>/<file>` of the id-map files.
const PROC_PATH_BYTES: usize = 48;

/// Write uid/gid maps and (v1) move the child into its cgroup.
///
/// No allocation here (the paths are formatted on the stack): this is the stretch between the
/// clone and the child's release, and since the clone every page this process writes —
/// malloc's own bookkeeping included — is first copied for the init, which shares them.
fn start_child(pid: i32, maps: &IdMaps, cgroup: Option<&Cgroup>) -> Result<(), SandboxError> {
    let write = |name: &str, content: &str| -> Result<(), SandboxError> {
        let mut path = [0u8; PROC_PATH_BYTES];
        let len = {
            let mut cursor = &mut path[..];
            // Cannot fail: "/proc/<i32>/setgroups" is 27 bytes at most.
            let _ = write!(cursor, "/proc/{pid}/{name}");
            PROC_PATH_BYTES - cursor.len()
        };
        rustix::fs::open(&path[..len], OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
            .and_then(|fd| rustix::io::write(&fd, content.as_bytes()))
            .and_then(|n| if n == content.len() { Ok(()) } else { Err(Errno::IO) })
            .map_err(|e| SandboxError::Os {
                what: "write the sandbox's id maps",
                source: e.into(),
            })
    };
    if maps.deny_setgroups {
        write("setgroups", "deny")?;
    }
    write("uid_map", &maps.uid_map)?;
    write("gid_map", &maps.gid_map)?;
    if let Some(c) = cgroup {
        if c.dir_for_clone().is_none() {
            c.add_task(pid)?;
        }
    }
    Ok(())
}

pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let (r, w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(SandboxError::os("create pipe"))?;
    // The program's descriptors are dup2'ed onto 0-2; keep ours clear of those numbers so a
    // server started with closed stdio cannot get them mixed up.
    Ok((above_stdio(r)?, above_stdio(w)?))
}

/// The two ends of one of the program's stdio streams (for a pipe: the read end, then the
/// write end). As root, a pipe: it belongs to the host's root (mode 0600), which the program
/// cannot open. Without root the program's host uid is the server's, so a pipe's inode would
/// be its own, and `/proc/self/fd/N` opened the other way round gives it the other end: the
/// read end of its stdout (taking back bytes the supervisor's poll announced leaves the
/// supervisor blocked in read(), enforcing nothing), the write end of the pipe its caller
/// feeds stdin through. A socket cannot be opened through /proc at all (ENXIO), so without
/// root stdio are socket pairs.
pub(crate) fn stdio_pair(sb: &Sandbox) -> Result<(OwnedFd, OwnedFd), SandboxError> {
    if sb.privileged {
        return pipe();
    }
    let (a, b) = std::os::unix::net::UnixStream::pair().map_err(|e| SandboxError::Os {
        what: "create stdio socket pair",
        source: e,
    })?;
    Ok((above_stdio(a.into())?, above_stdio(b.into())?))
}

pub(crate) fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, SandboxError> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(SandboxError::os("dup descriptor"))
}

/// Wait for a prepared sandbox's init to report its root built.
pub(crate) fn wait_ready(report: &OwnedFd) -> Result<(), SandboxError> {
    let mut fds = [rustix::event::PollFd::new(report, rustix::event::PollFlags::IN)];
    let ts = rustix::event::Timespec::try_from(READY_TIMEOUT).ok();
    loop {
        match rustix::event::poll(&mut fds, ts.as_ref()) {
            Ok(0) => {
                return Err(SandboxError::Os {
                    what: "wait for the prepared sandbox",
                    source: std::io::Error::from(std::io::ErrorKind::TimedOut),
                })
            }
            Ok(_) => break,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(SandboxError::os("wait for the prepared sandbox")(e)),
        }
    }
    match read_report(report) {
        Some(r) if r.kind == child::REPORT_READY => Ok(()),
        Some(r) if r.kind == child::REPORT_SETUP_ERROR => Err(setup_error(&r)),
        _ => Err(SandboxError::Os {
            what: "wait for the prepared sandbox",
            source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
        }),
    }
}

pub(crate) fn read_report(fd: &OwnedFd) -> Option<Report> {
    let mut r = Report::default();
    // SAFETY: Report is plain old data of exactly this size.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut((&mut r as *mut Report).cast::<u8>(), std::mem::size_of::<Report>()) };
    match rustix::io::read(fd, bytes) {
        Ok(n) if n == std::mem::size_of::<Report>() => Some(r),
        _ => None,
    }
}

/// The error a setup failure report of the init stands for.
pub(crate) fn setup_error(r: &Report) -> SandboxError {
    SandboxError::Setup {
        step: SetupStep::from_u32(r.step).unwrap_or(SetupStep::WaitParent),
        source: std::io::Error::from_raw_os_error(r.errno),
    }
}
