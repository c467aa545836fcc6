//! Shared snippets: `POST /api/v1/snippets` saves a program under a short id, `GET
//! /api/v1/snippets/{id}` gives it back. The classroom page's share link `/s/{id}` opens the
//! page, which loads the snippet by its id. Kept by the store (64 KiB of code at most).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::ErrorBody;
use crate::body::JsonBody;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/snippets", post(create))
        .route("/api/v1/snippets/{id}", get(fetch))
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    SnippetsApi::openapi()
}

#[derive(OpenApi)]
#[openapi(
    paths(create, fetch),
    components(schemas(SnippetRequest, SnippetResponse)),
    tags((name = "snippets", description = "Share a program by a short link"))
)]
struct SnippetsApi;

/// `POST /api/v1/snippets`: a program to share.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"language": "python", "code": "print('你好')"}))]
pub struct SnippetRequest {
    /// A language name or alias of this server (`GET /api/v1/runtimes`); kept by its name.
    pub language: String,
    /// The program, at most 64 KiB; not empty.
    #[schema(max_length = 65536)]
    pub code: String,
}

/// A saved snippet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SnippetResponse {
    /// 8 characters of `A-Z a-z 0-9 - _`; the share link is `/s/{id}`.
    #[schema(example = "Ab3dE9xY")]
    pub id: String,
    pub language: String,
    pub code: String,
}

/// Save a program; the answer has its id.
#[utoipa::path(
    post,
    path = "/api/v1/snippets",
    tag = "snippets",
    request_body(content = SnippetRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Saved", body = SnippetResponse),
        (status = 400, description = "The request is wrong (unknown language, empty or too long code); `error` says how", body = ErrorBody),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 408, description = "The request body took too long to arrive", body = ErrorBody),
        (status = 413, description = "The request body is too large", body = ErrorBody),
        (status = 429, description = "Rate limit reached", body = ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    JsonBody(request, ..): JsonBody<SnippetRequest>,
) -> Result<(StatusCode, Json<SnippetResponse>), ApiError> {
    let runtime = state
        .runner()
        .engine()
        .catalog()
        .get(&request.language)
        .ok_or_else(|| ApiError::BadRequest(format!("unknown language {:?}", request.language)))?;
    if request.code.trim().is_empty() {
        return Err(ApiError::BadRequest("`code` is empty".into()));
    }
    let id = state.store().insert_snippet(&runtime.name, &request.code).await?;
    let snippet = SnippetResponse {
        id,
        language: runtime.name.clone(),
        code: request.code,
    };
    Ok((StatusCode::CREATED, Json(snippet)))
}

/// A saved snippet by its id.
#[utoipa::path(
    get,
    path = "/api/v1/snippets/{id}",
    tag = "snippets",
    params(("id" = String, Path, description = "The snippet's id")),
    responses(
        (status = 200, description = "The snippet", body = SnippetResponse),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 404, description = "No snippet has this id", body = ErrorBody),
        (status = 429, description = "Rate limit reached", body = ErrorBody),
    )
)]
async fn fetch(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<SnippetResponse>, ApiError> {
    let unknown = || ApiError::NotFound(format!("no snippet with id {id:?}"));
    // Not an id the store hands out: nothing to look up (and no NUL for Postgres to choke on).
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if id.len() != store::SNIPPET_ID_LEN || !id.bytes().all(alphabet) {
        return Err(unknown());
    }
    let snippet = state.store().get_snippet(&id).await?.ok_or_else(unknown)?;
    Ok(Json(SnippetResponse {
        id: snippet.id,
        language: snippet.language,
        code: snippet.code,
    }))
}
