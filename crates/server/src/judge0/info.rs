//! Judge0's informational endpoints: languages (from the catalog's `judge0_ids`), statuses,
//! `config_info` (every key of Judge0 1.13.1, which the Python SDK's `Config` requires),
//! about/version/isolate/license, system info, workers, statistics, and the token checks.
//!
//! Several Judge0 ids may name one toolchain (48, 49, 50 and 75 are all this server's gcc):
//! the language lists show each runtime once, under the first id of its file (the official
//! SDK's alias, 50 for C), so no two entries have the same name; every id is still accepted
//! by `POST /submissions` and `GET /languages/{id}`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use runtimes::{Catalog, Runtime};
use serde::Serialize;
use utoipa::ToSchema;

use super::callback::{CALLBACK_TIMEOUT, CALLBACK_TRIES};
use super::result::{IN_QUEUE, PROCESSING, STATUSES};
use super::submissions::ErrorJson;
use super::wire::{self, language_name, LanguageJson, StatusJson};
use super::Judge0Error;
use super::JUDGE0_VERSION as JUDGE0_VERSION_TEXT;
use crate::{ApiError, AppState};

/// An item of `GET /languages/all`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LanguageAllJson {
    pub id: u32,
    pub name: String,
    /// True for a runtime whose toolchain is not installed here (it cannot be used).
    pub is_archived: bool,
}

/// `GET /languages/{id}`
#[derive(Debug, Serialize, ToSchema)]
pub struct LanguageDetail {
    pub id: u32,
    pub name: String,
    pub is_archived: bool,
    pub source_file: String,
    /// The compile command (an argv, shown joined; never run through a shell).
    pub compile_cmd: Option<String>,
    pub run_cmd: Option<String>,
}

/// `GET /about`
#[derive(Debug, Serialize, ToSchema)]
pub struct About {
    /// The Judge0 version this API is compatible with.
    pub version: String,
    pub homepage: Option<String>,
    pub source_code: Option<String>,
    pub maintainer: String,
}

/// `GET /workers`: one queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerQueue {
    pub queue: String,
    /// The node that answers (`--node-id`); `available` and `idle` are its workers.
    pub node: String,
    /// Submissions waiting.
    pub size: u64,
    /// Workers of this node.
    pub available: usize,
    pub idle: usize,
    /// Submissions being run (on any node sharing the database).
    pub working: u64,
    pub paused: usize,
    pub failed: usize,
}

/// `GET /config_info`: Judge0 1.13.1's keys with tiderun's values. Each limit's default and
/// maximum are what every listed language accepts (`wire::Ranges::common`): Judge0's 5 s CPU,
/// 10 s wall and 1024 KB file size, the runtimes' memory and processes, Judge0's maxima —
/// each lowered where a runtime or the request's wall time allows less.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigInfo {
    pub maintenance_mode: bool,
    pub enable_wait_result: bool,
    pub enable_compiler_options: bool,
    pub allowed_languages_for_compile_options: Vec<String>,
    pub enable_command_line_arguments: bool,
    pub enable_submission_delete: bool,
    pub enable_callbacks: bool,
    pub callbacks_max_tries: u32,
    pub callbacks_timeout: f64,
    pub enable_additional_files: bool,
    pub max_queue_size: usize,
    pub cpu_time_limit: f64,
    pub max_cpu_time_limit: f64,
    pub cpu_extra_time: f64,
    pub max_cpu_extra_time: f64,
    pub wall_time_limit: f64,
    pub max_wall_time_limit: f64,
    pub memory_limit: u64,
    pub max_memory_limit: u64,
    pub stack_limit: u64,
    pub max_stack_limit: u64,
    pub max_processes_and_or_threads: u64,
    pub max_max_processes_and_or_threads: u64,
    pub enable_per_process_and_thread_time_limit: bool,
    pub allow_enable_per_process_and_thread_time_limit: bool,
    pub enable_per_process_and_thread_memory_limit: bool,
    pub allow_enable_per_process_and_thread_memory_limit: bool,
    pub max_file_size: u64,
    pub max_max_file_size: u64,
    pub number_of_runs: u32,
    pub max_number_of_runs: u64,
    pub redirect_stderr_to_stdout: bool,
    /// KB: `additional_files` unpacked, with the source code.
    pub max_extract_size: u64,
    pub enable_batched_submissions: bool,
    pub max_submission_batch_size: usize,
    pub submission_cache_duration: f64,
    pub use_docs_as_homepage: bool,
    pub allow_enable_network: bool,
    pub enable_network: bool,
}

fn catalog(state: &AppState) -> &Catalog {
    state.runner().engine().catalog()
}

/// Each runtime once, under its listed id (the first of its `judge0_ids`), sorted by name then
/// id as Judge0 lists them.
fn ids(catalog: &Catalog, installed_only: bool) -> Vec<(u32, &Runtime)> {
    let mut all: Vec<(u32, &Runtime, String)> = catalog
        .iter()
        .filter(|rt| rt.installed || !installed_only)
        .filter_map(|rt| rt.judge0_listed_id().map(|id| (id, rt, language_name(rt))))
        .collect();
    all.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)));
    all.into_iter().map(|(id, rt, _)| (id, rt)).collect()
}

/// The languages that can be used (installed toolchains), each toolchain once.
#[utoipa::path(get, path = "/languages", tag = "judge0",
    responses((status = 200, description = "Active languages", body = [LanguageJson])))]
pub async fn languages(State(state): State<AppState>) -> Json<Vec<LanguageJson>> {
    let list = ids(catalog(&state), true)
        .into_iter()
        .map(|(id, rt)| LanguageJson {
            id,
            name: language_name(rt),
        })
        .collect();
    Json(list)
}

/// Every language of the catalog, each toolchain once; those not installed here are
/// "archived".
#[utoipa::path(get, path = "/languages/all", tag = "judge0",
    responses((status = 200, description = "All languages", body = [LanguageAllJson])))]
pub async fn all_languages(State(state): State<AppState>) -> Json<Vec<LanguageAllJson>> {
    let list = ids(catalog(&state), false)
        .into_iter()
        .map(|(id, rt)| LanguageAllJson {
            id,
            name: language_name(rt),
            is_archived: !rt.installed,
        })
        .collect();
    Json(list)
}

/// One language.
#[utoipa::path(get, path = "/languages/{id}", tag = "judge0",
    params(("id" = u32, Path, description = "Judge0 language id")),
    responses(
        (status = 200, description = "The language", body = LanguageDetail),
        (status = 404, description = "Unknown id", body = ErrorJson),
    ))]
pub async fn language(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LanguageDetail>, Judge0Error> {
    let not_found = || Judge0Error::Api(ApiError::NotFound(format!("language with id {id} doesn't exist")));
    let n: u32 = id.trim().parse().map_err(|_| not_found())?;
    let rt = catalog(&state).by_judge0_id(n).ok_or_else(not_found)?;
    let plan = rt.plan(rt.judge0_file(), &[]).ok();
    Ok(Json(LanguageDetail {
        id: n,
        name: language_name(rt),
        is_archived: !rt.installed,
        source_file: rt.judge0_file().to_owned(),
        compile_cmd: plan.as_ref().and_then(|p| p.compile.as_ref()).map(|c| c.argv.join(" ")),
        run_cmd: plan.map(|p| p.run.argv.join(" ")),
    }))
}

/// Judge0's status ids.
#[utoipa::path(get, path = "/statuses", tag = "judge0",
    responses((status = 200, description = "Status ids and descriptions", body = [StatusJson])))]
pub async fn statuses() -> Json<Vec<StatusJson>> {
    Json(
        STATUSES
            .iter()
            .map(|(id, d)| StatusJson {
                id: *id,
                description: (*d).to_owned(),
            })
            .collect(),
    )
}

/// The configuration, in Judge0's keys.
#[utoipa::path(get, path = "/config_info", tag = "judge0",
    responses((status = 200, description = "Configuration", body = ConfigInfo)))]
pub async fn config_info(State(state): State<AppState>) -> Json<ConfigInfo> {
    let config = state.config();
    let engine = state.runner().engine();
    let r = wire::Ranges::common(engine.catalog(), engine.request_limits());
    Json(ConfigInfo {
        maintenance_mode: false,
        enable_wait_result: true,
        enable_compiler_options: true,
        allowed_languages_for_compile_options: Vec::new(),
        enable_command_line_arguments: true,
        enable_submission_delete: config.enable_submission_delete,
        enable_callbacks: true,
        callbacks_max_tries: CALLBACK_TRIES,
        callbacks_timeout: CALLBACK_TIMEOUT.as_secs_f64(),
        enable_additional_files: true,
        max_queue_size: config.max_queue_size,
        cpu_time_limit: r.cpu_time_limit.default,
        max_cpu_time_limit: r.cpu_time_limit.max,
        // Accepted for compatibility, never granted.
        cpu_extra_time: 0.0,
        max_cpu_extra_time: wire::MAX_CPU_EXTRA_TIME_S,
        wall_time_limit: r.wall_time_limit.default,
        max_wall_time_limit: r.wall_time_limit.max,
        memory_limit: r.memory_limit.default,
        max_memory_limit: r.memory_limit.max,
        stack_limit: r.stack_limit.default,
        max_stack_limit: r.stack_limit.max,
        max_processes_and_or_threads: r.max_processes_and_or_threads.default,
        max_max_processes_and_or_threads: r.max_processes_and_or_threads.max,
        enable_per_process_and_thread_time_limit: false,
        allow_enable_per_process_and_thread_time_limit: false,
        enable_per_process_and_thread_memory_limit: false,
        allow_enable_per_process_and_thread_memory_limit: false,
        max_file_size: r.max_file_size.default,
        max_max_file_size: r.max_file_size.max,
        number_of_runs: 1,
        max_number_of_runs: wire::MAX_NUMBER_OF_RUNS as u64,
        redirect_stderr_to_stdout: false,
        // additional_files and the source code together: the request's input limit.
        max_extract_size: config.max_body_bytes as u64 / 1024,
        enable_batched_submissions: true,
        max_submission_batch_size: wire::MAX_BATCH_SIZE,
        // Results are read from the store on every request.
        submission_cache_duration: 0.0,
        use_docs_as_homepage: false,
        allow_enable_network: false,
        enable_network: false,
    })
}

/// What this server is (`version` is the Judge0 version it speaks: the SDK keys on it).
#[utoipa::path(get, path = "/about", tag = "judge0",
    responses((status = 200, description = "About", body = About)))]
pub async fn about() -> Json<About> {
    Json(About {
        version: JUDGE0_VERSION_TEXT.to_owned(),
        homepage: Some(HOMEPAGE.to_owned()),
        source_code: Some(source_code()),
        maintainer: format!("tiderun {}", env!("CARGO_PKG_VERSION")),
    })
}

/// `/about`'s `homepage`: the workspace's `homepage` when the build sets one, else the
/// classroom page this server serves at its root (a URL relative to the API's base).
const HOMEPAGE: &str = if env!("CARGO_PKG_HOMEPAGE").is_empty() {
    "/"
} else {
    env!("CARGO_PKG_HOMEPAGE")
};

/// `/about`'s `source_code`: the workspace's `repository` when the build sets one, else the
/// name, version and licence of the source this server was built from.
fn source_code() -> String {
    match env!("CARGO_PKG_REPOSITORY") {
        "" => format!("tiderun {} ({})", env!("CARGO_PKG_VERSION"), env!("CARGO_PKG_LICENSE")),
        url => url.to_owned(),
    }
}

/// `GET /isolate`: Judge0 answers with `isolate --version`; tiderun has no isolate, so this
/// says what isolates a run instead.
#[utoipa::path(get, path = "/isolate", tag = "judge0",
    responses((status = 200, description = "What sandboxes the runs", body = String, content_type = "text/plain")))]
pub async fn isolate() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], ISOLATE_TEXT)
}

/// The text of `/isolate`.
const ISOLATE_TEXT: &str = concat!(
    "tiderun ",
    env!("CARGO_PKG_VERSION"),
    " does not use isolate.\n",
    "Each run has its own sandbox, made by tiderun itself (crates/sandbox): new user, pid, mount,\n",
    "network, ipc, uts and cgroup namespaces; a new read-only root with a size-limited tmpfs work\n",
    "directory; a seccomp filter; cgroup (v1 or v2) limits on memory, processes and CPU time;\n",
    "rlimits; no capabilities, no_new_privs, an unprivileged user and no network.\n",
);

/// `GET /license`: this server's licence (Judge0 answers with its own LICENSE file).
#[utoipa::path(get, path = "/license", tag = "judge0",
    responses((status = 200, description = "The licence", body = String, content_type = "text/plain")))]
pub async fn license() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], LICENSE_TEXT)
}

/// The text of `/license`.
const LICENSE_TEXT: &str = concat!(
    "tiderun ",
    env!("CARGO_PKG_VERSION"),
    " is licensed under the ",
    env!("CARGO_PKG_LICENSE"),
    " licence (SPDX identifier): https://spdx.org/licenses/",
    env!("CARGO_PKG_LICENSE"),
    ".html\n",
    "It speaks the API of Judge0 CE 1.13.1 but contains no Judge0 code.\n",
);

/// The Judge0 version, as plain text.
#[utoipa::path(get, path = "/version", tag = "judge0",
    responses((status = 200, description = "Version", body = String, content_type = "text/plain")))]
pub async fn version() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        JUDGE0_VERSION_TEXT,
    )
}

/// The machine: architecture, CPUs, memory.
#[utoipa::path(get, path = "/system_info", tag = "judge0",
    responses((status = 200, description = "System information", body = BTreeMap<String, String>)))]
pub async fn system_info() -> Json<BTreeMap<String, String>> {
    let mut info = BTreeMap::new();
    info.insert("Architecture".to_owned(), std::env::consts::ARCH.to_owned());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    info.insert("CPU(s)".to_owned(), cpus.to_string());
    if let Ok(cpuinfo) = tokio::fs::read_to_string("/proc/cpuinfo").await {
        if let Some(model) = proc_value(&cpuinfo, "model name") {
            info.insert("Model name".to_owned(), model);
        }
    }
    if let Ok(meminfo) = tokio::fs::read_to_string("/proc/meminfo").await {
        for (key, name) in [("MemTotal", "Mem"), ("SwapTotal", "Swap")] {
            if let Some(v) = proc_value(&meminfo, key) {
                info.insert(name.to_owned(), v);
            }
        }
    }
    Json(info)
}

/// `key: value` of a /proc text file.
fn proc_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == key))
        .map(|(_, v)| v.trim().to_owned())
}

/// The work queue.
#[utoipa::path(get, path = "/workers", tag = "judge0",
    responses((status = 200, description = "Queues and workers", body = [WorkerQueue])))]
pub async fn workers(State(state): State<AppState>) -> Result<Json<Vec<WorkerQueue>>, Judge0Error> {
    let counts = state.store().count_by_status().await?;
    let count = |s: i32| counts.get(&s).copied().unwrap_or(0);
    let available = state.config().workers;
    let working = count(PROCESSING);
    Ok(Json(vec![WorkerQueue {
        queue: JUDGE0_VERSION_TEXT.to_owned(),
        node: state.node_id().to_owned(),
        size: count(IN_QUEUE),
        available,
        idle: available.saturating_sub(usize::try_from(working).unwrap_or(usize::MAX)),
        working,
        paused: 0,
        failed: 0,
    }]))
}

/// Submissions by status.
#[utoipa::path(get, path = "/statistics", tag = "judge0",
    responses((status = 200, description = "Counts of submissions", body = Object)))]
pub async fn statistics(State(state): State<AppState>) -> Result<Json<serde_json::Value>, Judge0Error> {
    let counts = state.store().count_by_status().await?;
    let total: u64 = counts.values().sum();
    let statuses: Vec<serde_json::Value> = STATUSES
        .iter()
        .filter_map(|(id, name)| {
            counts
                .get(id)
                .map(|n| serde_json::json!({ "status": { "id": id, "name": name }, "count": n }))
        })
        .collect();
    Ok(Json(serde_json::json!({
        "now": wire::timestamp(&chrono::Utc::now()),
        "submissions": { "total": total },
        "statuses": statuses,
    })))
}

/// `POST /authenticate` and `/authorize`: 200 when the token is accepted (the shared guard
/// answers 401 otherwise).
#[utoipa::path(post, path = "/authenticate", tag = "judge0",
    responses((status = 200, description = "The token is valid"), (status = 401, description = "It is not")))]
pub async fn authenticate() -> StatusCode {
    StatusCode::OK
}
