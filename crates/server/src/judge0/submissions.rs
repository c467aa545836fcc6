//! `/submissions`: create (sync with `wait=true`, else stored and queued), show, list, delete,
//! batch create and batch show, with Judge0's query parameters, shapes and error bodies.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{DeleteOutcome, NewSubmission, PushError, Store, MAX_PER_PAGE};
use tracing::Instrument;
use utoipa::{IntoParams, ToSchema};

use super::result::{self, status_description};
use super::wire::{
    self, FieldErrors, Fields, Record, RenderError, StoredRequest, SubmissionJson, SubmissionRequest, DEFAULT_PER_PAGE,
    MAX_BATCH_SIZE,
};
use super::worker::{self, Deferred};
use super::Judge0Error;
use crate::body::JsonBody;
use crate::{ApiError, AppState, Caller};

/// Judge0's answer when a requested text field is not UTF-8 (one submission).
const NOT_UTF8_ONE: &str =
    "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter";
/// The same for a listing or a batch.
const NOT_UTF8_MANY: &str =
    "some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter";
/// How long `wait=true` waits for the result of a submission another node took over (its
/// claim ran out while it ran here: only when this node could not renew it for a whole lease).
const FOREIGN_RUN_WAIT: Duration = Duration::from_secs(120);
/// Retry-After of a 503 while the queue's server is out of reach (NATS restarting).
const QUEUE_RETRY_AFTER_S: u64 = 5;
/// Polling interval of that wait.
const FOREIGN_RUN_POLL: Duration = Duration::from_millis(50);

fn bad(message: impl Into<String>) -> Judge0Error {
    Judge0Error::Api(ApiError::BadRequest(message.into()))
}

/// `{"error": "..."}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorJson {
    pub error: String,
}

/// `{"token": "..."}`
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenJson {
    pub token: String,
}

/// Judge0's validation errors: field → messages, e.g. `{"language_id": ["can't be blank"]}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FieldErrors)]
pub struct FieldErrorsJson(pub BTreeMap<String, Vec<String>>);

/// `GET /submissions`
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionPage {
    pub submissions: Vec<SubmissionJson>,
    pub meta: PageMeta,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageMeta {
    pub current_page: u32,
    pub next_page: Option<u32>,
    pub prev_page: Option<u32>,
    pub total_pages: u64,
    pub total_count: u64,
}

/// `GET /submissions/batch`: a submission or null (unknown token) per token asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionBatch {
    pub submissions: Vec<Option<SubmissionJson>>,
}

/// `POST /submissions/batch` (for the OpenAPI document: the handler reads the items one by
/// one, so that each gets its own errors).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BatchRequest {
    pub submissions: Vec<SubmissionRequest>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateParams {
    /// `true`: source_code, stdin and expected_output are base64, and so are the text fields
    /// of the answer.
    base64_encoded: Option<String>,
    /// `true`: run now and answer with the result; otherwise answer `{"token"}` and run it in
    /// the background.
    wait: Option<String>,
    /// Comma-separated response fields, `*` for all.
    fields: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShowParams {
    base64_encoded: Option<String>,
    fields: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IndexParams {
    base64_encoded: Option<String>,
    fields: Option<String>,
    /// From 1.
    page: Option<String>,
    /// 20 by default.
    per_page: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchShowParams {
    /// Comma-separated tokens, at most 20.
    tokens: Option<String>,
    base64_encoded: Option<String>,
    fields: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchCreateParams {
    base64_encoded: Option<String>,
}

/// Query parameters, with a malformed query answered as a Judge0 400.
fn params<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Judge0Error> {
    query.map(|Query(q)| q).map_err(|e| bad(e.body_text()))
}

fn is_true(param: &Option<String>) -> bool {
    param.as_deref() == Some("true")
}

fn fields(param: &Option<String>) -> Result<Fields, Judge0Error> {
    Fields::parse(param.as_deref()).map_err(|invalid| bad(format!("invalid fields: [{}]", invalid.join(", "))))
}

/// Judge0's own checks, then the engine's one check: a submission the engine would refuse is
/// refused (422) before it is stored, queued or run, whether the node is idle or full.
fn validate(state: &AppState, req: &SubmissionRequest, base64: bool) -> Result<StoredRequest, FieldErrors> {
    let engine = state.runner().engine();
    let ctx = wire::Context {
        catalog: engine.catalog(),
        request: engine.request_limits(),
        allow_private_callbacks: state.config().allow_callbacks,
        max_input_bytes: state.config().max_body_bytes as u64,
    };
    let stored = wire::validate(req, base64, &ctx)?;
    stored.check(engine).map_err(|e| wire::field_errors(&e))?;
    Ok(stored)
}

/// Judge0's queue check: 503 when this many more would pass MAX_QUEUE_SIZE.
fn check_queue(state: &AppState, more: usize) -> Result<(), Judge0Error> {
    if state.queue().len() + more > state.config().max_queue_size {
        return Err(queue_full());
    }
    Ok(())
}

fn queue_full() -> Judge0Error {
    Judge0Error::Api(ApiError::Unavailable {
        message: "queue is full".into(),
        retry_after_s: None,
    })
}

fn render(state: &AppState, record: &Record, fields: &Fields, base64: bool) -> Result<Value, RenderError> {
    record.render(fields, base64, state.runner().engine().catalog())
}

/// A submission of `caller`'s: it belongs to its key (none without one).
fn new_submission(request: &StoredRequest, caller: &Caller) -> NewSubmission {
    NewSubmission {
        token: Store::new_token(),
        // Plain data: serializing it cannot fail.
        request: serde_json::to_string(request).unwrap_or_default(),
        owner: caller.key.as_deref().map(str::to_owned),
    }
}

/// Whether `caller` may see a submission: an admin any, anyone else only those of its own key
/// (a caller without a key those made without one). Another's is answered as unknown (404,
/// null), so its existence is not revealed.
fn visible(caller: &Caller, submission: &store::Submission) -> bool {
    caller.role == store::Role::Admin || submission.owner.as_deref() == caller.key.as_deref()
}

/// Create a submission.
#[utoipa::path(
    post,
    path = "/submissions",
    tag = "judge0",
    params(CreateParams),
    request_body = SubmissionRequest,
    responses(
        (status = 201, description = "`{\"token\"}`, or with `wait=true` the submission", body = SubmissionJson),
        (status = 400, description = "Bad fields or body", body = ErrorJson),
        (status = 408, description = "The request body took too long to arrive", body = ErrorJson),
        (status = 413, description = "The request body is too large", body = ErrorJson),
        (status = 422, description = "Invalid submission", body = FieldErrorsJson),
        (status = 429, description = "No run slot free (wait=true), or past the key's quota", body = ErrorJson),
        (status = 503, description = "Queue is full", body = ErrorJson),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<CreateParams>, QueryRejection>,
    body: Result<JsonBody<SubmissionRequest, Judge0Error>, Judge0Error>,
) -> Result<Response, Judge0Error> {
    let q = params(query)?;
    let fields = fields(&q.fields)?;
    let base64 = is_true(&q.base64_encoded);
    let JsonBody(req, ..) = body?;
    let request = validate(&state, &req, base64).map_err(Judge0Error::Invalid)?;
    crate::quota::admit(&state, &caller, request.number_of_runs).await?;
    if is_true(&q.wait) {
        return create_and_wait(&state, &caller, &request, &fields, base64).await;
    }
    check_queue(&state, 1)?;
    let new = new_submission(&request, &caller);
    state.store().insert_submission(&new).await?;
    if let Err(e) = state.queue().push(new.token.clone()).await {
        // Filled up since the check, or the queue's server is out of reach: take it back and
        // refuse — unless a worker took it meanwhile (a publish that did arrive), then it runs.
        if let Some(why) = worker::refused(&e) {
            if state.store().delete_queued(&new.token).await.unwrap_or(false) {
                return Err(match e {
                    PushError::Full { .. } => queue_full(),
                    _ => Judge0Error::Api(ApiError::Unavailable {
                        message: why.into(),
                        retry_after_s: Some(QUEUE_RETRY_AFTER_S),
                    }),
                });
            }
        }
    }
    Ok((StatusCode::CREATED, Json(TokenJson { token: new.token })).into_response())
}

/// `wait=true`: stored like any submission (its token works afterwards), run now.
async fn create_and_wait(
    state: &AppState,
    caller: &Caller,
    request: &StoredRequest,
    fields: &Fields,
    base64: bool,
) -> Result<Response, Judge0Error> {
    let new = new_submission(request, caller);
    let owner = caller.key.clone();
    let store = state.store();
    let config = state.config();
    // Stored already claimed by this node: no other worker takes it while it runs here.
    let claim = match store.insert_claimed(&new, state.node_id(), config.lease).await {
        Ok(claim) => claim,
        Err(e) => {
            if e.is_caller_mistake() || e.failure() == store::Failure::Internal {
                return Err(e.into());
            }
            // The database is unavailable or full: the run does not need it. Its token is not
            // stored, so no later request finds it.
            tracing::warn!(error = ?e, "judge0: cannot store a wait=true submission; running it unstored");
            let record = match worker::run_unstored(state, new.token, request, owner).await {
                Ok(record) => record,
                Err(Deferred::Busy { retry_after_s }) => return Err(ApiError::TooManyRequests { retry_after_s }.into()),
                Err(_) => {
                    return Err(ApiError::Unavailable {
                        message: "the server is shutting down".into(),
                        retry_after_s: Some(5),
                    }
                    .into())
                }
            };
            return respond_created(state, &record, fields, base64);
        }
    };
    let token = claim.token.clone();
    let span = tracing::info_span!("judge0_wait", token = %token);
    let record = match worker::run_claimed(state, &claim, request, owner)
        .instrument(span)
        .await
    {
        Ok(record) => record,
        Err(Deferred::Busy { retry_after_s }) => {
            let (status, result) = result::internal_error("the server is at capacity");
            let _ = worker::finish_claimed(state, &claim, status, &result, None).await;
            return Err(ApiError::TooManyRequests { retry_after_s }.into());
        }
        Err(Deferred::ShuttingDown) => {
            // Given back: another node (or this one after its restart) runs it.
            let _ = store.release_claim(&claim).await;
            return Err(ApiError::Unavailable {
                message: "the server is shutting down; the submission runs on another node or after the restart".into(),
                retry_after_s: Some(5),
            }
            .into());
        }
        Err(Deferred::Store(e)) => return Err(e.into()),
        Err(Deferred::Gone) => return Err(ApiError::NotFound("the submission was deleted".into()).into()),
        Err(Deferred::TakenOver) => wait_for_foreign_run(state, &token).await?,
    };
    respond_created(state, &record, fields, base64)
}

/// 201 with a finished submission's requested fields.
fn respond_created(state: &AppState, record: &Record, fields: &Fields, base64: bool) -> Result<Response, Judge0Error> {
    match render(state, record, fields, base64) {
        Ok(json) => Ok((StatusCode::CREATED, Json(json)).into_response()),
        Err(RenderError::NotUtf8) => Ok((
            StatusCode::CREATED,
            Json(json!({ "error": NOT_UTF8_ONE, "token": record.token })),
        )
            .into_response()),
    }
}

/// Another node took our submission over (our claim ran out while it ran): wait for its result.
async fn wait_for_foreign_run(state: &AppState, token: &str) -> Result<Record, Judge0Error> {
    let deadline = tokio::time::Instant::now() + FOREIGN_RUN_WAIT;
    loop {
        let found = state.store().get_submission(token).await?;
        match found {
            Some(s) if s.is_finished() => {
                return Record::from_store(s).ok_or(Judge0Error::Api(ApiError::Internal));
            }
            Some(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(FOREIGN_RUN_POLL).await,
            Some(_) => return Err(Judge0Error::Api(ApiError::Internal)),
            None => return Err(ApiError::NotFound("the submission was deleted".into()).into()),
        }
    }
}

/// One submission.
#[utoipa::path(
    get,
    path = "/submissions/{token}",
    tag = "judge0",
    params(("token" = String, Path, description = "The submission's token"), ShowParams),
    responses(
        (status = 200, description = "The submission (requested fields)", body = SubmissionJson),
        (status = 400, description = "Bad fields, or text not UTF-8 without base64", body = ErrorJson),
        (status = 404, description = "Unknown token", body = ErrorJson),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(token): Path<String>,
    query: Result<Query<ShowParams>, QueryRejection>,
) -> Result<Response, Judge0Error> {
    let q = params(query)?;
    let fields = fields(&q.fields)?;
    let record = state
        .store()
        .get_submission(&token)
        .await?
        .filter(|s| visible(&caller, s))
        .ok_or_else(|| not_found(&token))
        .and_then(|s| Record::from_store(s).ok_or(Judge0Error::Api(ApiError::Internal)))?;
    let json = render(&state, &record, &fields, is_true(&q.base64_encoded)).map_err(|_| bad(NOT_UTF8_ONE))?;
    Ok(Json(json).into_response())
}

fn not_found(token: &str) -> Judge0Error {
    Judge0Error::Api(ApiError::NotFound(format!("no submission with token {token}")))
}

/// All submissions, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/submissions",
    tag = "judge0",
    params(IndexParams),
    responses(
        (status = 200, description = "A page of submissions", body = SubmissionPage),
        (status = 400, description = "Bad page, per_page or fields", body = ErrorJson),
    )
)]
pub async fn index(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<IndexParams>, QueryRejection>,
) -> Result<Response, Judge0Error> {
    let q = params(query)?;
    let fields = fields(&q.fields)?;
    let page = page_number("page", q.page.as_deref(), 1, u32::MAX)?;
    let per_page = page_number("per_page", q.per_page.as_deref(), DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    // An admin lists every submission, anyone else those of its own key.
    let listed = if caller.role == store::Role::Admin {
        state
            .store()
            .list_submissions(page, per_page, read_budget(&state))
            .await?
    } else {
        state
            .store()
            .list_submissions_of(caller.key.as_deref(), page, per_page, read_budget(&state))
            .await?
    };
    let base64 = is_true(&q.base64_encoded);
    let submissions = listed
        .items
        .iter()
        .filter_map(|s| Record::from_store(s.clone()))
        .map(|r| render(&state, &r, &fields, base64))
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|_| bad(NOT_UTF8_MANY))?;
    let total_pages = listed.total_pages();
    let meta = PageMeta {
        current_page: page,
        next_page: (u64::from(page) < total_pages).then(|| page + 1),
        prev_page: (page > 1).then(|| page - 1),
        total_pages,
        total_count: listed.total_count,
    };
    Ok(Json(json!({ "submissions": submissions, "meta": meta })).into_response())
}

/// What one answer listing submissions may load of their stored text: the same budget as one
/// request's output (`--request-output-mb`), so reading back costs no more than running did.
fn read_budget(state: &AppState) -> u64 {
    state.runner().engine().request_limits().output_bytes
}

/// `page` / `per_page`: a positive integer up to `max`.
fn page_number(name: &str, param: Option<&str>, default: u32, max: u32) -> Result<u32, Judge0Error> {
    let Some(text) = param.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(default);
    };
    match text.parse::<i64>() {
        Ok(n) if n >= 1 && n <= i64::from(max) => Ok(n as u32),
        Ok(n) if n > i64::from(max) => Err(bad(format!("invalid {name}: {n} (at most {max})"))),
        _ => Err(bad(format!("invalid {name}: {text}"))),
    }
}

/// Delete a finished submission (when the server allows it); answers with what was deleted,
/// always base64 (Judge0: so the caller surely gets its data).
#[utoipa::path(
    delete,
    path = "/submissions/{token}",
    tag = "judge0",
    params(("token" = String, Path, description = "The submission's token"), ShowParams),
    responses(
        (status = 200, description = "The deleted submission (base64)", body = SubmissionJson),
        (status = 400, description = "Deleting is not allowed, or it is still queued or running", body = ErrorJson),
        (status = 404, description = "Unknown token", body = ErrorJson),
    )
)]
pub async fn destroy(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(token): Path<String>,
    query: Result<Query<ShowParams>, QueryRejection>,
) -> Result<Response, Judge0Error> {
    let q = params(query)?;
    let fields = fields(&q.fields)?;
    if !state.config().enable_submission_delete {
        return Err(bad("delete not allowed"));
    }
    // A submission's owner never changes: checked once, before the delete.
    match state.store().get_submission(&token).await? {
        Some(s) if visible(&caller, &s) => {}
        _ => return Err(not_found(&token)),
    }
    match state.store().delete_submission(&token).await? {
        DeleteOutcome::NotFound => Err(not_found(&token)),
        DeleteOutcome::NotFinished { status } => Err(bad(format!(
            "submission cannot be deleted because its status is {status} ({})",
            status_description(status)
        ))),
        DeleteOutcome::Deleted(s) => {
            let record = Record::from_store(s).ok_or(Judge0Error::Api(ApiError::Internal))?;
            let json = render(&state, &record, &fields, true).map_err(|_| bad(NOT_UTF8_ONE))?;
            Ok(Json(json).into_response())
        }
    }
}

/// Create up to 20 submissions, queued; `wait` is ignored, as in Judge0.
#[utoipa::path(
    post,
    path = "/submissions/batch",
    tag = "judge0",
    params(BatchCreateParams),
    request_body = BatchRequest,
    responses(
        (status = 201, description = "Per submission, `{\"token\"}` or its field errors", body = [TokenJson]),
        (status = 400, description = "No submissions, or too many; the body is not a JSON object", body = ErrorJson),
        (status = 408, description = "The request body took too long to arrive", body = ErrorJson),
        (status = 413, description = "The request body is too large", body = ErrorJson),
        (status = 422, description = "Every submission is invalid: their field errors", body = [FieldErrorsJson]),
        (status = 429, description = "The batch's runs together are past the key's quota", body = ErrorJson),
        (status = 503, description = "Queue is full", body = ErrorJson),
    )
)]
pub async fn batch_create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<BatchCreateParams>, QueryRejection>,
    body: Result<JsonBody<Value, Judge0Error>, Judge0Error>,
) -> Result<Response, Judge0Error> {
    let q = params(query)?;
    let base64 = is_true(&q.base64_encoded);
    let JsonBody(body, ..) = body?;
    let items = match body.get("submissions") {
        Some(Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    if items.is_empty() {
        return Err(bad("there should be at least one submission in a batch"));
    }
    if items.len() > MAX_BATCH_SIZE {
        return Err(bad(format!(
            "number of submissions in a batch should be less than or equal to {MAX_BATCH_SIZE}"
        )));
    }
    check_queue(&state, items.len())?;
    // One request, one output budget: each submission of the batch gets its part.
    let share = state.runner().engine().request_limits().output_bytes / items.len() as u64;
    let mut runs = 0u32;
    let checked: Vec<Result<NewSubmission, FieldErrors>> = items
        .iter()
        .map(|item| {
            let req = serde_json::from_value::<SubmissionRequest>(item.clone()).map_err(|_| {
                FieldErrors::from([("submission".to_owned(), vec!["must be a JSON object".to_owned()])])
            })?;
            validate(&state, &req, base64).map(|r| {
                runs = runs.saturating_add(r.number_of_runs);
                new_submission(
                    &StoredRequest {
                        output_share: Some(share),
                        ..r
                    },
                    &caller,
                )
            })
        })
        .collect();
    // The batch's runs together, before any is stored: all of it fits the key's quotas, or none.
    crate::quota::admit(&state, &caller, runs).await?;
    let valid: Vec<NewSubmission> = checked.iter().filter_map(|c| c.as_ref().ok().cloned()).collect();
    state.store().insert_submissions(&valid).await?;
    for new in &valid {
        if let Err(e) = state.queue().push(new.token.clone()).await {
            // Filled up since the check, or the queue is out of reach: it is answered (its
            // token is shown) as failed, unless a worker took it meanwhile.
            if let Some(why) = worker::refused(&e) {
                let (status, result) = result::internal_error(why);
                worker::finish_unclaimed(&state, &new.token, status, &result).await;
            }
        }
    }
    let answer: Vec<Value> = checked
        .into_iter()
        .map(|c| match c {
            Ok(new) => json!({ "token": new.token }),
            Err(errors) => json!(errors),
        })
        .collect();
    let status = if valid.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(answer)).into_response())
}

/// Several submissions by token (null for an unknown one).
#[utoipa::path(
    get,
    path = "/submissions/batch",
    tag = "judge0",
    params(BatchShowParams),
    responses(
        (status = 200, description = "The submissions, in the order asked", body = SubmissionBatch),
        (status = 400, description = "No tokens, too many, bad fields, or text not UTF-8 without base64", body = ErrorJson),
    )
)]
pub async fn batch_show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<BatchShowParams>, QueryRejection>,
) -> Result<Response, Judge0Error> {
    let q = params(query)?;
    let fields = fields(&q.fields)?;
    let tokens: Vec<String> = q
        .tokens
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(bad("there should be at least one submission in a batch"));
    }
    if tokens.len() > MAX_BATCH_SIZE {
        return Err(bad(format!(
            "number of submissions in a batch should be less than or equal to {MAX_BATCH_SIZE}"
        )));
    }
    let base64 = is_true(&q.base64_encoded);
    let found = state.store().get_submissions(&tokens, read_budget(&state)).await?;
    let submissions = found
        .into_iter()
        .map(
            |s| match s.filter(|s| visible(&caller, s)).and_then(Record::from_store) {
                Some(record) => render(&state, &record, &fields, base64),
                None => Ok(Value::Null),
            },
        )
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|_| bad(NOT_UTF8_MANY))?;
    Ok(Json(json!({ "submissions": submissions })).into_response())
}
