//! `GET /api/v1/usage` (what ran, per key, UTC day and runtime) and `GET /api/v1/runs` (the
//! recent runs, never their code, input or output): admin only, read from the store, which
//! every node's ledger writes (`crate::ledger`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Duration as Days, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use store::{RunsQuery, UsageQuery, UsageTotals, MAX_RUNS_PER_PAGE, MAX_USAGE_DAYS};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::ErrorBody;
use crate::{Admin, ApiError, AppState};

/// Days a usage read covers when it names no `from`: the last week, today included.
pub const DEFAULT_USAGE_DAYS: i64 = 7;
/// Runs a run log read returns when it names no `limit`.
pub const DEFAULT_RUNS_LIMIT: u32 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/usage", get(usage))
        .route("/api/v1/runs", get(runs))
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    UsageApi::openapi()
}

#[derive(OpenApi)]
#[openapi(
    paths(usage, runs),
    components(schemas(UsageResponse, UsageRowJson, UsageTotalsJson, RunsResponse, RunJson)),
    tags((name = "operate", description = "Metering and the run log (admin keys only)"))
)]
struct UsageApi;

/// `GET /api/v1/usage`'s query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// First UTC day, inclusive (`YYYY-MM-DD`); default: 6 days before `to`.
    pub from: Option<String>,
    /// Last UTC day, inclusive (`YYYY-MM-DD`); default: today. At most 366 days from `from`.
    pub to: Option<String>,
    /// Only this key's runs (its name).
    pub key: Option<String>,
    /// Only this runtime's runs (its name).
    pub runtime: Option<String>,
}

/// The usage between two days.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageResponse {
    pub from: String,
    pub to: String,
    /// Per day (oldest first), key and runtime.
    pub rows: Vec<UsageRowJson>,
    /// The rows together.
    pub totals: UsageTotalsJson,
}

/// One day's usage of one key and runtime.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageRowJson {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// The key's name; null for requests made without a key.
    pub key: Option<String>,
    pub runtime: String,
    #[serde(flatten)]
    pub totals: UsageTotalsJson,
}

/// Counts and sums.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageTotalsJson {
    /// Requests (a run, a request with tests, a session, a Judge0 submission's runs).
    pub runs: u64,
    /// Requests refused (no run slot, shutting down) or failed by tiderun.
    pub errors: u64,
    /// Requests that ended on a limit (CPU or wall time, memory, output, file size).
    pub limits_hit: u64,
    /// CPU-seconds.
    pub cpu_s: f64,
    /// Wall-seconds of the sandboxes that started.
    pub wall_s: f64,
    /// GB-seconds: each stage's memory limit (GiB) × its wall time (s), as cloud functions
    /// bill.
    pub gb_s: f64,
}

impl From<&UsageTotals> for UsageTotalsJson {
    fn from(t: &UsageTotals) -> Self {
        UsageTotalsJson {
            runs: t.runs,
            errors: t.errors,
            limits_hit: t.limits_hit,
            cpu_s: t.cpu_ms as f64 / 1000.0,
            wall_s: t.wall_ms as f64 / 1000.0,
            gb_s: t.mb_ms as f64 / 1024.0 / 1000.0,
        }
    }
}

/// A query's fields as given, or a 400 naming the field.
fn params<T: Default>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(format!("bad query: {}", e.body_text())))
}

/// An empty field is an absent one (`?key=`).
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn day(field: &str, value: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| ApiError::BadRequest(format!("{field}: expected a UTC day as YYYY-MM-DD, got {value:?}")))
}

/// Usage per key, UTC day and runtime: runs, errors, limits hit, CPU-, wall- and GB-seconds,
/// added up over every node. Admin keys only.
#[utoipa::path(
    get,
    path = "/api/v1/usage",
    tag = "operate",
    params(UsageParams),
    responses(
        (status = 200, description = "The usage, per day, key and runtime, and its totals", body = UsageResponse),
        (status = 400, description = "A day that is not YYYY-MM-DD, `from` after `to`, more than 366 days", body = ErrorBody),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn usage(
    _: Admin,
    State(state): State<AppState>,
    query: Result<Query<UsageParams>, QueryRejection>,
) -> Result<Json<UsageResponse>, ApiError> {
    Ok(Json(read_usage(state.store(), params(query)?).await?))
}

/// The days a usage read covers: `from` and `to` as given (`YYYY-MM-DD`, inclusive), by default
/// the last [`DEFAULT_USAGE_DAYS`] days to today (UTC); at most [`MAX_USAGE_DAYS`].
pub fn usage_days(from: Option<&str>, to: Option<&str>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = match to.filter(|v| !v.is_empty()) {
        Some(to) => day("to", to)?,
        None => Utc::now().date_naive(),
    };
    let from = match from.filter(|v| !v.is_empty()) {
        Some(from) => day("from", from)?,
        None => to - Days::days(DEFAULT_USAGE_DAYS - 1),
    };
    if from > to {
        return Err(ApiError::BadRequest(format!("from ({from}) is after to ({to})")));
    }
    let days = (to - from).num_days() + 1;
    if days > MAX_USAGE_DAYS {
        return Err(ApiError::BadRequest(format!(
            "from {from} to {to} is {days} days; at most {MAX_USAGE_DAYS} at a time"
        )));
    }
    Ok((from, to))
}

/// The usage `params` ask for, as `GET /api/v1/usage` answers it (and `tiderun usage` prints).
pub async fn read_usage(store: &store::Store, params: UsageParams) -> Result<UsageResponse, ApiError> {
    let (from, to) = usage_days(params.from.as_deref(), params.to.as_deref())?;
    let rows = store
        .usage(&UsageQuery {
            from,
            to,
            key: given(params.key),
            runtime: given(params.runtime),
        })
        .await?;
    let mut totals = UsageTotals::default();
    for row in &rows {
        totals.add(&row.totals);
    }
    Ok(UsageResponse {
        from: from.to_string(),
        to: to.to_string(),
        rows: rows
            .iter()
            .map(|r| UsageRowJson {
                day: r.day.to_string(),
                key: r.key.clone(),
                runtime: r.runtime.clone(),
                totals: (&r.totals).into(),
            })
            .collect(),
        totals: (&totals).into(),
    })
}

/// `GET /api/v1/runs`'s query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsParams {
    /// Runs to return, 1 to 500 (default 50).
    pub limit: Option<String>,
    /// Only this key's runs (its name).
    pub key: Option<String>,
    /// Only this runtime's runs.
    pub runtime: Option<String>,
    /// Only runs with this status (`ok`, `time_limit`, `busy`...).
    pub status: Option<String>,
    /// Only runs of this node.
    pub node: Option<String>,
    /// Only runs older than this run id (the last id of the previous page).
    pub before: Option<String>,
}

/// The recent runs, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunsResponse {
    pub runs: Vec<RunJson>,
}

/// One run, without its code, input or output.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunJson {
    /// The run id (UUID v7: ids sort by time).
    pub id: String,
    /// When it ended, RFC 3339.
    pub at: String,
    pub node: String,
    /// The key's name; null without a key.
    pub key: Option<String>,
    /// `native`, `piston`, `judge0`, `native_ws` or `piston_ws`.
    pub api: String,
    pub runtime: String,
    /// The outcome's status (`ok`, `runtime_error`, `time_limit`...), or why there was none
    /// (`busy`, `shutting_down`, `bad_request`, `internal`).
    pub status: String,
    pub cpu_ms: u64,
    pub wall_ms: u64,
    pub memory_kb: u64,
    pub memory_limit_mb: u64,
    /// `warm`, `cold` (a sandbox started cold) or `none` (none started).
    pub start: String,
}

/// The recent runs of every node, newest first (pruned to a bounded count and age), never
/// their code, input or output. Admin keys only.
#[utoipa::path(
    get,
    path = "/api/v1/runs",
    tag = "operate",
    params(RunsParams),
    responses(
        (status = 200, description = "The runs, newest first", body = RunsResponse),
        (status = 400, description = "A limit that is not 1 to 500", body = ErrorBody),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn runs(
    _: Admin,
    State(state): State<AppState>,
    query: Result<Query<RunsParams>, QueryRejection>,
) -> Result<Json<RunsResponse>, ApiError> {
    let q = params(query)?;
    let limit = match given(q.limit) {
        None => DEFAULT_RUNS_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_RUNS_PER_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "limit: expected a number from 1 to {MAX_RUNS_PER_PAGE}, got {text:?}"
                ))
            })?,
    };
    let runs = state
        .store()
        .recent_runs(&RunsQuery {
            limit,
            key: given(q.key),
            runtime: given(q.runtime),
            status: given(q.status),
            node: given(q.node),
            before: given(q.before),
        })
        .await?;
    Ok(Json(RunsResponse {
        runs: runs
            .into_iter()
            .map(|r| RunJson {
                at: r.at.to_rfc3339_opts(SecondsFormat::Millis, true),
                id: r.id,
                node: r.node,
                key: r.key,
                api: r.api,
                runtime: r.runtime,
                status: r.status,
                cpu_ms: r.cpu_ms,
                wall_ms: r.wall_ms,
                memory_kb: r.memory_kb,
                memory_limit_mb: r.memory_limit_mb,
                start: r.start,
            })
            .collect(),
    }))
}
