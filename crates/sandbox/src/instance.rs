//! Prepared sandboxes: cloned, rooted and in their cgroup before their run is known, so a run
//! only has to write its files and say go. A zygote is a prepared sandbox whose interpreter
//! has already started and waits for the name of its program.
//!
//! An instance serves exactly one run and is torn down after it, like any sandbox: nothing of
//! one run (files, processes, memory, namespaces, cgroup) is ever seen by another.

use std::path::PathBuf;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};

use crate::cleanup::Reaper;
use crate::config::{Limits, RunIo, RunSpec, Stdin};
use crate::error::SandboxError;
use crate::result::RunResult;
use crate::start::{self, StartMode, StartSpec, Started};
use crate::supervise;
use crate::Sandbox;

/// What a prepared sandbox is made for. A run uses it only with exactly these limits, binds
/// and network setting (they shape its root, its tmpfs and its cgroup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    pub limits: Limits,
    pub binds: Vec<PathBuf>,
    pub network: bool,
    pub zygote: Option<ZygoteSpec>,
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
        let Some(pidfd) = self.started.as_ref().and_then(|s| s.cleanup.init.as_ref()) else {
            return false;
        };
        let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
        let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
        // A pidfd is readable once the process has exited.
        !matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
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

    /// Run `spec` in a prepared sandbox. The spec's limits, binds and network must be the
    /// instance's; for a zygote, `spec.argv` is what the zygote receives and `spec.env` must
    /// be the zygote's.
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
