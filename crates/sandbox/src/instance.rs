//! Prepared sandboxes: cloned, rooted and in their cgroup before their run is known, so a run
//! only has to write its files and say go. A zygote is a prepared sandbox whose interpreter
//! has already started and waits for the name of its program.
//!
//! An instance serves exactly one run and is torn down after it, like any sandbox: nothing of
//! one run (files, processes, memory, namespaces, cgroup) is ever seen by another.
//!
//! An instance is made for one set of limits, but serves a run with other limits wherever they
//! can still be set when the run takes it ([`fit`]), before anything of the run is inside:
//!
//! | limit | fixed when | how a run gets its own |
//! |---|---|---|
//! | tmpfs size and inodes (`/work`, `/tmp`) | made (mount options) | must be the same |
//! | memory, processes (cgroup) | made | written into the cgroup at take, if its use so far fits |
//! | rlimits (file size, CPU backstop, stack, open files...) of a prepared sandbox | go | the run's, in the launch mapping before go |
//! | rlimits of a zygote's interpreter | its exec, with no file size or CPU limit | the run's, set from the host (`prlimit`, lowering only) before its request; stack no larger, open files the same |
//! | CPU time, wall time, output | never: the supervisor's | per run (`watch.rs`) |

use std::path::PathBuf;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};

use crate::cgroup::{Cgroup, CgroupLimits, CgroupManager};
use crate::cleanup::Reaper;
use crate::config::{Limits, RunIo, RunSpec, Stdin};
use crate::error::{SandboxError, Unfit};
use crate::launch::rlimits;
use crate::result::RunResult;
use crate::start::{self, wait_ready, StartMode, StartSpec, Started};
use crate::supervise;
use crate::validate::{validate, validate_prepared};
use crate::Sandbox;

/// What a prepared sandbox is made for: its binds and network setting shape its root, and its
/// limits are the ones it holds until a run takes it (see [`InstanceSpec::serves`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    pub limits: Limits,
    pub binds: Vec<PathBuf>,
    pub network: bool,
    pub zygote: Option<ZygoteSpec>,
}

impl InstanceSpec {
    /// Whether an instance made for this spec can serve `spec`: the same binds, network and
    /// (a zygote) environment, and limits that differ only in what can still be set when the
    /// run takes it (see [`fixed_limits_match`]). Whether its use so far fits the run's memory
    /// and process limits is known only then ([`Sandbox::fit_prepared`]).
    pub fn serves(&self, spec: &RunSpec) -> bool {
        self.binds == spec.binds
            && self.network == spec.network
            && fixed_limits_match(&self.limits, &spec.limits, self.zygote.is_some())
            && self.zygote.as_ref().is_none_or(|z| z.env == spec.env)
    }
}

/// Whether the limits an instance fixed when it was made allow the run's: the size and inodes
/// of its `/work` and `/tmp` (options of tmpfs mounted then) must be the run's. A zygote's
/// interpreter has also started: the run's stack may be smaller than its (RLIMIT_STACK can be
/// lowered, and bounds the main thread's stack as it grows) but not larger (the kernel placed
/// the interpreter's memory mappings below a stack of that size), and its open files must be
/// the same (the interpreter already holds descriptors). Everything else a run may ask for
/// differently.
pub(crate) fn fixed_limits_match(made: &Limits, run: &Limits, zygote: bool) -> bool {
    made.tmpfs_bytes == run.tmpfs_bytes
        && made.tmpfs_inodes == run.tmpfs_inodes
        && (!zygote || (run.stack_bytes <= made.stack_bytes && made.max_open_files == run.max_open_files))
}

/// Give a prepared sandbox its run's limits, before anything of the run is in it: check what
/// was fixed when it was made ([`validate_prepared`]), wait until it is ready (a zygote: its
/// interpreter has exec'ed, so nothing of its own start-up sets its rlimits any more), write
/// the run's memory and process limits into its cgroup and, for a zygote, set the run's
/// rlimits on its interpreter, which waits with no file size or CPU time limit
/// ([`crate::launch::zygote_rlimits`]). A prepared sandbox without a zygote gets the run's
/// rlimits at go (`supervise::run_prepared`); CPU time, wall time and output are the
/// supervisor's, per run.
///
/// Nothing a run could use is ever looser than its limits: until the zygote's request is
/// written (or the go byte), no code of the run exists in the sandbox, only the trusted
/// interpreter waiting for it. From then on the program cannot raise a hard rlimit (that needs
/// `CAP_SYS_RESOURCE` in the host's user namespace) nor reach its cgroup (the host root's files,
/// outside its mount namespace).
pub(crate) fn fit(sb: &Sandbox, started: &mut Started, spec: &RunSpec) -> Result<(), SandboxError> {
    validate_prepared(spec, started)?;
    if !started.ready {
        wait_ready(&started.report)?;
        started.ready = true;
    }
    let (made, run) = (started.limits, spec.limits);
    let cgroup = started.cleanup.cgroup.as_ref();
    if let Some(cgroup) =
        cgroup.filter(|_| (made.memory_bytes, made.max_processes) != (run.memory_bytes, run.max_processes))
    {
        // What it used while it was made (a zygote: its interpreter's start-up) must fit the
        // run's limits, as it would have had to in a cold run.
        let peak_bytes = cgroup.stats()?.memory_peak_bytes;
        if peak_bytes > run.memory_bytes {
            return Err(Unfit::Memory { peak_bytes }.into());
        }
        let tasks = cgroup.threads()?.len() as u64;
        if tasks > run.max_processes {
            return Err(Unfit::Tasks { tasks }.into());
        }
        cgroup.apply(&CgroupLimits {
            memory_bytes: run.memory_bytes,
            max_processes: run.max_processes,
        })?;
    }
    if let Some(now) = &started.zygote_rlimits {
        let wanted = rlimits(&run, sb.cgroups_enforced(), sb.privileged);
        if *now != wanted {
            // Without a cgroup, the interpreter kept the instance's own (see `start`).
            let cgroup = cgroup.ok_or(Unfit::NoCgroup)?;
            set_interpreter_rlimits(cgroup, started.pid, &wanted)?;
            started.zygote_rlimits = Some(wanted);
        }
    }
    started.limits = run;
    Ok(())
}

/// Set `rlimits` (soft and hard) on every process of a zygote's cgroup but its init (host pid
/// `init`): the interpreter, idle until its request. From the host, with `prlimit`: the server
/// owns the sandbox's user namespace, so it may lower them (raising a hard one would need
/// `CAP_SYS_RESOURCE` in the host's user namespace, which it may not have: the interpreter
/// starts with the loosest, see [`crate::launch::zygote_rlimits`]), and an interpreter cannot
/// be asked to lower its own (Node has no setrlimit). A host pid can name another process once
/// its own has ended, so each is pinned first: a pidfd is opened on it, it is seen again in the
/// cgroup's list (so the pidfd is the process in the cgroup), and after `prlimit` the pidfd
/// shows that process still alive (so the pid was still its own when `prlimit` used it).
fn set_interpreter_rlimits(cgroup: &Cgroup, init: i32, rlimits: &[(u32, u64, u64)]) -> Result<(), SandboxError> {
    let programs: Vec<i32> = cgroup.processes()?.into_iter().filter(|&p| p != init).collect();
    if programs.is_empty() {
        return Err(Unfit::Gone.into());
    }
    for pid in programs {
        let raw = rustix::process::Pid::from_raw(pid).ok_or(Unfit::Gone)?;
        let pidfd = match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::SRCH) => return Err(Unfit::Gone.into()),
            Err(e) => return Err(SandboxError::os("open the zygote's pidfd")(e)),
        };
        if !cgroup.processes()?.contains(&pid) || exited(&pidfd) {
            return Err(Unfit::Gone.into());
        }
        for &(resource, soft, hard) in rlimits {
            let limit = libc::rlimit64 {
                rlim_cur: soft,
                rlim_max: hard,
            };
            // SAFETY: prlimit64 on a host pid with a valid new limit and no old one to fill.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_prlimit64,
                    pid,
                    resource,
                    &limit as *const libc::rlimit64,
                    std::ptr::null_mut::<libc::rlimit64>(),
                )
            };
            if r != 0 {
                return Err(SandboxError::Os {
                    what: "set the zygote's rlimits",
                    source: std::io::Error::last_os_error(),
                });
            }
        }
        if exited(&pidfd) {
            return Err(Unfit::Gone.into());
        }
    }
    Ok(())
}

/// Whether the process of a pidfd has ended (a pidfd is readable then).
fn exited(pidfd: &impl rustix::fd::AsFd) -> bool {
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
    matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}

/// A zygote: an interpreter started ahead of its run. It reads its run's argv from descriptor
/// 3 (NUL-terminated strings up to EOF) once the run's files are in `/work`, and then must
/// behave exactly as `argv` run cold would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZygoteSpec {
    pub argv: Vec<String>,
    /// The environment of the interpreter; a run must ask for the same.
    pub env: Vec<(String, String)>,
}

/// A prepared sandbox waiting for its one run. Dropping it unused kills it; the teardown is
/// the reaper's, like a finished run's (so [`Sandbox::wait_idle`] covers it).
#[derive(Debug)]
pub struct Instance {
    /// Taken by its run.
    started: Option<Started>,
    reaper: Reaper,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut started) = self.started.take() {
            started.cleanup.kill();
            self.reaper.defer(std::mem::take(&mut started.cleanup));
        }
    }
}

impl Instance {
    /// How long ago it was made.
    pub fn age(&self) -> Duration {
        self.started.as_ref().map_or(Duration::MAX, |s| s.created.elapsed())
    }

    /// False when its init (or its zygote's interpreter) has already ended: the instance is
    /// useless and is discarded.
    pub fn alive(&self) -> bool {
        self.started
            .as_ref()
            .and_then(|s| s.cleanup.init.as_ref())
            .is_some_and(|pidfd| !exited(pidfd))
    }
}

/// The nice value instances are made at (and a zygote's interpreter starts at), until their
/// run: warm-up work takes only CPU no run wants.
pub const BACKGROUND_NICE: i32 = 19;

impl Sandbox {
    /// Lower the calling thread to [`BACKGROUND_NICE`] if its instances can be raised again
    /// at their run (which needs root): the thread that makes instances calls this once.
    /// Everything it clones inherits the priority; [`Sandbox::run_prepared`] gives the run's
    /// processes and threads back the normal priority before the run starts.
    pub fn make_instances_in_background(&self) {
        if self.privileged {
            // SAFETY: setpriority on the calling thread (who = 0); raising one's own nice
            // value needs no privilege.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, BACKGROUND_NICE) };
        }
    }

    /// Make a prepared sandbox (or zygote) for `spec`. It holds one slot until used or dropped.
    pub fn prepare(&self, spec: &InstanceSpec) -> Result<Instance, SandboxError> {
        let mode = match &spec.zygote {
            Some(z) => StartMode::Zygote {
                argv: &z.argv,
                env: &z.env,
            },
            None => StartMode::OnGo,
        };
        let started = start::start(
            self,
            StartSpec {
                limits: &spec.limits,
                binds: &spec.binds,
                network: spec.network,
                mode,
                stdin: Stdin::Empty,
            },
        )?;
        Ok(Instance {
            started: Some(started),
            reaper: self.reaper.clone(),
        })
    }

    /// Give a prepared sandbox `spec`'s limits before its run (see [`InstanceSpec::serves`]
    /// for what must already be the same). On an error the instance is torn down and the run
    /// should start cold: [`SandboxError::Unfit`] when its use so far does not fit the run's
    /// limits. [`Sandbox::run_prepared`] does this itself; a caller that can still start the
    /// run cold calls it first.
    pub fn fit_prepared(&self, mut instance: Instance, spec: &RunSpec) -> Result<Instance, SandboxError> {
        validate(spec)?;
        let started = instance
            .started
            .as_mut()
            .ok_or_else(|| SandboxError::InvalidSpec("the prepared sandbox was already used".into()))?;
        fit(self, started, spec)?;
        Ok(instance)
    }

    /// Run `spec` in a prepared sandbox, given its limits first ([`Sandbox::fit_prepared`]).
    /// The spec's binds and network must be the instance's; for a zygote, `spec.argv` is what
    /// the zygote receives and `spec.env` must be the zygote's.
    pub fn run_prepared(
        &self,
        mut instance: Instance,
        spec: &RunSpec,
        io: RunIo<'_>,
    ) -> Result<RunResult, SandboxError> {
        let started = instance
            .started
            .take()
            .ok_or_else(|| SandboxError::InvalidSpec("the prepared sandbox was already used".into()))?;
        supervise::run_prepared(self, started, spec, io)
    }
}
