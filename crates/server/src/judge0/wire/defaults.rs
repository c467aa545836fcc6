//! The limits a Judge0 submission gets where it names none, and the most it may ask for, per
//! runtime — and, for `/config_info`, what every listed language accepts.
//!
//! CPU time, wall time and the largest file are Judge0 1.13.1's defaults (5 s, 10 s, 1024 KB:
//! its `CPU_TIME_LIMIT`, `WALL_TIME_LIMIT`, `MAX_FILE_SIZE`), lowered to what the runtime (and,
//! for the wall time, a whole request) allows. Memory, processes and the stack are the
//! runtime file's, which are tuned per language (the JVM needs 512 MiB and 64 threads); a
//! request may always ask for its runtime's own default, even where that is above Judge0's
//! range (Java's 524288 KB against Judge0's 512000).

use engine::{LimitRequest, RequestLimits};
use runtimes::{Catalog, LimitSet, Runtime, CEILING_RUN, DEFAULT_RUN};

use super::request::{
    MAX_CPU_TIME_LIMIT_S, MAX_MAX_FILE_SIZE_KB, MAX_MAX_PROCESSES_AND_OR_THREADS, MAX_MEMORY_LIMIT_KB,
    MAX_STACK_LIMIT_KB, MAX_WALL_TIME_LIMIT_S,
};

/// Judge0 1.13.1's `CPU_TIME_LIMIT`, seconds.
pub const DEFAULT_CPU_TIME_LIMIT_S: f64 = 5.0;
/// Judge0 1.13.1's `WALL_TIME_LIMIT`, seconds.
pub const DEFAULT_WALL_TIME_LIMIT_S: f64 = 10.0;
/// Judge0 1.13.1's `MAX_FILE_SIZE`, KB.
pub const DEFAULT_MAX_FILE_SIZE_KB: u64 = 1024;

/// A default and the most a request may ask, in Judge0's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range<T> {
    pub default: T,
    pub max: T,
}

/// Every limit field of a submission.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranges {
    /// Seconds.
    pub cpu_time_limit: Range<f64>,
    /// Seconds.
    pub wall_time_limit: Range<f64>,
    /// KB.
    pub memory_limit: Range<u64>,
    /// KB.
    pub stack_limit: Range<u64>,
    pub max_processes_and_or_threads: Range<u64>,
    /// KB.
    pub max_file_size: Range<u64>,
}

fn ms_to_s(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl Ranges {
    /// For one runtime: the defaults a request without the field gets, and the most it may ask
    /// (Judge0's maximum, or the runtime's default where that is higher, never more than the
    /// runtime's own maximum or, for the wall time, what one request may take).
    pub fn of(runtime: &Runtime, request: RequestLimits) -> Ranges {
        let run = &runtime.limits().run;
        Ranges::from_sets(&run.defaults, &run.max, request)
    }

    /// From a run's defaults `d` and maxima `m`.
    fn from_sets(d: &LimitSet, m: &LimitSet, request: RequestLimits) -> Ranges {
        let request_wall_s = request.wall.as_secs_f64();
        let memory_kb = d.memory_mib * 1024;
        let stack_kb = LimitRequest::default().stack_bytes(d.memory_mib).unwrap_or(0) / 1024;
        Ranges {
            cpu_time_limit: Range {
                default: DEFAULT_CPU_TIME_LIMIT_S.min(ms_to_s(m.cpu_ms)),
                max: MAX_CPU_TIME_LIMIT_S.min(ms_to_s(m.cpu_ms)),
            },
            wall_time_limit: Range {
                default: DEFAULT_WALL_TIME_LIMIT_S.min(ms_to_s(m.wall_ms)).min(request_wall_s),
                max: MAX_WALL_TIME_LIMIT_S.min(ms_to_s(m.wall_ms)).min(request_wall_s),
            },
            memory_limit: Range {
                default: memory_kb,
                max: (MAX_MEMORY_LIMIT_KB as u64).max(memory_kb).min(m.memory_mib * 1024),
            },
            stack_limit: Range {
                default: stack_kb,
                max: (MAX_STACK_LIMIT_KB as u64).min(memory_kb),
            },
            max_processes_and_or_threads: Range {
                default: d.max_processes,
                max: (MAX_MAX_PROCESSES_AND_OR_THREADS as u64)
                    .max(d.max_processes)
                    .min(m.max_processes),
            },
            max_file_size: Range {
                default: DEFAULT_MAX_FILE_SIZE_KB.min(m.max_file_size_bytes / 1024),
                max: (MAX_MAX_FILE_SIZE_KB as u64).min(m.max_file_size_bytes / 1024),
            },
        }
    }

    /// What every listed language accepts (for `/config_info`): the smallest default and the
    /// smallest maximum of the installed runtimes with Judge0 ids (the built-in defaults when
    /// there are none).
    pub fn common(catalog: &Catalog, request: RequestLimits) -> Ranges {
        let listed = catalog.iter().filter(|r| r.installed && !r.judge0_ids.is_empty());
        listed
            .map(|r| Ranges::of(r, request))
            .reduce(|a, b| Ranges {
                cpu_time_limit: lower_f(a.cpu_time_limit, b.cpu_time_limit),
                wall_time_limit: lower_f(a.wall_time_limit, b.wall_time_limit),
                memory_limit: lower(a.memory_limit, b.memory_limit),
                stack_limit: lower(a.stack_limit, b.stack_limit),
                max_processes_and_or_threads: lower(a.max_processes_and_or_threads, b.max_processes_and_or_threads),
                max_file_size: lower(a.max_file_size, b.max_file_size),
            })
            .unwrap_or_else(|| Ranges::builtin(request))
    }

    /// For a runtime with the built-in limits.
    fn builtin(request: RequestLimits) -> Ranges {
        Ranges::from_sets(&DEFAULT_RUN, &CEILING_RUN, request)
    }
}

fn lower(a: Range<u64>, b: Range<u64>) -> Range<u64> {
    Range {
        default: a.default.min(b.default),
        max: a.max.min(b.max),
    }
}

fn lower_f(a: Range<f64>, b: Range<f64>) -> Range<f64> {
    Range {
        default: a.default.min(b.default),
        max: a.max.min(b.max),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn runtime(limits: &str) -> Catalog {
        let text = format!(
            "name = \"x\"\ndisplay_name = \"X\"\njudge0_ids = [1]\nfile = \"x\"\nrun = [\"/bin/sh\", \"{{file}}\"]\n\
             detect = [\"/bin/sh\", \"-c\", \"echo 1.0\"]\n{limits}\n[example]\nhello = \"echo\"\necho = \"cat\"\nruntime_error = \"exit 1\"\n"
        );
        let mut c = Catalog::from_files([("x.toml", text)]).expect("runtime file");
        c.detect();
        c
    }

    /// Judge0's defaults where the runtime allows them, its maxima lowered to the runtime's.
    #[test]
    fn judge0_defaults_within_each_runtimes_maxima() {
        let c = runtime("");
        let r = Ranges::of(c.get("x").expect("x"), RequestLimits::default());
        assert_eq!((r.cpu_time_limit.default, r.cpu_time_limit.max), (5.0, 15.0));
        assert_eq!((r.wall_time_limit.default, r.wall_time_limit.max), (10.0, 20.0));
        assert_eq!((r.max_file_size.default, r.max_file_size.max), (1024, 4096));
        assert_eq!((r.memory_limit.default, r.memory_limit.max), (256 * 1024, 512_000));
        assert_eq!(
            (
                r.max_processes_and_or_threads.default,
                r.max_processes_and_or_threads.max
            ),
            (32, 120)
        );
        assert_eq!((r.stack_limit.default, r.stack_limit.max), (64 * 1024, 128_000));
        assert_eq!(Ranges::common(&c, RequestLimits::default()), r, "one runtime: the same");

        // A runtime that allows less lowers both; one that needs more keeps its default.
        let small = runtime(
            "[limits.run]\nmemory_mib = 600\nmax_processes = 200\n[limits.run_max]\ncpu_ms = 2000\nwall_ms = 4000\nmax_file_size_bytes = 524288\nmemory_mib = 700\nmax_processes = 200",
        );
        let r = Ranges::of(small.get("x").expect("x"), RequestLimits::default());
        assert_eq!((r.cpu_time_limit.default, r.cpu_time_limit.max), (2.0, 2.0));
        assert_eq!((r.wall_time_limit.default, r.wall_time_limit.max), (4.0, 4.0));
        assert_eq!((r.max_file_size.default, r.max_file_size.max), (512, 512));
        assert_eq!((r.memory_limit.default, r.memory_limit.max), (600 * 1024, 600 * 1024));
        assert_eq!(
            (
                r.max_processes_and_or_threads.default,
                r.max_processes_and_or_threads.max
            ),
            (200, 200)
        );

        // A whole request's wall time bounds a run's.
        let request = RequestLimits::new(1 << 20, Duration::from_secs(3)).expect("limits");
        let r = Ranges::of(c.get("x").expect("x"), request);
        assert_eq!((r.wall_time_limit.default, r.wall_time_limit.max), (3.0, 3.0));

        // Nothing installed: the built-in runtime limits.
        let none = Catalog::from_files(Vec::<(&str, &str)>::new()).expect("empty");
        assert_eq!(
            Ranges::common(&none, RequestLimits::default()),
            Ranges::of(c.get("x").expect("x"), RequestLimits::default())
        );
    }

    /// `/config_info` shows what every listed language accepts: the embedded catalog's.
    #[test]
    fn common_ranges_of_the_embedded_catalog() {
        let mut c = Catalog::embedded().expect("embedded");
        c.detect();
        if !c.iter().any(|r| r.installed) {
            testkit::skip("no runtime installed here");
            return;
        }
        let r = Ranges::common(&c, RequestLimits::default());
        assert_eq!((r.cpu_time_limit.default, r.wall_time_limit.default), (5.0, 10.0));
        assert_eq!((r.max_file_size.default, r.max_file_size.max), (1024, 4096));
        assert!(r.memory_limit.default <= r.memory_limit.max && r.stack_limit.default <= r.stack_limit.max);
        let java = c.get("java").expect("java");
        let j = Ranges::of(java, RequestLimits::default());
        assert_eq!(j.memory_limit.default, 512 * 1024, "the JVM's own default...");
        assert!(j.memory_limit.max >= j.memory_limit.default, "...is always accepted");
    }
}
