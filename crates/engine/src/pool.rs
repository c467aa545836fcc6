//! Warm pools and the tide autoscaler: per runtime and phase, prepared sandboxes (zygotes
//! where the runtime has one) made before the request, as many as the arrival rate calls for,
//! none after an idle period.
//!
//! An instance serves one run and is destroyed after it (see `sandbox::Instance`). It is made
//! for the runtime's default limits and serves a run with other limits as well: what was fixed
//! when it was made (its tmpfs; a zygote's stack and open files) must be the run's, the rest is
//! set to the run's when the run takes it (`sandbox::Sandbox::fit_prepared`; a run whose
//! memory or process limit is below what the instance already used starts cold). Runs with
//! other fixed limits start cold, as every run does when its pool is empty.
//!
//! How many instances a pool holds is the sizing policy's (`pool/policy.rs`: a stable and a
//! panic window, drained after an idle period, within the node's memory budget); this file
//! keeps the instances, counts the runs for the policy, and makes and tears down what it
//! decides.

pub(crate) mod forks;
mod policy;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use sandbox::{Instance, InstanceSpec, RunSpec, Sandbox};

use crate::Phase;
pub use forks::{
    ForkConfig, DEFAULT_FORK_SERVERS, DEFAULT_FORK_SERVERS_MIN, DEFAULT_FORK_SERVER_MAX_AGE,
    DEFAULT_FORK_SERVER_MAX_RUNS, MAX_FORK_SERVERS, MAX_FORK_SERVER_MAX_AGE, MAX_FORK_SERVER_MAX_RUNS,
};
use policy::{Bounds, NodeRoom, Tide};
pub use policy::{PANIC_WINDOW, STABLE_WINDOW};

/// An idle period after which pools drain to their minimum (0 unless provisioned).
pub const DEFAULT_POOL_IDLE: Duration = Duration::from_secs(300);
/// The longest idle period an operator may set.
pub const MAX_POOL_IDLE: Duration = Duration::from_secs(24 * 3600);
/// An unused instance is recycled after this: an interpreter started long ago has an old
/// view of the world (clock-based seeds, caches), and a slot should not be held forever.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);
/// How often the autoscaler looks at the pools when nothing wakes it.
const TICK: Duration = Duration::from_millis(50);

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
    /// Fork servers (`forks.rs`) for the runtimes that declare one.
    pub forks: ForkConfig,
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
            forks: ForkConfig::default(),
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
    /// `zygote`, `prepared` or `fork_server`.
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

#[derive(Debug)]
struct Pool {
    spec: PoolSpec,
    ready: VecDeque<Instance>,
    /// What the sizing policy has seen of this pool, and its target.
    tide: Tide,
    warm_starts: u64,
    cold_starts: u64,
}

impl Pool {
    fn new(spec: PoolSpec, now: Instant) -> Pool {
        let tide = Tide::new(now, spec.instance.zygote.is_some());
        Pool {
            spec,
            ready: VecDeque::new(),
            tide,
            warm_starts: 0,
            cold_starts: 0,
        }
    }

    fn bounds(&self, config: &PoolConfig) -> Bounds {
        Bounds {
            min: self.spec.min,
            max: self.spec.max,
            idle_after: config.idle_after,
        }
    }

    fn fits(&self, spec: &RunSpec) -> bool {
        self.spec.instance.serves(spec)
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
    /// Runs and output holds refused because the node's memory budget was taken.
    refusals: AtomicU64,
}

/// The node's memory budget as seen from outside (metrics): its size, what running runs and
/// requests' output hold, what warm instances hold (freed first when a run needs room), and
/// how many runs it has refused since start-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub budget_bytes: u64,
    pub running_bytes: u64,
    pub warm_bytes: u64,
    pub refusals: u64,
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

    /// The warm instance this run was handed took its limits: the run starts warm. Counted
    /// only now, once, so the warm-start counter never goes down (Prometheus would read a
    /// drop as a restart).
    pub(crate) fn starts_warm(&mut self) {
        self.count(true);
    }

    /// The warm instance this run was handed could not take its limits: the run starts cold
    /// after all, and is counted so.
    pub(crate) fn starts_cold(&mut self) {
        self.count(false);
        self.cold_since = Some(Instant::now());
    }

    fn count(&mut self, warm: bool) {
        let Some(i) = self.pool else { return };
        let mut state = self.pools.lock();
        let pool = &mut state.pools[i];
        if warm {
            pool.warm_starts += 1;
        } else {
            pool.cold_starts += 1;
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        let mut state = self.pools.lock();
        state.running_bytes = state.running_bytes.saturating_sub(self.bytes);
        if let Some(i) = self.pool {
            let pool = &mut state.pools[i];
            pool.tide.depart();
            if let (Some(since), Some(_)) = (self.cold_since, &pool.spec.instance.zygote) {
                pool.tide.ran_cold(since.elapsed());
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
            refusals: AtomicU64::new(0),
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
            pool.tide.arrive(now);
            while let Some(candidate) = pool.ready.pop_front() {
                if candidate.alive() {
                    instance = Some(candidate);
                    break;
                }
                discarded.push(candidate);
            }
            // A run handed an instance is counted warm or cold once it is known whether the
            // instance takes its limits (`Flight::starts_warm`, `Flight::starts_cold`).
            if instance.is_none() {
                pool.cold_starts += 1;
            }
        } else if let Some(pool) = state
            .pools
            .iter_mut()
            .find(|p| p.spec.runtime == runtime && p.spec.phase == phase)
        {
            // Its instances cannot serve this run (a limit fixed when they are made differs):
            // a cold start of the runtime, not an arrival the pool should grow for.
            pool.cold_starts += 1;
        }
        // A taken instance left `ready`: its memory now counts as running. Free warm instances
        // (of any pool) until the run fits in the node's budget.
        let bytes = spec.limits.memory_bytes;
        let budget = self.config.memory_budget_bytes;
        if !make_room(state, bytes, budget, &mut discarded) {
            if let Some(i) = index {
                state.pools[i].tide.depart();
            }
            if let Some(inst) = instance.take() {
                discarded.push(inst);
            }
            drop(discarded);
            self.refusals.fetch_add(1, Ordering::Relaxed);
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
            self.refusals.fetch_add(1, Ordering::Relaxed);
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
                target: p.tide.target(),
                panicking: p.tide.panicking(now),
                warm_starts: p.warm_starts,
                cold_starts: p.cold_starts,
            })
            .collect()
    }

    /// The node's memory budget and what holds it now.
    pub(crate) fn memory(&self) -> MemoryStats {
        let state = self.lock();
        MemoryStats {
            budget_bytes: self.config.memory_budget_bytes,
            running_bytes: state.running_bytes,
            warm_bytes: warm_bytes(&state.pools),
            refusals: self.refusals.load(Ordering::Relaxed),
        }
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
            let mut room = NodeRoom::new(
                config.memory_budget_bytes,
                state.running_bytes + warm_bytes(&state.pools),
                config.max_instances,
            );
            for (i, pool) in state.pools.iter_mut().enumerate() {
                let target = pool.tide.decide(now, pool.bounds(&config));
                let each = pool.spec.instance.limits.memory_bytes;
                // Recycle instances past their age, and dead ones.
                let mut kept = VecDeque::with_capacity(pool.ready.len());
                for inst in pool.ready.drain(..) {
                    if inst.age() < config.max_age && inst.alive() {
                        kept.push_back(inst);
                    } else {
                        room.freed(each);
                        old.push(inst);
                    }
                }
                pool.ready = kept;
                let resize = room.resize(target, pool.ready.len(), each);
                for _ in 0..resize.drop {
                    if let Some(inst) = pool.ready.pop_back() {
                        old.push(inst);
                    }
                }
                if resize.make > 0 {
                    work.push((i, resize.make));
                }
            }
            quiet = work.is_empty() && state.pools.iter().all(|p| p.ready.is_empty() && p.tide.target() == 0);
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
                        pool.tide.made(took);
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
