//! Errors of the sandbox. A limit hit by the program is not an error (it is a [`crate::Status`]);
//! these are the cases where tiderun itself could not set up or supervise the run.

use crate::cgroup::CgroupError;

/// The step of the init's setup (or of the program's, before its exec) that failed; sent to
/// the parent over the report pipe. Not a stage of a job (compile, run): those are the engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum SetupStep {
    WaitParent = 1,
    CgroupNamespace,
    MountPrivate,
    MountRoot,
    MakeMountPoint,
    Bind,
    Remount,
    MountProc,
    MountDev,
    MountBox,
    WriteFile,
    PivotRoot,
    Hostname,
    Loopback,
    Signals,
    Fork,
    ProgramSetup,
    Exec,
}

impl SetupStep {
    pub(crate) fn from_u32(v: u32) -> Option<SetupStep> {
        use SetupStep::*;
        const ALL: [SetupStep; 18] = [
            WaitParent,
            CgroupNamespace,
            MountPrivate,
            MountRoot,
            MakeMountPoint,
            Bind,
            Remount,
            MountProc,
            MountDev,
            MountBox,
            WriteFile,
            PivotRoot,
            Hostname,
            Loopback,
            Signals,
            Fork,
            ProgramSetup,
            Exec,
        ];
        ALL.into_iter().find(|s| *s as u32 == v)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid run spec: {0}")]
    InvalidSpec(String),
    #[error("all {slots} sandbox slots are in use")]
    Busy { slots: u32 },
    #[error("seccomp: {what}: {detail}")]
    Seccomp { what: &'static str, detail: String },
    #[error("{what}")]
    Os {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("sandbox setup failed at {step:?}")]
    Setup {
        step: SetupStep,
        #[source]
        source: std::io::Error,
    },
    #[error("the sandbox init ended without a report")]
    NoReport,
    #[error("the prepared sandbox cannot take the run's limits: {0}")]
    Unfit(#[from] Unfit),
}

/// Why a prepared sandbox (or zygote) cannot be given a run's limits; the run starts cold
/// instead, and the instance is torn down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unfit {
    /// Its memory use since it was made already went past the run's memory limit.
    #[error("its memory peaked at {peak_bytes} bytes, more than the run's limit")]
    Memory { peak_bytes: u64 },
    /// It holds more processes and threads than the run's limit allows.
    #[error("it holds {tasks} processes and threads, more than the run's limit")]
    Tasks { tasks: u64 },
    /// A zygote without a cgroup: its interpreter cannot be found safely to set its rlimits.
    #[error("a zygote without a cgroup keeps the limits it was made for")]
    NoCgroup,
    /// A zygote's interpreter is no longer there.
    #[error("the zygote's interpreter has ended")]
    Gone,
}

impl SandboxError {
    pub(crate) fn os(what: &'static str) -> impl FnOnce(rustix::io::Errno) -> SandboxError {
        move |e| SandboxError::Os { what, source: e.into() }
    }
}
