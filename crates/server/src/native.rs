//! The native API (`/api/v1`): run a program (optionally against test cases), list the
//! runtimes, interactive runs over WebSocket (`ws.rs`), shared snippets ([`snippets`]),
//! exercises ([`exercises`]), and the service's OpenAPI document.
//!
//! A thin adapter: a request is parsed into wire types ([`wire`]), converted into one
//! `engine::Job` with `TryFrom`, checked by the engine (`Engine::check`) before it takes a run
//! slot, and run by the engine; the engine's `Outcome` converts back. Every caller mistake is a
//! 4xx with `{"error": "..."}` saying what is wrong; a limit out of range is worded as the
//! engine words it (its limit names are this API's fields: `wall_ms`, `memory_mb`...).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::OutputHold;
use utoipa::OpenApi;

use crate::{ApiError, AppState};

mod exercises;
mod snippets;
mod wire;

pub use exercises::{ExerciseSummary, ExerciseView, SubmitRequest, TestView};
pub use snippets::{SnippetRequest, SnippetResponse};

pub use wire::{
    Encoding, ErrorBody, FileRequest, ImageResponse, LimitValues, LimitsRequest, NativeJob, RequestError, RunRequest,
    RunResponse, RunResult, RunStatus, RuntimeExample, RuntimeInfo, RuntimeLimits, SessionRequest, StageEnd,
    StageResponse, TestReport, TestRequest, TestVerdict, TestsResponse,
};

/// The longest a request body may take to arrive, in total: a few MiB from a classroom
/// laptop take a second or two, and a client that trickles bytes must not hold a connection
/// (and its buffer) for longer.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

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
        .merge(exercises::router())
}

/// This dialect's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = NativeApi::openapi();
    doc.merge(snippets::openapi());
    doc.merge(exercises::openapi());
    doc
}

#[derive(OpenApi)]
#[openapi(
    paths(run, runtimes, ws_doc, openapi_json),
    components(schemas(ErrorBody, RunResponse, TestsResponse)),
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
        (status = 200, description = "The program ran, whatever its status", body = RunResult),
        (status = 400, description = "The request is wrong; `error` says how", body = ErrorBody),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 408, description = "The request body took too long to arrive", body = ErrorBody),
        (status = 413, description = "The request body is too large", body = ErrorBody),
        (status = 429, description = "Rate limit or run capacity reached", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The server is shutting down", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
async fn run(State(state): State<AppState>, request: Request) -> Response {
    match run_request(&state, request).await {
        Ok((result, hold)) => crate::body::held_json(StatusCode::OK, &result, hold),
        Err(e) => e.into_response(),
    }
}

async fn run_request(state: &AppState, request: Request) -> Result<(RunResult, OutputHold), Refusal> {
    let request: RunRequest = read_object(request).await?;
    Ok(run_native(state, request).await?)
}

/// Run a request of the native shape (also what an exercise submission becomes). The hold
/// keeps the output counted in the node's memory until the answer is sent.
async fn run_native(state: &AppState, request: RunRequest) -> Result<(RunResult, OutputHold), ApiError> {
    let native = NativeJob::try_from(request).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // The one check, before the job takes a run slot: the same answer under load.
    let job = state.runner().engine().check(native.job)?;
    match native.tests {
        None => {
            let mut outcome = state.runner().execute(TRIGGER, job, native.stdin).await?;
            let hold = std::mem::take(&mut outcome.hold);
            Ok((RunResult::Run(outcome.into()), hold))
        }
        Some(tests) => {
            let mut graded = state.runner().execute_tests(TRIGGER, job, tests).await?;
            let hold = std::mem::take(&mut graded.outcome.hold);
            Ok((RunResult::Tests(graded.into()), hold))
        }
    }
}

/// A body that must be one JSON object of type `T`; errors say where it is wrong.
async fn read_object<T: serde::de::DeserializeOwned>(request: Request) -> Result<T, Refusal> {
    let body = read_body(request).await?;
    // serde would take an array for a struct, field by field: refuse it with a clear word.
    if body.trim_ascii_start().first().is_some_and(|&b| b != b'{') {
        return Err(ApiError::BadRequest("the request body must be a JSON object".into()).into());
    }
    Ok(crate::body::parse_json(&body).map_err(ApiError::BadRequest)?)
}

/// The whole body, within the body limit, [`BODY_READ_TIMEOUT`] in total and
/// [`crate::BODY_IDLE_TIMEOUT`] between chunks.
async fn read_body(request: Request) -> Result<Bytes, Refusal> {
    match tokio::time::timeout(BODY_READ_TIMEOUT, Bytes::from_request(request, &())).await {
        Err(_) => Err(Refusal::BodyTimeout),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::PayloadTooLarge.into())
        }
        Ok(Err(rejection)) if stalled(&rejection) => Err(Refusal::BodyStalled),
        Ok(Err(rejection)) => Err(ApiError::BadRequest(rejection.body_text()).into()),
    }
}

/// The body stopped arriving (the idle timeout layer gave up on it).
fn stalled(rejection: &axum::extract::rejection::BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Why a run request gets no result.
#[derive(Debug)]
enum Refusal {
    Api(ApiError),
    /// 408 (ApiError has no variant for it): the body took longer than [`BODY_READ_TIMEOUT`].
    BodyTimeout,
    /// 408: no byte of the body for [`crate::BODY_IDLE_TIMEOUT`].
    BodyStalled,
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Api(e) => e.into_response(),
            Refusal::BodyTimeout => timeout(format!(
                "the request body did not arrive within {} s",
                BODY_READ_TIMEOUT.as_secs()
            )),
            Refusal::BodyStalled => timeout(format!(
                "the request body stopped arriving for {} s",
                crate::BODY_IDLE_TIMEOUT.as_secs()
            )),
        }
    }
}

fn timeout(error: String) -> Response {
    (StatusCode::REQUEST_TIMEOUT, Json(ErrorBody { error })).into_response()
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
