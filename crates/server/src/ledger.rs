//! The run ledger: every request the runner is given, as one row of the store's run log and
//! as part of its key's day totals (`store::Store::record_runs`), and the run log line
//! (target `tiderun::run`).
//!
//! The observer never blocks a run: it pushes a row into a bounded channel (a full channel
//! drops the row and counts it in `tiderun_ledger_rows_dropped_total`). A task takes the rows
//! and writes them every [`LEDGER_FLUSH_INTERVAL`] or [`LEDGER_BATCH_ROWS`] rows, one
//! transaction per batch, whose upserts ADD to the day's rows (several nodes add up). While the
//! store is down the rows wait in a backlog of at most [`LEDGER_BACKLOG_ROWS`] (past it the
//! oldest are dropped and counted); [`Ledger::close`] writes what is left when the node stops.
//!
//! The ledger also answers the CPU quota's question, "how much CPU did this key use today":
//! the store's day total (over every node; cached for [`CPU_USED_CACHE`]) plus what this node
//! has not written yet.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use engine::{EngineError, Observation, Observer};
use sandbox::Status;
use store::{RunRecord, Store};
use tokio::sync::{mpsc, Notify};

use crate::Metrics;

/// How often the ledger writes what it has: the usage and the run log lag the runs by about
/// this much.
pub const LEDGER_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Rows written in one transaction at most; this many waiting are written at once, before the
/// interval.
pub const LEDGER_BATCH_ROWS: usize = 500;
/// Rows waiting in the channel between the runs and the writer (a few hundred bytes each): a
/// second of a very busy node's runs many times over.
pub const LEDGER_CHANNEL_ROWS: usize = 10_000;
/// Rows kept while the store cannot take them (~30 MB at most); past it the oldest are
/// dropped and counted.
pub const LEDGER_BACKLOG_ROWS: usize = 100_000;
/// How often the run log is pruned to its bounds (`store::RUN_LOG_MAX_ROWS`,
/// `store::RUN_LOG_MAX_AGE`).
pub const RUN_LOG_PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a key's stored CPU total for the day is reused by the CPU quota before it is read
/// again: other nodes' runs reach this node within it (this node's own at once).
pub const CPU_USED_CACHE: Duration = Duration::from_secs(5);
/// A CPU quota check waits this long for the store; past it (or when the store fails) the
/// last known total is used, or none: a store that is down never stops or slows the runs.
pub const CPU_USED_STORE_TIMEOUT: Duration = Duration::from_secs(1);

/// (key, UTC day).
type KeyDay = (Arc<str>, NaiveDate);

/// The ledger of one node: the observer, the writer task's handle, the CPU totals.
#[derive(Clone)]
pub struct Ledger(Arc<Inner>);

struct Inner {
    node: String,
    tx: mpsc::Sender<RunRecord>,
    /// The writer's end, until the writer task starts.
    rx: Mutex<Option<mpsc::Receiver<RunRecord>>>,
    metrics: Metrics,
    /// CPU ms per key and day observed here and not yet written.
    unwritten: Mutex<HashMap<KeyDay, u64>>,
    /// Stored CPU ms per key and day, and when they were read.
    stored: Mutex<HashMap<KeyDay, (Instant, u64)>>,
    /// Batches written: a total read while one was written is not cached (it may or may not
    /// hold the batch, which has left `unwritten`).
    writes: AtomicU64,
    /// Rows kept at most while the store cannot take them.
    backlog_rows: usize,
    stop: Notify,
    done: Notify,
    stopped: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ledger")
    }
}

impl Ledger {
    /// A ledger of the node `node`; nothing is written until [`Ledger::start`].
    pub fn new(node: &str, metrics: Metrics) -> Ledger {
        Ledger::with_bounds(node, metrics, LEDGER_CHANNEL_ROWS, LEDGER_BACKLOG_ROWS)
    }

    /// A ledger whose channel holds `channel_rows` and whose backlog `backlog_rows`.
    fn with_bounds(node: &str, metrics: Metrics, channel_rows: usize, backlog_rows: usize) -> Ledger {
        let (tx, rx) = mpsc::channel(channel_rows.max(1));
        Ledger(Arc::new(Inner {
            node: node.to_owned(),
            tx,
            rx: Mutex::new(Some(rx)),
            metrics,
            unwritten: Mutex::default(),
            stored: Mutex::default(),
            writes: AtomicU64::new(0),
            backlog_rows,
            stop: Notify::new(),
            done: Notify::new(),
            stopped: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Start the writer on the current tokio runtime (once; later calls do nothing). It ends
    /// with [`Ledger::close`].
    pub fn start(&self, store: Store) {
        let Some(rx) = lock(&self.0.rx).take() else { return };
        let ledger = self.clone();
        tokio::spawn(async move { ledger.write_loop(store, rx).await });
    }

    /// Write what is waiting and stop the writer, within `timeout`. True when everything was
    /// written.
    pub async fn close(&self, timeout: Duration) -> bool {
        if lock(&self.0.rx).is_some() {
            // Never started: nothing to write.
            return true;
        }
        let done = self.0.done.notified();
        self.0.stopped.store(true, Ordering::Release);
        self.0.stop.notify_one();
        tokio::time::timeout(timeout, done).await.is_ok() && self.0.metrics.ledger_backlog.get() == 0
    }

    /// CPU milliseconds `key` used today (UTC) over every node, as far as this node knows:
    /// the stored total (cached for [`CPU_USED_CACHE`]) plus what this node has not written.
    pub async fn cpu_ms_today(&self, store: &Store, key: &Arc<str>) -> u64 {
        let day = Utc::now().date_naive();
        let k = (Arc::clone(key), day);
        let cached = lock(&self.0.stored).get(&k).copied();
        let stored = match cached {
            Some((at, ms)) if at.elapsed() < CPU_USED_CACHE => ms,
            _ => {
                let writes = self.0.writes.load(Ordering::Acquire);
                match tokio::time::timeout(CPU_USED_STORE_TIMEOUT, store.key_cpu_ms(key, day)).await {
                    Ok(Ok(ms)) => {
                        if self.0.writes.load(Ordering::Acquire) == writes {
                            let mut stored = lock(&self.0.stored);
                            // Only today's totals are needed: forget other days.
                            stored.retain(|(_, d), _| *d == day);
                            stored.insert(k.clone(), (Instant::now(), ms));
                        }
                        ms
                    }
                    failed => {
                        if let Ok(Err(e)) = failed {
                            tracing::warn!(error = ?e, "cpu quota: cannot read the day's total; using the last known");
                        } else {
                            tracing::warn!("cpu quota: the store did not answer in time; using the last known total");
                        }
                        cached.map_or(0, |(_, ms)| ms)
                    }
                }
            }
        };
        stored + lock(&self.0.unwritten).get(&k).copied().unwrap_or(0)
    }

    async fn write_loop(self, store: Store, mut rx: mpsc::Receiver<RunRecord>) {
        let mut backlog: Vec<RunRecord> = Vec::new();
        let mut tick = tokio::time::interval(LEDGER_FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = Instant::now();
        let mut failing = false;
        loop {
            let stopping = tokio::select! {
                _ = tick.tick() => false,
                n = rx.recv_many(&mut backlog, LEDGER_BATCH_ROWS) => {
                    if n == 0 {
                        true
                    } else if backlog.len() < LEDGER_BATCH_ROWS {
                        continue;
                    } else {
                        false
                    }
                }
                _ = self.0.stop.notified() => true,
            };
            let stopping = stopping || self.0.stopped.load(Ordering::Acquire);
            if stopping {
                while let Ok(row) = rx.try_recv() {
                    backlog.push(row);
                }
            }
            self.bound(&mut backlog);
            self.0.metrics.ledger_backlog.set(backlog.len() as i64);
            match self.write(&store, &mut backlog).await {
                Ok(()) => {
                    if failing {
                        tracing::info!("ledger: the store takes rows again");
                        failing = false;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = ?e, rows = backlog.len(), "ledger: cannot write runs; keeping them");
                        failing = true;
                    }
                }
            }
            self.0.metrics.ledger_backlog.set(backlog.len() as i64);
            if stopping {
                self.0.done.notify_waiters();
                return;
            }
            if !failing && pruned.elapsed() >= RUN_LOG_PRUNE_INTERVAL {
                pruned = Instant::now();
                if let Err(e) = store.prune_runs(store::RUN_LOG_MAX_ROWS, store::RUN_LOG_MAX_AGE).await {
                    tracing::warn!(error = ?e, "ledger: cannot prune the run log");
                }
            }
        }
    }

    /// Keep at most [`LEDGER_BACKLOG_ROWS`]: the oldest go, counted.
    fn bound(&self, backlog: &mut Vec<RunRecord>) {
        let excess = backlog.len().saturating_sub(self.0.backlog_rows);
        if excess > 0 {
            let dropped: Vec<RunRecord> = backlog.drain(..excess).collect();
            self.forget_unwritten(&dropped);
            self.0.metrics.ledger_dropped.inc_by(excess as u64);
        }
    }

    /// Write the backlog in batches; stops at the first failure (the rest stays).
    async fn write(&self, store: &Store, backlog: &mut Vec<RunRecord>) -> Result<(), store::StoreError> {
        while !backlog.is_empty() {
            let n = backlog.len().min(LEDGER_BATCH_ROWS);
            store.record_runs(&backlog[..n]).await?;
            let written: Vec<RunRecord> = backlog.drain(..n).collect();
            // Now in the store: move their CPU from "unwritten" to the cached stored totals.
            self.0.writes.fetch_add(1, Ordering::AcqRel);
            let per_key = cpu_per_key(&written);
            {
                let mut stored = lock(&self.0.stored);
                for (k, ms) in &per_key {
                    if let Some((_, total)) = stored.get_mut(k) {
                        *total += ms;
                    }
                }
            }
            self.subtract_unwritten(&per_key);
            self.0.metrics.ledger_rows_written.inc_by(n as u64);
        }
        Ok(())
    }

    fn forget_unwritten(&self, rows: &[RunRecord]) {
        self.subtract_unwritten(&cpu_per_key(rows));
    }

    fn subtract_unwritten(&self, per_key: &HashMap<KeyDay, u64>) {
        let mut unwritten = lock(&self.0.unwritten);
        for (k, ms) in per_key {
            if let Some(left) = unwritten.get_mut(k) {
                *left = left.saturating_sub(*ms);
                if *left == 0 {
                    unwritten.remove(k);
                }
            }
        }
    }
}

fn cpu_per_key(rows: &[RunRecord]) -> HashMap<KeyDay, u64> {
    let mut per_key: HashMap<KeyDay, u64> = HashMap::new();
    for row in rows {
        if let Some(key) = &row.key {
            *per_key
                .entry((Arc::from(key.as_str()), row.at.date_naive()))
                .or_default() += row.cpu_ms;
        }
    }
    per_key
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The status word of a request: its outcome's status, or why there was none (the metrics'
/// `faas_errors_total` reasons).
pub fn status_word(result: Result<&engine::Outcome, &EngineError>) -> &'static str {
    match result {
        Ok(outcome) => outcome.status.as_str(),
        Err(EngineError::Busy { .. }) => "busy",
        Err(EngineError::ShuttingDown) => "shutting_down",
        Err(e) if e.is_caller_mistake() => "bad_request",
        Err(_) => "internal",
    }
}

/// `warm`, `cold` (at least one sandbox started cold) or `none` (nothing started).
fn start_word(usage: &engine::Usage) -> &'static str {
    if usage.cold_starts > 0 {
        "cold"
    } else if usage.warm_starts > 0 {
        "warm"
    } else {
        "none"
    }
}

/// A request as the ledger records it.
pub fn record(node: &str, run: &Observation<'_>) -> RunRecord {
    let usage = run.result.map(|o| o.usage).unwrap_or_default();
    let status = status_word(run.result);
    let error = run.is_error();
    let limit_hit = run.result.is_ok_and(|o| {
        matches!(
            o.status,
            Status::TimeLimit
                | Status::WallTimeLimit
                | Status::InputWaitLimit
                | Status::MemoryLimit
                | Status::OutputLimit
                | Status::FileSizeLimit
        )
    });
    RunRecord {
        id: run.id.to_string(),
        at: Utc::now(),
        node: node.to_owned(),
        key: run.trigger.key.as_deref().map(str::to_owned),
        api: run.trigger.api.to_owned(),
        runtime: run.runtime.to_owned(),
        status: status.to_owned(),
        cpu_ms: usage.cpu_time_ms,
        wall_ms: usage.wall_time_ms,
        memory_kb: usage.memory_kb,
        memory_limit_mb: usage.memory_limit_mb,
        start: start_word(&usage).to_owned(),
        mb_ms: usage.memory_mb_ms,
        error,
        limit_hit,
    }
}

/// Every request: one row for the writer (never waiting: a full channel drops it, counted),
/// its CPU counted for its key's quota at once, and the run log line.
impl Observer for Ledger {
    fn observe(&self, run: &Observation<'_>) {
        let row = record(&self.0.node, run);
        log_line(&row);
        let cpu = row
            .key
            .as_deref()
            .map(|k| ((Arc::from(k), row.at.date_naive()), row.cpu_ms));
        match self.0.tx.try_send(row) {
            Ok(()) => {
                if let Some((k, ms)) = cpu {
                    *lock(&self.0.unwritten).entry(k).or_default() += ms;
                }
            }
            Err(_) => self.0.metrics.ledger_dropped.inc(),
        }
    }
}

/// The run log line: one per request, INFO, target `tiderun::run`. Never the program's
/// source, input or output (the row holds none).
fn log_line(row: &RunRecord) {
    tracing::info!(
        target: "tiderun::run",
        run_id = %row.id,
        key = row.key.as_deref().unwrap_or("-"),
        api = %row.api,
        runtime = %row.runtime,
        status = %row.status,
        cpu_ms = row.cpu_ms,
        wall_ms = row.wall_ms,
        memory_kb = row.memory_kb,
        start = %row.start,
        node = %row.node,
        "run"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::{Outcome, RunId, Trigger, Usage};

    fn observe(ledger: &Ledger, key: &str, cpu_ms: u64) {
        let outcome = Outcome {
            status: Status::TimeLimit,
            usage: Usage {
                cold_starts: 1,
                cpu_time_ms: cpu_ms,
                ..Usage::default()
            },
            ..Outcome::default()
        };
        let trigger = Trigger::new("native").with_key(Some(Arc::from(key)));
        ledger.observe(&Observation {
            id: &RunId::new(),
            trigger: &trigger,
            runtime: "python",
            result: Ok(&outcome),
            took: Duration::from_millis(1),
        });
    }

    /// A full channel drops rows (counted) instead of waiting; a store that is down keeps a
    /// bounded backlog (the oldest dropped, counted); the CPU of unwritten runs counts for
    /// the key's quota, of dropped ones not.
    #[tokio::test]
    async fn never_waits_and_keeps_a_bounded_backlog_while_the_store_is_down() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let metrics = Metrics::new("n");
        let ledger = Ledger::with_bounds("n", metrics.clone(), 4, 2);
        for _ in 0..10 {
            observe(&ledger, "k", 100);
        }
        assert_eq!(metrics.ledger_dropped.get(), 6, "the channel holds 4");
        let key: Arc<str> = Arc::from("k");
        assert_eq!(ledger.cpu_ms_today(&store, &key).await, 400);
        store.close().await;
        ledger.start(store.clone());
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.ledger_dropped.get() < 8 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(metrics.ledger_dropped.get(), 8, "the backlog holds 2");
        assert_eq!(metrics.ledger_backlog.get(), 2);
        assert_eq!(metrics.ledger_rows_written.get(), 0);
        assert_eq!(
            ledger.cpu_ms_today(&store, &key).await,
            200,
            "the backlog's CPU, not the dropped rows'"
        );
        assert!(
            !ledger.close(Duration::from_secs(5)).await,
            "not everything could be written"
        );
    }

    #[test]
    fn rows_count_errors_and_limits_and_name_the_start() {
        let trigger = Trigger::new("piston");
        let row = |result: Result<&Outcome, &EngineError>| {
            record(
                "n",
                &Observation {
                    id: &RunId::new(),
                    trigger: &trigger,
                    runtime: "c",
                    result,
                    took: Duration::ZERO,
                },
            )
        };
        let limit = Outcome {
            status: Status::MemoryLimit,
            usage: Usage {
                warm_starts: 2,
                wall_time_ms: 30,
                memory_limit_mb: 256,
                memory_mb_ms: 256 * 30,
                ..Usage::default()
            },
            ..Outcome::default()
        };
        let r = row(Ok(&limit));
        assert_eq!(
            (r.status.as_str(), r.error, r.limit_hit, r.start.as_str()),
            ("memory_limit", false, true, "warm")
        );
        assert_eq!(
            (r.wall_ms, r.memory_limit_mb, r.mb_ms, r.key),
            (30, 256, 256 * 30, None)
        );
        let busy = row(Err(&EngineError::Busy { retry_after_s: 1 }));
        assert_eq!(
            (busy.status.as_str(), busy.error, busy.limit_hit, busy.start.as_str()),
            ("busy", true, false, "none")
        );
        let bad = row(Err(&EngineError::BadRequest("no".into())));
        assert_eq!((bad.status.as_str(), bad.error), ("bad_request", false));
    }
}
