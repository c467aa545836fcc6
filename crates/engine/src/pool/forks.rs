//! Fork servers per runtime (`sandbox::ForkServer`): for a runtime whose file declares
//! `warm.fork_server`, interpreters started once, each forking a child per run, one run at a
//! time (so two runs at once never share a fork server's slot, uid or `/dev`). A fork server is
//! replaced after [`ForkConfig::max_runs`] runs or [`ForkConfig::max_age`], so the memory image
//! its runs share has a short life; one that died (or whose run could not be forked) is
//! replaced too. A run that finds none idle starts cold.
//!
//! Sized by the tide, as the pools are (`policy.rs`): a run of the runtime arrives when it
//! asks for a fork server and departs when it ends, so the target is the runs in flight (the
//! mean over the long window, the peak over the short one), between [`ForkConfig::min`] and
//! [`ForkConfig::servers`], back to the minimum after the pools' idle period. Each live fork
//! server holds its memory limit of the node's memory budget, as a warm instance does.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use sandbox::{ForkServer, Forked, InstanceSpec, RunSpec, Sandbox};

use super::policy::{Bounds, Tide};
use super::{Flight, PoolStats, Pools};
use crate::Phase;

/// Most fork servers per runtime that declares one, by default: a fork server serves one run
/// at a time, and an interactive run holds it while it waits for input.
pub const DEFAULT_FORK_SERVERS: usize = 16;
/// The most fork servers per runtime (each holds a sandbox slot and an interpreter's memory).
pub const MAX_FORK_SERVERS: usize = 64;
/// Fork servers kept per runtime when the node is idle: the first run of the morning is
/// forked, not cold. An idle fork server costs an interpreter's memory and no CPU.
pub const DEFAULT_FORK_SERVERS_MIN: usize = 1;
/// Memory limit of a fork server's own cgroup (an interpreter with what its runtime file
/// imports, and the next run's child until it moves into its run's cgroup), when the
/// runtime's run limit is larger. It is what each fork server holds of the node's memory
/// budget; a fork server past it is killed and replaced.
pub(crate) const FORK_SERVER_MEMORY_BYTES: u64 = 128 << 20;
/// Runs a fork server forks before it is replaced: the address-space layout and hash seed its
/// runs share are those of at most this many runs.
pub const DEFAULT_FORK_SERVER_MAX_RUNS: u64 = 1000;
pub const MAX_FORK_SERVER_MAX_RUNS: u64 = 100_000;
/// Age after which a fork server is replaced (when it is next idle).
pub const DEFAULT_FORK_SERVER_MAX_AGE: Duration = Duration::from_secs(60);
pub const MAX_FORK_SERVER_MAX_AGE: Duration = Duration::from_secs(3600);
/// After a fork server failed to start, wait this long before the next try.
const START_RETRY: Duration = Duration::from_secs(1);
/// How often the keeper looks at the fork servers when nothing wakes it.
const KEEPER_TICK: Duration = Duration::from_millis(100);
/// Most bytes of an idle fork server's stderr logged at a time.
const STDERR_LOGGED: usize = 4096;

/// The node's fork server settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForkConfig {
    /// Most fork servers per runtime that declares one; 0: none.
    pub servers: usize,
    /// Fork servers kept per runtime when idle (at most `servers`).
    pub min: usize,
    pub max_runs: u64,
    pub max_age: Duration,
}

impl Default for ForkConfig {
    fn default() -> Self {
        ForkConfig {
            servers: DEFAULT_FORK_SERVERS,
            min: DEFAULT_FORK_SERVERS_MIN,
            max_runs: DEFAULT_FORK_SERVER_MAX_RUNS,
            max_age: DEFAULT_FORK_SERVER_MAX_AGE,
        }
    }
}

impl ForkConfig {
    /// No fork servers: every runtime keeps its zygotes.
    pub fn off() -> ForkConfig {
        ForkConfig {
            servers: 0,
            min: 0,
            ..ForkConfig::default()
        }
    }
}

/// What the fork servers of one runtime are made for.
#[derive(Debug, Clone)]
pub(crate) struct ForkSpec {
    pub runtime: String,
    pub instance: InstanceSpec,
}

/// A live fork server and the part of the node's memory budget it holds.
#[derive(Debug)]
struct Held {
    server: ForkServer,
    _memory: Flight,
}

#[derive(Debug)]
struct Entry {
    spec: ForkSpec,
    idle: Vec<Held>,
    /// Idle, lent out and starting, together.
    live: usize,
    tide: Tide,
    /// Runs forked, and runs this runtime's fork servers would have served but none was idle.
    runs: u64,
    misses: u64,
}

#[derive(Debug)]
struct State {
    entries: Vec<Entry>,
    stopping: bool,
}

#[derive(Debug)]
pub(crate) struct ForkServers {
    sandbox: Arc<Sandbox>,
    pools: Arc<Pools>,
    config: ForkConfig,
    idle_after: Duration,
    state: Mutex<State>,
    wake: Condvar,
}

/// A run's claim on its runtime's fork servers, from [`ForkServers::claim`]: counted in their
/// tide until dropped, and holding the fork server it was forked from, if any, which it
/// gives back when dropped.
#[derive(Debug)]
pub(crate) struct Claim {
    servers: Arc<ForkServers>,
    entry: usize,
    held: Option<Held>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.servers.give_back(self.entry, self.held.take());
    }
}

/// What fork servers do for one run.
#[derive(Debug)]
pub(crate) enum Forking {
    /// The runtime has no fork servers, or they cannot serve this run (network, other fixed
    /// limits): it goes the usual way.
    NotServed,
    /// None was idle (or the fork failed): the run starts cold, counted in the tide until the
    /// claim is dropped.
    Cold(Claim),
    /// Forked: run it, then drop the claim.
    Forked(Claim, Box<Forked>),
}

impl ForkServers {
    pub(crate) fn start(
        config: ForkConfig,
        idle_after: Duration,
        sandbox: Arc<Sandbox>,
        pools: Arc<Pools>,
        specs: Vec<ForkSpec>,
    ) -> Arc<ForkServers> {
        let entries = if config.servers == 0 { Vec::new() } else { specs };
        let now = Instant::now();
        let servers = Arc::new(ForkServers {
            sandbox,
            pools,
            config,
            idle_after,
            state: Mutex::new(State {
                entries: entries
                    .into_iter()
                    .map(|spec| Entry {
                        spec,
                        idle: Vec::new(),
                        live: 0,
                        // Made in milliseconds and never used up: the target is the runs in
                        // flight, not the rate times a start-up.
                        tide: Tide::new(now, false),
                        runs: 0,
                        misses: 0,
                    })
                    .collect(),
                stopping: false,
            }),
            wake: Condvar::new(),
        });
        if !servers.lock().entries.is_empty() {
            let weak = Arc::downgrade(&servers);
            if let Err(e) = std::thread::Builder::new()
                .name("tiderun-forks".into())
                .spawn(move || keep(weak))
            {
                tracing::warn!(error = %e, "no fork server keeper; runs go without fork servers");
            }
        }
        servers
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            min: self.config.min.min(self.config.servers),
            max: self.config.servers,
            idle_after: self.idle_after,
        }
    }

    /// Fork `spec` from an idle fork server of `runtime` ([`Forking`]).
    pub(crate) fn claim(self: &Arc<Self>, runtime: &str, spec: &RunSpec) -> Forking {
        let (entry, idle) = {
            let mut state = self.lock();
            let Some(index) = state.entries.iter().position(|e| e.spec.runtime == runtime) else {
                return Forking::NotServed;
            };
            let entry = &mut state.entries[index];
            if !entry.spec.instance.forks(spec) {
                tracing::debug!(
                    runtime,
                    run = ?(&spec.limits, &spec.env, &spec.binds, spec.network),
                    made = ?(&entry.spec.instance.limits, &entry.spec.instance.zygote.as_ref().map(|z| &z.env), &entry.spec.instance.binds),
                    "fork servers do not serve the run"
                );
                entry.misses += 1;
                return Forking::NotServed;
            }
            entry.tide.arrive(Instant::now());
            let idle = entry.idle.pop();
            if idle.is_none() {
                entry.misses += 1;
                // The tide has grown: the keeper may start one for the next run.
                self.wake.notify_all();
            }
            (index, idle)
        };
        let mut claim = Claim {
            servers: Arc::clone(self),
            entry,
            held: None,
        };
        let Some(mut held) = idle else {
            return Forking::Cold(claim);
        };
        match self.sandbox.fork_run(&mut held.server, spec) {
            Ok(forked) => {
                claim.held = Some(held);
                Forking::Forked(claim, Box::new(forked))
            }
            Err(e) => {
                tracing::debug!(error = %e, runtime, "fork server could not fork the run");
                self.lock().entries[entry].misses += 1;
                self.put_back(entry, held);
                Forking::Cold(claim)
            }
        }
    }

    /// A claim ended: its run departs the tide, and the fork server it held (if any) is kept
    /// for the next run or replaced.
    fn give_back(&self, entry: usize, held: Option<Held>) {
        let mut state = self.lock();
        let e = &mut state.entries[entry];
        e.tide.depart();
        if held.is_some() {
            e.runs += 1;
        }
        drop(state);
        if let Some(held) = held {
            self.put_back(entry, held);
        }
    }

    /// Keep a fork server for the next run, or replace it (dead, too old, or past its runs).
    fn put_back(&self, entry: usize, held: Held) {
        let server = &held.server;
        let keep = server.alive() && server.runs() < self.config.max_runs && server.age() < self.config.max_age;
        let mut state = self.lock();
        let stopping = state.stopping;
        let e = &mut state.entries[entry];
        if keep && !stopping {
            e.idle.push(held);
            return;
        }
        e.live = e.live.saturating_sub(1);
        let runtime = e.spec.runtime.clone();
        drop(state);
        if !held.server.alive() {
            tracing::warn!(
                runtime,
                stderr = %String::from_utf8_lossy(&held.server.stderr(STDERR_LOGGED)),
                "fork server ended; replacing it"
            );
        }
        drop(held);
        self.wake.notify_all();
    }

    /// Runs forked so far, and fork servers idle now, per runtime.
    pub(crate) fn runs(&self) -> Vec<(String, u64, usize)> {
        self.lock()
            .entries
            .iter()
            .map(|e| (e.spec.runtime.clone(), e.runs, e.idle.len()))
            .collect()
    }

    /// The fork servers of each runtime as a pool of the run phase (metrics, the console):
    /// idle ones are ready, forked runs started warm, runs they could not take cold.
    pub(crate) fn stats(&self) -> Vec<PoolStats> {
        let now = Instant::now();
        self.lock()
            .entries
            .iter()
            .map(|e| PoolStats {
                runtime: e.spec.runtime.clone(),
                phase: Phase::Run,
                kind: "fork_server",
                ready: e.idle.len(),
                target: e.tide.target(),
                panicking: e.tide.panicking(now),
                warm_starts: e.runs,
                cold_starts: e.misses,
            })
            .collect()
    }

    pub(crate) fn shutdown(&self) {
        let drained: Vec<Held> = {
            let mut state = self.lock();
            state.stopping = true;
            state.entries.iter_mut().flat_map(|e| e.idle.drain(..)).collect()
        };
        self.wake.notify_all();
        drop(drained);
    }
}

/// The keeper: size each runtime's fork servers to its tide (start missing ones, within the
/// node's memory budget; retire idle ones beyond the target), retire idle ones that are too
/// old or dead, and log what idle ones wrote to stderr. It holds a weak reference and ends
/// with the engine.
///
/// Unlike the pools' autoscaler it does not lower its priority: a fork server and the first
/// fork of each run (its namespaces and mounts, before the run's init is raised to the normal
/// priority) inherit it, and at nice 19 they wait behind every other process of the node. A
/// fork server starts once per `max_runs` runs, and idles at no cost.
fn keep(weak: Weak<ForkServers>) {
    loop {
        let Some(servers) = weak.upgrade() else { return };
        let mut retired = Vec::new();
        let missing = {
            let mut state = servers.lock();
            if state.stopping {
                return;
            }
            let (config, bounds, now) = (servers.config, servers.bounds(), Instant::now());
            let mut missing = None;
            for entry in &mut state.entries {
                let target = entry.tide.decide(now, bounds);
                let (old, mut kept): (Vec<_>, Vec<_>) = entry
                    .idle
                    .drain(..)
                    .partition(|h| !h.server.alive() || h.server.age() >= config.max_age);
                entry.live -= old.len();
                retired.extend(old);
                // Beyond the target: the oldest idle ones go first.
                kept.sort_by_key(|h| std::cmp::Reverse(h.server.age()));
                while entry.live > target && !kept.is_empty() {
                    retired.push(kept.remove(0));
                    entry.live -= 1;
                }
                for held in &kept {
                    let said = held.server.stderr(STDERR_LOGGED);
                    if !said.is_empty() {
                        tracing::warn!(runtime = %entry.spec.runtime, stderr = %String::from_utf8_lossy(&said), "fork server wrote to stderr");
                    }
                }
                entry.idle = kept;
                if missing.is_none() && entry.live < target {
                    entry.live += 1;
                    missing = Some(entry.spec.clone());
                }
            }
            missing
        };
        drop(retired);
        match missing {
            Some(spec) => {
                let started = servers
                    .pools
                    .hold(spec.instance.limits.memory_bytes)
                    .map_err(|o| format!("the node's memory budget ({} bytes) is taken", o.budget_bytes))
                    .and_then(|memory| {
                        servers
                            .sandbox
                            .start_fork_server(&spec.instance)
                            .map(|server| Held {
                                server,
                                _memory: memory,
                            })
                            .map_err(|e| e.to_string())
                    });
                let mut state = servers.lock();
                let stopping = state.stopping;
                let entry = state
                    .entries
                    .iter_mut()
                    .find(|e| e.spec.runtime == spec.runtime)
                    .expect("entries are fixed at start");
                match started {
                    Ok(held) if !stopping => entry.idle.push(held),
                    Ok(_) => entry.live -= 1,
                    Err(e) => {
                        entry.live -= 1;
                        drop(state);
                        tracing::warn!(error = %e, runtime = %spec.runtime, "fork server did not start");
                        drop(servers);
                        std::thread::sleep(START_RETRY);
                    }
                }
            }
            None => {
                let state = servers.lock();
                let _unused = servers
                    .wake
                    .wait_timeout(state, KEEPER_TICK)
                    .unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}
