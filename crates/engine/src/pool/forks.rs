//! Fork servers per runtime (`sandbox::ForkServer`): for a runtime whose file declares
//! `warm.fork_server`, a fixed number of interpreters started once, each forking a child per
//! run, one run at a time (so two runs at once never share a fork server's slot, uid or
//! `/dev`). A fork server is replaced after [`ForkConfig::max_runs`] runs or
//! [`ForkConfig::max_age`], so the memory image its runs share has a short life; one that
//! died (or whose run could not be forked) is replaced too. A run that finds none idle goes
//! the usual way (a warm instance of another kind, or cold).
//!
//! Sizing is fixed (`--fork-servers` per runtime), not the tide's: a fork server serves runs
//! back to back, so a handful per core carries what hundreds of zygotes would, and its
//! interpreter's start is paid once per [`ForkConfig::max_runs`] runs.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use sandbox::{ForkServer, Forked, InstanceSpec, RunSpec, Sandbox};

use super::PoolStats;
use crate::Phase;

/// Fork servers per runtime that declares one: off unless the operator asks (today's zygotes
/// stay the default).
pub const DEFAULT_FORK_SERVERS: usize = 0;
/// The most fork servers per runtime (each holds a sandbox slot and an interpreter's memory).
pub const MAX_FORK_SERVERS: usize = 64;
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
const KEEPER_TICK: Duration = Duration::from_millis(500);

/// The node's fork server settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForkConfig {
    /// Fork servers per runtime that declares one; 0: none.
    pub servers: usize,
    pub max_runs: u64,
    pub max_age: Duration,
}

impl Default for ForkConfig {
    fn default() -> Self {
        ForkConfig {
            servers: DEFAULT_FORK_SERVERS,
            max_runs: DEFAULT_FORK_SERVER_MAX_RUNS,
            max_age: DEFAULT_FORK_SERVER_MAX_AGE,
        }
    }
}

/// What the fork servers of one runtime are made for.
#[derive(Debug, Clone)]
pub(crate) struct ForkSpec {
    pub runtime: String,
    pub instance: InstanceSpec,
}

#[derive(Debug)]
struct Entry {
    spec: ForkSpec,
    idle: Vec<ForkServer>,
    /// Idle and lent out together.
    live: usize,
    runs: u64,
    /// Runs of the runtime forked from a fork server, and runs that found none idle (or
    /// whose fork failed) and started cold: its run phase has no pool of zygotes, so these
    /// are its starts (`tiderun_starts_total`), interactive sessions' as any run's.
    warm_starts: u64,
    cold_starts: u64,
}

#[derive(Debug)]
struct State {
    entries: Vec<Entry>,
    stopping: bool,
}

#[derive(Debug)]
pub(crate) struct ForkServers {
    sandbox: Arc<Sandbox>,
    config: ForkConfig,
    state: Mutex<State>,
    wake: Condvar,
}

impl ForkServers {
    pub(crate) fn start(config: ForkConfig, sandbox: Arc<Sandbox>, specs: Vec<ForkSpec>) -> Arc<ForkServers> {
        let entries = if config.servers == 0 { Vec::new() } else { specs };
        let servers = Arc::new(ForkServers {
            sandbox,
            config,
            state: Mutex::new(State {
                entries: entries
                    .into_iter()
                    .map(|spec| Entry {
                        spec,
                        idle: Vec::new(),
                        live: 0,
                        runs: 0,
                        warm_starts: 0,
                        cold_starts: 0,
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

    /// Fork `spec` from an idle fork server of `runtime`: the server (to give back with
    /// [`ForkServers::give_back`] after the run) and the run, ready for go. None when none is
    /// idle, none serves `spec`, or the fork failed: the run starts cold (a runtime with fork
    /// servers has no zygotes for its runs), and is counted so.
    pub(crate) fn fork(&self, runtime: &str, spec: &RunSpec) -> Option<(ForkServer, Forked)> {
        let forked = self.try_fork(runtime, spec);
        let mut state = self.lock();
        if let Some(entry) = state.entries.iter_mut().find(|e| e.spec.runtime == runtime) {
            match forked {
                Some(_) => entry.warm_starts += 1,
                None => entry.cold_starts += 1,
            }
        }
        forked
    }

    fn try_fork(&self, runtime: &str, spec: &RunSpec) -> Option<(ForkServer, Forked)> {
        let mut server = {
            let mut state = self.lock();
            let entry = state.entries.iter_mut().find(|e| e.spec.runtime == runtime)?;
            let Some(i) = entry.idle.iter().rposition(|s| s.serves(spec)) else {
                tracing::debug!(
                    runtime,
                    idle = entry.idle.len(),
                    run = ?(&spec.limits, &spec.env, &spec.binds, spec.network),
                    made = ?(&entry.spec.instance.limits, &entry.spec.instance.zygote.as_ref().map(|z| &z.env), &entry.spec.instance.binds),
                    "no idle fork server serves the run"
                );
                return None;
            };
            entry.idle.swap_remove(i)
        };
        match self.sandbox.fork_run(&mut server, spec) {
            Ok(forked) => Some((server, forked)),
            Err(e) => {
                tracing::debug!(error = %e, runtime, "fork server could not fork the run");
                self.give_back(runtime, server);
                None
            }
        }
    }

    /// A fork server's run is over: keep it for the next, or replace it (dead, too old, or
    /// past its runs).
    pub(crate) fn give_back(&self, runtime: &str, server: ForkServer) {
        let keep = server.alive() && server.runs() < self.config.max_runs && server.age() < self.config.max_age;
        let mut state = self.lock();
        let stopping = state.stopping;
        let Some(entry) = state.entries.iter_mut().find(|e| e.spec.runtime == runtime) else {
            return;
        };
        entry.runs += 1;
        if keep && !stopping {
            entry.idle.push(server);
            return;
        }
        entry.live = entry.live.saturating_sub(1);
        drop(state);
        if !server.alive() {
            tracing::warn!(
                runtime,
                stderr = %String::from_utf8_lossy(&server.stderr(4096)),
                "fork server ended; replacing it"
            );
        }
        drop(server);
        self.wake.notify_all();
    }

    /// Runs forked so far, per runtime.
    pub(crate) fn runs(&self) -> Vec<(String, u64, usize)> {
        self.lock()
            .entries
            .iter()
            .map(|e| (e.spec.runtime.clone(), e.runs, e.idle.len()))
            .collect()
    }

    /// The fork servers of each runtime as a pool of its run phase (metrics, the console):
    /// idle fork servers are its ready instances, the configured number its target, and
    /// its starts are its runs forked or started cold for want of one.
    pub(crate) fn stats(&self) -> Vec<PoolStats> {
        self.lock()
            .entries
            .iter()
            .map(|e| PoolStats {
                runtime: e.spec.runtime.clone(),
                phase: Phase::Run,
                kind: "fork_server",
                ready: e.idle.len(),
                target: self.config.servers,
                panicking: false,
                warm_starts: e.warm_starts,
                cold_starts: e.cold_starts,
            })
            .collect()
    }

    pub(crate) fn shutdown(&self) {
        let drained: Vec<ForkServer> = {
            let mut state = self.lock();
            state.stopping = true;
            state.entries.iter_mut().flat_map(|e| e.idle.drain(..)).collect()
        };
        self.wake.notify_all();
        drop(drained);
    }
}

/// The keeper: start missing fork servers, retire idle ones that are too old or dead. It
/// holds a weak reference and ends with the engine.
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
            let config = servers.config;
            let mut missing = None;
            for entry in &mut state.entries {
                let (old, kept): (Vec<_>, Vec<_>) = entry
                    .idle
                    .drain(..)
                    .partition(|s| !s.alive() || s.age() >= config.max_age);
                entry.live -= old.len();
                entry.idle = kept;
                retired.extend(old);
                if missing.is_none() && entry.live < config.servers {
                    entry.live += 1;
                    missing = Some(entry.spec.clone());
                }
            }
            missing
        };
        drop(retired);
        match missing {
            Some(spec) => {
                let started = servers.sandbox.start_fork_server(&spec.instance);
                let mut state = servers.lock();
                let stopping = state.stopping;
                let entry = state
                    .entries
                    .iter_mut()
                    .find(|e| e.spec.runtime == spec.runtime)
                    .expect("entries are fixed at start");
                match started {
                    Ok(server) if !stopping => entry.idle.push(server),
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
