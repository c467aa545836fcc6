//! What machine a number was measured on: cores, CPU model, memory, kernel, cgroup mode and
//! load, read from /proc and /sys (numbers mean little without it).

use std::path::Path;

/// `statfs` magic of a cgroup2 mount.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The host, as a report prints it.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub memory_mib: u64,
    pub kernel: String,
    pub cgroup_mode: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let memory_mib = read("/proc/meminfo")
            .lines()
            .find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kib| kib / 1024);
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            memory_mib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            cgroup_mode: cgroup_mode(Path::new("/sys/fs/cgroup")),
        }
    }

    /// One markdown line.
    pub fn markdown(&self) -> String {
        format!(
            "Machine: {} cores, `{}`, {} MiB of memory, kernel `{}`, cgroup {}.",
            self.cores, self.cpu_model, self.memory_mib, self.kernel, self.cgroup_mode
        )
    }
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg prints them.
pub fn load_average() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" / ")
}

// `f_type` is i64 here and another integer type on other architectures.
#[allow(clippy::unnecessary_cast)]
fn is_cgroup2(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

fn cgroup_mode(root: &Path) -> String {
    if is_cgroup2(root) {
        "v2".into()
    } else if root.join("memory").is_dir() && is_cgroup2(&root.join("unified")) {
        "v1 hybrid (v1 controllers, a controller-less cgroup2 at /sys/fs/cgroup/unified)".into()
    } else if root.join("memory").is_dir() {
        "v1".into()
    } else {
        "none".into()
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_host_is_described() {
        let m = Machine::detect();
        assert!(m.cores >= 1 && m.memory_mib > 0 && !m.kernel.is_empty(), "{m:?}");
        assert!(m.markdown().contains(&m.kernel));
        assert_eq!(load_average().split(" / ").count(), 3);
    }
}
