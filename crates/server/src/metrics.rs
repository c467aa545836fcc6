//! Prometheus metrics, named after the OpenTelemetry FaaS conventions.

use std::sync::{Arc, Mutex};

use engine::{BuildCacheStats, EngineError, MemoryStats, Observation, Observer, PoolStats, PrecompiledStats};
use prometheus::{
    Counter, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The service's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    invocations: IntCounterVec,
    duration: HistogramVec,
    errors: IntCounterVec,
    coldstarts: IntCounterVec,
    pub rate_limited: IntCounter,
    running: IntGauge,
    waiting: IntGauge,
    queued: IntGauge,
    pool_instances: IntGaugeVec,
    pool_target: IntGaugeVec,
    pool_panicking: IntGaugeVec,
    starts: IntCounterVec,
    admitted: IntCounter,
    admission_wait: Counter,
    build_cache: BuildCacheMetrics,
    precompiled: PrecompiledMetrics,
    memory: MemoryMetrics,
    deliveries: IntCounterVec,
    /// Run ledger rows dropped: the channel to its writer was full, or its backlog while the
    /// store was down.
    pub ledger_dropped: IntCounter,
    /// Run ledger rows written to the store.
    pub ledger_rows_written: IntCounter,
    /// Run ledger rows waiting to be written.
    pub ledger_backlog: IntGauge,
    /// Requests refused by a key's quota, by quota.
    quota_refusals: IntCounterVec,
    /// Serializes scrapes: counters copied from the engine only move forward by the difference
    /// to the engine's count, which two scrapes at once would both add.
    scrape: Arc<Mutex<()>>,
}

/// The engine's build cache, copied in at each scrape.
#[derive(Clone)]
struct BuildCacheMetrics {
    hits: IntCounter,
    misses: IntCounter,
    bytes: IntGauge,
    entries: IntGauge,
}

/// Each runtime's precompiled headers, copied in at each scrape.
#[derive(Clone)]
struct PrecompiledMetrics {
    ready: IntGaugeVec,
    building: IntGaugeVec,
    compiles: IntCounterVec,
}

/// The node's memory budget (`--memory-budget-mb`) and what holds it, copied in at each
/// scrape: an alert compares what running runs hold with the budget, and counts refusals.
#[derive(Clone)]
struct MemoryMetrics {
    budget: IntGauge,
    running: IntGauge,
    warm: IntGauge,
    refusals: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(&crate::node::default_node_id())
    }
}

impl Metrics {
    /// The metrics of the node `node_id` (its `tiderun_node_info` gauge).
    pub fn new(node_id: &str) -> Metrics {
        let registry = Registry::new();
        let node_info = IntGaugeVec::new(
            Opts::new("tiderun_node_info", "This node: 1, labelled with its node id"),
            &["node"],
        )
        .expect("valid metric");
        node_info.with_label_values(&[node_id]).set(1);
        let deliveries = IntCounterVec::new(
            Opts::new(
                "tiderun_queue_deliveries_total",
                "Queued submissions this node took, by what became of them: stored (run, result stored), \
                 gave_up (too many runs cut short: a final Internal Error stored), duplicate (delivered again \
                 but finished or run elsewhere: dropped), discarded (run, but its claim was taken over), \
                 released (given back while draining)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let invocations = IntCounterVec::new(
            Opts::new("faas_invocations_total", "Jobs run, by API, runtime and status"),
            &["trigger", "runtime", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("faas_invoke_duration_seconds", "Time from admission to outcome").buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["trigger", "runtime"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new("faas_errors_total", "Jobs refused or failed, by reason"),
            &["trigger", "runtime", "reason"],
        )
        .expect("valid metric");
        let coldstarts = IntCounterVec::new(
            Opts::new(
                "faas_coldstarts_total",
                "Jobs that started at least one sandbox cold (no warm instance fitted), by API and runtime",
            ),
            &["trigger", "runtime"],
        )
        .expect("valid metric");
        let rate_limited =
            IntCounter::new("tiderun_rate_limited_total", "Requests refused by the rate limit").expect("valid metric");
        let running = IntGauge::new("tiderun_runs_in_flight", "Jobs running now").expect("valid metric");
        let waiting = IntGauge::new("tiderun_admission_waiting", "Jobs waiting for a run slot").expect("valid metric");
        let queued = IntGauge::new("tiderun_queue_length", "Asynchronous submissions queued").expect("valid metric");
        let pool_instances = IntGaugeVec::new(
            Opts::new(
                "tiderun_pool_instances",
                "Warm instances ready, by runtime, phase and kind (prepared, zygote; fork_server: fork servers idle)",
            ),
            &["runtime", "phase", "kind"],
        )
        .expect("valid metric");
        let pool_target = IntGaugeVec::new(
            Opts::new("tiderun_pool_target", "The autoscaler's target size of each warm pool"),
            &["runtime", "phase"],
        )
        .expect("valid metric");
        let pool_panicking = IntGaugeVec::new(
            Opts::new(
                "tiderun_pool_panicking",
                "1 while a pool follows its short (panic) window",
            ),
            &["runtime", "phase"],
        )
        .expect("valid metric");
        let starts = IntCounterVec::new(
            Opts::new(
                "tiderun_starts_total",
                "Sandbox starts, warm (from a pool or a fork server) or cold",
            ),
            &["runtime", "phase", "start"],
        )
        .expect("valid metric");
        let admitted = IntCounter::new("tiderun_admissions_total", "Jobs admitted to run").expect("valid metric");
        let admission_wait = Counter::new(
            "tiderun_admission_wait_seconds_total",
            "Seconds admitted jobs waited for a run slot, together (divide by admissions for the mean)",
        )
        .expect("valid metric");
        let build_cache = BuildCacheMetrics {
            hits: IntCounter::new(
                "tiderun_build_cache_hits_total",
                "Compiles answered by the build cache (or by an identical compile in flight)",
            )
            .expect("valid metric"),
            misses: IntCounter::new("tiderun_build_cache_misses_total", "Compiles run on a build cache miss")
                .expect("valid metric"),
            bytes: IntGauge::new("tiderun_build_cache_bytes", "Bytes held by the build cache").expect("valid metric"),
            entries: IntGauge::new("tiderun_build_cache_entries", "Builds held by the build cache")
                .expect("valid metric"),
        };
        let precompiled = PrecompiledMetrics {
            ready: IntGaugeVec::new(
                Opts::new(
                    "tiderun_precompiled_headers_ready",
                    "Precompiled headers built for the toolchain and used by compiles that allow them",
                ),
                &["runtime"],
            )
            .expect("valid metric"),
            building: IntGaugeVec::new(
                Opts::new(
                    "tiderun_precompiled_headers_building",
                    "1 while a runtime's precompiled headers are being built (start-up, a changed toolchain)",
                ),
                &["runtime"],
            )
            .expect("valid metric"),
            compiles: IntCounterVec::new(
                Opts::new(
                    "tiderun_precompiled_header_compiles_total",
                    "Compiles that used a precompiled header",
                ),
                &["runtime"],
            )
            .expect("valid metric"),
        };
        let memory = MemoryMetrics {
            budget: IntGauge::new(
                "tiderun_memory_budget_bytes",
                "The node's memory budget for running and warm instances and held output (--memory-budget-mb)",
            )
            .expect("valid metric"),
            running: IntGauge::new(
                "tiderun_memory_running_bytes",
                "Memory limits of the runs in progress and output held for answers, within the budget",
            )
            .expect("valid metric"),
            warm: IntGauge::new(
                "tiderun_memory_warm_bytes",
                "Memory limits of the warm instances waiting, within the budget (freed first when a run needs room)",
            )
            .expect("valid metric"),
            refusals: IntCounter::new(
                "tiderun_memory_budget_refusals_total",
                "Runs refused with 429 because the memory budget was taken by running ones",
            )
            .expect("valid metric"),
        };
        let ledger_dropped = IntCounter::new(
            "tiderun_ledger_rows_dropped_total",
            "Run ledger rows (usage, run log) dropped: its channel was full, or its backlog while the store was down",
        )
        .expect("valid metric");
        let ledger_rows_written = IntCounter::new(
            "tiderun_ledger_rows_written_total",
            "Run ledger rows written to the store",
        )
        .expect("valid metric");
        let ledger_backlog = IntGauge::new(
            "tiderun_ledger_backlog_rows",
            "Run ledger rows waiting to be written to the store",
        )
        .expect("valid metric");
        let quota_refusals = IntCounterVec::new(
            Opts::new(
                "tiderun_quota_refusals_total",
                "Requests refused by their key's quota, by quota (runs_per_minute, cpu_s_per_day)",
            ),
            &["quota"],
        )
        .expect("valid metric");
        for c in [
            Box::new(invocations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(ledger_dropped.clone()),
            Box::new(ledger_rows_written.clone()),
            Box::new(ledger_backlog.clone()),
            Box::new(quota_refusals.clone()),
            Box::new(duration.clone()),
            Box::new(errors.clone()),
            Box::new(coldstarts.clone()),
            Box::new(rate_limited.clone()),
            Box::new(running.clone()),
            Box::new(waiting.clone()),
            Box::new(queued.clone()),
            Box::new(pool_instances.clone()),
            Box::new(pool_target.clone()),
            Box::new(pool_panicking.clone()),
            Box::new(starts.clone()),
            Box::new(admitted.clone()),
            Box::new(admission_wait.clone()),
            Box::new(build_cache.hits.clone()),
            Box::new(build_cache.misses.clone()),
            Box::new(build_cache.bytes.clone()),
            Box::new(build_cache.entries.clone()),
            Box::new(precompiled.ready.clone()),
            Box::new(precompiled.building.clone()),
            Box::new(precompiled.compiles.clone()),
            Box::new(memory.budget.clone()),
            Box::new(memory.running.clone()),
            Box::new(memory.warm.clone()),
            Box::new(memory.refusals.clone()),
            Box::new(node_info),
            Box::new(deliveries.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            invocations,
            duration,
            errors,
            coldstarts,
            rate_limited,
            running,
            waiting,
            queued,
            pool_instances,
            pool_target,
            pool_panicking,
            starts,
            admitted,
            admission_wait,
            build_cache,
            precompiled,
            memory,
            deliveries,
            ledger_dropped,
            ledger_rows_written,
            ledger_backlog,
            quota_refusals,
            scrape: Arc::new(Mutex::new(())),
        }
    }

    /// A request refused by its key's quota `quota`.
    pub fn quota_refused(&self, quota: &str) {
        self.quota_refusals.with_label_values(&[quota]).inc();
    }

    /// One queued submission this node took ended so (see `tiderun_queue_deliveries_total`).
    pub fn delivery(&self, outcome: &str) {
        self.deliveries.with_label_values(&[outcome]).inc();
    }

    pub fn set_gauges(&self, running: usize, waiting: usize, queued: usize) {
        self.running.set(running as i64);
        self.waiting.set(waiting as i64);
        self.queued.set(queued as i64);
    }

    /// The warm pools and admission, read from the runner when metrics are scraped.
    pub fn set_pools(&self, pools: &[PoolStats], admission: (u64, f64)) {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        for p in pools {
            let phase = p.phase.as_str();
            self.pool_instances
                .with_label_values(&[&p.runtime, phase, p.kind])
                .set(p.ready as i64);
            self.pool_target
                .with_label_values(&[&p.runtime, phase])
                .set(p.target as i64);
            self.pool_panicking
                .with_label_values(&[&p.runtime, phase])
                .set(i64::from(p.panicking));
            for (start, total) in [("warm", p.warm_starts), ("cold", p.cold_starts)] {
                let c = self.starts.with_label_values(&[&p.runtime, phase, start]);
                c.inc_by(total.saturating_sub(c.get()));
            }
        }
        let (admitted, waited_s) = admission;
        self.admitted.inc_by(admitted.saturating_sub(self.admitted.get()));
        let more = waited_s - self.admission_wait.get();
        if more > 0.0 {
            self.admission_wait.inc_by(more);
        }
    }

    /// The engine's build cache counts (monotonic) and sizes, at scrape time.
    pub fn set_build_cache(&self, s: BuildCacheStats) {
        let m = &self.build_cache;
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        m.hits.inc_by(s.hits.saturating_sub(m.hits.get()));
        m.misses.inc_by(s.misses.saturating_sub(m.misses.get()));
        m.bytes.set(s.bytes as i64);
        m.entries.set(s.entries as i64);
    }

    /// Each runtime's precompiled headers (ready, building, compiles that used one), at
    /// scrape time.
    pub fn set_precompiled(&self, all: &[PrecompiledStats]) {
        let m = &self.precompiled;
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        for s in all {
            let runtime = [s.runtime.as_str()];
            m.ready.with_label_values(&runtime).set(s.ready as i64);
            m.building.with_label_values(&runtime).set(i64::from(s.building));
            let c = m.compiles.with_label_values(&runtime);
            c.inc_by(s.compiles.saturating_sub(c.get()));
        }
    }

    /// The node's memory budget and what holds it, at scrape time.
    pub fn set_memory(&self, s: MemoryStats) {
        let m = &self.memory;
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        m.budget.set(s.budget_bytes as i64);
        m.running.set(s.running_bytes as i64);
        m.warm.set(s.warm_bytes as i64);
        m.refusals.inc_by(s.refusals.saturating_sub(m.refusals.get()));
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Every request the runner is given, whatever its API, is counted here once: the runner
/// reports it when it ends. No handler records a run itself.
impl Observer for Metrics {
    fn observe(&self, run: &Observation<'_>) {
        let (trigger, runtime) = (run.trigger.api, run.runtime);
        match run.result {
            Ok(outcome) => {
                self.invocations
                    .with_label_values(&[trigger, runtime, outcome.status.as_str()])
                    .inc();
                self.duration
                    .with_label_values(&[trigger, runtime])
                    .observe(run.took.as_secs_f64());
                if outcome.usage.cold_starts > 0 {
                    self.coldstarts.with_label_values(&[trigger, runtime]).inc();
                }
            }
            Err(e) => {
                let reason = match e {
                    EngineError::Busy { .. } => "busy",
                    EngineError::ShuttingDown => "shutting_down",
                    e if e.is_caller_mistake() => "bad_request",
                    _ => "internal",
                };
                self.errors.with_label_values(&[trigger, runtime, reason]).inc();
            }
        }
    }
}
