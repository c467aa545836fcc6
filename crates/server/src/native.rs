//! The native API (`/api/v1`): run a program (optionally against test cases), list the
//! runtimes, interactive runs over WebSocket (`ws.rs`), shared snippets ([`snippets`]),
//! exercises ([`exercise_routes`]), and the service's OpenAPI document.
//!
//! A thin adapter: a request is parsed into wire types ([`wire`]), converted into one
//! `engine::Job` with `TryFrom`, checked by the engine (`Engine::check`) before it takes a run
//! slot, and run by the engine; the engine's `Outcome` converts back. Every caller mistake is a
//! 4xx with `{"error": "..."}` saying what is wrong; a limit out of range is worded as the
//! engine words it (its limit names are this API's fields: `wall_ms`, `memory_mb`...).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use engine::OutputHold;
use utoipa::OpenApi;

use crate::body::JsonBody;
use crate::{ApiError, AppState, Caller};

mod exercise_routes;
mod snippets;
pub mod usage;
mod wire;

pub(crate) use exercise_routes::find as find_exercise;
pub use exercise_routes::{ExerciseSummary, ExerciseView, SubmitRequest, TestView};
pub use snippets::{SnippetRequest, SnippetResponse};

pub use wire::{
    Encoding, ErrorBody, FileRequest, ImageResponse, LimitReached, LimitValues, LimitsRequest, NativeJob, RequestError,
    RunOrTestsResponse, RunRequest, RunResponse, RunStatus, RuntimeExample, RuntimeExampleText, RuntimeHint,
    RuntimeInfo, RuntimeLimits, SessionRequest, StageEnd, StageResponse, StoredSubmission, TestReport, TestRequest,
    TestVerdict, TestsResponse,
};

/// This dialect's name for the runner's observers (the metrics' `trigger` label).
const TRIGGER: &str = "native";

/// `POST /api/v1/run`, `GET /api/v1/runtimes`, `GET /api/v1/ws`, `GET /api/v1/openapi.json`,
/// snippets and exercises.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/run", post(run))
        .route("/api/v1/runtimes", get(runtimes))
        .route("/api/v1/ws", get(crate::ws::native))
        .route("/api/v1/openapi.json", get(openapi_json))
        .merge(snippets::router())
        .merge(exercise_routes::router())
        .merge(usage::router())
        .merge(crate::keys::router())
        .merge(crate::classes::router())
        .merge(crate::oidc::router())
        .method_not_allowed_fallback(crate::error::method_not_allowed)
}

/// This dialect's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = NativeApi::openapi();
    doc.merge(snippets::openapi());
    doc.merge(exercise_routes::openapi());
    doc.merge(usage::openapi());
    doc.merge(crate::keys::openapi());
    doc.merge(crate::classes::openapi());
    doc.merge(crate::oidc::openapi());
    doc
}

#[derive(OpenApi)]
#[openapi(
    paths(run, runtimes, ws_doc, openapi_json),
    components(schemas(ErrorBody, RunResponse, TestsResponse, StoredSubmission)),
    tags((name = "native", description = "tiderun's own API: run a program, with or without test cases"))
)]
struct NativeApi;

/// Run a program.
///
/// Without `tests`: compile (if the language needs it) and run once with `stdin`; the answer
/// has the shape of `tiderun run --json` (`status`, `language`, `version`, `compile`, `run`).
/// With `tests`: compile once, run each test in a fresh sandbox; the answer has a verdict per
/// test (`accepted`, `wrong_answer`, or how the run ended), `passed`, `total` and
/// `score` = passed / total as a fraction from 0 to 1. A hidden test shows only its verdict.
/// The body is read as JSON whatever the Content-Type.
///
/// A request is bounded as a whole: its tests' stdout and stderr together, as JSON text,
/// within the server's output budget (`--request-output-mb`, 32 MiB by default), its compile
/// and tests within its wall time (`--request-wall-s`, 120 s). The run that passes either is
/// cut there (`output_limit`, `wall_time_limit`); the tests after it are not run and get the
/// same status with a message that starts `not run:`.
#[utoipa::path(
    post,
    path = "/api/v1/run",
    tag = "native",
    request_body(content = RunRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The program ran, whatever its status", body = RunOrTestsResponse),
        (status = 400, description = "The request is wrong; `error` says how", body = ErrorBody),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 408, description = "The request body took too long to arrive", body = ErrorBody),
        (status = 413, description = "The request body is too large", body = ErrorBody),
        (status = 429, description = "Rate limit, run capacity or the key's quota reached", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The server is shutting down", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(request, ..): JsonBody<RunRequest>,
) -> Result<Response, ApiError> {
    let (answer, hold) = run_native(&state, &caller, request).await?;
    Ok(crate::body::held_json(StatusCode::OK, &answer, hold))
}

/// Run a request of the native shape (also what an exercise submission becomes). The hold
/// keeps the output counted in the node's memory until the answer is sent.
async fn run_native(
    state: &AppState,
    caller: &Caller,
    request: RunRequest,
) -> Result<(RunOrTestsResponse, OutputHold), ApiError> {
    let native = NativeJob::try_from(request).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // The one check, before the job takes a run slot: the same answer under load.
    let job = state.runner().engine().check(native.job)?;
    crate::quota::admit(state, caller, 1).await?;
    match native.tests {
        None => {
            let mut outcome = state
                .runner()
                .execute(caller.trigger(TRIGGER), job, native.stdin)
                .await?;
            let hold = std::mem::take(&mut outcome.hold);
            Ok((RunOrTestsResponse::Run(outcome.into()), hold))
        }
        Some(tests) => {
            let mut graded = state
                .runner()
                .execute_tests(caller.trigger(TRIGGER), job, tests)
                .await?;
            let hold = std::mem::take(&mut graded.outcome.hold);
            Ok((RunOrTestsResponse::Tests(graded.into()), hold))
        }
    }
}

/// The languages of this server, installed or not, with their limits.
#[utoipa::path(
    get,
    path = "/api/v1/runtimes",
    tag = "native",
    responses(
        (status = 200, description = "Every runtime of the catalog", body = Vec<RuntimeInfo>),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 429, description = "Rate limit reached", body = ErrorBody),
    )
)]
async fn runtimes(State(state): State<AppState>) -> Json<Vec<RuntimeInfo>> {
    Json(
        state
            .runner()
            .engine()
            .catalog()
            .iter()
            .map(RuntimeInfo::from)
            .collect(),
    )
}

/// An interactive run over WebSocket.
///
/// Messages are JSON objects with a `type`, in this API's names. Client: `init` (the fields of
/// `POST /api/v1/run` but `stdin` and `tests`: `language`, `version`, `code` or `files`,
/// `args`, `limits` with `wall_ms`, `cpu_ms`, `memory_mb`...), `data` `{stream: "stdin", data}`,
/// `signal` `{signal: "SIGTERM"}`, `eof` (close the program's stdin), `kill`. Server: `runtime`
/// `{language, version}`, `stage` `{stage: "compile"|"run"}`, `data` `{stream, data}` as the
/// program writes, `exit` when a stage ends (a stage of the run response without its output:
/// `stage`, `status`, `exit_code`, `signal`, `cpu_time_ms`, `wall_time_ms`, `memory_kb`,
/// `message`, `cached`, `files`), `error` `{message}` (then close code 4002). A finished job
/// closes with 4999.
#[utoipa::path(
    get,
    path = "/api/v1/ws",
    tag = "native",
    responses(
        (status = 101, description = "Switched to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 426, description = "The connection cannot be upgraded"),
    )
)]
#[allow(dead_code)] // Documentation only: the handler is `crate::ws::native`.
fn ws_doc() {}

/// This document: the native, Piston v2 and Judge0 CE APIs. The `language` of the native run,
/// snippet and submit requests lists the names and aliases this server has installed.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "native",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json"))
)]
async fn openapi_json(State(state): State<AppState>) -> Response {
    let mut doc = match serde_json::to_value(crate::openapi::document()) {
        Ok(doc) => doc,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize the OpenAPI document");
            return ApiError::Internal.into_response();
        }
    };
    let languages: Vec<&str> = state
        .runner()
        .engine()
        .catalog()
        .iter()
        .filter(|r| r.installed)
        .flat_map(|r| std::iter::once(r.name.as_str()).chain(r.aliases.iter().map(String::as_str)))
        .collect();
    for schema in ["RunRequest", "SnippetRequest", "SubmitRequest"] {
        if let Some(language) = doc.pointer_mut(&format!("/components/schemas/{schema}/properties/language")) {
            language["enum"] = serde_json::json!(languages);
        }
    }
    Json(doc).into_response()
}
