//! The checks a run spec passes before anything is made for it, and those a run passes before
//! it takes a prepared sandbox (made for its binds, network, environment and fixed limits).

use crate::config::RunSpec;
use crate::error::SandboxError;
use crate::start::Started;

/// A spec's own checks: an argv, and limits the sandbox can enforce.
pub(crate) fn validate(spec: &RunSpec) -> Result<(), SandboxError> {
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

/// A prepared sandbox (or zygote) runs only a spec whose binds, network and environment (a
/// zygote's) are the ones it was made with, and whose limits differ only in what can still be
/// set when its run starts (see [`crate::InstanceSpec::serves`]).
pub(crate) fn validate_prepared(spec: &RunSpec, started: &Started) -> Result<(), SandboxError> {
    let zygote = started.zygote_env.is_some();
    if spec.binds != started.binds
        || spec.network != started.network
        || !crate::instance::fixed_limits_match(&started.limits, &spec.limits, zygote)
    {
        return Err(SandboxError::InvalidSpec(
            "the prepared sandbox was made for other binds, network or fixed limits".into(),
        ));
    }
    if let Some(env) = &started.zygote_env {
        if env != &spec.env {
            return Err(SandboxError::InvalidSpec(
                "the zygote was started with another environment".into(),
            ));
        }
    }
    Ok(())
}
