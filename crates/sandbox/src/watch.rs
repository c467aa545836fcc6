//! Watching a started program to its end: one poll loop over its output (a byte past the cap
//! kills the tree), its stdin feed, the caller's control signals, the wall clock and the CPU
//! time of its cgroup; then the measurements become the [`RunResult`].

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::io::Errno;

use crate::cgroup::CgroupManager;
use crate::child::{self, Report};
use crate::cleanup::Cleanup;
use crate::config::{Output, RunIo, RunSpec, StreamKind};
use crate::error::SandboxError;
use crate::result::{RunResult, Verdict};
use crate::start::{read_report, setup_error, Started};
use crate::Sandbox;

/// How often CPU use is read from the cgroup at most / at least while the program runs.
const CPU_POLL_MIN: Duration = Duration::from_millis(5);
const CPU_POLL_MAX: Duration = Duration::from_millis(100);
/// How often an interactive run is looked at for waiting for input: a wait shorter than this
/// may count as wall time, which is what the student cannot notice anyway.
const INPUT_POLL: Duration = Duration::from_millis(100);
/// CPU time a waiting program may use between two looks (a runtime's timer threads, the
/// interpreter's signal checks) and still count as waiting.
const WAITING_CPU_NS: u64 = 2_000_000;
/// Where the threads' state is read (see `stdin_wait.rs`).
const PROC: &str = "/proc";
/// Read buffer for program output (a full pipe).
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Why the supervisor ended the run early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillReason {
    Output,
    Wall,
    Cpu,
    InputWait,
    Requested,
}

/// Watch a started program to its end and make the result.
pub(crate) fn finish(
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
        stdin_id,
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
        waiting,
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
        waiting,
    };
    let watched = watch.run(
        report,
        stdout,
        stderr,
        stdin,
        stdin_id,
        user_control,
        control,
        &mut read_buf,
    );
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
        return Err(setup_error(&r));
    }
    let verdict = Verdict {
        limits: &spec.limits,
        report,
        output_over,
        killed_for_output: killed == Some(KillReason::Output),
        killed_for_wall: killed == Some(KillReason::Wall),
        killed_for_cpu: killed == Some(KillReason::Cpu),
        killed_for_input_wait: killed == Some(KillReason::InputWait),
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
    waiting: Option<&'o mut dyn FnMut(bool, Duration)>,
}

/// An interactive run's waits for input (see `stdin_wait.rs`): one budget for all of them.
struct InputWait {
    /// The run's budget of waiting, all waits together ([`crate::Limits::input_wait_ms`]).
    limit: Duration,
    /// Waited so far, all waits together: what was given back to the wall clock.
    used: Duration,
    /// The pipe the program reads its stdin from.
    stdin: crate::stdin_wait::FileId,
    next_check: Instant,
    last_check: Instant,
    last_cpu_ns: u64,
    /// Whether the program was waiting at the last look.
    waiting: bool,
}

impl Watch<'_, '_> {
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        report: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
        mut stdin: Option<StdinFeed>,
        stdin_id: Option<crate::stdin_wait::FileId>,
        user_control: Option<crate::ControlReceiver>,
        control: OwnedFd,
        buf: &mut Vec<u8>,
    ) -> Result<(), SandboxError> {
        let limits = &self.spec.limits;
        // Moved on by the time an interactive program spends waiting for input.
        let mut wall_deadline = self.started + Duration::from_millis(limits.wall_ms);
        let mut input_wait = match (limits.input_wait_ms, stdin_id, &self.cleanup.cgroup) {
            (Some(ms), Some(stdin), Some(_)) => Some(InputWait {
                limit: Duration::from_millis(ms),
                used: Duration::ZERO,
                stdin,
                next_check: self.started + INPUT_POLL,
                last_check: self.started,
                last_cpu_ns: 0,
                waiting: false,
            }),
            _ => None,
        };
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
                if let Some(wait) = input_wait.as_mut().filter(|w| now >= w.next_check) {
                    // Given to the program directly (no feed), or relayed with nothing held.
                    let idle = stdin.as_ref().is_none_or(StdinFeed::idle);
                    match self.check_input_wait(wait, now, idle)? {
                        Some(credit) => wall_deadline += credit,
                        None => {
                            self.kill(KillReason::InputWait);
                            continue;
                        }
                    }
                }
            }
            let timeout = if self.killed.is_some() || self.report.is_some() {
                Duration::from_millis(100)
            } else {
                let next = input_wait
                    .as_ref()
                    .map_or(next_cpu_check, |w| w.next_check.min(next_cpu_check));
                wall_deadline.min(next).saturating_duration_since(now)
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

    /// Look whether the program waits for input: the wall time to give back (the time since
    /// the last look, when it waited at both), or `None` when its waits together have used
    /// the whole budget. Only what is given back counts against the budget, so the run's
    /// elapsed time (wall time plus waits) never passes `wall_ms + input_wait_ms`: a program
    /// that alternates a moment of work with a wait cannot hold its slot for ever.
    fn check_input_wait(
        &mut self,
        wait: &mut InputWait,
        now: Instant,
        idle: bool,
    ) -> Result<Option<Duration>, SandboxError> {
        let cgroup = self
            .cleanup
            .cgroup
            .as_ref()
            .expect("input waits are watched with a cgroup");
        let cpu_ns = cgroup.cpu_usage_ns()?;
        let quiet = cpu_ns.saturating_sub(wait.last_cpu_ns) <= WAITING_CPU_NS;
        let waiting = idle
            && quiet
            && crate::stdin_wait::reading_stdin(std::path::Path::new(PROC), &cgroup.threads()?, wait.stdin);
        // The time since the last look is the program's own unless it waited at both looks.
        let credit = if waiting && wait.waiting {
            now.duration_since(wait.last_check)
        } else {
            Duration::ZERO
        };
        if wait.used + credit >= wait.limit {
            return Ok(None);
        }
        wait.used += credit;
        if waiting != wait.waiting {
            wait.waiting = waiting;
            if let Some(tell) = self.waiting.as_mut() {
                tell(waiting, wait.limit - wait.used);
            }
        }
        wait.last_cpu_ns = cpu_ns;
        wait.last_check = now;
        // While it waits, look again just in time for the end of the budget.
        let next = now + INPUT_POLL;
        wait.next_check = if waiting {
            next.min(now + (wait.limit - wait.used).max(Duration::from_millis(1)))
        } else {
            next
        };
        Ok(Some(credit))
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

/// Bytes on their way to the program's stdin: given up front, or relayed from the caller's
/// pipe (a prepared sandbox's stdin pipe was made before its run was known).
pub(crate) struct StdinFeed {
    dst: OwnedFd,
    pending: Vec<u8>,
    pos: usize,
    src: Option<OwnedFd>,
}

impl StdinFeed {
    pub(crate) fn bytes(dst: Option<OwnedFd>, bytes: Vec<u8>) -> Result<Option<StdinFeed>, SandboxError> {
        Ok(dst.filter(|_| !bytes.is_empty()).map(|dst| StdinFeed {
            dst,
            pending: bytes,
            pos: 0,
            src: None,
        }))
    }

    pub(crate) fn relay(dst: Option<OwnedFd>, src: OwnedFd) -> Result<Option<StdinFeed>, SandboxError> {
        rustix::io::ioctl_fionbio(&src, true).map_err(SandboxError::os("set stdin nonblocking"))?;
        Ok(dst.map(|dst| StdinFeed {
            dst,
            pending: Vec::new(),
            pos: 0,
            src: Some(src),
        }))
    }

    /// Nothing the caller sent is waiting to be written to the program.
    fn idle(&self) -> bool {
        self.pos >= self.pending.len()
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
