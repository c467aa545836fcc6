//! Metering: what ran, per key, per UTC day and per runtime (`usage_daily`), and the recent
//! runs (`runs`), written in batches by the server's ledger and read by the usage and run-log
//! APIs, the quotas and `tiderun usage`. Never a program's code, input or output.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use crate::error::query;
use crate::store::check_text;
use crate::time::{from_us, now_us};
use crate::{Store, StoreError};

/// Recent runs kept at most, over every node: what the console and `GET /api/v1/runs` page
/// through (a few hundred bytes each: ~50 MB at most).
pub const RUN_LOG_MAX_ROWS: u64 = 200_000;
/// Recent runs older than this are pruned: the log is for "what just happened", the day's
/// totals stay in `usage_daily` for ever.
pub const RUN_LOG_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most runs one read of the run log returns.
pub const MAX_RUNS_PER_PAGE: u32 = 500;
/// Most days one usage read covers.
pub const MAX_USAGE_DAYS: i64 = 366;
/// Most rows one usage read returns (days × keys × runtimes): past it the read is refused and
/// the caller narrows it.
pub const MAX_USAGE_ROWS: i64 = 100_000;

/// One request as it ended, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// The run id (a UUID v7: sorts by start time).
    pub id: String,
    /// When it ended.
    pub at: DateTime<Utc>,
    /// The node that ran it.
    pub node: String,
    /// The caller's key name, if any.
    pub key: Option<String>,
    /// The API it came through (`native`, `piston`, `judge0`, `native_ws`, `piston_ws`).
    pub api: String,
    /// The runtime's name.
    pub runtime: String,
    /// The outcome's status (`ok`, `time_limit`...), or why there was none (`busy`,
    /// `bad_request`, `internal`...).
    pub status: String,
    pub cpu_ms: u64,
    pub wall_ms: u64,
    pub memory_kb: u64,
    pub memory_limit_mb: u64,
    /// `warm`, `cold` or `none`.
    pub start: String,
    /// Memory limit × wall time of every stage, MiB·ms.
    pub mb_ms: u64,
    /// Refused or failed by tiderun (no outcome).
    pub error: bool,
    /// Ended on a limit.
    pub limit_hit: bool,
}

/// A day's totals for one key and runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRow {
    pub day: NaiveDate,
    pub key: Option<String>,
    pub runtime: String,
    pub totals: UsageTotals,
}

/// Counts and sums of runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub runs: u64,
    pub errors: u64,
    pub limits_hit: u64,
    pub cpu_ms: u64,
    pub wall_ms: u64,
    pub mb_ms: u64,
}

impl UsageTotals {
    pub fn add(&mut self, other: &UsageTotals) {
        self.runs += other.runs;
        self.errors += other.errors;
        self.limits_hit += other.limits_hit;
        self.cpu_ms += other.cpu_ms;
        self.wall_ms += other.wall_ms;
        self.mb_ms += other.mb_ms;
    }

    fn of(run: &RunRecord) -> UsageTotals {
        UsageTotals {
            runs: 1,
            errors: u64::from(run.error),
            limits_hit: u64::from(run.limit_hit),
            cpu_ms: run.cpu_ms,
            wall_ms: run.wall_ms,
            mb_ms: run.mb_ms,
        }
    }
}

/// Which days, keys and runtimes a usage read covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageQuery {
    /// First day, inclusive.
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    pub key: Option<String>,
    pub runtime: Option<String>,
}

/// Which recent runs to read: newest first, at most `limit`, older than `before` (a run id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunsQuery {
    pub limit: u32,
    pub key: Option<String>,
    pub runtime: Option<String>,
    pub status: Option<String>,
    pub node: Option<String>,
    pub before: Option<String>,
}

/// How `usage_daily` names "no key": key names are never empty.
const NO_KEY: &str = "";

fn key_column(key: Option<&str>) -> &str {
    key.unwrap_or(NO_KEY)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Record a batch of runs, in one transaction: each (day, key, runtime)'s totals are ADDED to
    /// its stored row (so nodes sharing a database add up), and each run goes into the run log.
    /// A run id already stored is skipped (a batch retried after a commit whose answer was lost
    /// adds its totals again: the ledger retries only what failed, and a lost answer is rare).
    pub async fn record_runs(&self, runs: &[RunRecord]) -> Result<(), StoreError> {
        const OP: &str = "record_runs";
        if runs.is_empty() {
            return Ok(());
        }
        let mut days: BTreeMap<(String, &str, &str), UsageTotals> = BTreeMap::new();
        for run in runs {
            for text in [&run.id, &run.node, &run.api, &run.runtime, &run.status, &run.start] {
                check_text("run", text)?;
            }
            if let Some(key) = &run.key {
                check_text("key", key)?;
            }
            let day = run.at.date_naive().format("%Y-%m-%d").to_string();
            days.entry((day, key_column(run.key.as_deref()), &run.runtime))
                .or_default()
                .add(&UsageTotals::of(run));
        }
        let mut tx = self.pool.begin().await.map_err(query(OP))?;
        for ((day, key, runtime), t) in &days {
            sqlx::query(
                "INSERT INTO usage_daily (day, key_name, runtime, runs, errors, limits_hit, cpu_ms, wall_ms, mb_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (day, key_name, runtime) DO UPDATE SET \
                 runs = usage_daily.runs + excluded.runs, \
                 errors = usage_daily.errors + excluded.errors, \
                 limits_hit = usage_daily.limits_hit + excluded.limits_hit, \
                 cpu_ms = usage_daily.cpu_ms + excluded.cpu_ms, \
                 wall_ms = usage_daily.wall_ms + excluded.wall_ms, \
                 mb_ms = usage_daily.mb_ms + excluded.mb_ms",
            )
            .bind(day.as_str())
            .bind(*key)
            .bind(*runtime)
            .bind(to_i64(t.runs))
            .bind(to_i64(t.errors))
            .bind(to_i64(t.limits_hit))
            .bind(to_i64(t.cpu_ms))
            .bind(to_i64(t.wall_ms))
            .bind(to_i64(t.mb_ms))
            .execute(&mut *tx)
            .await
            .map_err(query(OP))?;
        }
        for run in runs {
            sqlx::query(
                "INSERT INTO runs (id, at, node, key_name, api, runtime, status, cpu_ms, wall_ms, memory_kb, \
                 memory_limit_mb, start) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(run.id.as_str())
            .bind(run.at.timestamp_micros())
            .bind(run.node.as_str())
            .bind(run.key.as_deref())
            .bind(run.api.as_str())
            .bind(run.runtime.as_str())
            .bind(run.status.as_str())
            .bind(to_i64(run.cpu_ms))
            .bind(to_i64(run.wall_ms))
            .bind(to_i64(run.memory_kb))
            .bind(to_i64(run.memory_limit_mb))
            .bind(run.start.as_str())
            .execute(&mut *tx)
            .await
            .map_err(query(OP))?;
        }
        tx.commit().await.map_err(query(OP))?;
        Ok(())
    }

    /// Drop recent runs past `max_rows` (the oldest) and older than `max_age`. Returns how many
    /// went.
    pub async fn prune_runs(&self, max_rows: u64, max_age: Duration) -> Result<u64, StoreError> {
        const OP: &str = "prune_runs";
        let cutoff = now_us().saturating_sub(i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX));
        let old = sqlx::query("DELETE FROM runs WHERE at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await
            .map_err(query(OP))?
            .rows_affected();
        // The id of the newest run past the bound; it and everything older goes.
        let past = sqlx::query("SELECT id FROM runs ORDER BY id DESC LIMIT 1 OFFSET $1")
            .bind(to_i64(max_rows))
            .fetch_optional(&self.pool)
            .await
            .map_err(query(OP))?;
        let mut many = 0;
        if let Some(row) = past {
            let id: String = row.try_get(0).map_err(query(OP))?;
            many = sqlx::query("DELETE FROM runs WHERE id <= $1")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(query(OP))?
                .rows_affected();
        }
        Ok(old + many)
    }

    /// The days' totals, by day (oldest first), key and runtime. At most [`MAX_USAGE_DAYS`] days
    /// and [`MAX_USAGE_ROWS`] rows.
    pub async fn usage(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, StoreError> {
        const OP: &str = "usage";
        let days = (q.to - q.from).num_days() + 1;
        if !(1..=MAX_USAGE_DAYS).contains(&days) {
            return Err(StoreError::InvalidUsageRange { from: q.from, to: q.to });
        }
        let from = q.from.format("%Y-%m-%d").to_string();
        let to = q.to.format("%Y-%m-%d").to_string();
        // Unused filters compare a column with itself (`$4 IS NULL OR ...`): one statement.
        let rows = sqlx::query(
            "SELECT day, key_name, runtime, runs, errors, limits_hit, cpu_ms, wall_ms, mb_ms FROM usage_daily \
             WHERE day >= $1 AND day <= $2 AND ($3 IS NULL OR key_name = $3) AND ($4 IS NULL OR runtime = $4) \
             ORDER BY day, key_name, runtime LIMIT $5",
        )
        .bind(from)
        .bind(to)
        .bind(q.key.as_deref())
        .bind(q.runtime.as_deref())
        .bind(MAX_USAGE_ROWS + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(query(OP))?;
        if rows.len() as i64 > MAX_USAGE_ROWS {
            return Err(StoreError::UsageTooLarge { max: MAX_USAGE_ROWS });
        }
        rows.iter()
            .map(|row| {
                let day: String = row.try_get(0).map_err(query(OP))?;
                let key: String = row.try_get(1).map_err(query(OP))?;
                let n = |i: usize| row.try_get::<i64, _>(i).map(to_u64).map_err(query(OP));
                Ok(UsageRow {
                    day: NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|_| StoreError::Corrupt {
                        column: "day",
                        key: key.clone(),
                        value: day.clone(),
                    })?,
                    runtime: row.try_get(2).map_err(query(OP))?,
                    totals: UsageTotals {
                        runs: n(3)?,
                        errors: n(4)?,
                        limits_hit: n(5)?,
                        cpu_ms: n(6)?,
                        wall_ms: n(7)?,
                        mb_ms: n(8)?,
                    },
                    key: (key != NO_KEY).then_some(key),
                })
            })
            .collect()
    }

    /// CPU milliseconds the key used on `day`, over every runtime and node (what has been
    /// recorded: a node's unflushed runs are its own to add).
    pub async fn key_cpu_ms(&self, key: &str, day: NaiveDate) -> Result<u64, StoreError> {
        const OP: &str = "key_cpu_ms";
        // SUM over BIGINT is NUMERIC on Postgres: cast back, so both backends answer a BIGINT.
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(cpu_ms), 0) AS BIGINT) FROM usage_daily WHERE day = $1 AND key_name = $2",
        )
        .bind(day.format("%Y-%m-%d").to_string())
        .bind(key)
        .fetch_one(&self.pool)
        .await
        .map_err(query(OP))?;
        let sum: i64 = row.try_get(0).map_err(query(OP))?;
        Ok(to_u64(sum))
    }

    /// Recent runs, newest first.
    pub async fn recent_runs(&self, q: &RunsQuery) -> Result<Vec<RunRecord>, StoreError> {
        const OP: &str = "recent_runs";
        if q.limit == 0 || q.limit > MAX_RUNS_PER_PAGE {
            return Err(StoreError::InvalidPage {
                page: 1,
                per_page: q.limit,
            });
        }
        let rows = sqlx::query(
            "SELECT id, at, node, key_name, api, runtime, status, cpu_ms, wall_ms, memory_kb, memory_limit_mb, start \
             FROM runs WHERE ($1 IS NULL OR key_name = $1) AND ($2 IS NULL OR runtime = $2) \
             AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR node = $4) AND ($5 IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $6",
        )
        .bind(q.key.as_deref())
        .bind(q.runtime.as_deref())
        .bind(q.status.as_deref())
        .bind(q.node.as_deref())
        .bind(q.before.as_deref())
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query(OP))?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get(0).map_err(query(OP))?;
                let n = |i: usize| row.try_get::<i64, _>(i).map(to_u64).map_err(query(OP));
                Ok(RunRecord {
                    at: from_us(row.try_get(1).map_err(query(OP))?, "at", &id)?,
                    node: row.try_get(2).map_err(query(OP))?,
                    key: row.try_get(3).map_err(query(OP))?,
                    api: row.try_get(4).map_err(query(OP))?,
                    runtime: row.try_get(5).map_err(query(OP))?,
                    status: row.try_get(6).map_err(query(OP))?,
                    cpu_ms: n(7)?,
                    wall_ms: n(8)?,
                    memory_kb: n(9)?,
                    memory_limit_mb: n(10)?,
                    start: row.try_get(11).map_err(query(OP))?,
                    mb_ms: 0,
                    error: false,
                    limit_hit: false,
                    id,
                })
            })
            .collect()
    }
}
