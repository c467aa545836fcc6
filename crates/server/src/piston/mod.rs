//! Piston v2 (`/api/v2/...` and `/api/v2/piston/...`): runtimes, execute, WebSocket connect,
//! and the package list (installing over the API is refused with what an operator does).
//!
//! A thin adapter: the request becomes one `engine::Job` ([`wire`]), the engine runs it, the
//! `Outcome` is rendered in Piston's shape. Errors are Piston's `{"message": ...}` with a 4xx
//! for the caller's mistakes. Differences from Piston itself, on purpose: a JSON body is read
//! whatever its Content-Type (Piston answers 415 without `application/json`, and its npm client
//! labels its JSON `text/plain`); a body that is not JSON and was sent as something else (a
//! form) gets Piston's 415 and words, one without a Content-Type a 400 saying what is wrong
//! with it as JSON (Piston: 415). An unknown file encoding is refused instead of read as utf8, the interactive `connect` delivers
//! signals and caps output (Piston's does neither), and the output limit is tiderun's (stdout and
//! stderr together, 1 MiB by default) rather than Piston's 1024 bytes per stream, and a request's
//! output and time are bounded as a whole by the server's per-request limits.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Json, Router};
use engine::{Bound, EngineError, Limit, Phase};

use crate::body::{BodyRejection, JsonBody};
use crate::{ApiError, AppState, Caller};

mod packages;
pub mod signal;
pub mod wire;

pub use wire::{
    ErrorMessage, ExecuteRequest, ExecuteResponse, PackageInfo, PistonFile, PistonJob, RuntimeInfo, StageResult,
};

/// Where the dialect is served: Piston's own path, and the one of its public instance
/// (emkc.org), which clients hard-code.
const PREFIXES: [&str; 2] = ["/api/v2", "/api/v2/piston"];

/// The Piston release whose API this adapter speaks.
const PISTON_VERSION: &str = "3.1.1";

/// This dialect's name for the runner's observers (the metrics' `trigger` label).
const TRIGGER: &str = "piston";

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in PREFIXES {
        router = router
            .route(prefix, get(index))
            .route(&format!("{prefix}/runtimes"), get(runtimes))
            .route(&format!("{prefix}/execute"), post(execute))
            .route(&format!("{prefix}/connect"), get(crate::ws::piston))
            .route(
                &format!("{prefix}/packages"),
                get(packages::list).post(packages::install).delete(packages::uninstall),
            )
            .route(&format!("{prefix}/{{*rest}}"), any(not_found));
    }
    router.method_not_allowed_fallback(method_not_allowed)
}

/// This dialect's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    PistonApi::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(index, runtimes, execute, packages::list, packages::install, packages::uninstall),
    components(schemas(
        ExecuteRequest,
        PistonFile,
        ExecuteResponse,
        StageResult,
        wire::PistonStatus,
        RuntimeInfo,
        PackageInfo,
        ErrorMessage
    )),
    tags((name = "piston", description = "Piston v2 compatible API; every path is also served under /api/v2/piston"))
)]
struct PistonApi;

/// A Piston error: `{"message": "..."}` with the status of the underlying [`ApiError`].
#[derive(Debug)]
pub struct PistonError(pub ApiError);

impl From<ApiError> for PistonError {
    fn from(e: ApiError) -> Self {
        PistonError(e)
    }
}

/// Piston's answer (415) to a request body not sent as JSON (its `api/v2.js`).
pub const NOT_JSON: &str = "requests must be of type application/json";

impl From<BodyRejection> for PistonError {
    fn from(e: BodyRejection) -> Self {
        match e {
            BodyRejection::NotJson { .. } => PistonError(ApiError::UnsupportedMediaType(NOT_JSON.into())),
            e => PistonError(e.into()),
        }
    }
}

impl IntoResponse for PistonError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.0.message() });
        self.0.respond_with(body)
    }
}

impl PistonError {
    /// An engine error with Piston's wording where Piston has one: unknown runtimes and
    /// limits out of range, named by Piston's fields in Piston's units. A runtime this server
    /// knows but has no toolchain for (Piston has no such state) keeps the engine's words,
    /// which say how an operator installs it.
    pub fn from_engine(e: EngineError, language: &str, version: &str) -> PistonError {
        let message = match &e {
            EngineError::Resolve(runtimes::ResolveError::NotInstalled { .. }) => return PistonError(e.into()),
            EngineError::Resolve(_) => format!("{language}-{version} runtime is unknown"),
            EngineError::Limit { limit, bound, .. } => match piston_limit(*limit) {
                Some((field, unit)) => match *bound {
                    Bound::Max(max) | Bound::RequestWall(max) => {
                        format!(
                            "{field} cannot exceed the configured limit of {}",
                            max.saturating_mul(unit)
                        )
                    }
                    Bound::Min(min) => format!("{field} must be at least {}", min.saturating_mul(unit)),
                },
                None => return PistonError(e.into()),
            },
            _ => return PistonError(e.into()),
        };
        PistonError(ApiError::BadRequest(message))
    }
}

/// Piston's field for an engine limit, and the factor from the engine's unit to Piston's;
/// `None` for a limit Piston's requests cannot set (the engine's wording is kept).
fn piston_limit(limit: Limit) -> Option<(&'static str, u64)> {
    use Phase::{Compile, Run};
    Some(match limit {
        Limit::WallMs(Run) => ("run_timeout", 1),
        Limit::WallMs(Compile) => ("compile_timeout", 1),
        Limit::CpuMs(Run) => ("run_cpu_time", 1),
        Limit::CpuMs(Compile) => ("compile_cpu_time", 1),
        Limit::MemoryMb(Run) => ("run_memory_limit", 1 << 20),
        Limit::MemoryMb(Compile) => ("compile_memory_limit", 1 << 20),
        Limit::MaxProcesses(_)
        | Limit::MaxOutputBytes(_)
        | Limit::MaxFileSizeBytes(_)
        | Limit::StackBytes
        | Limit::Runs
        | Limit::RequestOutputBytes
        | Limit::RequestWallMs
        | Limit::InputWaitMs
        | Limit::BuildCacheMb => return None,
    })
}

/// The API's banner.
#[utoipa::path(get, path = "/api/v2/", tag = "piston",
    responses((status = 200, description = "Which Piston this is", body = ErrorMessage)))]
async fn index() -> Json<ErrorMessage> {
    Json(ErrorMessage {
        message: format!("Piston v{PISTON_VERSION} (tiderun {})", env!("CARGO_PKG_VERSION")),
    })
}

/// The installed runtimes.
#[utoipa::path(get, path = "/api/v2/runtimes", tag = "piston",
    responses((status = 200, description = "Installed runtimes", body = [RuntimeInfo])))]
async fn runtimes(State(state): State<AppState>) -> Json<Vec<RuntimeInfo>> {
    let catalog = state.runner().engine().catalog();
    Json(
        catalog
            .iter()
            .filter(|rt| rt.installed)
            .map(RuntimeInfo::from)
            .collect(),
    )
}

/// Compile (if needed) and run a program with fixed stdin. The body is JSON whatever the
/// Content-Type says; one that is not JSON, sent as something else, gets Piston's 415.
#[utoipa::path(post, path = "/api/v2/execute", tag = "piston",
    request_body(content = ExecuteRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The program ran (whatever its result)", body = ExecuteResponse),
        (status = 400, description = "Unknown runtime, missing field, limit past the maximum...", body = ErrorMessage),
        (status = 408, description = "The request body took too long to arrive", body = ErrorMessage),
        (status = 413, description = "Body too large", body = ErrorMessage),
        (status = 415, description = "The body is not JSON and was sent as something else (a form)", body = ErrorMessage),
        (status = 429, description = "At capacity, or past the key's quota; see Retry-After", body = ErrorMessage),
    ))]
async fn execute(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(request, ..): JsonBody<ExecuteRequest, PistonError>,
) -> Result<Response, PistonError> {
    let language = request.language.clone().unwrap_or_default();
    let version = request.version.clone().unwrap_or_default();
    let PistonJob { job, stdin } = PistonJob::try_from(request)?;
    let engine_error = |e| PistonError::from_engine(e, &language, &version);
    // The one check, before the job takes a run slot: the same answer under load.
    let job = state.runner().engine().check(job).map_err(engine_error)?;
    crate::quota::admit(&state, &caller, 1).await?;
    let mut outcome = state
        .runner()
        .execute(caller.trigger(TRIGGER), job, stdin)
        .await
        .map_err(engine_error)?;
    let hold = std::mem::take(&mut outcome.hold);
    Ok(crate::body::held_json(
        StatusCode::OK,
        &ExecuteResponse::from(outcome),
        hold,
    ))
}

/// Unknown paths under the prefixes, in Piston's words.
async fn not_found() -> PistonError {
    PistonError(ApiError::NotFound("Not Found".into()))
}

/// A known path with the wrong method (axum adds the `Allow` header).
async fn method_not_allowed(method: Method) -> PistonError {
    PistonError(ApiError::MethodNotAllowed { method })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_get_pistons_words() {
        let e = PistonError::from_engine(
            EngineError::Limit {
                limit: Limit::WallMs(Phase::Run),
                value: 99_999,
                bound: Bound::Max(60_000),
            },
            "python",
            "*",
        );
        assert_eq!(e.0.message(), "run_timeout cannot exceed the configured limit of 60000");
        let e = PistonError::from_engine(
            EngineError::Limit {
                limit: Limit::MemoryMb(Phase::Compile),
                value: 9999,
                bound: Bound::Max(2048),
            },
            "c",
            "*",
        );
        assert_eq!(
            e.0.message(),
            "compile_memory_limit cannot exceed the configured limit of 2147483648"
        );
        let e = PistonError::from_engine(
            EngineError::Resolve(runtimes::ResolveError::UnknownLanguage {
                language: "html".into(),
            }),
            "html",
            "5.0.0",
        );
        assert_eq!(e.0.message(), "html-5.0.0 runtime is unknown");
        assert_eq!(e.0.status(), StatusCode::BAD_REQUEST);
        let e = PistonError::from_engine(
            EngineError::Resolve(runtimes::ResolveError::NotInstalled {
                language: "no-such-language".into(),
            }),
            "No such language",
            "*",
        );
        assert_eq!(
            e.0.message(),
            "no-such-language is not installed on this server: an operator installs it with `tiderun runtimes install no-such-language`"
        );
        assert_eq!(e.0.status(), StatusCode::BAD_REQUEST);
        let e = PistonError::from_engine(EngineError::Busy { retry_after_s: 3 }, "c", "*");
        assert_eq!(e.0.status(), StatusCode::TOO_MANY_REQUESTS);
        let limit = |limit, value, bound| {
            PistonError::from_engine(EngineError::Limit { limit, value, bound }, "c", "*")
                .0
                .message()
        };
        assert_eq!(
            limit(Limit::CpuMs(Phase::Run), 0, Bound::Min(1)),
            "run_cpu_time must be at least 1"
        );
        assert_eq!(
            limit(Limit::MemoryMb(Phase::Run), 1, Bound::Min(4)),
            "run_memory_limit must be at least 4194304"
        );
        assert_eq!(
            limit(Limit::WallMs(Phase::Run), 50_000, Bound::RequestWall(30_000)),
            "run_timeout cannot exceed the configured limit of 30000",
            "the request's wall time is a configured limit like any other"
        );
        assert_eq!(
            limit(Limit::MaxProcesses(Phase::Run), 9999, Bound::Max(256)),
            "max_processes = 9999 is out of range (at most 256)",
            "a limit Piston cannot set keeps the engine's words"
        );
    }

    #[test]
    fn openapi_lists_the_paths() {
        let doc = openapi();
        let paths: Vec<&String> = doc.paths.paths.keys().collect();
        assert!(paths.iter().any(|p| *p == "/api/v2/execute"), "{paths:?}");
        assert!(paths.iter().any(|p| *p == "/api/v2/runtimes"), "{paths:?}");
    }
}
