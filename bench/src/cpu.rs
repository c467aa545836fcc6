//! CPU time as the kernel counts it: the whole machine's busy time (`/proc/stat`) and this
//! process's own and its reaped children's (`/proc/self/stat`). A server's CPU per run is the
//! machine's busy time less the harness's own over a window, divided by the runs: its
//! sandboxes, fork servers and the runs themselves included, which no per-process counter
//! sees (runs forked by a fork server are reaped by the kernel, never by the server). It is
//! only meaningful on an otherwise quiet machine, and the report says so.

use std::time::Duration;

fn ticks(n: u64) -> Duration {
    Duration::from_nanos(n.saturating_mul(1_000_000_000) / rustix::param::clock_ticks_per_second().max(1))
}

/// The machine's busy CPU time since boot: every CPU's user, nice, system, irq, softirq and
/// steal time (guest time is counted in user).
pub fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    busy_of(&stat)
}

fn busy_of(stat: &str) -> Option<Duration> {
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal, ..] = fields[..] else {
        return None;
    };
    Some(ticks(user + nice + system + irq + softirq + steal))
}

/// This process's CPU time: its own (every thread's) and, separately, its reaped children's.
pub fn own_and_children() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    own_and_children_of(&stat)
}

fn own_and_children_of(stat: &str) -> Option<(Duration, Duration)> {
    // Fields after the command name (which may hold spaces and parentheses): state is field 3,
    // utime, stime, cutime and cstime fields 14 to 17.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let n = |i: usize| rest.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    Some((ticks(n(14)? + n(15)?), ticks(n(16)? + n(17)?)))
}

/// A window over which the machine's CPU is counted less the harness's own.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    busy: Duration,
    own: Duration,
}

impl Window {
    pub fn start() -> Option<Window> {
        Some(Window {
            busy: machine_busy()?,
            own: own_and_children()?.0,
        })
    }

    /// The machine's busy time since the start, less the harness's own.
    pub fn others(&self) -> Option<Duration> {
        let now = Window::start()?;
        Some((now.busy.saturating_sub(self.busy)).saturating_sub(now.own.saturating_sub(self.own)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_leaves_idle_and_iowait_out() {
        let hz = rustix::param::clock_ticks_per_second();
        let stat = format!("cpu  {hz} 0 {hz} 999999 999 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n");
        assert_eq!(busy_of(&stat), Some(Duration::from_secs(2)));
        assert_eq!(busy_of("cpu0 1 2 3\n"), None);
        assert_eq!(busy_of("cpu  1 2 x 4 5 6 7 8\n"), None);
    }

    #[test]
    fn own_and_reaped_children_are_read_past_an_odd_command_name() {
        let hz = rustix::param::clock_ticks_per_second();
        let stat = format!("42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 {hz} {hz} {hz} 0 20 0 1 0 5 0 0");
        assert_eq!(
            own_and_children_of(&stat),
            Some((Duration::from_secs(2), Duration::from_secs(1)))
        );
        assert!(own_and_children().is_some() && machine_busy().is_some());
    }
}
