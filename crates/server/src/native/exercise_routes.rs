//! Exercises over HTTP: list and open them (hidden tests show only their name), submit a
//! solution, and — with a teacher, caller or admin key — post or delete one.
//!
//! An exercise comes from the teacher's directory (re-read on change, see
//! [`crate::exercise_spec`]) or from the store; on an id in both, the directory's wins and the
//! API refuses to post over it. A teacher's key changes only the exercises it posted (the
//! store keeps their owner); caller and admin keys change any posted one. Every request reads
//! the store, so a posted or changed exercise is used at once, on every node. A submission is graded by the same path as `POST /api/v1/run`
//! with tests: it becomes a [`RunRequest`] with the exercise's tests, nothing else.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::{run_native, ErrorBody, LimitsRequest, RunRequest, TestRequest, TestVerdict, TestsResponse};
use crate::body::JsonBody;
use crate::exercise_spec::{check_id, Exercise, ExerciseTest};
use crate::{ApiError, AppState, Caller};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/exercises", get(list).post(create))
        .route("/api/v1/exercises/{id}", get(open).delete(remove))
        .route("/api/v1/exercises/{id}/definition", get(definition))
        .route("/api/v1/exercises/{id}/submit", post(submit))
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    ExercisesApi::openapi()
}

#[derive(OpenApi)]
#[openapi(
    paths(list, open, submit, create, remove, definition),
    components(schemas(ExerciseSummary, Source, ExerciseView, TestView, SubmitRequest, Exercise, ExerciseTest, crate::exercise_spec::Grading, crate::exercise_spec::ExerciseLimits)),
    tags((name = "exercises", description = "Exercises with test cases, some hidden: open one, submit a solution, get a score"))
)]
struct ExercisesApi;

/// One exercise in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExerciseSummary {
    #[schema(example = "sum-two")]
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_zh: Option<String>,
    /// The teacher's place for it in the list (the list is sorted by it, then by title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    /// Every language a solution may be written in, by name (those with starter code first).
    #[serde(default)]
    pub languages: Vec<String>,
    /// True when the exercise names no languages: every installed one is accepted.
    #[serde(default)]
    pub any_language: bool,
    /// Whether the calling student has solved it (every test passed once); absent unless the
    /// caller is a signed-in student (the page shows a mark when it is present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
    /// Where it comes from: the exercises directory (changed by editing its file) or the API.
    #[serde(default)]
    pub source: Source,
    /// Whether the caller's key may change or delete it through the API: a teacher's own
    /// exercises, every posted one for a caller or admin key, never a directory one.
    #[serde(default)]
    pub editable: bool,
}

/// Where an exercise comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A file of the exercises directory.
    Directory,
    /// Posted through `POST /api/v1/exercises`.
    #[default]
    Api,
}

impl ExerciseSummary {
    /// `e` in the list, its languages as `catalog` has them installed now.
    pub fn new(e: &Exercise, catalog: &runtimes::Catalog) -> Self {
        ExerciseSummary {
            id: e.id.clone(),
            title: e.title.clone(),
            title_zh: e.title_zh.clone(),
            order: e.order,
            languages: e.accepted_languages(catalog),
            any_language: e.languages.is_empty(),
            done: None,
            source: Source::Api,
            editable: false,
        }
    }
}

/// An exercise as a student sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExerciseView {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title_zh: Option<String>,
    pub statement: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_zh: Option<String>,
    /// Every language a solution may be written in, by name (as in the list).
    pub languages: Vec<String>,
    /// True when the exercise names no languages: every installed one is accepted.
    pub any_language: bool,
    /// Starter code by language name.
    pub starter: BTreeMap<String, String>,
    /// Starter code for the Chinese interface, by language name (where the teacher gave one).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub starter_zh: BTreeMap<String, String>,
    /// In the order they are graded.
    pub tests: Vec<TestView>,
}

/// A test case as a student sees it: a hidden one has only its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TestView {
    pub name: String,
    /// Absent for a hidden test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Absent for a hidden test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<String>,
    pub hidden: bool,
}

impl ExerciseView {
    fn new(e: Exercise, catalog: &runtimes::Catalog) -> Self {
        let languages = e.accepted_languages(catalog);
        let any_language = e.languages.is_empty();
        let tests = e
            .tests
            .into_iter()
            .map(|t| TestView {
                name: t.name.unwrap_or_default(),
                stdin: (!t.hidden).then_some(t.stdin),
                expected_output: (!t.hidden).then_some(t.expected_output),
                hidden: t.hidden,
            })
            .collect();
        ExerciseView {
            id: e.id,
            title: e.title,
            title_zh: e.title_zh,
            statement: e.statement,
            statement_zh: e.statement_zh,
            languages,
            any_language,
            starter: e.starter,
            starter_zh: e.starter_zh,
            tests,
        }
    }
}

/// `POST /api/v1/exercises/{id}/submit`: a solution.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"language": "python", "code": "a, b = map(int, input().split())\nprint(a + b)"}))]
pub struct SubmitRequest {
    /// A language name or alias the exercise accepts (any installed one unless it lists
    /// `languages`), not only those with starter code.
    pub language: String,
    /// Semver selector of the language version; any when absent.
    #[serde(default)]
    pub version: Option<String>,
    /// The program as one file.
    pub code: String,
}

/// Every exercise: the directory's and the posted ones, in the teacher's order (`order`, those
/// without one after, then by title), each with the languages it accepts.
#[utoipa::path(
    get,
    path = "/api/v1/exercises",
    tag = "exercises",
    responses(
        (status = 200, description = "The exercises in the teacher's order (`order`, then title)", body = Vec<ExerciseSummary>),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 429, description = "Rate limit reached", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    student: Option<Extension<crate::auth::StudentOf>>,
) -> Result<Json<Vec<ExerciseSummary>>, ApiError> {
    let dir = state.exercises();
    let catalog = state.runner().engine().catalog();
    let writer = if student.is_some() { None } else { writer(&caller).ok() };
    let mut all: BTreeMap<String, ExerciseSummary> = BTreeMap::new();
    for stored in state.store().list_exercises().await? {
        match serde_json::from_str::<ExerciseSummary>(&stored.summary) {
            Ok(mut summary) => {
                summary.source = Source::Api;
                summary.editable = match writer {
                    Some(store::Writer::Any) => true,
                    Some(store::Writer::Owner(me)) => stored.owner.as_deref() == Some(me),
                    None => false,
                };
                // "Any language" is what is installed now, not when it was posted.
                if summary.any_language {
                    summary.languages = catalog.iter().filter(|r| r.installed).map(|r| r.name.clone()).collect();
                }
                all.insert(stored.id, summary);
            }
            // Only this server writes the rows; one it cannot read is left out of the list
            // (and said in the log) rather than hiding every other exercise.
            Err(e) => tracing::error!(id = %stored.id, error = %e, "stored exercise summary is unreadable"),
        }
    }
    for exercise in dir.exercises.values() {
        let summary = ExerciseSummary {
            source: Source::Directory,
            ..ExerciseSummary::new(exercise, catalog)
        };
        all.insert(exercise.id.clone(), summary);
    }
    // A signed-in student sees done or not per exercise, from their stored submissions.
    if let Some(Extension(me)) = student {
        let done = crate::classes::done_exercises(&state, &me).await?;
        for (id, summary) in &mut all {
            summary.done = Some(done.contains(id));
        }
    }
    let mut list: Vec<ExerciseSummary> = all.into_values().collect();
    list.sort_by(|a, b| {
        (a.order.is_none(), a.order, &a.title, &a.id).cmp(&(b.order.is_none(), b.order, &b.title, &b.id))
    });
    Ok(Json(list))
}

/// An exercise, by id (the directory's first, then the store's).
pub(crate) async fn find(state: &AppState, id: &str) -> Result<Exercise, ApiError> {
    let unknown = || ApiError::NotFound(format!("no exercise with id {id:?}"));
    if check_id(id).is_err() {
        return Err(unknown());
    }
    if let Some(exercise) = state.exercises().get(id) {
        return Ok(exercise.clone());
    }
    let stored = state.store().get_exercise(id).await?.ok_or_else(unknown)?;
    serde_json::from_str(&stored.definition).map_err(|e| {
        tracing::error!(id, error = %e, "stored exercise is unreadable");
        ApiError::Internal
    })
}

/// An exercise to work on: statement, starter code, tests (a hidden test shows only its name).
#[utoipa::path(
    get,
    path = "/api/v1/exercises/{id}",
    tag = "exercises",
    params(("id" = String, Path, description = "The exercise's id")),
    responses(
        (status = 200, description = "The exercise", body = ExerciseView),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 404, description = "No exercise has this id", body = ErrorBody),
        (status = 429, description = "Rate limit reached", body = ErrorBody),
    )
)]
async fn open(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<ExerciseView>, ApiError> {
    let exercise = find(&state, &id).await?;
    Ok(Json(ExerciseView::new(exercise, state.runner().engine().catalog())))
}

/// A posted exercise as it was posted, hidden tests included: for editing it (a teacher's key
/// its own; a caller or admin key any posted one).
#[utoipa::path(
    get,
    path = "/api/v1/exercises/{id}/definition",
    tag = "exercises",
    params(("id" = String, Path, description = "The exercise's id")),
    security(("token" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The exercise, as `POST /api/v1/exercises` takes it", body = Exercise),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 403, description = "Another's exercise (for a teacher's key), or a key that may not change exercises", body = ErrorBody),
        (status = 404, description = "No posted exercise has this id", body = ErrorBody),
        (status = 409, description = "The id is a directory exercise (read its file)", body = ErrorBody),
        (status = 429, description = "Rate limit reached", body = ErrorBody),
    )
)]
async fn definition(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Exercise>, ApiError> {
    let writer = writer(&caller)?;
    let unknown = || ApiError::NotFound(format!("no posted exercise with id {id:?}"));
    check_id(&id).map_err(|_| unknown())?;
    if state.exercises().get(&id).is_some() {
        return Err(ApiError::Conflict(format!(
            "exercise {id:?} is a file of the exercises directory; read the file instead"
        )));
    }
    let stored = state.store().get_exercise(&id).await?.ok_or_else(unknown)?;
    if let store::Writer::Owner(me) = writer {
        if stored.owner.as_deref() != Some(me) {
            return Err(not_yours(
                &state,
                &id,
                "only its owner, a caller or an admin key may read its hidden tests",
            )
            .await);
        }
    }
    find(&state, &id).await.map(Json)
}

/// Grade a solution: compile once, run every test of the exercise in a fresh sandbox.
///
/// The answer has the shape of `POST /api/v1/run` with tests: a verdict per test,
/// `passed`, `total` and `score`; a hidden test shows only its name and verdict.
#[utoipa::path(
    post,
    path = "/api/v1/exercises/{id}/submit",
    tag = "exercises",
    params(("id" = String, Path, description = "The exercise's id")),
    request_body(content = SubmitRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Graded, whatever the verdicts", body = TestsResponse),
        (status = 400, description = "The request is wrong; `error` says how", body = ErrorBody),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 404, description = "No exercise has this id", body = ErrorBody),
        (status = 408, description = "The request body took too long to arrive", body = ErrorBody),
        (status = 413, description = "The request body is too large", body = ErrorBody),
        (status = 429, description = "Rate limit or run capacity reached", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The server is shutting down", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    student: Option<Extension<crate::auth::StudentOf>>,
    Path(id): Path<String>,
    body: Result<JsonBody<SubmitRequest>, ApiError>,
) -> Result<Response, ApiError> {
    // An unknown exercise is 404 whatever the body.
    let exercise = find(&state, &id).await?;
    let JsonBody(submission, ..) = body?;
    // An unknown language is the run's own 400; a known one the exercise does not take, ours.
    if let Some(runtime) = state.runner().engine().catalog().get(&submission.language) {
        if !exercise.accepts(&runtime.name) {
            return Err(ApiError::BadRequest(format!(
                "exercise {:?} is solved in {}, not {}",
                exercise.id,
                exercise.languages.join(", "),
                runtime.name
            )));
        }
    }
    // A signed-in student's submission is stored (crate::classes).
    let student = student.map(|Extension(s)| s);
    crate::classes::check_code_size(student.as_ref(), &submission.code)?;
    let stored = student.map(|s| (s, submission.language.clone(), submission.code.clone()));
    // The exercise's grading rule, weights and limits.
    let compare = exercise.grading.comparison();
    let tests = exercise
        .tests
        .iter()
        .map(|t| TestRequest {
            name: t.name.clone(),
            stdin: t.stdin.clone(),
            expected_output: t.expected_output.clone(),
            hidden: t.hidden,
            compare,
        })
        .collect();
    let limits = exercise.limits.map(|l| LimitsRequest {
        cpu_ms: l.cpu_ms,
        wall_ms: l.wall_ms,
        memory_mb: l.memory_mb,
        ..LimitsRequest::default()
    });
    let run = RunRequest {
        language: submission.language,
        version: submission.version,
        code: Some(submission.code),
        files: None,
        stdin: None,
        args: None,
        limits,
        tests: Some(tests),
    };
    let (mut answer, hold) = run_native(&state, &caller, run).await?;
    if let super::RunOrTestsResponse::Tests(graded) = &mut answer {
        let (points, max_points) = exercise.points(graded.tests.iter().map(|t| t.verdict == TestVerdict::Accepted));
        if max_points > 0 {
            graded.score = f64::from(points) / f64::from(max_points);
        }
        if let Some((student, language, code)) = &stored {
            let scored = crate::classes::Scored { points, max_points };
            graded.stored =
                Some(crate::classes::record_submission(&state, student, &id, language, code, graded, scored).await?);
        }
    }
    Ok(crate::body::held_json(StatusCode::OK, &answer, hold))
}

/// Who may add or remove exercises, as the store's [`store::Writer`]: a teacher's key its own,
/// a caller or admin key (or an API token) any posted one (the guard's role table has let
/// only these through). A request without a key, on a server that requires none, may not.
fn writer(caller: &Caller) -> Result<store::Writer<'_>, ApiError> {
    match (caller.key.as_deref(), caller.role) {
        (Some(key), store::Role::Teacher) => Ok(store::Writer::Owner(key)),
        (Some(_), store::Role::Caller | store::Role::Admin) => Ok(store::Writer::Any),
        (Some(key), role) => Err(ApiError::Forbidden(format!(
            "adding or removing exercises needs a teacher, caller or admin key; the key {key:?} is a {role} key"
        ))),
        (None, _) => Err(ApiError::Forbidden(
            "adding or removing exercises needs an API key or token: create a teacher or caller key \
             (tiderun keys create NAME --role teacher) or start the server with --auth-token TOKEN \
             (or TIDERUN_AUTH_TOKENS), and send it as X-Auth-Token or Authorization: Bearer; \
             or put the exercise in the exercises directory"
                .into(),
        )),
    }
}

/// The directory's exercises cannot be replaced or removed through the API: 403 for a
/// teacher (the id is not theirs to use), 409 for a caller or admin key (as before owners).
fn not_from_the_directory(state: &AppState, id: &str, writer: store::Writer<'_>) -> Result<(), ApiError> {
    if state.exercises().get(id).is_none() {
        return Ok(());
    }
    Err(match writer {
        store::Writer::Owner(_) => ApiError::Forbidden(format!(
            "the exercise {id:?} belongs to the exercises directory; choose another id"
        )),
        store::Writer::Any => ApiError::Conflict(format!(
            "exercise {id:?} is a file of the exercises directory; change the file instead"
        )),
    })
}

/// 403 for a teacher's key on a posted exercise that is not its own, naming whose it is;
/// `then` says what to do instead.
async fn not_yours(state: &AppState, id: &str, then: &str) -> ApiError {
    let whose = match state.store().get_exercise(id).await {
        Ok(Some(stored)) => match stored.owner {
            Some(owner) => format!("the key {owner:?}"),
            None => "a caller or admin key".to_owned(),
        },
        _ => "another key".to_owned(),
    };
    ApiError::Forbidden(format!("the exercise {id:?} belongs to {whose}; {then}"))
}

/// Add an exercise, or replace one posted before (a teacher's key: one of its own).
///
/// The body is an exercise with its `id`. It is checked as a directory file is: known
/// starter languages, 1 to 64 tests, sizes within the limits. The answer is the exercise as
/// stored (starter languages by name, every test named).
#[utoipa::path(
    post,
    path = "/api/v1/exercises",
    tag = "exercises",
    request_body(content = Exercise, content_type = "application/json"),
    security(("token" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = Exercise),
        (status = 200, description = "Replaced the one posted before", body = Exercise),
        (status = 400, description = "The exercise is wrong; `error` says how", body = ErrorBody),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 403, description = "The server has no API tokens: nobody may add exercises", body = ErrorBody),
        (status = 408, description = "The request body took too long to arrive", body = ErrorBody),
        (status = 409, description = "The id is a directory exercise, or the store is full", body = ErrorBody),
        (status = 413, description = "The request body is too large", body = ErrorBody),
        (status = 429, description = "Rate limit reached", body = ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<JsonBody<Exercise>, ApiError>,
) -> Result<(StatusCode, Json<Exercise>), ApiError> {
    // Without a key nobody may post, whatever the body.
    let writer = writer(&caller)?;
    let JsonBody(exercise, ..) = body?;
    if exercise.id.is_empty() {
        return Err(ApiError::BadRequest("`id` is required".into()));
    }
    let exercise = exercise
        .check(state.runner().engine().catalog())
        .map_err(|e| ApiError::BadRequest(e.0))?;
    not_from_the_directory(&state, &exercise.id, writer)?;
    let summary =
        serde_json::to_string(&ExerciseSummary::new(&exercise, state.runner().engine().catalog())).map_err(|e| {
            tracing::error!(error = %e, "cannot encode an exercise summary");
            ApiError::Internal
        })?;
    let outcome = state
        .store()
        .put_exercise(&exercise.id, &exercise.to_json(), &summary, writer)
        .await?;
    let status = match outcome {
        store::PutOutcome::Created => StatusCode::CREATED,
        store::PutOutcome::Replaced => StatusCode::OK,
        store::PutOutcome::NotYours => return Err(not_yours(&state, &exercise.id, "choose another id").await),
    };
    Ok((status, Json(exercise)))
}

/// Remove an exercise posted before (a teacher's key: one of its own).
#[utoipa::path(
    delete,
    path = "/api/v1/exercises/{id}",
    tag = "exercises",
    params(("id" = String, Path, description = "The exercise's id")),
    security(("token" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 403, description = "The server has no API tokens: nobody may remove exercises", body = ErrorBody),
        (status = 404, description = "No posted exercise has this id", body = ErrorBody),
        (status = 409, description = "The id is a directory exercise", body = ErrorBody),
        (status = 429, description = "Rate limit reached", body = ErrorBody),
    )
)]
async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let writer = writer(&caller)?;
    let unknown = || ApiError::NotFound(format!("no posted exercise with id {id:?}"));
    check_id(&id).map_err(|_| unknown())?;
    not_from_the_directory(&state, &id, writer)?;
    if state.store().delete_exercise(&id, writer).await? {
        return Ok(StatusCode::NO_CONTENT);
    }
    // Not deleted: there is none, or (for a teacher) it is another's.
    match (writer, state.store().get_exercise(&id).await?) {
        (store::Writer::Owner(_), Some(_)) => {
            Err(not_yours(&state, &id, "only its owner, a caller or an admin key may delete it").await)
        }
        _ => Err(unknown()),
    }
}
