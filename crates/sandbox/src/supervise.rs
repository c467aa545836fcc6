//! The parent side of a run: clone the child into its namespaces, map its uid, put it in its
//! cgroup, then watch it — output with a byte cap, wall clock, CPU from the cgroup, control
//! signals — and kill the whole tree on any limit.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::pipe::PipeFlags;

use crate::cgroup::{Cgroup, CgroupLimits, CgroupManager};
use crate::child::{self, ChildPlan, Report, INSIDE_ID};
use crate::cleanup::Cleanup;
use crate::config::{InputFile, Limits, Output, RunIo, RunSpec, Stdin, StreamKind};
use crate::error::{SandboxError, SetupStep};
use crate::launch::LaunchArea;
use crate::layout::{self, cstring};
use crate::result::{RunResult, Verdict};
use crate::Sandbox;

/// The PATH programs see, and where a bare `argv[0]` is looked up.
const INSIDE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// How often CPU use is read from the cgroup at most / at least while the program runs.
const CPU_POLL_MIN: Duration = Duration::from_millis(5);
const CPU_POLL_MAX: Duration = Duration::from_millis(100);
/// Read buffer for program output (a full pipe).
const READ_CHUNK_BYTES: usize = 64 * 1024;

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

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
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
fn stdio_pair(sb: &Sandbox) -> Result<(OwnedFd, OwnedFd), SandboxError> {
    if sb.privileged {
        return pipe();
    }
    let (a, b) = std::os::unix::net::UnixStream::pair().map_err(|e| SandboxError::Os {
        what: "create stdio socket pair",
        source: e,
    })?;
    Ok((above_stdio(a.into())?, above_stdio(b.into())?))
}

fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, SandboxError> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(SandboxError::os("dup descriptor"))
}

/// Why the supervisor ended the run early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillReason {
    Output,
    Wall,
    Cpu,
    Requested,
}

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
}

/// A sandbox from its clone until its program is watched: the init and the parent's ends of
/// every pipe. Dropping it kills the init and tears the sandbox down.
pub(crate) struct Started {
    pub outside_id: u32,
    pub pid: i32,
    pub cleanup: Cleanup,
    /// The go byte of a prepared sandbox.
    go: Option<OwnedFd>,
    report: OwnedFd,
    release: OwnedFd,
    control: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
    /// The program's stdin when the parent feeds it (a prepared sandbox, or bytes).
    stdin: Option<OwnedFd>,
    /// Bytes to feed a cold run's stdin.
    stdin_bytes: Vec<u8>,
    /// A cold run's stdin pipe from the caller, relayed (without root; see [`stdio_pair`]).
    stdin_relay: Option<OwnedFd>,
    /// A zygote's request pipe.
    request: Option<OwnedFd>,
    launch: LaunchArea,
    /// What the sandbox was made for: a prepared one runs only a spec with the same.
    pub limits: Limits,
    pub binds: Vec<PathBuf>,
    pub network: bool,
    pub zygote_env: Option<Vec<(String, String)>>,
    pub created: Instant,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("pid", &self.pid)
            .field("slot", &self.cleanup.slot)
            .finish()
    }
}

pub(crate) fn run(sb: &Sandbox, spec: &RunSpec, mut io: RunIo<'_>) -> Result<RunResult, SandboxError> {
    validate(spec)?;
    let stdin = std::mem::take(&mut io.stdin);
    let started = start(
        sb,
        StartSpec {
            limits: &spec.limits,
            binds: &spec.binds,
            network: spec.network,
            mode: StartMode::Now { spec },
            stdin,
        },
    )?;
    let begun = Instant::now();
    let mut started = started;
    let bytes = std::mem::take(&mut started.stdin_bytes);
    let feed = match started.stdin_relay.take() {
        Some(src) => StdinFeed::relay(started.stdin.take(), src)?,
        None => StdinFeed::bytes(started.stdin.take(), bytes)?,
    };
    finish(sb, started, spec, io, begun, feed)
}

/// Run `spec` in a prepared sandbox (or zygote) made by [`start`].
pub(crate) fn run_prepared(
    sb: &Sandbox,
    mut started: Started,
    spec: &RunSpec,
    mut io: RunIo<'_>,
) -> Result<RunResult, SandboxError> {
    validate(spec)?;
    if spec.limits != started.limits || spec.binds != started.binds || spec.network != started.network {
        return Err(SandboxError::InvalidSpec(
            "the prepared sandbox was made for other limits, binds or network".into(),
        ));
    }
    if let Some(env) = &started.zygote_env {
        if env != &spec.env {
            return Err(SandboxError::InvalidSpec(
                "the zygote was started with another environment".into(),
            ));
        }
    }
    let _span = tracing::debug_span!("sandbox", pid = started.pid).entered();
    wait_ready(&started.report)?;
    let (work_dirs, work_files) = layout::work_files(&spec.files)?;
    if sb.privileged {
        normal_priority(&started);
    }
    let owners = sb.privileged.then_some(crate::workdir::Owners {
        program: started.outside_id,
        root: sb.init_id(),
    });
    crate::workdir::write(started.pid, &work_dirs, &work_files, owners)?;
    match started.request.take() {
        Some(request) => {
            // The zygote reads NUL-terminated arguments up to EOF.
            let mut bytes = Vec::new();
            for arg in &spec.argv {
                bytes.extend_from_slice(arg.as_bytes());
                bytes.push(0);
            }
            write_all(&request, &bytes).map_err(SandboxError::os("send the zygote its run"))?;
        }
        None => {
            let argv_c: Vec<CString> = spec.argv.iter().map(cstring).collect::<Result<_, _>>()?;
            let env_c = environment(&spec.env)?;
            let candidates = exec_candidates(&spec.argv[0])?;
            let limits = rlimits(&spec.limits, sb.cgroups_enforced(), sb.privileged);
            started.launch.fill(&argv_c, &env_c, &candidates, &limits)?;
            let go = started.go.take().expect("a prepared sandbox has a go pipe");
            rustix::io::write(&go, &[1]).map_err(SandboxError::os("start the program"))?;
        }
    }
    let begun = Instant::now();
    // The instance's stdin pipe was made before the run was known: feed it from here.
    let feed = match std::mem::take(&mut io.stdin) {
        Stdin::Empty => {
            started.stdin = None; // EOF for the program
            None
        }
        Stdin::Bytes(bytes) => StdinFeed::bytes(started.stdin.take(), bytes)?,
        Stdin::Pipe(src) => StdinFeed::relay(started.stdin.take(), src)?,
    };
    finish(sb, started, spec, io, begun, feed)
}

/// Give an instance made in the background (see `Sandbox::make_instances_in_background`) the
/// normal priority for its run: the init and, through the cgroup's thread list, every thread of
/// a zygote's interpreter. Best effort: a thread that has just exited is no error.
fn normal_priority(started: &Started) {
    let renice = |tid: i32| {
        // SAFETY: setpriority on a host tid of this sandbox; the caller is root.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 0) };
    };
    renice(started.pid);
    if let Some(threads) = started.cleanup.cgroup.as_ref().and_then(|c| c.threads().ok()) {
        threads.into_iter().for_each(renice);
    }
}

/// Wait for a prepared sandbox's init to report its root built.
fn wait_ready(report: &OwnedFd) -> Result<(), SandboxError> {
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
        Some(r) if r.kind == child::REPORT_SETUP_ERROR => Err(SandboxError::Setup {
            step: SetupStep::from_u32(r.step).unwrap_or(SetupStep::WaitParent),
            source: std::io::Error::from_raw_os_error(r.errno),
        }),
        _ => Err(SandboxError::Os {
            what: "wait for the prepared sandbox",
            source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
        }),
    }
}

fn read_report(fd: &OwnedFd) -> Option<Report> {
    let mut r = Report::default();
    // SAFETY: Report is plain old data of exactly this size.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut((&mut r as *mut Report).cast::<u8>(), std::mem::size_of::<Report>()) };
    match rustix::io::read(fd, bytes) {
        Ok(n) if n == std::mem::size_of::<Report>() => Some(r),
        _ => None,
    }
}

/// Write all of `rest` (a pipe, a new file).
pub(crate) fn write_all(fd: &impl AsFd, mut rest: &[u8]) -> rustix::io::Result<()> {
    while !rest.is_empty() {
        match rustix::io::write(fd, rest) {
            Ok(0) => return Err(Errno::IO),
            Ok(n) => rest = &rest[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
        StartMode::Zygote { argv, env } => {
            if argv.is_empty() || argv[0].is_empty() {
                return Err(SandboxError::InvalidSpec("the zygote's argv is empty".into()));
            }
            let argv_c: Vec<CString> = argv.iter().map(cstring).collect::<Result<_, _>>()?;
            launch.fill(
                &argv_c,
                &environment(env)?,
                &exec_candidates(&argv[0])?,
                &rlimits(start.limits, sb.cgroups_enforced(), sb.privileged),
            )?;
            zygote_env = Some(env.to_vec());
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
        request: request_w,
        launch,
        limits: *start.limits,
        binds: start.binds.to_vec(),
        network: start.network,
        zygote_env,
        created: Instant::now(),
    })
}

/// Watch a started program to its end and make the result.
fn finish(
    sb: &Sandbox,
    started: Started,
    spec: &RunSpec,
    io: RunIo<'_>,
    begun: Instant,
    stdin: Option<StdinFeed>,
) -> Result<RunResult, SandboxError> {
    let Started {
        pid,
        cleanup,
        report,
        release,
        control,
        stdout,
        stderr,
        launch,
        go,
        request,
        ..
    } = started;
    // Allocated here and never zeroed: from the clone until the init exits, every page this
    // process writes is copied first (the init shares them copy-on-write), and a zeroed 64 KiB
    // buffer cost sixteen such copies (and a malloc_consolidate) per run. A read only touches
    // the pages it fills.
    let mut read_buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let RunIo {
        output,
        control: user_control,
        ..
    } = io;
    let mut watch = Watch {
        spec,
        cleanup: &cleanup,
        started: begun,
        output,
        stdout: Vec::new(),
        stderr: Vec::new(),
        output_bytes: 0,
        output_over: false,
        report: None,
        killed: None,
    };
    let watched = watch.run(report, stdout, stderr, stdin, user_control, control, &mut read_buf);
    drop((go, request));
    watched?;
    let wall = begun.elapsed();

    let files = match (&watch.report, spec.collect) {
        (Some(r), Some(limits)) if r.kind == child::REPORT_EXITED && watch.killed.is_none() => {
            crate::collect::collect(pid, limits).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "collecting build outputs failed");
                Vec::new()
            })
        }
        _ => Vec::new(),
    };
    // Every process of the program is dead: the measurements are final.
    let stats = match cleanup.cgroup.as_ref() {
        Some(c) => Some(c.stats()?),
        None => None,
    };
    let (report, killed, output_over) = (watch.report, watch.killed, watch.output_over);
    let (stdout, stderr) = (watch.stdout, watch.stderr);
    // Let the init exit and tear the rest down after the result is handed back.
    drop(release);
    drop(launch);
    sb.reaper.defer(cleanup);

    if let Some(r) = report.filter(|r| r.kind == child::REPORT_SETUP_ERROR) {
        let step = SetupStep::from_u32(r.step).unwrap_or(SetupStep::WaitParent);
        return Err(SandboxError::Setup {
            step,
            source: std::io::Error::from_raw_os_error(r.errno),
        });
    }
    let verdict = Verdict {
        limits: &spec.limits,
        report,
        output_over,
        killed_for_output: killed == Some(KillReason::Output),
        killed_for_wall: killed == Some(KillReason::Wall),
        killed_for_cpu: killed == Some(KillReason::Cpu),
        killed_on_request: killed == Some(KillReason::Requested),
        stats,
        wall,
    };
    let mut result = verdict.into_result()?;
    result.stdout = stdout;
    result.stderr = stderr;
    result.files = files;
    Ok(result)
}

/// Bytes on their way to the program's stdin: given up front, or relayed from the caller's
/// pipe (a prepared sandbox's stdin pipe was made before its run was known).
struct StdinFeed {
    dst: OwnedFd,
    pending: Vec<u8>,
    pos: usize,
    src: Option<OwnedFd>,
}

impl StdinFeed {
    fn bytes(dst: Option<OwnedFd>, bytes: Vec<u8>) -> Result<Option<StdinFeed>, SandboxError> {
        Ok(dst.filter(|_| !bytes.is_empty()).map(|dst| StdinFeed {
            dst,
            pending: bytes,
            pos: 0,
            src: None,
        }))
    }

    fn relay(dst: Option<OwnedFd>, src: OwnedFd) -> Result<Option<StdinFeed>, SandboxError> {
        rustix::io::ioctl_fionbio(&src, true).map_err(SandboxError::os("set stdin nonblocking"))?;
        Ok(dst.map(|dst| StdinFeed {
            dst,
            pending: Vec::new(),
            pos: 0,
            src: Some(src),
        }))
    }

    /// The descriptor to poll, and for what.
    fn poll_fd(&self) -> (&OwnedFd, rustix::event::PollFlags) {
        match &self.src {
            Some(src) if self.pos >= self.pending.len() => (src, rustix::event::PollFlags::IN),
            _ => (&self.dst, rustix::event::PollFlags::OUT),
        }
    }

    /// Move bytes on; false when the feed is over (EOF for the program).
    fn step(&mut self) -> bool {
        if self.pos >= self.pending.len() {
            let Some(src) = &self.src else { return false };
            self.pending.resize(STDIN_RELAY_BYTES, 0);
            match rustix::io::read(src, &mut self.pending) {
                Ok(0) => return false,
                Ok(n) => {
                    self.pending.truncate(n);
                    self.pos = 0;
                }
                Err(Errno::AGAIN) | Err(Errno::INTR) => {
                    self.pending.clear();
                    self.pos = 0;
                    return true;
                }
                Err(_) => return false,
            }
        }
        match rustix::io::write(&self.dst, &self.pending[self.pos..]) {
            Ok(n) => {
                self.pos += n;
                self.src.is_some() || self.pos < self.pending.len()
            }
            Err(Errno::AGAIN) | Err(Errno::INTR) => true,
            // EPIPE: the program closed stdin or ended; the rest is not wanted.
            Err(_) => false,
        }
    }
}

/// Most bytes relayed to a prepared sandbox's stdin at a time.
const STDIN_RELAY_BYTES: usize = 16 * 1024;

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

struct Watch<'s, 'o> {
    spec: &'s RunSpec,
    cleanup: &'s Cleanup,
    started: Instant,
    output: Output<'o>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    output_bytes: u64,
    /// More output came than the cap allows (the rest was dropped).
    output_over: bool,
    report: Option<Report>,
    killed: Option<KillReason>,
}

impl Watch<'_, '_> {
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        report: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
        mut stdin: Option<StdinFeed>,
        user_control: Option<crate::ControlReceiver>,
        control: OwnedFd,
        buf: &mut Vec<u8>,
    ) -> Result<(), SandboxError> {
        let limits = &self.spec.limits;
        let wall_deadline = self.started + Duration::from_millis(limits.wall_ms);
        let cpu_limit_ns = limits.cpu_ms.saturating_mul(1_000_000);
        let mut open_out = [Some(stdout), Some(stderr)];
        let mut report_fd = Some(report);
        let mut init_dead = false;
        let mut next_cpu_check = self.started;

        loop {
            let done_reading = open_out.iter().all(Option::is_none);
            if (self.report.is_some() || init_dead) && done_reading {
                return Ok(());
            }
            let now = Instant::now();
            if self.killed.is_none() && self.report.is_none() {
                if now >= wall_deadline {
                    self.kill(KillReason::Wall);
                    continue;
                }
                if now >= next_cpu_check {
                    if let Some(cg) = self.cleanup.cgroup.as_ref() {
                        let used = cg.cpu_usage_ns()?;
                        if used >= cpu_limit_ns {
                            self.kill(KillReason::Cpu);
                            continue;
                        }
                        let left = Duration::from_nanos((cpu_limit_ns - used) / 2);
                        next_cpu_check = now + left.clamp(CPU_POLL_MIN, CPU_POLL_MAX);
                    } else {
                        next_cpu_check = wall_deadline;
                    }
                }
            }
            let timeout = if self.killed.is_some() || self.report.is_some() {
                Duration::from_millis(100)
            } else {
                wall_deadline.min(next_cpu_check).saturating_duration_since(now)
            };

            let mut fds: Vec<rustix::event::PollFd<'_>> = Vec::with_capacity(6);
            let mut roles = Vec::with_capacity(6);
            if let Some(pidfd) = self.cleanup.init.as_ref().filter(|_| !init_dead) {
                fds.push(rustix::event::PollFd::new(pidfd, rustix::event::PollFlags::IN));
                roles.push(Role::Init);
            }
            if let Some(fd) = &report_fd {
                fds.push(rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN));
                roles.push(Role::Report);
            }
            for (i, fd) in open_out.iter().enumerate() {
                if let Some(fd) = fd {
                    fds.push(rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN));
                    roles.push(if i == 0 { Role::Stdout } else { Role::Stderr });
                }
            }
            if let Some(feed) = &stdin {
                let (fd, flags) = feed.poll_fd();
                fds.push(rustix::event::PollFd::new(fd, flags));
                roles.push(Role::Stdin);
            }
            let control_fd = user_control.as_ref().map(crate::ControlReceiver::fd);
            if let Some(fd) = &control_fd {
                fds.push(rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN));
                roles.push(Role::Control);
            }
            let ts = rustix::event::Timespec::try_from(timeout.max(Duration::from_millis(1))).ok();
            match rustix::event::poll(&mut fds, ts.as_ref()) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(e) => {
                    return Err(SandboxError::Os {
                        what: "poll the sandbox",
                        source: e.into(),
                    })
                }
            }
            let ready: Vec<(Role, bool)> = fds
                .iter()
                .zip(&roles)
                .map(|(f, r)| (*r, !f.revents().is_empty()))
                .collect();
            drop(fds);
            for (role, is_ready) in ready {
                if !is_ready {
                    continue;
                }
                match role {
                    Role::Init => init_dead = true,
                    Role::Report => {
                        let fd = report_fd.take().expect("polled report fd exists");
                        self.report = read_report(&fd);
                    }
                    Role::Stdout | Role::Stderr => {
                        let i = if role == Role::Stdout { 0 } else { 1 };
                        let Some(fd) = &open_out[i] else { continue };
                        // `buf` stays empty: its capacity is the (uninitialized) read buffer.
                        match rustix::io::read(fd, buf.spare_capacity_mut()) {
                            Ok(([], _)) => open_out[i] = None,
                            Ok((chunk, _)) => self.take_output(role, chunk),
                            Err(Errno::INTR) | Err(Errno::AGAIN) => {}
                            Err(_) => open_out[i] = None,
                        }
                    }
                    Role::Stdin => {
                        if let Some(feed) = &mut stdin {
                            if !feed.step() {
                                stdin = None; // EOF for the program
                            }
                        }
                    }
                    Role::Control => {
                        let Some(receiver) = &user_control else { continue };
                        for sig in crate::control::signals(receiver.take()) {
                            if sig == libc::SIGKILL {
                                self.kill(KillReason::Requested);
                            } else {
                                // Non-blocking: an init that no longer reads (its program has
                                // ended) costs the signal, never the supervisor's attention.
                                let _ = rustix::io::write(&control, &sig.to_ne_bytes());
                            }
                        }
                    }
                }
            }
        }
    }

    fn take_output(&mut self, role: Role, chunk: &[u8]) {
        let cap = self.spec.limits.max_output_bytes;
        let room = cap.saturating_sub(self.output_bytes) as usize;
        let kept = &chunk[..chunk.len().min(room)];
        self.output_bytes += kept.len() as u64;
        let kind = if role == Role::Stdout {
            StreamKind::Stdout
        } else {
            StreamKind::Stderr
        };
        match &mut self.output {
            Output::Capture => {
                let buf = if kind == StreamKind::Stdout {
                    &mut self.stdout
                } else {
                    &mut self.stderr
                };
                buf.extend_from_slice(kept);
            }
            Output::Stream(f) => {
                if !kept.is_empty() {
                    f(kind, kept)
                }
            }
        }
        if kept.len() < chunk.len() {
            // Over the cap, even if the program has already exited with bytes still in the pipe.
            self.output_over = true;
            if self.killed.is_none() && self.report.is_none() {
                self.kill(KillReason::Output);
            }
        }
    }

    fn kill(&mut self, why: KillReason) {
        if self.killed.is_none() {
            self.killed = Some(why);
        }
        self.cleanup.kill();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Init,
    Report,
    Stdout,
    Stderr,
    Stdin,
    Control,
}

fn validate(spec: &RunSpec) -> Result<(), SandboxError> {
    use crate::config::{MAX_WALL_MS, MIN_MEMORY_BYTES, MIN_OPEN_FILES, MIN_PROCESSES};
    let bad = |m: String| Err(SandboxError::InvalidSpec(m));
    let l = &spec.limits;
    if spec.argv.is_empty() || spec.argv[0].is_empty() {
        return bad("argv is empty".into());
    }
    if l.wall_ms == 0 || l.wall_ms > MAX_WALL_MS {
        return bad(format!("wall_ms {} is outside 1..={MAX_WALL_MS}", l.wall_ms));
    }
    if l.cpu_ms == 0 {
        return bad("cpu_ms must be at least 1".into());
    }
    if l.memory_bytes < MIN_MEMORY_BYTES {
        return bad(format!(
            "memory {} bytes is below the minimum of {MIN_MEMORY_BYTES}",
            l.memory_bytes
        ));
    }
    if l.max_processes < MIN_PROCESSES {
        return bad(format!(
            "max_processes {} is below the minimum of {MIN_PROCESSES}",
            l.max_processes
        ));
    }
    if l.max_open_files < MIN_OPEN_FILES {
        return bad(format!(
            "max_open_files {} is below the minimum of {MIN_OPEN_FILES}",
            l.max_open_files
        ));
    }
    if l.tmpfs_bytes < 4096 || l.tmpfs_inodes < 16 {
        return bad("tmpfs must allow at least 4096 bytes and 16 inodes".into());
    }
    Ok(())
}

fn exec_candidates(argv0: &str) -> Result<Vec<CString>, SandboxError> {
    if argv0.contains('/') {
        return Ok(vec![cstring(argv0)?]);
    }
    INSIDE_PATH
        .split(':')
        .map(|dir| cstring(format!("{dir}/{argv0}")))
        .collect()
}

fn environment(extra: &[(String, String)]) -> Result<Vec<CString>, SandboxError> {
    let mut env: Vec<(String, String)> = [
        ("PATH", INSIDE_PATH),
        ("HOME", "/work"),
        ("TMPDIR", "/tmp"),
        ("LANG", "C.UTF-8"),
        ("USER", "runner"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        if k.is_empty() || k.contains('=') {
            return Err(SandboxError::InvalidSpec(format!(
                "environment name {k:?} is not valid"
            )));
        }
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v.clone()));
    }
    env.into_iter().map(|(k, v)| cstring(format!("{k}={v}"))).collect()
}

/// RLIMIT_CORE of a program, in bytes. Not 0: a `core_pattern` that pipes to a helper
/// (Ubuntu's apport, systemd-coredump) ignores a zero limit and starts that helper as the host's
/// root on every crash, outside the sandbox. At exactly 1 the kernel refuses to start it (the
/// value it gives its own helpers, to stop recursive dumps), and a core file needs at least a
/// page, so none is written either. seccomp keeps the program from changing it.
pub(crate) const CORE_LIMIT_BYTES: u64 = 1;
/// RLIMIT_MEMLOCK: what the kernel gave unprivileged users before 5.16; locked pages are
/// charged to the run's memory cgroup anyway, but none of the runtimes locks memory.
pub(crate) const MEMLOCK_LIMIT_BYTES: u64 = 64 << 10;
/// RLIMIT_SIGPENDING: queued signals of the program's uid. They are counted up the user
/// namespaces, so every run's also count against the host root's own limit (the namespaces
/// are made by root): each run gets a small share. Enough for programs that queue real-time
/// signals to themselves.
pub(crate) const SIGPENDING_LIMIT: u64 = 256;

fn rlimits(l: &Limits, cgroup_enforced: bool, privileged: bool) -> Vec<(u32, u64, u64)> {
    // RLIMIT_CPU counts per process in whole seconds: a backstop one second past the limit,
    // the cgroup is the exact check.
    let cpu_s = l.cpu_ms.div_ceil(1000) + 1;
    // Soft and hard alike: raising a hard limit needs CAP_SYS_RESOURCE in the host's user
    // namespace, which no program has, so these hold whatever the server inherited.
    let mut v = vec![
        (libc::RLIMIT_CORE, CORE_LIMIT_BYTES, CORE_LIMIT_BYTES),
        (libc::RLIMIT_FSIZE, l.max_file_size_bytes, l.max_file_size_bytes),
        (libc::RLIMIT_NOFILE, l.max_open_files, l.max_open_files),
        (libc::RLIMIT_STACK, l.stack_bytes, l.stack_bytes),
        (libc::RLIMIT_CPU, cpu_s, cpu_s + 1),
        // Message queues are per user namespace owner; a student needs none.
        (libc::RLIMIT_MSGQUEUE, 0, 0),
        // No real-time scheduling (SCHED_FIFO/SCHED_RR need a non-zero RLIMIT_RTPRIO without
        // CAP_SYS_NICE): one spinning real-time thread would starve the node.
        (libc::RLIMIT_RTPRIO, 0, 0),
        // No raising of its priority above the one it starts with (nice values below 20 - 0).
        (libc::RLIMIT_NICE, 0, 0),
        (libc::RLIMIT_MEMLOCK, MEMLOCK_LIMIT_BYTES, MEMLOCK_LIMIT_BYTES),
        (libc::RLIMIT_SIGPENDING, SIGPENDING_LIMIT, SIGPENDING_LIMIT),
    ];
    if !cgroup_enforced && privileged {
        // Without a pids cgroup, the slot's own uid makes RLIMIT_NPROC a per-run bound.
        v.push((libc::RLIMIT_NPROC, l.max_processes, l.max_processes));
    }
    // The resource type is u32 on glibc and i32 on musl.
    #[allow(clippy::unnecessary_cast)]
    v.into_iter().map(|(r, s, h)| (r as u32, s, h)).collect()
}
