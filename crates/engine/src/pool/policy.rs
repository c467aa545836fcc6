//! The tide autoscaler's sizing policy, apart from the instances it sizes: from what a pool has
//! seen (arrivals, runs in flight, how long an instance takes to make and a zygote's interpreter
//! to start, the time since the last arrival) to the number of warm instances it should hold,
//! and how the node's memory budget and instance cap are shared out among the pools. Pure: the
//! time is an argument and nothing here touches a sandbox, so it is tested without a kernel.
//! The mechanics (instances, the lock, the autoscaler thread) are `pool.rs`'s.
//!
//! Sizing follows Knative's pod autoscaler: arrivals and in-flight runs are counted in small
//! buckets; a stable window (60 s, mean concurrency) and a panic window (6 s, peak
//! concurrency) each give a desired size of `concurrency + rate × time-to-make-one × 2`. When
//! the panic window asks for at least twice the current target, the pool panics: it follows the
//! panic window and does not shrink until the panic window has passed quietly. After
//! `idle_after` without an arrival the target is the pool's minimum (0 unless provisioned).
//! The node's memory budget bounds warm and running instances together: the sum of their
//! memory limits never exceeds it.

use std::time::{Duration, Instant};

/// The autoscaler's long window.
pub const STABLE_WINDOW: Duration = Duration::from_secs(60);
/// The autoscaler's short window.
pub const PANIC_WINDOW: Duration = Duration::from_secs(6);
/// Bucket width of the windows.
const BUCKET: Duration = Duration::from_millis(100);
const STABLE_BUCKETS: usize = (STABLE_WINDOW.as_millis() / BUCKET.as_millis()) as usize;
const PANIC_BUCKETS: usize = (PANIC_WINDOW.as_millis() / BUCKET.as_millis()) as usize;
/// Panic when the short window asks for this many times the current target.
const PANIC_FACTOR: f64 = 2.0;
/// Assumed time to make an instance before one was measured.
const INITIAL_MAKE_TIME: Duration = Duration::from_millis(2);
/// Assumed time for a zygote's interpreter to start before a cold run was measured.
const INITIAL_BOOT_TIME: Duration = Duration::from_millis(50);

/// Per-bucket counts of one window.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    arrivals: u32,
    max_in_flight: u32,
}

/// A pool's bounds: its runtime file's minimum and maximum, and the node's idle period.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub min: usize,
    pub max: usize,
    /// Back to `min` after this long without an arrival.
    pub idle_after: Duration,
}

/// What one pool has seen, and the size it last decided on.
#[derive(Debug)]
pub(crate) struct Tide {
    /// Ring of buckets; `head` is the current one, started at `head_at`.
    buckets: Vec<Bucket>,
    head: usize,
    head_at: Instant,
    in_flight: u32,
    last_arrival: Option<Instant>,
    target: usize,
    panic_until: Option<Instant>,
    /// Moving average of the time to make one instance (clone and root).
    make_time: Duration,
    /// A zygote is usable only once its interpreter has started: the shortest cold run of
    /// the pool bounds that time (zero for prepared sandboxes).
    boot_time: Duration,
}

impl Tide {
    /// A pool that has seen nothing yet; `zygote`: its instances start an interpreter.
    pub(crate) fn new(now: Instant, zygote: bool) -> Tide {
        Tide {
            buckets: vec![Bucket::default(); STABLE_BUCKETS],
            head: 0,
            head_at: now,
            in_flight: 0,
            last_arrival: None,
            target: 0,
            panic_until: None,
            make_time: INITIAL_MAKE_TIME,
            boot_time: if zygote { INITIAL_BOOT_TIME } else { Duration::ZERO },
        }
    }

    /// A run arrives (warm or cold): counted in the rate and in flight until [`Tide::depart`].
    pub(crate) fn arrive(&mut self, now: Instant) {
        self.advance(now);
        self.last_arrival = Some(now);
        self.buckets[self.head].arrivals += 1;
        self.in_flight += 1;
        self.note_in_flight();
    }

    /// A run has ended (or was turned away after it arrived).
    pub(crate) fn depart(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// An instance was made in `took`.
    pub(crate) fn made(&mut self, took: Duration) {
        self.make_time = (self.make_time * 7 + took) / 8;
    }

    /// A run of the pool started cold and took `took` from its start to its end: a zygote's
    /// interpreter starts in no more than that. (A prepared sandbox has no boot time: it stays
    /// zero.)
    pub(crate) fn ran_cold(&mut self, took: Duration) {
        self.boot_time = self.boot_time.min(took);
    }

    /// The size last decided on.
    pub(crate) fn target(&self) -> usize {
        self.target
    }

    pub(crate) fn panicking(&self, now: Instant) -> bool {
        self.panic_until.is_some_and(|t| now < t)
    }

    /// The number of warm instances the pool should hold at `now` (before the node's budget).
    pub(crate) fn decide(&mut self, now: Instant, bounds: Bounds) -> usize {
        self.advance(now);
        let idle = self
            .last_arrival
            .is_none_or(|t| now.duration_since(t) >= bounds.idle_after);
        if idle {
            self.panic_until = None;
            self.target = bounds.min;
            return self.target;
        }
        let stable = self.desired(STABLE_BUCKETS, false).ceil() as usize;
        let panic = self.desired(PANIC_BUCKETS, true).ceil() as usize;
        if panic as f64 >= PANIC_FACTOR * (self.target.max(1) as f64) && panic > 0 {
            self.panic_until = Some(now + PANIC_WINDOW);
        }
        let panicking = self.panicking(now);
        if !panicking {
            self.panic_until = None;
        }
        let want = if panicking { self.target.max(panic) } else { stable };
        self.target = want.clamp(bounds.min, bounds.max);
        self.target
    }

    /// Move the ring to `now`, clearing buckets that fell out of the window.
    fn advance(&mut self, now: Instant) {
        let steps = (now.saturating_duration_since(self.head_at).as_millis() / BUCKET.as_millis()) as usize;
        for _ in 0..steps.min(STABLE_BUCKETS) {
            self.head = (self.head + 1) % STABLE_BUCKETS;
            self.buckets[self.head] = Bucket {
                arrivals: 0,
                max_in_flight: self.in_flight,
            };
        }
        if steps > 0 {
            self.head_at += BUCKET * steps as u32;
        }
    }

    fn note_in_flight(&mut self) {
        let b = &mut self.buckets[self.head];
        b.max_in_flight = b.max_in_flight.max(self.in_flight);
    }

    /// Desired size from the last `n` buckets: the concurrency seen (its mean, or its peak
    /// for the short window, which must catch a burst within one bucket) plus the instances
    /// used up while new ones are being made.
    fn desired(&self, n: usize, peak: bool) -> f64 {
        let (mut arrivals, mut conc_sum, mut conc_max) = (0u64, 0u64, 0u32);
        for i in 0..n {
            let b = self.buckets[(self.head + STABLE_BUCKETS - i) % STABLE_BUCKETS];
            arrivals += u64::from(b.arrivals);
            conc_sum += u64::from(b.max_in_flight);
            conc_max = conc_max.max(b.max_in_flight);
        }
        let secs = (n as f64) * BUCKET.as_secs_f64();
        let rate = arrivals as f64 / secs;
        let concurrency = if peak {
            f64::from(conc_max)
        } else {
            conc_sum as f64 / n as f64
        };
        concurrency + rate * self.make_time.max(self.boot_time).as_secs_f64() * 2.0
    }
}

/// What the node has left for warm instances while the autoscaler goes through its pools, one
/// after another (the first pools are served first).
#[derive(Debug)]
pub(crate) struct NodeRoom {
    /// Memory not taken by running or warm instances (or held output).
    bytes: u64,
    /// Most warm instances on the node.
    max_instances: usize,
    /// Warm instances of the pools gone through so far, kept or to be made.
    warm: usize,
}

/// What the autoscaler does to one pool now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resize {
    /// Warm instances to tear down (the pool has more than its target).
    pub drop: usize,
    /// Instances to make.
    pub make: usize,
}

impl NodeRoom {
    /// `used_bytes`: the memory limits of running and warm instances and the output held.
    pub(crate) fn new(budget_bytes: u64, used_bytes: u64, max_instances: usize) -> NodeRoom {
        NodeRoom {
            bytes: budget_bytes.saturating_sub(used_bytes),
            max_instances,
            warm: 0,
        }
    }

    /// A warm instance of `each_bytes` was torn down (too old, or dead): its memory is free.
    pub(crate) fn freed(&mut self, each_bytes: u64) {
        self.bytes += each_bytes;
    }

    /// A pool holding `ready` warm instances of `each_bytes` wants `target`: what fits.
    pub(crate) fn resize(&mut self, target: usize, ready: usize, each_bytes: u64) -> Resize {
        let drop = ready.saturating_sub(target);
        self.bytes += drop as u64 * each_bytes;
        let kept = ready - drop;
        self.warm += kept;
        let each = each_bytes.max(1);
        let make = target
            .saturating_sub(kept)
            .min((self.bytes / each) as usize)
            .min(self.max_instances.saturating_sub(self.warm));
        self.bytes -= make as u64 * each;
        self.warm += make;
        Resize { drop, make }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn bounds(min: usize, max: usize) -> Bounds {
        Bounds {
            min,
            max,
            idle_after: Duration::from_secs(300),
        }
    }

    /// `n` arrivals at `now`, of which `stay` are still in flight afterwards.
    fn arrive(t: &mut Tide, now: Instant, n: u32, stay: u32) {
        for i in 0..n {
            t.arrive(now);
            if i >= stay {
                t.depart();
            }
        }
    }

    /// One arrival every `every` from `from` for `count` arrivals, each over before the next,
    /// deciding after each; the last decision.
    fn steady(t: &mut Tide, from: Instant, every: Duration, count: u32, b: Bounds) -> usize {
        let mut target = 0;
        for i in 0..count {
            let now = from + every * i;
            arrive(t, now, 1, 0);
            target = t.decide(now, b);
        }
        target
    }

    #[test]
    fn an_idle_pool_wants_its_minimum() {
        let now = Instant::now();
        assert_eq!(Tide::new(now, false).decide(now, bounds(2, 10)), 2);
        assert_eq!(Tide::new(now, false).decide(now, bounds(0, 10)), 0);
    }

    #[test]
    fn a_burst_ramps_up_at_once_and_panics() {
        let t0 = Instant::now();
        let mut t = Tide::new(t0, false);
        // Quiet: one run every second for half a minute.
        let quiet = steady(&mut t, t0, Duration::from_secs(1), 30, bounds(0, 50));
        assert!(quiet <= 2, "{quiet}");
        // Then 40 arrive within a tenth of a second, all at once in flight.
        let now = t0 + Duration::from_secs(30);
        arrive(&mut t, now, 40, 40);
        let burst = t.decide(now, bounds(0, 50));
        assert!(t.panicking(now), "a burst panics");
        assert!(burst >= 40, "the target follows the burst at once: {burst}");
    }

    #[test]
    fn a_panic_does_not_shrink_until_its_window_has_passed_quietly() {
        let t0 = Instant::now();
        let mut t = Tide::new(t0, false);
        let b = bounds(0, 50);
        arrive(&mut t, t0, 200, 30);
        let burst = t.decide(t0, b);
        assert!(burst >= 30, "{burst}");
        (0..30).for_each(|_| t.depart());
        // Still panicking a second later: the target does not shrink.
        let later = t.decide(t0 + Duration::from_secs(1), b);
        assert!(later >= burst, "{later} < {burst}");
        // A panic window later, the stable window (a mean over a minute) takes over.
        let calm = t0 + PANIC_WINDOW + Duration::from_secs(1);
        let settled = t.decide(calm, b);
        assert!(!t.panicking(calm));
        assert!(settled < burst, "{settled} >= {burst}");
    }

    #[test]
    fn an_idle_period_shrinks_to_zero_or_to_the_minimum() {
        let t0 = Instant::now();
        for min in [0, 3] {
            let b = Bounds {
                idle_after: Duration::from_secs(10),
                ..bounds(min, 50)
            };
            let mut t = Tide::new(t0, false);
            // 40 runs that last 9 s.
            arrive(&mut t, t0, 40, 40);
            assert!(t.decide(t0, b) >= 40);
            let ended = t0 + Duration::from_secs(9);
            assert!(t.decide(ended, b) > min, "not idle yet");
            (0..40).for_each(|_| t.depart());
            assert!(t.decide(t0 + Duration::from_millis(9900), b) > min, "not idle yet");
            assert_eq!(t.decide(t0 + Duration::from_secs(10), b), min);
            assert!(!t.panicking(t0 + Duration::from_secs(10)), "idle ends a panic");
        }
    }

    #[test]
    fn a_steady_rate_keeps_a_small_pool() {
        let t0 = Instant::now();
        let mut t = Tide::new(t0, false);
        // 10 runs per second for 20 s, one at a time.
        let target = steady(&mut t, t0, Duration::from_millis(100), 200, bounds(0, 50));
        assert!((1..=5).contains(&target), "{target}");
    }

    #[test]
    fn slower_instances_mean_a_bigger_pool() {
        let t0 = Instant::now();
        let every = Duration::from_millis(10);
        let mut fast = Tide::new(t0, false);
        let mut slow = Tide::new(t0, false);
        (0..50).for_each(|_| slow.made(Duration::from_millis(200)));
        let b = bounds(0, 1000);
        let fast_target = steady(&mut fast, t0, every, 1000, b);
        let slow_target = steady(&mut slow, t0, every, 1000, b);
        assert!(slow_target > fast_target * 4, "{slow_target} vs {fast_target}");
    }

    #[test]
    fn a_zygotes_boot_time_counts_until_a_cold_run_bounds_it() {
        let t0 = Instant::now();
        let every = Duration::from_millis(10);
        let b = bounds(0, 1000);
        let prepared = steady(&mut Tide::new(t0, false), t0, every, 1000, b);
        let mut zygote = Tide::new(t0, true);
        let booting = steady(&mut zygote, t0, every, 1000, b);
        assert!(booting > prepared, "{booting} vs {prepared}");
        zygote.ran_cold(Duration::from_millis(1));
        let start = t0 + every * 1000;
        let bounded = steady(&mut zygote, start, every, 1000, b);
        assert!(bounded < booting, "{bounded} vs {booting}");
        // A prepared sandbox has nothing to boot: a cold run changes nothing.
        let mut p = Tide::new(t0, false);
        p.ran_cold(Duration::from_millis(1));
        assert_eq!(steady(&mut p, t0, every, 1000, b), prepared);
    }

    #[test]
    fn targets_stay_within_min_and_max() {
        let t0 = Instant::now();
        let mut t = Tide::new(t0, false);
        arrive(&mut t, t0, 10_000, 0);
        assert_eq!(t.decide(t0, bounds(1, 3)), 3);
    }

    #[test]
    fn the_memory_budget_caps_what_is_made() {
        // 1 GiB budget, 100 MiB in use: room for three instances of 256 MiB.
        let mut room = NodeRoom::new(1024 * MIB, 100 * MIB, 100);
        assert_eq!(room.resize(10, 0, 256 * MIB), Resize { drop: 0, make: 3 });
        // The next pools get what is left: 156 MiB, two of 64 MiB, then 28 of 1 MiB, then none.
        assert_eq!(room.resize(5, 0, 64 * MIB), Resize { drop: 0, make: 2 });
        assert_eq!(room.resize(100, 0, MIB), Resize { drop: 0, make: 28 });
        assert_eq!(room.resize(5, 0, MIB), Resize { drop: 0, make: 0 });
        // Over budget already (running instances grew): nothing is made.
        let mut full = NodeRoom::new(1024 * MIB, 2048 * MIB, 100);
        assert_eq!(full.resize(4, 0, MIB), Resize { drop: 0, make: 0 });
    }

    #[test]
    fn the_node_instance_cap_is_shared_in_pool_order() {
        let mut room = NodeRoom::new(u64::MAX / 2, 0, 5);
        // Two already warm, three more wanted: the cap leaves room for exactly those.
        assert_eq!(room.resize(5, 2, MIB), Resize { drop: 0, make: 3 });
        assert_eq!(room.resize(4, 0, MIB), Resize { drop: 0, make: 0 });
    }

    #[test]
    fn shrinking_a_pool_frees_room_for_the_next() {
        let mut room = NodeRoom::new(512 * MIB, 512 * MIB, 100);
        // Four warm, target one: three go, and their memory is free.
        assert_eq!(room.resize(1, 4, 128 * MIB), Resize { drop: 3, make: 0 });
        assert_eq!(room.resize(9, 0, 128 * MIB), Resize { drop: 0, make: 3 });
        // A recycled instance frees its memory too.
        room.freed(128 * MIB);
        assert_eq!(room.resize(1, 0, 128 * MIB), Resize { drop: 0, make: 1 });
    }
}
