//! What a job asks for, checked against the runtime's defaults and maxima; and the names of
//! every limit the engine checks ([`Limit`]), which an API words in its own vocabulary.

use runtimes::{LimitSet, PhaseLimits};

use crate::EngineError;

/// Which sandbox of a job: the compile (compiled languages only) or a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Compile,
    Run,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Compile => "compile",
            Phase::Run => "run",
        }
    }
}

/// Every limit the engine refuses a value of, with the phase it bounds where it bounds one.
/// An API words a refusal with an exhaustive `match` on it (its field name, its unit), so a new
/// limit cannot go unnamed in any dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// CPU time of the phase's whole process tree, milliseconds.
    CpuMs(Phase),
    /// Wall-clock time of the phase, milliseconds.
    WallMs(Phase),
    /// Memory of the phase's process tree, MiB.
    MemoryMb(Phase),
    /// Processes and threads of the phase.
    MaxProcesses(Phase),
    /// Bytes of stdout and stderr together.
    MaxOutputBytes(Phase),
    /// The largest file the phase may write, bytes.
    MaxFileSizeBytes(Phase),
    /// RLIMIT_STACK of the run, bytes.
    StackBytes,
    /// How long an interactive run may wait for input that was not sent, in total across all
    /// its waits, milliseconds ([`DEFAULT_INPUT_WAIT_MS`], at most [`MAX_INPUT_WAIT_MS`]).
    /// Waiting is not wall time, so a run lasts at most `wall_ms` plus this.
    InputWaitMs,
    /// Runs of one job ([`crate::MAX_RUNS`], Judge0's `number_of_runs`).
    Runs,
    /// The operator's output budget of one request ([`crate::RequestLimits::output_bytes`]).
    RequestOutputBytes,
    /// The operator's wall time of one request ([`crate::RequestLimits::wall`]), milliseconds.
    RequestWallMs,
    /// The operator's build cache size ([`crate::BuildCache::new`]), MiB.
    BuildCacheMb,
}

impl Limit {
    /// The phase it bounds, if it bounds one.
    pub fn phase(self) -> Option<Phase> {
        match self {
            Limit::CpuMs(p)
            | Limit::WallMs(p)
            | Limit::MemoryMb(p)
            | Limit::MaxProcesses(p)
            | Limit::MaxOutputBytes(p)
            | Limit::MaxFileSizeBytes(p) => Some(p),
            Limit::StackBytes | Limit::InputWaitMs => Some(Phase::Run),
            Limit::Runs | Limit::RequestOutputBytes | Limit::RequestWallMs | Limit::BuildCacheMb => None,
        }
    }

    /// The engine's own name: the native API's limit fields, the command line's flags and the
    /// operator's settings spell it so.
    pub fn name(self) -> &'static str {
        use Phase::{Compile, Run};
        match self {
            Limit::CpuMs(Run) => "cpu_ms",
            Limit::CpuMs(Compile) => "compile_cpu_ms",
            Limit::WallMs(Run) => "wall_ms",
            Limit::WallMs(Compile) => "compile_wall_ms",
            Limit::MemoryMb(Run) => "memory_mb",
            Limit::MemoryMb(Compile) => "compile_memory_mb",
            Limit::MaxProcesses(Run) => "max_processes",
            Limit::MaxProcesses(Compile) => "compile_max_processes",
            Limit::MaxOutputBytes(Run) => "max_output_bytes",
            Limit::MaxOutputBytes(Compile) => "compile_max_output_bytes",
            Limit::MaxFileSizeBytes(Run) => "max_file_size_bytes",
            Limit::MaxFileSizeBytes(Compile) => "compile_max_file_size_bytes",
            Limit::StackBytes => "stack_bytes",
            Limit::InputWaitMs => "input_wait_ms",
            Limit::Runs => "number_of_runs",
            Limit::RequestOutputBytes => "request_output_bytes",
            Limit::RequestWallMs => "request_wall_ms",
            Limit::BuildCacheMb => "build_cache_mb",
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which bound a refused value passed, in the limit's own unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Above the most allowed (the runtime's maximum, or the engine's).
    Max(u64),
    /// Below the least anything can start with.
    Min(u64),
    /// A run's wall time above what one whole request may take (the operator's
    /// [`crate::RequestLimits::wall`], its compile and runs together), milliseconds.
    RequestWall(u64),
}

impl Bound {
    /// The bound's value.
    pub fn value(self) -> u64 {
        match self {
            Bound::Max(v) | Bound::Min(v) | Bound::RequestWall(v) => v,
        }
    }

    /// True for a lower bound (the value was too small).
    pub fn is_min(self) -> bool {
        matches!(self, Bound::Min(_))
    }
}

/// The engine's wording of a refused limit (also the native API's and the command line's).
pub(crate) fn describe(limit: Limit, value: u64, bound: Bound) -> String {
    match bound {
        Bound::Max(max) => format!("{limit} = {value} is out of range (at most {max})"),
        Bound::Min(min) => format!("{limit} must be at least {min}"),
        Bound::RequestWall(ms) => format!(
            "{limit} = {value} is more than this server lets one request run ({ms} ms for its compile and runs together)"
        ),
    }
}

/// Limits one phase of a job asks for; `None` takes the runtime's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseRequest {
    pub cpu_ms: Option<u64>,
    pub wall_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub max_processes: Option<u64>,
    pub max_output_bytes: Option<u64>,
    pub max_file_size_bytes: Option<u64>,
}

/// Limits for both phases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitRequest {
    pub run: PhaseRequest,
    pub compile: PhaseRequest,
    /// RLIMIT_STACK of the run; at most its memory limit.
    pub stack_bytes: Option<u64>,
    /// An interactive run's waits for input, in total; see [`Limit::InputWaitMs`].
    pub input_wait_ms: Option<u64>,
}

/// The smallest stack a program can start with.
const MIN_STACK_BYTES: u64 = 64 << 10;

/// How long an interactive run may wait for the student's input, all its waits together: time
/// to read the questions, think and type; a program left waiting past it holds a run slot for
/// nobody. A total, not a limit per wait: a program (or client) that answers each wait just in
/// time would otherwise hold its slot for ever.
pub const DEFAULT_INPUT_WAIT_MS: u64 = 5 * 60 * 1000;
/// The longest a request may ask for: one class period (45 min) with the program open.
pub const MAX_INPUT_WAIT_MS: u64 = 45 * 60 * 1000;
/// The shortest: anything less cannot be told from the time between two looks (0.1 s).
const MIN_INPUT_WAIT_MS: u64 = 100;

impl LimitRequest {
    /// The run's stack limit: asked for (within 64 KiB and the memory limit) or the default.
    pub fn stack_bytes(&self, memory_mib: u64) -> Result<u64, EngineError> {
        pick(
            Limit::StackBytes,
            self.stack_bytes,
            crate::default_stack(memory_mib),
            memory_mib << 20,
            MIN_STACK_BYTES,
        )
    }

    /// An interactive run's input wait: asked for (within its bounds) or the default.
    pub fn input_wait_ms(&self) -> Result<u64, EngineError> {
        pick(
            Limit::InputWaitMs,
            self.input_wait_ms,
            DEFAULT_INPUT_WAIT_MS,
            MAX_INPUT_WAIT_MS,
            MIN_INPUT_WAIT_MS,
        )
    }
}

/// The smallest values a request may ask for: below these nothing starts, and the caller
/// should hear so instead of getting a confusing failure.
const MIN_CPU_MS: u64 = 1;
const MIN_WALL_MS: u64 = 1;
const MIN_MEMORY_MIB: u64 = sandbox::MIN_MEMORY_BYTES >> 20;
const MIN_PROCESSES: u64 = sandbox::MIN_PROCESSES;

impl PhaseRequest {
    /// Fill from the runtime's defaults and refuse anything past its maxima or below what
    /// can start; errors name the limit of `phase`.
    pub fn resolve(&self, limits: &PhaseLimits, phase: Phase) -> Result<LimitSet, EngineError> {
        let (d, m) = (&limits.defaults, &limits.max);
        Ok(LimitSet {
            cpu_ms: pick(Limit::CpuMs(phase), self.cpu_ms, d.cpu_ms, m.cpu_ms, MIN_CPU_MS)?,
            wall_ms: pick(Limit::WallMs(phase), self.wall_ms, d.wall_ms, m.wall_ms, MIN_WALL_MS)?,
            memory_mib: pick(
                Limit::MemoryMb(phase),
                self.memory_mib,
                d.memory_mib,
                m.memory_mib,
                MIN_MEMORY_MIB,
            )?,
            max_processes: pick(
                Limit::MaxProcesses(phase),
                self.max_processes,
                d.max_processes,
                m.max_processes,
                MIN_PROCESSES,
            )?,
            max_output_bytes: pick(
                Limit::MaxOutputBytes(phase),
                self.max_output_bytes,
                d.max_output_bytes,
                m.max_output_bytes,
                1,
            )?,
            max_file_size_bytes: pick(
                Limit::MaxFileSizeBytes(phase),
                self.max_file_size_bytes,
                d.max_file_size_bytes,
                m.max_file_size_bytes,
                1,
            )?,
            ..*d
        })
    }
}

/// The asked value within `min..=max`, or the default when nothing was asked.
fn pick(limit: Limit, asked: Option<u64>, default: u64, max: u64, min: u64) -> Result<u64, EngineError> {
    match asked {
        None => Ok(default),
        Some(value) if value > max => Err(EngineError::limit(limit, value, Bound::Max(max))),
        Some(value) if value < min => Err(EngineError::limit(limit, value, Bound::Min(min))),
        Some(value) => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase() -> PhaseLimits {
        let defaults = LimitSet {
            cpu_ms: 3000,
            wall_ms: 5000,
            memory_mib: 256,
            max_processes: 32,
            max_output_bytes: 1 << 20,
            max_file_size_bytes: 16 << 20,
            max_open_files: 256,
            tmpfs_mib: 64,
        };
        PhaseLimits {
            defaults,
            max: LimitSet {
                cpu_ms: 20_000,
                memory_mib: 2048,
                ..defaults
            },
        }
    }

    #[test]
    fn defaults_fill_what_is_not_asked() {
        let set = PhaseRequest::default().resolve(&phase(), Phase::Run).unwrap();
        assert_eq!(set, phase().defaults);
        let set = PhaseRequest {
            cpu_ms: Some(100),
            ..Default::default()
        }
        .resolve(&phase(), Phase::Run)
        .unwrap();
        assert_eq!(set.cpu_ms, 100);
    }

    #[test]
    fn past_the_maximum_is_refused_with_the_name() {
        let err = PhaseRequest {
            memory_mib: Some(4096),
            ..Default::default()
        }
        .resolve(&phase(), Phase::Run)
        .unwrap_err();
        assert_eq!(err.to_string(), "memory_mb = 4096 is out of range (at most 2048)");
        let err = PhaseRequest {
            cpu_ms: Some(0),
            ..Default::default()
        }
        .resolve(&phase(), Phase::Compile)
        .unwrap_err();
        assert_eq!(err.to_string(), "compile_cpu_ms must be at least 1");
        assert!(err.is_caller_mistake());
        assert!(matches!(
            err,
            EngineError::Limit {
                limit: Limit::CpuMs(Phase::Compile),
                value: 0,
                bound: Bound::Min(1),
            }
        ));
    }

    #[test]
    fn the_input_wait_has_a_default_and_bounds() {
        let asked = |ms| LimitRequest {
            input_wait_ms: ms,
            ..Default::default()
        };
        assert_eq!(asked(None).input_wait_ms().unwrap(), 300_000);
        assert_eq!(asked(Some(MAX_INPUT_WAIT_MS)).input_wait_ms().unwrap(), 2_700_000);
        let err = asked(Some(MAX_INPUT_WAIT_MS + 1)).input_wait_ms().unwrap_err();
        assert_eq!(
            err.to_string(),
            "input_wait_ms = 2700001 is out of range (at most 2700000)"
        );
        assert!(err.is_caller_mistake());
        assert!(asked(Some(0)).input_wait_ms().is_err());
    }

    #[test]
    fn every_limit_has_a_name_of_its_own() {
        let mut all = vec![
            Limit::StackBytes,
            Limit::InputWaitMs,
            Limit::Runs,
            Limit::RequestOutputBytes,
            Limit::RequestWallMs,
            Limit::BuildCacheMb,
        ];
        for phase in [Phase::Compile, Phase::Run] {
            all.extend([
                Limit::CpuMs(phase),
                Limit::WallMs(phase),
                Limit::MemoryMb(phase),
                Limit::MaxProcesses(phase),
                Limit::MaxOutputBytes(phase),
                Limit::MaxFileSizeBytes(phase),
            ]);
        }
        let names: std::collections::HashSet<&str> = all.iter().map(|l| l.name()).collect();
        assert_eq!(names.len(), all.len(), "{names:?}");
        assert_eq!(Limit::MemoryMb(Phase::Compile).phase(), Some(Phase::Compile));
        assert_eq!(Limit::StackBytes.phase(), Some(Phase::Run));
        assert_eq!(Limit::BuildCacheMb.phase(), None);
    }
}
