//! Warm pools and the tide autoscaler: per runtime and phase, prepared sandboxes (zygotes
//! where the runtime has one) made before the request, as many as the arrival rate calls for,
//! none after an idle period.
//!
//! An instance serves one run and is destroyed after it (see `sandbox::Instance`). Only runs
//! with the runtime's default limits can use one (the limits shape the instance's root and
//! cgroup); others start cold, as every run does when its pool is empty.
//!
//! Sizing follows Knative's pod autoscaler: arrivals and in-flight runs are counted in small
//! buckets; a stable window (60 s, mean concurrency) and a panic window (6 s, peak
//! concurrency) each give a desired size of `concurrency + rate × time-to-make-one × 2`. When the panic window asks for at least twice
//! the current target, the pool panics: it follows the panic window and does not shrink until
//! the panic window has passed quietly. After `idle_after` without an arrival the target is
//! the runtime's `min_instances` (0 unless provisioned). The node's memory budget bounds warm
//! and running instances together: the sum of their memory limits never exceeds it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use sandbox::{Instance, InstanceSpec, RunSpec, Sandbox};

use crate::Phase;

/// An idle period after which pools drain to their minimum (0 unless provisioned).
pub const DEFAULT_POOL_IDLE: Duration = Duration::from_secs(300);
/// The longest idle period an operator may set.
pub const MAX_POOL_IDLE: Duration = Duration::from_secs(24 * 3600);
/// An unused instance is recycled after this: an interpreter started long ago has an old
/// view of the world (clock-based seeds, caches), and a slot should not be held forever.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);
/// The autoscaler's long window.
pub const STABLE_WINDOW: Duration = Duration::from_secs(60);
/// The autoscaler's short window.
pub const PANIC_WINDOW: Duration = Duration::from_secs(6);
/// Bucket width of the windows.
const BUCKET: Duration = Duration::from_millis(100);
const STABLE_BUCKETS: usize = (STABLE_WINDOW.as_millis() / BUCKET.as_millis()) as usize;
const PANIC_BUCKETS: usize = (PANIC_WINDOW.as_millis() / BUCKET.as_millis()) as usize;
/// How often the autoscaler looks at the pools when nothing wakes it.
const TICK: Duration = Duration::from_millis(50);
/// Panic when the short window asks for this many times the current target.
const PANIC_FACTOR: f64 = 2.0;
/// Assumed time to make an instance before one was measured.
const INITIAL_MAKE_TIME: Duration = Duration::from_millis(2);
/// Assumed time for a zygote's interpreter to start before a cold run was measured.
const INITIAL_BOOT_TIME: Duration = Duration::from_millis(50);

/// Node-wide settings of the warm pools.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// False: every run starts cold (tests, `tiderun run`).
    pub enabled: bool,
    /// Drain to the minimum after this long without an arrival.
    pub idle_after: Duration,
    /// Recycle an unused instance after this age.
    pub max_age: Duration,
    /// The memory the node may give to runs: warm and running instances' memory limits
    /// together never exceed it.
    pub memory_budget_bytes: u64,
    /// Most warm instances on the node, all runtimes together.
    pub max_instances: usize,
}

impl PoolConfig {
    pub fn disabled() -> PoolConfig {
        PoolConfig {
            enabled: false,
            ..PoolConfig::default()
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        PoolConfig {
            enabled: true,
            idle_after: DEFAULT_POOL_IDLE,
            max_age: DEFAULT_MAX_AGE,
            memory_budget_bytes: default_memory_budget(),
            max_instances: cores * 16,
        }
    }
}

/// Three quarters of the machine's memory (the rest for the server, the page cache and the
/// system); 4 GiB when /proc/meminfo cannot be read.
pub fn default_memory_budget() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    total_kib.map_or(4 << 30, |kib| kib * 1024 / 4 * 3)
}

/// One pool as seen from outside (metrics, `tiderun doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    pub runtime: String,
    pub phase: Phase,
    /// `zygote` or `prepared`.
    pub kind: &'static str,
    pub ready: usize,
    pub target: usize,
    pub panicking: bool,
    pub warm_starts: u64,
    pub cold_starts: u64,
}

/// What a pool is for, fixed at start-up.
#[derive(Debug, Clone)]
pub(crate) struct PoolSpec {
    pub runtime: String,
    pub phase: Phase,
    pub instance: InstanceSpec,
    pub min: usize,
    pub max: usize,
}

/// Per-bucket counts of one window.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    arrivals: u32,
    max_in_flight: u32,
}

#[derive(Debug)]
struct Pool {
    spec: PoolSpec,
    ready: VecDeque<Instance>,
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
    /// this pool bounds that time (zero for prepared sandboxes).
    boot_time: Duration,
    warm_starts: u64,
    cold_starts: u64,
}

impl Pool {
    fn new(spec: PoolSpec, now: Instant) -> Pool {
        let boot_time = if spec.instance.zygote.is_some() {
            INITIAL_BOOT_TIME
        } else {
            Duration::ZERO
        };
        Pool {
            spec,
            ready: VecDeque::new(),
            buckets: vec![Bucket::default(); STABLE_BUCKETS],
            head: 0,
            head_at: now,
            in_flight: 0,
            last_arrival: None,
            target: 0,
            panic_until: None,
            make_time: INITIAL_MAKE_TIME,
            boot_time,
            warm_starts: 0,
            cold_starts: 0,
        }
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

    /// The autoscaler's decision for this pool (before the node budget).
    fn decide(&mut self, now: Instant, config: &PoolConfig) -> usize {
        self.advance(now);
        let idle = self
            .last_arrival
            .is_none_or(|t| now.duration_since(t) >= config.idle_after);
        if idle {
            self.panic_until = None;
            self.target = self.spec.min;
            return self.target;
        }
        let stable = self.desired(STABLE_BUCKETS, false).ceil() as usize;
        let panic = self.desired(PANIC_BUCKETS, true).ceil() as usize;
        if panic as f64 >= PANIC_FACTOR * (self.target.max(1) as f64) && panic > 0 {
            self.panic_until = Some(now + PANIC_WINDOW);
        }
        let panicking = self.panic_until.is_some_and(|t| now < t);
        if !panicking {
            self.panic_until = None;
        }
        let want = if panicking { self.target.max(panic) } else { stable };
        self.target = want.clamp(self.spec.min, self.spec.max);
        self.target
    }

    fn fits(&self, spec: &RunSpec) -> bool {
        let i = &self.spec.instance;
        i.limits == spec.limits
            && i.binds == spec.binds
            && i.network == spec.network
            && i.zygote.as_ref().is_none_or(|z| z.env == spec.env)
    }

    fn kind(&self) -> &'static str {
        if self.spec.instance.zygote.is_some() {
            "zygote"
        } else {
            "prepared"
        }
    }
}

#[derive(Debug)]
struct State {
    pools: Vec<Pool>,
    /// Memory limits of runs in progress (warm or cold), and the output requests hold.
    running_bytes: u64,
    stopping: bool,
}

/// The pools of one engine and their autoscaler thread.
#[derive(Debug)]
pub(crate) struct Pools {
    config: PoolConfig,
    sandbox: Arc<Sandbox>,
    state: Mutex<State>,
    wake: Condvar,
    makes: AtomicU64,
}

/// A run in progress (or a request's output, with no pool): counted in its pool's concurrency
/// and the node's memory until dropped.
#[derive(Debug)]
pub(crate) struct Flight {
    pools: Arc<Pools>,
    pool: Option<usize>,
    bytes: u64,
    /// When a run of a pool started cold: its duration bounds a zygote's boot time.
    cold_since: Option<Instant>,
}

impl Flight {
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        let mut state = self.pools.lock();
        state.running_bytes = state.running_bytes.saturating_sub(self.bytes);
        if let Some(i) = self.pool {
            let pool = &mut state.pools[i];
            pool.in_flight = pool.in_flight.saturating_sub(1);
            if let (Some(since), Some(_)) = (self.cold_since, &pool.spec.instance.zygote) {
                pool.boot_time = pool.boot_time.min(since.elapsed());
            }
        }
    }
}

/// The node's memory is taken by running and warm instances.
#[derive(Debug)]
pub(crate) struct OverBudget {
    pub budget_bytes: u64,
}

impl Pools {
    pub(crate) fn start(config: PoolConfig, sandbox: Arc<Sandbox>, specs: Vec<PoolSpec>) -> Arc<Pools> {
        let now = Instant::now();
        let enabled = config.enabled;
        let pools = Arc::new(Pools {
            config,
            sandbox,
            state: Mutex::new(State {
                pools: if enabled {
                    specs.into_iter().map(|s| Pool::new(s, now)).collect()
                } else {
                    Vec::new()
                },
                running_bytes: 0,
                stopping: false,
            }),
            wake: Condvar::new(),
            makes: AtomicU64::new(0),
        });
        if enabled {
            let weak = Arc::downgrade(&pools);
            let spawned = std::thread::Builder::new()
                .name("tiderun-tide".into())
                .spawn(move || autoscale(weak));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "no autoscaler thread; every run starts cold");
            }
        }
        pools
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run of `runtime`'s `phase` arrives: count it, reserve its memory, and hand it a warm
    /// instance if one fits.
    pub(crate) fn begin(
        self: &Arc<Self>,
        runtime: &str,
        phase: Phase,
        spec: &RunSpec,
    ) -> Result<(Flight, Option<Instance>), OverBudget> {
        let now = Instant::now();
        let mut discarded = Vec::new();
        let mut state = self.lock();
        let state = &mut *state;
        let index = state
            .pools
            .iter()
            .position(|p| p.spec.runtime == runtime && p.spec.phase == phase && p.fits(spec));
        let mut instance = None;
        if let Some(i) = index {
            let pool = &mut state.pools[i];
            pool.advance(now);
            pool.last_arrival = Some(now);
            pool.buckets[pool.head].arrivals += 1;
            pool.in_flight += 1;
            pool.note_in_flight();
            while let Some(candidate) = pool.ready.pop_front() {
                if candidate.alive() {
                    instance = Some(candidate);
                    break;
                }
                discarded.push(candidate);
            }
            if instance.is_some() {
                pool.warm_starts += 1;
            } else {
                pool.cold_starts += 1;
            }
        }
        // A taken instance left `ready`: its memory now counts as running. Free warm instances
        // (of any pool) until the run fits in the node's budget.
        let bytes = spec.limits.memory_bytes;
        let budget = self.config.memory_budget_bytes;
        if !make_room(state, bytes, budget, &mut discarded) {
            if let Some(i) = index {
                state.pools[i].in_flight -= 1;
            }
            if let Some(inst) = instance.take() {
                discarded.push(inst);
            }
            drop(discarded);
            return Err(OverBudget { budget_bytes: budget });
        }
        state.running_bytes += bytes;
        self.wake.notify_one();
        drop(discarded);
        let cold_since = (index.is_some() && instance.is_none()).then_some(now);
        Ok((
            Flight {
                pools: Arc::clone(self),
                pool: index,
                bytes,
                cold_since,
            },
            instance,
        ))
    }

    /// Reserve `bytes` of the node's memory budget for memory the server itself holds for a
    /// request (its output, see `budget.rs`), freeing warm instances when needed.
    pub(crate) fn hold(self: &Arc<Self>, bytes: u64) -> Result<Flight, OverBudget> {
        let mut discarded = Vec::new();
        let mut state = self.lock();
        let budget = self.config.memory_budget_bytes;
        if !make_room(&mut state, bytes, budget, &mut discarded) {
            drop(state);
            drop(discarded);
            return Err(OverBudget { budget_bytes: budget });
        }
        state.running_bytes += bytes;
        // Freed instances may need making again.
        self.wake.notify_one();
        drop(state);
        drop(discarded);
        Ok(Flight {
            pools: Arc::clone(self),
            pool: None,
            bytes,
            cold_since: None,
        })
    }

    pub(crate) fn stats(&self) -> Vec<PoolStats> {
        let now = Instant::now();
        let state = self.lock();
        state
            .pools
            .iter()
            .map(|p| PoolStats {
                runtime: p.spec.runtime.clone(),
                phase: p.spec.phase,
                kind: p.kind(),
                ready: p.ready.len(),
                target: p.target,
                panicking: p.panic_until.is_some_and(|t| now < t),
                warm_starts: p.warm_starts,
                cold_starts: p.cold_starts,
            })
            .collect()
    }

    /// Instances made so far (tests).
    pub(crate) fn made(&self) -> u64 {
        self.makes.load(Ordering::Relaxed)
    }

    /// Drop every warm instance and stop the autoscaler.
    pub(crate) fn shutdown(&self) {
        let drained: Vec<Instance> = {
            let mut state = self.lock();
            state.stopping = true;
            state.pools.iter_mut().flat_map(|p| p.ready.drain(..)).collect()
        };
        self.wake.notify_all();
        drop(drained);
    }
}

/// Free warm instances (of any pool; torn down by the caller, outside the lock) until `bytes`
/// more fit in the budget beside the running and warm ones. False when they cannot.
fn make_room(state: &mut State, bytes: u64, budget: u64, discarded: &mut Vec<Instance>) -> bool {
    while state.running_bytes + warm_bytes(&state.pools) + bytes > budget {
        match state.pools.iter_mut().filter_map(|p| p.ready.pop_back()).next() {
            Some(victim) => discarded.push(victim),
            None => break,
        }
    }
    state.running_bytes + warm_bytes(&state.pools) + bytes <= budget
}

fn warm_bytes(pools: &[Pool]) -> u64 {
    pools
        .iter()
        .map(|p| p.ready.len() as u64 * p.spec.instance.limits.memory_bytes)
        .sum()
}

/// The autoscaler: decide targets, recycle old or dead instances, make missing ones. It holds
/// only a weak reference, so it ends when the engine is dropped.
fn autoscale(weak: Weak<Pools>) {
    if let Some(pools) = weak.upgrade() {
        pools.sandbox.make_instances_in_background();
    }
    loop {
        let Some(pools) = weak.upgrade() else { return };
        let config = pools.config.clone();
        // Decide under the lock; make instances outside it (a clone takes a millisecond).
        let mut work: Vec<(usize, usize)> = Vec::new();
        let mut old: Vec<Instance> = Vec::new();
        let quiet;
        {
            let now = Instant::now();
            let mut state = pools.lock();
            if state.stopping {
                return;
            }
            let state = &mut *state;
            let mut warm_total = 0usize;
            let mut budget_left = config
                .memory_budget_bytes
                .saturating_sub(state.running_bytes + warm_bytes(&state.pools));
            for (i, pool) in state.pools.iter_mut().enumerate() {
                let target = pool.decide(now, &config);
                // Recycle instances past their age, and dead ones.
                let mut kept = VecDeque::with_capacity(pool.ready.len());
                for inst in pool.ready.drain(..) {
                    if inst.age() < config.max_age && inst.alive() {
                        kept.push_back(inst);
                    } else {
                        budget_left += pool.spec.instance.limits.memory_bytes;
                        old.push(inst);
                    }
                }
                pool.ready = kept;
                while pool.ready.len() > target {
                    if let Some(inst) = pool.ready.pop_back() {
                        budget_left += pool.spec.instance.limits.memory_bytes;
                        old.push(inst);
                    }
                }
                warm_total += pool.ready.len();
                let mut missing = target.saturating_sub(pool.ready.len());
                let each = pool.spec.instance.limits.memory_bytes.max(1);
                missing = missing
                    .min((budget_left / each) as usize)
                    .min(config.max_instances.saturating_sub(warm_total));
                budget_left -= missing as u64 * each;
                warm_total += missing;
                if missing > 0 {
                    work.push((i, missing));
                }
            }
            quiet = work.is_empty() && state.pools.iter().all(|p| p.ready.is_empty() && p.target == 0);
            // Handed to the sandbox's reaper before the lock goes: once the stats show an
            // instance gone, `Sandbox::wait_idle` waits for its teardown.
            drop(std::mem::take(&mut old));
        }
        for (i, missing) in work {
            let spec = {
                let state = pools.lock();
                state.pools[i].spec.instance.clone()
            };
            for _ in 0..missing {
                let t = Instant::now();
                match pools.sandbox.prepare(&spec) {
                    Ok(inst) => {
                        pools.makes.fetch_add(1, Ordering::Relaxed);
                        let took = t.elapsed();
                        let mut state = pools.lock();
                        if state.stopping {
                            // Shut down while this one was being made: it goes too.
                            drop(inst);
                            return;
                        }
                        let pool = &mut state.pools[i];
                        pool.make_time = (pool.make_time * 7 + took) / 8;
                        pool.ready.push_back(inst);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot make a warm instance");
                        break;
                    }
                }
            }
        }
        // Sleep until the next tick, or until a run arrives; long when everything is drained.
        let state = pools.lock();
        let wait = if quiet { TICK * 20 } else { TICK };
        let _ = pools.wake.wait_timeout(state, wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(min: usize, max: usize) -> Pool {
        Pool::new(
            PoolSpec {
                runtime: "x".into(),
                phase: Phase::Run,
                instance: InstanceSpec {
                    limits: sandbox::Limits::default(),
                    binds: vec![],
                    network: false,
                    zygote: None,
                },
                min,
                max,
            },
            Instant::now(),
        )
    }

    fn arrive(p: &mut Pool, now: Instant, n: u32) {
        p.advance(now);
        p.last_arrival = Some(now);
        p.buckets[p.head].arrivals += n;
    }

    #[test]
    fn idle_pool_wants_its_minimum() {
        let config = PoolConfig::default();
        let mut p = pool(2, 10);
        assert_eq!(p.decide(Instant::now(), &config), 2);
        let mut p = pool(0, 10);
        assert_eq!(p.decide(Instant::now(), &config), 0);
    }

    #[test]
    fn a_burst_panics_and_a_quiet_window_scales_to_zero() {
        let config = PoolConfig {
            idle_after: Duration::from_secs(10),
            ..PoolConfig::default()
        };
        let mut p = pool(0, 50);
        let t0 = Instant::now();
        // 200 arrivals within a tenth of a second, 30 of them in flight together.
        arrive(&mut p, t0, 200);
        p.in_flight = 30;
        p.note_in_flight();
        let t = p.decide(t0, &config);
        assert!(p.panic_until.is_some(), "a burst panics");
        assert!(t >= 30, "panic follows the burst: {t}");
        p.in_flight = 0;
        // Still panicking a second later: the target does not shrink.
        let t1 = p.decide(t0 + Duration::from_secs(1), &config);
        assert!(t1 >= t, "{t1} < {t}");
        // Past the idle period without arrivals: back to the minimum.
        assert_eq!(p.decide(t0 + Duration::from_secs(11), &config), 0);
    }

    #[test]
    fn steady_rate_keeps_a_small_pool() {
        let config = PoolConfig::default();
        let mut p = pool(0, 50);
        let t0 = Instant::now();
        // 10 runs per second for 20 s, one at a time.
        for i in 0..200u32 {
            let now = t0 + Duration::from_millis(100 * u64::from(i));
            arrive(&mut p, now, 1);
            p.decide(now, &config);
        }
        assert!((1..=5).contains(&p.target), "{}", p.target);
    }

    #[test]
    fn targets_stay_within_min_and_max() {
        let config = PoolConfig::default();
        let mut p = pool(1, 3);
        let t0 = Instant::now();
        arrive(&mut p, t0, 10_000);
        assert_eq!(p.decide(t0, &config), 3);
    }
}
