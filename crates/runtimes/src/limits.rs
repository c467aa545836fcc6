//! Per-phase resource limits: built-in defaults and maxima, overridable per runtime file.
//!
//! A runtime file may set any of the eight limits for `compile`, `run` (the defaults a request
//! gets when it asks for nothing) and `compile_max`, `run_max` (the most a request may ask for).
//! Whatever it leaves out falls back to the constants below.

use serde::{Deserialize, Serialize};

use crate::error::SpecError;

const MIB: u64 = 1024 * 1024;

// ---- run: defaults -------------------------------------------------------------------------

/// Piston's default run CPU time; a classroom exercise needs well under a second, 3 s leaves room
/// for slow interpreters and JIT warm-up.
pub const DEFAULT_RUN_CPU_MS: u64 = 3_000;
/// The CPU limit plus slack for start-up (JVM) and I/O; short enough that a forgotten `input()`
/// or `sleep` ends quickly. Interactive consoles ask for more, up to the maximum.
pub const DEFAULT_RUN_WALL_MS: u64 = 5_000;
/// The smallest "function size" that fits every interpreter here with room for student data
/// (Node's hello world peaks at about 60 MiB). The JVM needs more and says so in java.toml.
pub const DEFAULT_RUN_MEMORY_MIB: u64 = 256;
/// Counts threads too (pids cgroup): Node starts about 7, enough for small threading exercises,
/// and a fork bomb stops at once.
pub const DEFAULT_RUN_MAX_PROCESSES: u64 = 32;

// ---- compile: defaults ---------------------------------------------------------------------

/// Piston's default compile CPU time; g++ with the STL or rustc on a small program take < 1 s.
pub const DEFAULT_COMPILE_CPU_MS: u64 = 10_000;
/// Twice the CPU limit: compiler drivers wait on their subprocesses and the disk.
pub const DEFAULT_COMPILE_WALL_MS: u64 = 20_000;
/// cc1plus and rustc peak near 150 MiB on small programs; template-heavy C++ goes to hundreds.
pub const DEFAULT_COMPILE_MEMORY_MIB: u64 = 1024;
/// Compiler drivers fork cc1/as/collect2/ld, and rustc and javac run thread pools.
pub const DEFAULT_COMPILE_MAX_PROCESSES: u64 = 64;

// ---- both phases: defaults -----------------------------------------------------------------

/// Far beyond what a browser console shows usefully, while Piston's 1 KiB default was a
/// frequent complaint (#301, #465).
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = MIB;
/// The largest file a program may write (RLIMIT_FSIZE); compiled binaries (an unstripped Rust
/// hello world is 4 MiB) fit.
pub const DEFAULT_MAX_FILE_SIZE_BYTES: u64 = 16 * MIB;
/// RLIMIT_NOFILE: the JVM and Node open a few dozen files at start-up; students need a handful.
pub const DEFAULT_MAX_OPEN_FILES: u64 = 256;
/// Size of the work dir and /tmp tmpfs: sources, build products and scratch files.
pub const DEFAULT_TMPFS_MIB: u64 = 64;

// ---- maxima a request may ask for ----------------------------------------------------------

/// A long simulation or brute force in an exercise; beyond this a class needs a batch system.
pub const CEILING_RUN_CPU_MS: u64 = 20_000;
/// Interactive console sessions wait for a person typing.
pub const CEILING_RUN_WALL_MS: u64 = 60_000;
/// The largest "function size" offered, as on the cloud function services (up to 2-3 GB).
pub const CEILING_RUN_MEMORY_MIB: u64 = 2048;
/// Enough for thread-pool and multiprocessing exercises on a many-core host.
pub const CEILING_RUN_MAX_PROCESSES: u64 = 256;
/// Big-builds still finish in well under a minute of CPU.
pub const CEILING_COMPILE_CPU_MS: u64 = 30_000;
/// Twice the CPU ceiling, as for the defaults.
pub const CEILING_COMPILE_WALL_MS: u64 = 60_000;
/// rustc and g++ on large single files stay well under 2 GiB.
pub const CEILING_COMPILE_MEMORY_MIB: u64 = 2048;
/// Parallel compiler threads on a many-core host.
pub const CEILING_COMPILE_MAX_PROCESSES: u64 = 128;
/// Data-processing exercises that print whole tables.
pub const CEILING_MAX_OUTPUT_BYTES: u64 = 16 * MIB;
/// Programs that write a generated data file.
pub const CEILING_MAX_FILE_SIZE_BYTES: u64 = 64 * MIB;
/// Programs that open many files at once (a file-handling exercise), still far from exhausting
/// the host.
pub const CEILING_MAX_OPEN_FILES: u64 = 1024;
/// tmpfs counts against host memory; keep it a fraction of the memory ceiling.
pub const CEILING_TMPFS_MIB: u64 = 256;

/// Built-in run defaults.
pub const DEFAULT_RUN: LimitSet = LimitSet {
    cpu_ms: DEFAULT_RUN_CPU_MS,
    wall_ms: DEFAULT_RUN_WALL_MS,
    memory_mib: DEFAULT_RUN_MEMORY_MIB,
    max_processes: DEFAULT_RUN_MAX_PROCESSES,
    max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
    max_file_size_bytes: DEFAULT_MAX_FILE_SIZE_BYTES,
    max_open_files: DEFAULT_MAX_OPEN_FILES,
    tmpfs_mib: DEFAULT_TMPFS_MIB,
};

/// Built-in compile defaults.
pub const DEFAULT_COMPILE: LimitSet = LimitSet {
    cpu_ms: DEFAULT_COMPILE_CPU_MS,
    wall_ms: DEFAULT_COMPILE_WALL_MS,
    memory_mib: DEFAULT_COMPILE_MEMORY_MIB,
    max_processes: DEFAULT_COMPILE_MAX_PROCESSES,
    max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
    max_file_size_bytes: DEFAULT_MAX_FILE_SIZE_BYTES,
    max_open_files: DEFAULT_MAX_OPEN_FILES,
    tmpfs_mib: DEFAULT_TMPFS_MIB,
};

/// Built-in run maxima.
pub const CEILING_RUN: LimitSet = LimitSet {
    cpu_ms: CEILING_RUN_CPU_MS,
    wall_ms: CEILING_RUN_WALL_MS,
    memory_mib: CEILING_RUN_MEMORY_MIB,
    max_processes: CEILING_RUN_MAX_PROCESSES,
    max_output_bytes: CEILING_MAX_OUTPUT_BYTES,
    max_file_size_bytes: CEILING_MAX_FILE_SIZE_BYTES,
    max_open_files: CEILING_MAX_OPEN_FILES,
    tmpfs_mib: CEILING_TMPFS_MIB,
};

/// Built-in compile maxima.
pub const CEILING_COMPILE: LimitSet = LimitSet {
    cpu_ms: CEILING_COMPILE_CPU_MS,
    wall_ms: CEILING_COMPILE_WALL_MS,
    memory_mib: CEILING_COMPILE_MEMORY_MIB,
    max_processes: CEILING_COMPILE_MAX_PROCESSES,
    max_output_bytes: CEILING_MAX_OUTPUT_BYTES,
    max_file_size_bytes: CEILING_MAX_FILE_SIZE_BYTES,
    max_open_files: CEILING_MAX_OPEN_FILES,
    tmpfs_mib: CEILING_TMPFS_MIB,
};

/// One concrete value for every limit of a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LimitSet {
    /// CPU time, all processes of the tree together.
    pub cpu_ms: u64,
    /// Wall-clock time from start to exit.
    pub wall_ms: u64,
    /// Memory of the whole tree (cgroup), MiB.
    pub memory_mib: u64,
    /// Processes and threads (pids cgroup).
    pub max_processes: u64,
    /// Bytes kept from stdout and stderr together; one more ends the run with `output_limit`.
    pub max_output_bytes: u64,
    /// The largest file the program may write (RLIMIT_FSIZE).
    pub max_file_size_bytes: u64,
    /// Open file descriptors (RLIMIT_NOFILE).
    pub max_open_files: u64,
    /// Size of the work dir and /tmp tmpfs, MiB.
    pub tmpfs_mib: u64,
}

/// Defaults and maxima for one phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PhaseLimits {
    /// What a request gets when it asks for nothing.
    pub defaults: LimitSet,
    /// The most a request may ask for; more is the caller's mistake (4xx).
    pub max: LimitSet,
}

/// Limits of both phases of a runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// The compile step (compiled languages only).
    pub compile: PhaseLimits,
    /// The run step.
    pub run: PhaseLimits,
}

const LIMIT_NAMES: [&str; 8] = [
    "cpu_ms",
    "wall_ms",
    "memory_mib",
    "max_processes",
    "max_output_bytes",
    "max_file_size_bytes",
    "max_open_files",
    "tmpfs_mib",
];

impl LimitSet {
    fn to_array(self) -> [u64; 8] {
        [
            self.cpu_ms,
            self.wall_ms,
            self.memory_mib,
            self.max_processes,
            self.max_output_bytes,
            self.max_file_size_bytes,
            self.max_open_files,
            self.tmpfs_mib,
        ]
    }

    fn from_array(a: [u64; 8]) -> Self {
        let [cpu_ms, wall_ms, memory_mib, max_processes, max_output_bytes, max_file_size_bytes, max_open_files, tmpfs_mib] =
            a;
        Self {
            cpu_ms,
            wall_ms,
            memory_mib,
            max_processes,
            max_output_bytes,
            max_file_size_bytes,
            max_open_files,
            tmpfs_mib,
        }
    }
}

/// One `[limits.*]` table of a runtime file; every field optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitSpec {
    cpu_ms: Option<u64>,
    wall_ms: Option<u64>,
    #[serde(alias = "memory_mb")]
    memory_mib: Option<u64>,
    max_processes: Option<u64>,
    max_output_bytes: Option<u64>,
    max_file_size_bytes: Option<u64>,
    max_open_files: Option<u64>,
    #[serde(alias = "tmpfs_mb")]
    tmpfs_mib: Option<u64>,
}

impl LimitSpec {
    fn to_array(&self) -> [Option<u64>; 8] {
        [
            self.cpu_ms,
            self.wall_ms,
            self.memory_mib,
            self.max_processes,
            self.max_output_bytes,
            self.max_file_size_bytes,
            self.max_open_files,
            self.tmpfs_mib,
        ]
    }
}

/// The `[limits]` table of a runtime file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsSpec {
    #[serde(default)]
    compile: LimitSpec,
    #[serde(default)]
    run: LimitSpec,
    #[serde(default)]
    compile_max: LimitSpec,
    #[serde(default)]
    run_max: LimitSpec,
}

impl LimitsSpec {
    /// Fills every gap from the built-in constants and checks `0 < default <= max`.
    pub(crate) fn resolve(&self) -> Result<Limits, SpecError> {
        Ok(Limits {
            compile: resolve_phase(
                "compile",
                &self.compile,
                &self.compile_max,
                DEFAULT_COMPILE,
                CEILING_COMPILE,
            )?,
            run: resolve_phase("run", &self.run, &self.run_max, DEFAULT_RUN, CEILING_RUN)?,
        })
    }
}

fn resolve_phase(
    phase: &'static str,
    given: &LimitSpec,
    given_max: &LimitSpec,
    builtin: LimitSet,
    ceiling: LimitSet,
) -> Result<PhaseLimits, SpecError> {
    let given = given.to_array();
    let given_max = given_max.to_array();
    let builtin = builtin.to_array();
    let ceiling = ceiling.to_array();
    let mut defaults = [0u64; 8];
    let mut max = [0u64; 8];
    for i in 0..8 {
        let limit = LIMIT_NAMES[i];
        if given[i] == Some(0) {
            return Err(SpecError::ZeroLimit { phase, limit });
        }
        if given_max[i] == Some(0) {
            let phase = if phase == "run" { "run_max" } else { "compile_max" };
            return Err(SpecError::ZeroLimit { phase, limit });
        }
        max[i] = given_max[i].unwrap_or(ceiling[i]);
        defaults[i] = match given[i] {
            Some(value) if value > max[i] => {
                return Err(SpecError::AboveMax {
                    phase,
                    limit,
                    value,
                    max: max[i],
                });
            }
            Some(value) => value,
            // A maximum lowered below the built-in default lowers the default with it.
            None => builtin[i].min(max[i]),
        };
    }
    Ok(PhaseLimits {
        defaults: LimitSet::from_array(defaults),
        max: LimitSet::from_array(max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> LimitsSpec {
        toml::from_str(text).expect("test limits parse")
    }

    #[test]
    fn empty_limits_are_the_builtin_constants() {
        let limits = spec("").resolve().expect("valid");
        assert_eq!(limits.run.defaults, DEFAULT_RUN);
        assert_eq!(limits.run.max, CEILING_RUN);
        assert_eq!(limits.compile.defaults, DEFAULT_COMPILE);
        assert_eq!(limits.compile.max, CEILING_COMPILE);
    }

    #[test]
    fn given_values_override_and_mb_alias_is_accepted() {
        let limits = spec("[run]\nmemory_mb = 512\nmax_processes = 64\n[run_max]\ncpu_ms = 2000\n")
            .resolve()
            .expect("valid");
        assert_eq!(limits.run.defaults.memory_mib, 512);
        assert_eq!(limits.run.defaults.max_processes, 64);
        assert_eq!(limits.run.max.cpu_ms, 2000);
        // The built-in default (3000) is lowered to the given maximum.
        assert_eq!(limits.run.defaults.cpu_ms, 2000);
    }

    #[test]
    fn default_above_max_and_zero_are_rejected() {
        let err = spec("[run]\nmemory_mib = 4096\n").resolve().expect_err("above ceiling");
        assert!(
            matches!(
                err,
                SpecError::AboveMax {
                    limit: "memory_mib",
                    value: 4096,
                    max: 2048,
                    ..
                }
            ),
            "{err}"
        );
        let err = spec("[compile_max]\nwall_ms = 0\n").resolve().expect_err("zero");
        assert_eq!(err.to_string(), "limits.compile_max.wall_ms must be greater than zero");
    }

    #[test]
    fn unknown_limit_is_rejected() {
        assert!(toml::from_str::<LimitsSpec>("[run]\nmemory = 1\n").is_err());
    }
}
