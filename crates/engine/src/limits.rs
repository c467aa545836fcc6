//! What a job asks for, checked against the runtime's defaults and maxima.

use runtimes::{LimitSet, PhaseLimits};

use crate::EngineError;

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
}

/// The smallest stack a program can start with.
const MIN_STACK_BYTES: u64 = 64 << 10;

impl LimitRequest {
    /// The run's stack limit: asked for (within 64 KiB and the memory limit) or the default.
    pub fn stack_bytes(&self, memory_mib: u64) -> Result<u64, EngineError> {
        pick(
            "stack_bytes",
            self.stack_bytes,
            crate::default_stack(memory_mib),
            memory_mib << 20,
            MIN_STACK_BYTES,
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
    /// Fill from the runtime's defaults and refuse anything past its maxima. `prefix` names
    /// the phase in errors (`compile_cpu_ms`).
    pub fn resolve(&self, phase: &PhaseLimits, prefix: &'static str) -> Result<LimitSet, EngineError> {
        let (d, m) = (&phase.defaults, &phase.max);
        let name = |run: &'static str, compile: &'static str| if prefix.is_empty() { run } else { compile };
        Ok(LimitSet {
            cpu_ms: pick(
                name("cpu_ms", "compile_cpu_ms"),
                self.cpu_ms,
                d.cpu_ms,
                m.cpu_ms,
                MIN_CPU_MS,
            )?,
            wall_ms: pick(
                name("wall_ms", "compile_wall_ms"),
                self.wall_ms,
                d.wall_ms,
                m.wall_ms,
                MIN_WALL_MS,
            )?,
            memory_mib: pick(
                name("memory_mb", "compile_memory_mb"),
                self.memory_mib,
                d.memory_mib,
                m.memory_mib,
                MIN_MEMORY_MIB,
            )?,
            max_processes: pick(
                name("max_processes", "compile_max_processes"),
                self.max_processes,
                d.max_processes,
                m.max_processes,
                MIN_PROCESSES,
            )?,
            max_output_bytes: pick(
                name("max_output_bytes", "compile_max_output_bytes"),
                self.max_output_bytes,
                d.max_output_bytes,
                m.max_output_bytes,
                1,
            )?,
            max_file_size_bytes: pick(
                name("max_file_size_bytes", "compile_max_file_size_bytes"),
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
fn pick(name: &'static str, asked: Option<u64>, default: u64, max: u64, min: u64) -> Result<u64, EngineError> {
    match asked {
        None => Ok(default),
        Some(value) if value > max => Err(EngineError::LimitOutOfRange { name, value, max }),
        Some(value) if value < min => Err(EngineError::LimitTooSmall { name, min }),
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
        let set = PhaseRequest::default().resolve(&phase(), "").unwrap();
        assert_eq!(set, phase().defaults);
        let set = PhaseRequest {
            cpu_ms: Some(100),
            ..Default::default()
        }
        .resolve(&phase(), "")
        .unwrap();
        assert_eq!(set.cpu_ms, 100);
    }

    #[test]
    fn past_the_maximum_is_refused_with_the_name() {
        let err = PhaseRequest {
            memory_mib: Some(4096),
            ..Default::default()
        }
        .resolve(&phase(), "")
        .unwrap_err();
        assert_eq!(err.to_string(), "memory_mb = 4096 is out of range (at most 2048)");
        let err = PhaseRequest {
            cpu_ms: Some(0),
            ..Default::default()
        }
        .resolve(&phase(), "compile_")
        .unwrap_err();
        assert_eq!(err.to_string(), "compile_cpu_ms must be at least 1");
        assert!(err.is_caller_mistake());
    }
}
