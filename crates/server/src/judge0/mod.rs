//! Judge0 CE 1.13.1 at the root: submissions (sync, async, batch), languages, statuses,
//! configuration and system endpoints, and the workers that run queued submissions.
//!
//! A thin adapter: a request becomes a `wire::StoredRequest` (validated against Judge0's
//! documented ranges, with Judge0's `{"field": ["message"]}` 422 errors), which becomes one
//! `engine::Job`; the engine's `Outcome` becomes a Judge0 result (status ids 1–14, times as
//! decimal strings, memory in KB). Comparison with `expected_output` is `engine::outputs_match`.
//!
//! Asynchronous submissions are stored (the request as the store's opaque JSON), their tokens
//! queued in the `WorkQueue`, and run by [`start_workers`]; the result JSON and the final status
//! id go back to the store, and `callback_url` gets a PUT. Synchronous ones (`wait=true`) are
//! stored too, so their token can be fetched later as in Judge0.
//!
//! `additional_files` (a base64 zip) is unpacked by [`archive`] into the run's input files,
//! beside the program; language 89 ("Multi-file program") is `runtimes/multi-file.toml`, whose
//! program is the zip's `run` script (a runtime whose source file the zip holds needs no
//! `source_code`). `compiler_options` and `command_line_arguments` lose Judge0's stripped
//! characters and are split as bash would split them (`shlex`), never by a shell.
//!
//! Where tiderun differs from Judge0, by choice:
//! - limits a request does not set: Judge0's 5 s CPU, 10 s wall and 1024 KB file size, but the
//!   runtime file's memory, processes and stack (tuned per language); each lowered to what the
//!   runtime and the request's wall time allow (`wire::Ranges`). `/config_info` shows what
//!   every listed language accepts;
//! - `cpu_time_limit = 0` (isolate: no CPU limit) is the runtime's maximum CPU time;
//! - a memory-limit kill is 12 "Runtime Error (Other)" (Judge0's OOM kill is a SIGKILL); the
//!   output cap is 8 (Judge0's stdout is a file bounded by max_file_size, so SIGXFSZ); a program
//!   that cannot be executed is 14 "Exec Format Error";
//! - a submission's runs (`number_of_runs`) share one output budget and one wall time per
//!   request (`--request-output-mb`, `--request-wall-s`), and the submissions of one batch
//!   share one output budget: the run that passes it is cut and reported (8 for output, 5 for
//!   time) with a message naming the request's limit, the runs after it are not run;
//! - `cpu_extra_time` is validated but not granted; per-process limits and `enable_network`
//!   are refused with Judge0's own "not allowed" messages;
//! - the arguments are never expanded (no globs, `~`, braces or variables), and a quote left
//!   open is a 422 (bash would fail the run);
//! - a hostile `additional_files` (links, devices, `..`, bombs) is a 422 before anything is
//!   stored, and with the source code it is held to the request's input limit (the body
//!   limit), not Judge0's separate `MAX_EXTRACT_SIZE`; empty directories and file modes of the
//!   zip are not kept;
//! - each toolchain is listed once (`/languages`, `/languages/all`) under the first id of its
//!   runtime file; its other ids still work by id;
//! - `wait=true` takes no queue slot (no 503), but the engine's admission may answer 429;
//! - `/languages/all` marks runtimes whose toolchain is not installed as archived;
//! - results are not cached (`submission_cache_duration` 0).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::body::BodyRejection;
use crate::{ApiError, AppState};

mod archive;
mod callback;
mod info;
mod result;
mod submissions;
mod wire;
mod worker;

pub use worker::{give_back, start_workers, Workers, MAX_RUN_ATTEMPTS, ORPHAN_GRACE};

/// The Judge0 version this dialect speaks (`/about`, `/version`; the SDK keys its language
/// aliases on it).
pub const JUDGE0_VERSION: &str = "1.13.1";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/submissions", post(submissions::create).get(submissions::index))
        .route(
            "/submissions/batch",
            post(submissions::batch_create).get(submissions::batch_show),
        )
        .route(
            "/submissions/{token}",
            get(submissions::show).delete(submissions::destroy),
        )
        .route("/languages", get(info::languages))
        .route("/languages/all", get(info::all_languages))
        .route("/languages/{id}", get(info::language))
        .route("/statuses", get(info::statuses))
        .route("/config_info", get(info::config_info))
        .route("/about", get(info::about))
        .route("/version", get(info::version))
        .route("/isolate", get(info::isolate))
        .route("/license", get(info::license))
        .route("/system_info", get(info::system_info))
        .route("/workers", get(info::workers))
        .route("/statistics", get(info::statistics))
        .route("/authenticate", post(info::authenticate))
        .route("/authorize", post(info::authenticate))
        .method_not_allowed_fallback(method_not_allowed)
}

/// A Judge0 error: 422 with Judge0's field errors (`{"field": ["message"]}`), or any other
/// [`ApiError`] in the shared `{"error": "..."}` (also Judge0's shape for 400, 404 and 503).
#[derive(Debug)]
pub enum Judge0Error {
    Invalid(wire::FieldErrors),
    Api(ApiError),
}

impl From<ApiError> for Judge0Error {
    fn from(e: ApiError) -> Self {
        Judge0Error::Api(e)
    }
}

impl From<BodyRejection> for Judge0Error {
    fn from(e: BodyRejection) -> Self {
        Judge0Error::Api(e.into())
    }
}

impl From<store::StoreError> for Judge0Error {
    fn from(e: store::StoreError) -> Self {
        Judge0Error::Api(e.into())
    }
}

impl IntoResponse for Judge0Error {
    fn into_response(self) -> Response {
        match self {
            Judge0Error::Invalid(errors) => (StatusCode::UNPROCESSABLE_ENTITY, Json(errors)).into_response(),
            Judge0Error::Api(e) => e.into_response(),
        }
    }
}

/// A known path with the wrong method (axum adds the `Allow` header).
async fn method_not_allowed(method: Method) -> Judge0Error {
    Judge0Error::Api(ApiError::MethodNotAllowed { method })
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        submissions::create,
        submissions::show,
        submissions::index,
        submissions::destroy,
        submissions::batch_create,
        submissions::batch_show,
        info::languages,
        info::all_languages,
        info::language,
        info::statuses,
        info::config_info,
        info::about,
        info::version,
        info::isolate,
        info::license,
        info::system_info,
        info::workers,
        info::statistics,
        info::authenticate,
    ),
    tags((name = "judge0", description = "Judge0 CE 1.13.1 compatible API"))
)]
struct Judge0Api;

/// This dialect's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <Judge0Api as utoipa::OpenApi>::openapi()
}

#[cfg(test)]
mod tests {
    #[test]
    fn openapi_covers_the_endpoints() {
        let doc = super::openapi();
        for path in [
            "/submissions",
            "/submissions/{token}",
            "/submissions/batch",
            "/languages",
            "/languages/{id}",
            "/config_info",
            "/about",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path} missing");
        }
        let item = &doc.paths.paths["/submissions/{token}"];
        assert!(item.get.is_some() && item.delete.is_some());
        let text = serde_json::to_string(&doc).expect("serializable");
        assert!(text.contains("base64_encoded") && text.contains("cpu_time_limit"));
        let schemas = doc.components.expect("components").schemas;
        assert!(schemas.contains_key("SubmissionRequest") && schemas.contains_key("Submission"));
    }
}
