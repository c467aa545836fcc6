//! One run from its spec to its result: check the spec (`validate.rs`), start a sandbox
//! (`start.rs`) or hand a prepared one its run, then watch the program to its end
//! (`watch.rs`).

use std::ffi::CString;
use std::os::fd::AsFd;
use std::time::Instant;

use rustix::io::Errno;

use crate::cgroup::CgroupManager;
use crate::config::{RunIo, RunSpec, Stdin};
use crate::error::SandboxError;
use crate::launch::{environment, exec_candidates, rlimits};
use crate::layout::{self, cstring};
use crate::result::RunResult;
use crate::start::{start, StartMode, StartSpec, Started};
use crate::validate::validate;
use crate::watch::{finish, StdinFeed};
use crate::Sandbox;

/// Run `spec` in a sandbox started for it.
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
    let _span = tracing::debug_span!("sandbox", pid = started.pid).entered();
    // The run's limits, unless the caller has already fitted the instance.
    crate::instance::fit(sb, &mut started, spec)?;
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
