//! Fork servers: one interpreter start serves many runs, and nothing passes between them.
//!
//! A fork server is an interpreter (the runtime file's `warm.fork_server` program) started once
//! in a sandbox of its own, like a zygote, except that it keeps the root of that sandbox's user
//! namespace (an unprivileged host id; see `child.rs`) and no seccomp filter. It initialises
//! itself and then waits on descriptor 3, a `SOCK_SEQPACKET` socket. It never runs a student's
//! code: it forks the next run's child *ahead*, at start and again as soon as it has handed
//! a run to the child made for it, while it holds no run's descriptors, and that child gives
//! itself everything a cold sandbox gets before it learns anything of a run:
//!
//! 1. the child (non-dumpable) is pid 1 of a new pid namespace, the run's *init*, made in one
//!    fork: cloned straight into new mount, pid, ipc, uts and network namespaces (Perl's), or
//!    forked after the fork server `unshare`d a pid namespace for its next child (and set its
//!    own back after), then `unshare`ing the other four itself (Python's). The fork server
//!    ignores SIGCHLD: the kernel reaps each init;
//! 2. the init mounts the run's own tmpfs on `/work` and `/tmp` (the size and inode limits the
//!    fork server was made with), a fresh `/proc` (`hidepid`), brings the loopback up, and
//!    waits on a socket of its own (the fork server keeps the other end) for its run; one that
//!    ends while it waits is replaced. A request (`R`, below) is passed to it as it came, with
//!    its descriptors, and the fork server closes its copies before it forks the next child.
//!    Only then does the init send the supervisor, on the run's socket, a pidfd of itself with
//!    READY (or the error of a step above, as a setup-error report);
//! 3. the supervisor moves the init into the run's own cgroup (memory, pids, CPU: made for this
//!    run), raises it to the normal priority, writes the run's files into its `/work` (through
//!    `/proc/<init>/root`, as for a prepared sandbox), and sends go;
//! 4. the init enters a new cgroup namespace and forks the program: new session, the run's
//!    stdio, every other descriptor closed, the run's rlimits (soft = hard), an empty bounding
//!    set, uid and gid 1000 (no capabilities left), `no_new_privs`, the seccomp filter the
//!    supervisor gave the fork server (the one every run gets, as bytes), and only then the
//!    run's program, as the zygote would run it;
//! 5. the init forwards control signals, and when the program ends kills everything left in
//!    the namespace, reports the wait status (the same [`Report`](crate::child::Report) a cold
//!    init sends) and exits when the supervisor closes the socket.
//!
//! The process that holds capabilities (the fork server, the run's init) is never the
//! student's: the program is a fork of the init made after the init's last privileged act,
//! and it drops everything before a line of the run's code. A fork server serves one run at a
//! time, so two runs at once never share its slot's host uid or `/dev` (the isolation between
//! concurrent runs is the one of cold sandboxes); what follows a run on the same fork server
//! finds none of its processes (its pid namespace ended with its init), files (its tmpfs went
//! with its mount namespace), IPC objects, sockets or hostname (their namespaces too).
//! The child made ahead for the next run exists while a run runs, but in namespaces of its own
//! (the run cannot see its pid or reach its `/work`), non-dumpable, and holding nothing of
//! that run (nor of any other).
//!
//! What a run shares with the other runs of its fork server is the fork server's memory as it
//! was before any run (its address-space layout, the interpreter's str hash seed, what it
//! imported); pages it writes are its own (copy-on-write) and charged to its cgroup (pages it
//! only reads stay charged to the fork server's). A fork server is replaced after a bounded
//! number of runs or seconds (the engine's), so that layout has a short life.
//!
//! The protocol on descriptor 3 (all integers native-endian):
//! - supervisor → server, once: `I`, u32 length, the tmpfs mount options, then the seccomp
//!   program (8-byte `sock_filter`s to the end);
//! - supervisor → server, per run: `R`, u32 count, count × (u32 resource, u64 soft, u64 hard),
//!   then the program's argv as NUL-terminated strings; with it (`SCM_RIGHTS`) the run's
//!   socket, stdin, stdout, stderr and control descriptors; server → the child made ahead,
//!   on that child's own socket: the same message and descriptors, once (end of file instead
//!   when the fork server ends);
//! - run's init → supervisor, on the run's socket: `READY` with a pidfd of itself, or a setup
//!   error [`Report`](crate::child::Report); after `G`, the exit report; then it waits for end of file.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;

use crate::cgroup::{CgroupLimits, CgroupManager};
use crate::child::{self, Report};
use crate::cleanup::{Cleanup, Reaper};
use crate::config::{RunIo, RunSpec, Stdin};
use crate::error::{SandboxError, Unfit};
use crate::instance::{fixed_limits_match, InstanceSpec};
use crate::launch::{rlimits, LaunchArea};
use crate::layout::{self, tmpfs_options};
use crate::result::RunResult;
use crate::start::{self, above_stdio, setup_error, wait_ready, StartMode, StartSpec, Started};
use crate::validate::validate;
use crate::watch::{finish, StdinFeed};
use crate::Sandbox;

/// How long a forked run may take to report its namespaces and mounts ready. Generous: it is
/// a few milliseconds, but a loaded node may make it wait for the CPU.
const FORK_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Descriptors sent with a run: its socket, stdin, stdout, stderr, control.
const RUN_FDS: usize = 5;

/// A `SOCK_SEQPACKET` pair (close-on-exec, above the stdio numbers).
pub(crate) fn socket_pair() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let mut fds = [-1 as RawFd; 2];
    // SAFETY: socketpair fills the two descriptors, which nothing else owns.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(SandboxError::Os {
            what: "create a fork server socket pair",
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: both were just created and are owned here only.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((above_stdio(a)?, above_stdio(b)?))
}

/// Send one message (with `fds` as `SCM_RIGHTS`, if any) on a `SOCK_SEQPACKET` socket, without
/// blocking and without SIGPIPE. (Written on libc: rustix's `net` feature would rebuild the
/// workspace's dependency tree for three calls.)
fn send(socket: &OwnedFd, data: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    let mut space = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: a zeroed msghdr is valid; every pointer set below points at live locals.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let bytes = std::mem::size_of_val(fds);
        // SAFETY: CMSG_SPACE is arithmetic.
        let needed = unsafe { libc::CMSG_SPACE(bytes as u32) } as usize;
        assert!(
            needed <= std::mem::size_of_val(&space),
            "room for {} descriptors",
            fds.len()
        );
        msg.msg_control = space.as_mut_ptr().cast();
        msg.msg_controllen = needed;
        // SAFETY: the control buffer is large enough (checked above) and aligned for cmsghdr
        // (u64s); CMSG_FIRSTHDR/CMSG_DATA point inside it.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(bytes as u32) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), bytes);
        }
    }
    // SAFETY: sendmsg on a socket we own with the message built above.
    let n = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if n as usize != data.len() {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    Ok(())
}

/// Receive one message into `data` without blocking; returns its length and the first
/// descriptor sent with it (close-on-exec; any others are closed).
fn recv(socket: &OwnedFd, data: &mut [u8]) -> std::io::Result<(usize, Option<OwnedFd>)> {
    let mut space = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: a zeroed msghdr is valid; every pointer set below points at live locals.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&space);
    // SAFETY: recvmsg on a socket we own into the buffers above.
    let n = unsafe {
        libc::recvmsg(
            socket.as_raw_fd(),
            &mut msg,
            libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut first = None;
    // SAFETY: walking the control messages the kernel wrote into `space`, within
    // msg_controllen; each SCM_RIGHTS payload is an array of descriptors now ours.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let payload = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(cmsg);
                for i in 0..payload / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                    let fd = OwnedFd::from_raw_fd(fd);
                    if first.is_none() {
                        first = Some(fd);
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, first))
}

/// A fork server waiting for runs. Dropping it kills it (and any run it is serving); the
/// teardown is the reaper's.
#[derive(Debug)]
pub struct ForkServer {
    started: Option<Started>,
    socket: OwnedFd,
    spec: InstanceSpec,
    runs: u64,
    /// A send to it failed: it serves no more runs.
    broken: bool,
    reaper: Reaper,
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        if let Some(mut started) = self.started.take() {
            started.cleanup.kill();
            self.reaper.defer(std::mem::take(&mut started.cleanup));
        }
    }
}

impl ForkServer {
    /// Runs it has forked.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// How long ago it was started.
    pub fn age(&self) -> Duration {
        self.started.as_ref().map_or(Duration::MAX, |s| s.created.elapsed())
    }

    /// False once it (or its sandbox's init) has ended or stopped answering.
    pub fn alive(&self) -> bool {
        !self.broken
            && self
                .started
                .as_ref()
                .and_then(|s| s.cleanup.init.as_ref())
                .is_some_and(|pidfd| !exited(pidfd))
    }

    /// CPU time its own cgroup has used (the fork server, and each forked run until it was
    /// moved into its run's cgroup), for measurements; 0 without a cgroup.
    pub fn cpu_usage_ns(&self) -> u64 {
        self.started
            .as_ref()
            .and_then(|s| s.cleanup.cgroup.as_ref())
            .and_then(|c| c.cpu_usage_ns().ok())
            .unwrap_or(0)
    }

    /// What it (or a run's init, before its program) wrote to its stderr since last read, up
    /// to `max` bytes, without waiting: its own errors and warnings, for the log (read while
    /// it is idle too, so that a fork server that warns never fills the pipe and blocks).
    pub fn stderr(&self, max: usize) -> Vec<u8> {
        let mut out = vec![0u8; max];
        let Some(started) = self.started.as_ref() else {
            return Vec::new();
        };
        let _ = rustix::io::ioctl_fionbio(&started.stderr, true);
        let n = rustix::io::read(&started.stderr, &mut out).unwrap_or(0);
        out.truncate(n);
        out
    }

    /// The host pid of its sandbox's init (tests: the fork server itself is that init's child).
    pub fn init_pid(&self) -> i32 {
        self.started.as_ref().map_or(0, |s| s.pid)
    }

    /// Whether it can serve `spec`: what it was made with (binds, environment, tmpfs, stack no
    /// larger and the same open files, as for a zygote), no network, no read-only input files.
    /// Memory, processes, CPU, wall time and output are the run's own: its cgroup is made for
    /// it. Files a run leaves (`spec.collect`) are read as from a cold run: its init stays
    /// until the supervisor has them.
    pub fn serves(&self, spec: &RunSpec) -> bool {
        self.spec.forks(spec)
    }
}

impl InstanceSpec {
    /// Whether fork servers made for this spec serve `spec` ([`ForkServer::serves`]).
    pub fn forks(&self, spec: &RunSpec) -> bool {
        !spec.network
            && spec.files.iter().all(|f| !f.read_only)
            && self.binds == spec.binds
            && self.zygote.as_ref().is_some_and(|z| z.env == spec.env)
            && fixed_limits_match(&self.limits, &spec.limits, true)
    }
}

/// A run forked from a fork server, in its own namespaces and cgroup with its files written,
/// waiting for go ([`Sandbox::run_forked`]). Dropped unused, it is killed.
#[derive(Debug)]
pub struct Forked {
    started: Started,
    socket: OwnedFd,
}

impl Sandbox {
    /// Start a fork server for runs like `spec`: `spec.zygote` is its program and environment
    /// (a runtime file's `warm.fork_server`). Root only (without root the program and its
    /// init would share the one mapped id), and never with network.
    pub fn start_fork_server(&self, spec: &InstanceSpec) -> Result<ForkServer, SandboxError> {
        if !self.privileged {
            return Err(SandboxError::InvalidSpec("fork servers need root".into()));
        }
        if spec.network {
            return Err(SandboxError::InvalidSpec(
                "a fork server gives every run an empty network namespace".into(),
            ));
        }
        let program = spec
            .zygote
            .as_ref()
            .ok_or_else(|| SandboxError::InvalidSpec("a fork server needs its program".into()))?;
        let mut started = start::start(
            self,
            StartSpec {
                limits: &spec.limits,
                binds: &spec.binds,
                network: false,
                mode: StartMode::ForkServer {
                    argv: &program.argv,
                    env: &program.env,
                },
                stdin: Stdin::Empty,
            },
        )?;
        wait_ready(&started.report)?;
        started.ready = true;
        let socket = started.request.take().expect("a fork server has a socket");
        let options = tmpfs_options(&spec.limits);
        let mut init = Vec::with_capacity(5 + options.len() + self.seccomp.len() * 8);
        init.push(b'I');
        init.extend_from_slice(&(options.len() as u32).to_ne_bytes());
        init.extend_from_slice(options.as_bytes());
        for f in &self.seccomp {
            init.extend_from_slice(&f.code.to_ne_bytes());
            init.push(f.jt);
            init.push(f.jf);
            init.extend_from_slice(&f.k.to_ne_bytes());
        }
        send(&socket, &init, &[]).map_err(|e| SandboxError::Os {
            what: "start the fork server",
            source: e,
        })?;
        Ok(ForkServer {
            started: Some(started),
            socket,
            spec: spec.clone(),
            runs: 0,
            broken: false,
            reaper: self.reaper.clone(),
        })
    }

    /// Fork a run of `spec` from `server` (see the module's steps 1–3): on return it is in its
    /// own namespaces and cgroup, with the run's limits and files, and nothing of it has run.
    /// [`SandboxError::Unfit`] when the fork server cannot serve it (it has ended, or `spec`
    /// differs in what it fixed): the run may start otherwise.
    pub fn fork_run(&self, server: &mut ForkServer, spec: &RunSpec) -> Result<Forked, SandboxError> {
        validate(spec)?;
        if !server.serves(spec) {
            return Err(SandboxError::InvalidSpec(
                "the fork server was made for other binds, environment or fixed limits".into(),
            ));
        }
        if !server.alive() {
            return Err(Unfit::Gone.into());
        }
        let (outside_id, init_id) = (server.started.as_ref().map_or(0, |s| s.outside_id), self.init_id());
        let (work_dirs, work_files) = layout::work_files(&spec.files)?;
        let cgroup = self.cgroups.create(
            &crate::next_run_name(),
            &CgroupLimits {
                memory_bytes: spec.limits.memory_bytes,
                max_processes: spec.limits.max_processes,
            },
        )?;
        let mut cleanup = Cleanup {
            init: None,
            cgroup,
            slot: None,
        };
        let (out_r, out_w) = start::stdio_pair(self)?;
        let (err_r, err_w) = start::stdio_pair(self)?;
        let (in_r, in_w) = start::stdio_pair(self)?;
        rustix::io::ioctl_fionbio(&in_w, true).map_err(SandboxError::os("set stdin nonblocking"))?;
        let (control_r, control_w) = start::pipe()?;
        rustix::io::ioctl_fionbio(&control_w, true).map_err(SandboxError::os("set control nonblocking"))?;
        let (socket, theirs) = socket_pair()?;

        let mut request = vec![b'R'];
        let limits = rlimits(&spec.limits, self.cgroups_enforced(), self.privileged);
        request.extend_from_slice(&(limits.len() as u32).to_ne_bytes());
        for (resource, soft, hard) in &limits {
            request.extend_from_slice(&resource.to_ne_bytes());
            request.extend_from_slice(&soft.to_ne_bytes());
            request.extend_from_slice(&hard.to_ne_bytes());
        }
        for arg in &spec.argv {
            request.extend_from_slice(arg.as_bytes());
            request.push(0);
        }
        let fds: [RawFd; RUN_FDS] = [
            theirs.as_raw_fd(),
            in_r.as_raw_fd(),
            out_w.as_raw_fd(),
            err_w.as_raw_fd(),
            control_r.as_raw_fd(),
        ];
        if send(&server.socket, &request, &fds).is_err() {
            // Gone, or so far behind that its socket is full: either way it serves no more.
            server.broken = true;
            return Err(Unfit::Gone.into());
        }
        server.runs += 1;
        let stdin_id = crate::stdin_wait::file_id(&in_r);
        drop((theirs, in_r, out_w, err_w, control_r));

        let pidfd = wait_forked(&socket)?;
        let pid = pid_of(&pidfd)?;
        cleanup.init = Some(pidfd);
        if let Some(cgroup) = cleanup.cgroup.as_ref() {
            cgroup.add_task(pid)?;
        }
        // SAFETY: setpriority on the host pid of the run's init; the caller is root (a fork
        // server made in the background runs at its low priority, and so do its forks).
        unsafe { libc::setpriority(libc::PRIO_PROCESS, pid as libc::id_t, 0) };
        crate::workdir::write(
            pid,
            &work_dirs,
            &work_files,
            Some(crate::workdir::Owners {
                program: outside_id,
                root: init_id,
            }),
        )?;
        // The pidfd is the init's own (it sent it), so the pid was the init's while it lived;
        // alive now, it was alive for everything above.
        if cleanup.init.as_ref().is_none_or(exited) {
            return Err(SandboxError::Os {
                what: "fork a run",
                source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            });
        }
        let release = socket.try_clone().map_err(|e| SandboxError::Os {
            what: "keep the forked run's socket",
            source: e,
        })?;
        let started = Started {
            outside_id,
            pid,
            cleanup,
            go: None,
            report: socket,
            release,
            control: control_w,
            stdout: out_r,
            stderr: err_r,
            stdin: Some(in_w),
            stdin_bytes: Vec::new(),
            stdin_relay: None,
            stdin_id,
            request: None,
            launch: LaunchArea::new()?,
            limits: spec.limits,
            binds: spec.binds.clone(),
            network: false,
            zygote_env: None,
            zygote_rlimits: None,
            created: Instant::now(),
            ready: true,
        };
        let go = started.release.try_clone().map_err(|e| SandboxError::Os {
            what: "keep the forked run's socket",
            source: e,
        })?;
        Ok(Forked { started, socket: go })
    }

    /// Run a forked run to its end: say go, then watch it like any run (output caps, stdin,
    /// control signals, wall clock, CPU time of its cgroup).
    pub fn run_forked(&self, forked: Forked, spec: &RunSpec, mut io: RunIo<'_>) -> Result<RunResult, SandboxError> {
        let Forked { mut started, socket } = forked;
        if spec.limits != started.limits || spec.binds != started.binds {
            return Err(SandboxError::InvalidSpec(
                "the forked run was made for another spec".into(),
            ));
        }
        send(&socket, b"G", &[]).map_err(|e| SandboxError::Os {
            what: "start the forked run",
            source: e,
        })?;
        drop(socket);
        let begun = Instant::now();
        let feed = match std::mem::take(&mut io.stdin) {
            Stdin::Empty => {
                started.stdin = None;
                None
            }
            Stdin::Bytes(bytes) => StdinFeed::bytes(started.stdin.take(), bytes)?,
            Stdin::Pipe(src) => StdinFeed::relay(started.stdin.take(), src)?,
        };
        finish(self, started, spec, io, begun, feed)
    }
}

/// Wait for a forked run's READY and the pidfd of its init (or its setup error).
fn wait_forked(socket: &OwnedFd) -> Result<OwnedFd, SandboxError> {
    let mut fds = [PollFd::new(socket, PollFlags::IN)];
    let ts = Timespec::try_from(FORK_READY_TIMEOUT).ok();
    loop {
        match rustix::event::poll(&mut fds, ts.as_ref()) {
            Ok(0) => {
                return Err(SandboxError::Os {
                    what: "wait for the forked run",
                    source: std::io::Error::from(std::io::ErrorKind::TimedOut),
                })
            }
            Ok(_) => break,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(SandboxError::os("wait for the forked run")(e)),
        }
    }
    let mut data = [0u8; std::mem::size_of::<Report>()];
    let (n, pidfd) = recv(socket, &mut data).map_err(|e| SandboxError::Os {
        what: "read the forked run's report",
        source: e,
    })?;
    if n == std::mem::size_of::<Report>() {
        let report = read_report_bytes(&data);
        if report.kind == child::REPORT_SETUP_ERROR {
            return Err(setup_error(&report));
        }
    }
    match pidfd {
        Some(fd) if &data[..n] == b"READY" => Ok(fd),
        _ => Err(SandboxError::Os {
            what: "wait for the forked run",
            source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
        }),
    }
}

fn read_report_bytes(data: &[u8; std::mem::size_of::<Report>()]) -> Report {
    let mut r = Report::default();
    // SAFETY: Report is plain old data of exactly this size.
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), (&mut r as *mut Report).cast::<u8>(), data.len());
    }
    r
}

/// The host pid of the process a pidfd refers to (`Pid:` of its fdinfo; -1 once it ended).
fn pid_of(pidfd: &OwnedFd) -> Result<i32, SandboxError> {
    let info =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).map_err(|e| SandboxError::Os {
            what: "read the forked run's pid",
            source: e,
        })?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|&pid| pid > 0)
        .ok_or_else(|| SandboxError::Os {
            what: "read the forked run's pid",
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
}

/// Whether the process of a pidfd has ended (a pidfd is readable then).
fn exited(pidfd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
    matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}
