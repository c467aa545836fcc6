//! Classes over HTTP (`/api/v1/classes…`): a teacher's classes, roster and assignments; a
//! student's join, sign-in and own work. The gradebook and the stored submissions are read in
//! [`crate::gradebook`].
//!
//! Roles are those of the keys and sessions ([`crate::auth`]), not a second sign-in: a class
//! belongs to the `teacher` (or `admin`) key that made it and only that key (or an admin)
//! manages it; a student has no key but a student session, made from the class's join code
//! (with a display name) or from the student's personal login code, and sent as a bearer
//! token like a page session. A student's graded submissions are stored by
//! [`record_submission`], called by the exercises' submit route.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::{Assignment, Class, NewAssignment, Role, Student};
use utoipa::{OpenApi, ToSchema};

use crate::auth::StudentOf;
use crate::body::JsonBody;
use crate::native::{ErrorBody, StoredSubmission, TestsResponse};
use crate::{session, ApiError, AppState, Caller};

/// The longest output of one test kept with a stored submission, in characters: enough to
/// see what a wrong answer printed, bounded so a submission's verdicts stay small.
pub const MAX_STORED_OUTPUT_CHARS: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/classes", get(list_classes).post(create_class))
        .route("/api/v1/classes/join", post(join))
        .route("/api/v1/classes/signin", post(sign_in))
        .route("/api/v1/classes/me", get(my_class))
        .route("/api/v1/classes/me/submissions", get(crate::gradebook::my_submissions))
        .route("/api/v1/classes/{class}", get(open_class))
        .route("/api/v1/classes/{class}/join-code", post(rotate_join_code))
        .route("/api/v1/classes/{class}/students", get(roster))
        .route(
            "/api/v1/classes/{class}/students/{student}",
            axum::routing::patch(rename_student).delete(remove_student),
        )
        .route(
            "/api/v1/classes/{class}/students/{student}/submissions",
            get(crate::gradebook::student_submissions),
        )
        .route(
            "/api/v1/classes/{class}/assignments",
            get(list_assignments).post(create_assignment),
        )
        .route(
            "/api/v1/classes/{class}/assignments/{assignment}",
            put(update_assignment).delete(delete_assignment),
        )
        .route("/api/v1/classes/{class}/gradebook", get(crate::gradebook::gradebook))
        .route(
            "/api/v1/classes/{class}/gradebook.csv",
            get(crate::gradebook::gradebook_csv),
        )
        .route(
            "/api/v1/classes/{class}/exercises/{exercise}/failures",
            get(crate::gradebook::failures),
        )
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ClassesApi::openapi();
    doc.merge(crate::gradebook::openapi());
    doc
}

#[derive(OpenApi)]
#[openapi(
    paths(
        create_class, list_classes, open_class, rotate_join_code, roster, rename_student, remove_student,
        create_assignment, list_assignments, update_assignment, delete_assignment, join, sign_in, my_class
    ),
    components(schemas(
        ClassView, StudentView, AssignmentView, AssignmentRequest, CreateClass, RenameStudent, JoinRequest,
        SignInRequest, StudentSession, MyClass, MyAssignment, MyExercise
    )),
    tags((name = "classes", description = "A teacher's classes, students, assignments and gradebook; a student's join, sign-in and own work"))
)]
struct ClassesApi;

/// Whether a request signs a student in by a code in its body (join, sign-in): on a server
/// that requires keys these need none (the code is the credential).
pub fn signs_in(method: &Method, path: &str) -> bool {
    *method == Method::POST && matches!(path, "/api/v1/classes/join" | "/api/v1/classes/signin")
}

/// A class as its teacher sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassView {
    #[schema(example = "3f2a9c0d1e4b5a67")]
    pub id: String,
    pub name: String,
    /// The key that owns it.
    pub owner: String,
    /// What students type to join (any case; spaces and dashes are ignored).
    #[schema(example = "K7MQ2XPA")]
    pub join_code: String,
    /// The page's address for joining, relative to the server: `/#join=CODE`.
    #[schema(example = "/#join=K7MQ2XPA")]
    pub join_link: String,
    pub created_at: String,
}

impl From<Class> for ClassView {
    fn from(c: Class) -> Self {
        ClassView {
            join_link: format!("/#join={}", c.join_code),
            id: c.id,
            name: c.name,
            owner: c.owner,
            join_code: c.join_code,
            created_at: c.created_at.to_rfc3339(),
        }
    }
}

/// A student in the roster.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StudentView {
    pub id: String,
    pub display_name: String,
    /// The student's personal login code: give it to the student to sign in on another device.
    #[schema(example = "Q4TZ8MWN3C")]
    pub login_code: String,
    pub joined_at: String,
}

impl From<Student> for StudentView {
    fn from(s: Student) -> Self {
        StudentView {
            id: s.id,
            display_name: s.display_name,
            login_code: s.login_code,
            joined_at: s.joined_at.to_rfc3339(),
        }
    }
}

/// An assignment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssignmentView {
    pub id: String,
    pub title: String,
    pub position: i64,
    /// Exercise ids, in order.
    pub exercises: Vec<String>,
    /// Students see it from then on (absent: at once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_at: Option<String>,
    /// Submissions after it are stored and marked `late` (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

impl From<Assignment> for AssignmentView {
    fn from(a: Assignment) -> Self {
        AssignmentView {
            id: a.id,
            title: a.title,
            position: a.position,
            exercises: a.exercises,
            publish_at: a.publish_at.map(|t| t.to_rfc3339()),
            deadline: a.deadline.map(|t| t.to_rfc3339()),
        }
    }
}

/// `POST /api/v1/classes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClass {
    /// 1 to 100 characters.
    #[schema(example = "Class 3B")]
    pub name: String,
}

/// `PATCH /api/v1/classes/{class}/students/{student}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameStudent {
    /// 1 to 40 characters, unique in the class.
    pub display_name: String,
}

/// An assignment to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Week 1", "exercises": ["hello-name", "sum-two"], "deadline": "2026-09-07T23:59:00+08:00"}))]
pub struct AssignmentRequest {
    /// 1 to 200 characters.
    pub title: String,
    /// Ids of existing exercises, in the order students see them (1 to 50).
    pub exercises: Vec<String>,
    /// Where it is listed among the class's assignments (lower first; 0 when absent).
    #[serde(default)]
    pub position: i64,
    /// RFC 3339; students see it from then on (absent: at once).
    #[serde(default)]
    pub publish_at: Option<String>,
    /// RFC 3339; submissions after it are stored and marked `late` (absent: none).
    #[serde(default)]
    pub deadline: Option<String>,
}

/// `POST /api/v1/classes/join`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The class's join code (any case; spaces and dashes are ignored).
    #[schema(example = "K7MQ-2XPA")]
    pub code: String,
    /// 1 to 40 characters, unique in the class: what the teacher sees.
    #[schema(example = "李雷")]
    pub display_name: String,
}

/// `POST /api/v1/classes/signin`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The student's personal login code (from the join, or from the teacher).
    pub login_code: String,
}

/// A student session.
#[derive(Debug, Serialize, ToSchema)]
pub struct StudentSession {
    /// Send it as `Authorization: Bearer TOKEN` (or on a WebSocket as the subprotocol
    /// `tiderun.auth.TOKEN`), as a page session.
    pub token: String,
    pub expires_at: String,
    /// Always `student`.
    pub role: &'static str,
    pub student_id: String,
    pub display_name: String,
    /// Keep it: it signs the student in again, on any device.
    pub login_code: String,
    pub class_id: String,
    pub class_name: String,
}

/// A student's class and its published assignments, with what the student has done.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyClass {
    pub class_id: String,
    pub class_name: String,
    pub student_id: String,
    pub display_name: String,
    pub assignments: Vec<MyAssignment>,
    /// Every exercise the student submitted, in or out of an assignment, by id (for the
    /// exercise list's done / not done).
    pub exercises: Vec<MyExercise>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyAssignment {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    pub exercises: Vec<MyExercise>,
}

/// One exercise of an assignment, as the student has done it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyExercise {
    pub id: String,
    /// Some submission passed every test.
    pub done: bool,
    /// The best score so far, 0 to 1 (absent: never submitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_score: Option<f64>,
    pub submissions: u32,
}

/// The caller's class if it may manage it: the key that owns it, or an admin. Anyone else
/// gets 403; an unknown class 404.
pub(crate) async fn managed_class(state: &AppState, caller: &Caller, id: &str) -> Result<Class, ApiError> {
    teacher(caller)?;
    let class = state
        .store()
        .get_class(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no class with id {:?}", cut(id))))?;
    if caller.role != Role::Admin && caller.key.as_deref() != Some(class.owner.as_str()) {
        return Err(ApiError::Forbidden(
            "this class belongs to another teacher's key: a teacher manages only their own classes".into(),
        ));
    }
    Ok(class)
}

/// 403 unless the caller is a teacher or an admin.
fn teacher(caller: &Caller) -> Result<(), ApiError> {
    match caller.role {
        Role::Teacher | Role::Admin => Ok(()),
        role => Err(ApiError::Forbidden(format!(
            "this needs a teacher key (tiderun keys create NAME --role teacher) or an admin key; {}",
            match (&caller.key, role) {
                (_, Role::Student) => "a student may see only their own work".to_owned(),
                (Some(key), _) => format!("the key {key:?} is a {role} key"),
                (None, _) => "the request has no key".to_owned(),
            }
        ))),
    }
}

/// The signed-in student of a request, or 403.
pub(crate) fn student(of: Option<Extension<StudentOf>>) -> Result<StudentOf, ApiError> {
    of.map(|Extension(s)| s).ok_or_else(|| {
        ApiError::Forbidden(
            "this is for a signed-in student: join a class with its code (POST /api/v1/classes/join) \
             or sign in with your login code (POST /api/v1/classes/signin)"
                .into(),
        )
    })
}

/// Text from a path, cut short for a message.
pub(crate) fn cut(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The current student `id` of `class`, or 404.
pub(crate) async fn class_student(state: &AppState, class: &Class, id: &str) -> Result<Student, ApiError> {
    match state.store().get_student(id).await? {
        Some(s) if s.class_id == class.id => Ok(s),
        _ => Err(ApiError::NotFound(format!(
            "no student with id {:?} in this class",
            cut(id)
        ))),
    }
}

/// Create a class (a teacher's or an admin's key): the answer has its join code and link.
#[utoipa::path(
    post,
    path = "/api/v1/classes",
    tag = "classes",
    request_body(content = CreateClass, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The class, with its join code", body = ClassView),
        (status = 400, description = "A name that is empty or too long", body = ErrorBody),
        (status = 403, description = "Not a teacher or admin key", body = ErrorBody),
        (status = 409, description = "The key owns the most classes it may", body = ErrorBody),
    )
)]
async fn create_class(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<JsonBody<CreateClass>, ApiError>,
) -> Result<(StatusCode, Json<ClassView>), ApiError> {
    teacher(&caller)?;
    let JsonBody(request, ..) = body?;
    let owner = caller.key.as_deref().unwrap_or_default();
    let class = state.store().create_class(owner, &request.name).await?;
    Ok((StatusCode::CREATED, Json(class.into())))
}

/// The caller's classes (an admin: every class), oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/classes",
    tag = "classes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The classes", body = Vec<ClassView>),
        (status = 403, description = "Not a teacher or admin key", body = ErrorBody),
    )
)]
async fn list_classes(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<ClassView>>, ApiError> {
    teacher(&caller)?;
    let owner = (caller.role != Role::Admin).then(|| caller.key.as_deref().unwrap_or_default());
    let classes = state.store().list_classes(owner).await?;
    Ok(Json(classes.into_iter().map(Into::into).collect()))
}

/// One of the caller's classes.
#[utoipa::path(
    get,
    path = "/api/v1/classes/{class}",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The class", body = ClassView),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class", body = ErrorBody),
    )
)]
async fn open_class(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(class): Path<String>,
) -> Result<Json<ClassView>, ApiError> {
    Ok(Json(managed_class(&state, &caller, &class).await?.into()))
}

/// A fresh join code: the old one stops working (students who joined stay).
#[utoipa::path(
    post,
    path = "/api/v1/classes/{class}/join-code",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The class with its new join code", body = ClassView),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class", body = ErrorBody),
    )
)]
async fn rotate_join_code(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(class): Path<String>,
) -> Result<Json<ClassView>, ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    let class = state
        .store()
        .rotate_join_code(&class.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("the class was deleted".into()))?;
    Ok(Json(class.into()))
}

/// The roster, in the order students joined, with each student's login code.
#[utoipa::path(
    get,
    path = "/api/v1/classes/{class}/students",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The students", body = Vec<StudentView>),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class", body = ErrorBody),
    )
)]
async fn roster(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(class): Path<String>,
) -> Result<Json<Vec<StudentView>>, ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    let students = state.store().list_students(&class.id).await?;
    Ok(Json(students.into_iter().map(Into::into).collect()))
}

/// Rename a student.
#[utoipa::path(
    patch,
    path = "/api/v1/classes/{class}/students/{student}",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id"), ("student" = String, Path, description = "The student's id")),
    request_body(content = RenameStudent, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The student", body = StudentView),
        (status = 400, description = "A name that is empty or too long", body = ErrorBody),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class or student", body = ErrorBody),
        (status = 409, description = "Another student has this name", body = ErrorBody),
    )
)]
async fn rename_student(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((class, student)): Path<(String, String)>,
    body: Result<JsonBody<RenameStudent>, ApiError>,
) -> Result<Json<StudentView>, ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    let JsonBody(request, ..) = body?;
    let renamed = state
        .store()
        .rename_student(&class.id, &student, &request.display_name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no student with id {:?} in this class", cut(&student))))?;
    Ok(Json(renamed.into()))
}

/// Remove a student from the roster: the login code stops working, the submissions stay.
#[utoipa::path(
    delete,
    path = "/api/v1/classes/{class}/students/{student}",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id"), ("student" = String, Path, description = "The student's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class or student", body = ErrorBody),
    )
)]
async fn remove_student(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((class, student)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    if state.store().remove_student(&class.id, &student).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no student with id {:?} in this class",
            cut(&student)
        )))
    }
}

/// An RFC 3339 time of a request's field.
fn time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "{field} {:?} is not an RFC 3339 time such as 2026-09-07T23:59:00+08:00",
                        cut(v)
                    ))
                })
        })
        .transpose()
}

/// A request's assignment, checked: existing exercises, at least one, each once, times in order.
async fn new_assignment(state: &AppState, request: AssignmentRequest) -> Result<NewAssignment, ApiError> {
    if request.exercises.is_empty() {
        return Err(ApiError::BadRequest(
            "`exercises` is empty: give at least one exercise id".into(),
        ));
    }
    for (i, id) in request.exercises.iter().enumerate() {
        if request.exercises[..i].contains(id) {
            return Err(ApiError::BadRequest(format!("exercise {:?} is listed twice", cut(id))));
        }
        if i < store::MAX_EXERCISES_PER_ASSIGNMENT {
            crate::native::find_exercise(state, id).await?;
        }
    }
    let publish_at = time("publish_at", request.publish_at.as_deref())?;
    let deadline = time("deadline", request.deadline.as_deref())?;
    if let (Some(p), Some(d)) = (publish_at, deadline) {
        if d <= p {
            return Err(ApiError::BadRequest("`deadline` must be after `publish_at`".into()));
        }
    }
    Ok(NewAssignment {
        title: request.title,
        position: request.position,
        exercises: request.exercises,
        publish_at,
        deadline,
    })
}

/// Add an assignment: existing exercises in order, a publish time and a deadline.
#[utoipa::path(
    post,
    path = "/api/v1/classes/{class}/assignments",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id")),
    request_body(content = AssignmentRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The assignment", body = AssignmentView),
        (status = 400, description = "A title, exercise list or time that is wrong; `error` says how", body = ErrorBody),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class, or an unknown exercise", body = ErrorBody),
        (status = 409, description = "The class has the most assignments it may", body = ErrorBody),
    )
)]
async fn create_assignment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(class): Path<String>,
    body: Result<JsonBody<AssignmentRequest>, ApiError>,
) -> Result<(StatusCode, Json<AssignmentView>), ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    let JsonBody(request, ..) = body?;
    let new = new_assignment(&state, request).await?;
    let assignment = state.store().create_assignment(&class.id, &new).await?;
    Ok((StatusCode::CREATED, Json(assignment.into())))
}

/// The class's assignments, in order (unpublished ones too).
#[utoipa::path(
    get,
    path = "/api/v1/classes/{class}/assignments",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The assignments", body = Vec<AssignmentView>),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class", body = ErrorBody),
    )
)]
async fn list_assignments(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(class): Path<String>,
) -> Result<Json<Vec<AssignmentView>>, ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    let list = state.store().list_assignments(&class.id).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Replace an assignment (stored submissions keep the late flag they were given).
#[utoipa::path(
    put,
    path = "/api/v1/classes/{class}/assignments/{assignment}",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id"), ("assignment" = String, Path, description = "The assignment's id")),
    request_body(content = AssignmentRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The assignment", body = AssignmentView),
        (status = 400, description = "A title, exercise list or time that is wrong; `error` says how", body = ErrorBody),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class or assignment, or an unknown exercise", body = ErrorBody),
    )
)]
async fn update_assignment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((class, assignment)): Path<(String, String)>,
    body: Result<JsonBody<AssignmentRequest>, ApiError>,
) -> Result<Json<AssignmentView>, ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    let JsonBody(request, ..) = body?;
    let new = new_assignment(&state, request).await?;
    let updated = state
        .store()
        .update_assignment(&class.id, &assignment, &new)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no assignment with id {:?} in this class", cut(&assignment))))?;
    Ok(Json(updated.into()))
}

/// Delete an assignment (the students' submissions stay).
#[utoipa::path(
    delete,
    path = "/api/v1/classes/{class}/assignments/{assignment}",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id"), ("assignment" = String, Path, description = "The assignment's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class or assignment", body = ErrorBody),
    )
)]
async fn delete_assignment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((class, assignment)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    if state.store().delete_assignment(&class.id, &assignment).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no assignment with id {:?} in this class",
            cut(&assignment)
        )))
    }
}

/// A student session for `student`, named with its class.
pub(crate) async fn student_session(state: &AppState, student: Student) -> Result<StudentSession, ApiError> {
    let class = state
        .store()
        .get_class(&student.class_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("the class was deleted".into()))?;
    session_for(state, student, class.name).await
}

/// A student session for `student` of `class`.
async fn session_for(state: &AppState, student: Student, class_name: String) -> Result<StudentSession, ApiError> {
    let secret = state.session_secret().await?;
    let (token, expires_at) = session::mint_student(&secret, &student.id, Utc::now());
    Ok(StudentSession {
        token,
        expires_at: expires_at.to_rfc3339(),
        role: Role::Student.as_str(),
        student_id: student.id,
        display_name: student.display_name,
        login_code: student.login_code,
        class_id: student.class_id,
        class_name,
    })
}

/// Join a class with its join code and a display name (no key, e-mail or password): the
/// answer is a student session and the student's personal login code.
#[utoipa::path(
    post,
    path = "/api/v1/classes/join",
    tag = "classes",
    request_body(content = JoinRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Joined: a student session", body = StudentSession),
        (status = 400, description = "A display name that is empty or too long", body = ErrorBody),
        (status = 404, description = "No class has this join code", body = ErrorBody),
        (status = 409, description = "Another student has this name, or the class is full", body = ErrorBody),
        (status = 429, description = "Rate limit reached", body = ErrorBody),
    )
)]
async fn join(
    State(state): State<AppState>,
    body: Result<JsonBody<JoinRequest>, ApiError>,
) -> Result<(StatusCode, Json<StudentSession>), ApiError> {
    let JsonBody(request, ..) = body?;
    let student = match state.store().join_class(&request.code, &request.display_name).await? {
        store::JoinOutcome::Joined(student) => student,
        store::JoinOutcome::UnknownCode => {
            return Err(ApiError::NotFound(
                "no class has this join code: check it with your teacher (it may have been changed)".into(),
            ))
        }
    };
    let class = state
        .store()
        .get_class(&student.class_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("the class was deleted".into()))?;
    Ok((
        StatusCode::CREATED,
        Json(session_for(&state, student, class.name).await?),
    ))
}

/// Sign in again (another device, a new day) with the personal login code.
#[utoipa::path(
    post,
    path = "/api/v1/classes/signin",
    tag = "classes",
    request_body(content = SignInRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A student session", body = StudentSession),
        (status = 401, description = "No current student has this login code", body = ErrorBody),
        (status = 429, description = "Rate limit reached", body = ErrorBody),
    )
)]
async fn sign_in(
    State(state): State<AppState>,
    body: Result<JsonBody<SignInRequest>, ApiError>,
) -> Result<Json<StudentSession>, ApiError> {
    let JsonBody(request, ..) = body?;
    let student = state
        .store()
        .find_student_by_login(&request.login_code)
        .await?
        .ok_or_else(|| ApiError::KeyRefused("no student has this login code: check it with your teacher".into()))?;
    Ok(Json(student_session(&state, student).await?))
}

/// The signed-in student's class: its published assignments, each exercise done or not.
#[utoipa::path(
    get,
    path = "/api/v1/classes/me",
    tag = "classes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The student's class and work", body = MyClass),
        (status = 403, description = "Not a student session", body = ErrorBody),
    )
)]
async fn my_class(State(state): State<AppState>, of: Option<Extension<StudentOf>>) -> Result<Json<MyClass>, ApiError> {
    let me = student(of)?;
    let store = state.store();
    let (Some(student), Some(class)) = (store.get_student(&me.id).await?, store.get_class(&me.class).await?) else {
        return Err(ApiError::NotFound("this student is no longer in the class".into()));
    };
    let mine = store.student_summaries(&class.id, &student.id).await?;
    let now = Utc::now();
    let assignments = store
        .list_assignments(&class.id)
        .await?
        .into_iter()
        .filter(|a| a.published(now))
        .map(|a| MyAssignment {
            exercises: a.exercises.iter().map(|e| my_exercise(e, &mine)).collect(),
            id: a.id,
            title: a.title,
            deadline: a.deadline.map(|t| t.to_rfc3339()),
        })
        .collect();
    let mut submitted: Vec<&str> = mine.iter().map(|s| s.exercise_id.as_str()).collect();
    submitted.sort_unstable();
    submitted.dedup();
    Ok(Json(MyClass {
        class_id: class.id,
        class_name: class.name,
        student_id: student.id,
        display_name: student.display_name,
        assignments,
        exercises: submitted.into_iter().map(|e| my_exercise(e, &mine)).collect(),
    }))
}

/// The exercises the student has done (every test passed in some submission), for the
/// exercise list.
pub(crate) async fn done_exercises(
    state: &AppState,
    me: &StudentOf,
) -> Result<std::collections::BTreeSet<String>, ApiError> {
    let mine = state.store().student_summaries(&me.class, &me.id).await?;
    Ok(mine
        .iter()
        .filter(|s| s.full_marks())
        .map(|s| s.exercise_id.clone())
        .collect())
}

/// How the student has done `exercise`, from the student's submissions.
fn my_exercise(exercise: &str, mine: &[store::ClassSubmission]) -> MyExercise {
    let tries: Vec<_> = mine.iter().filter(|s| s.exercise_id == exercise).collect();
    MyExercise {
        id: exercise.to_owned(),
        done: tries.iter().any(|s| s.full_marks()),
        best_score: tries.iter().map(|s| s.score()).reduce(f64::max),
        submissions: tries.len() as u32,
    }
}

/// One test of a stored submission, as the server writes it into `verdicts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredVerdict {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub hidden: bool,
    /// `accepted`, `wrong_answer`, `runtime_error`…
    pub verdict: String,
    /// The first [`MAX_STORED_OUTPUT_CHARS`] characters of what a visible test printed (never a
    /// hidden test's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// The code a student may submit at most: what a stored submission keeps. Checked before
/// grading, so a program that could not be stored is not run.
pub fn check_code_size(of: Option<&StudentOf>, code: &str) -> Result<(), ApiError> {
    if of.is_some() && code.len() > store::MAX_STORED_CODE_BYTES {
        return Err(ApiError::BadRequest(format!(
            "code is {} bytes, more than the {} bytes a class submission may hold",
            code.len(),
            store::MAX_STORED_CODE_BYTES
        )));
    }
    Ok(())
}

/// A graded submission's points (each test worth its weight) and the most there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scored {
    pub points: u32,
    pub max_points: u32,
}

/// Store a signed-in student's graded submission (every one, late or not). A failure to
/// store is the answer's failure: the student must not believe a submission counted that
/// the teacher will never see.
pub async fn record_submission(
    state: &AppState,
    of: &StudentOf,
    exercise: &str,
    language: &str,
    code: &str,
    graded: &TestsResponse,
    scored: Scored,
) -> Result<StoredSubmission, ApiError> {
    let verdicts: Vec<StoredVerdict> = graded
        .tests
        .iter()
        .map(|t| StoredVerdict {
            name: t.name.clone(),
            hidden: t.hidden,
            verdict: serde_json::to_value(t.verdict)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            output: t
                .run
                .as_ref()
                .filter(|_| !t.hidden)
                .map(|r| r.stdout.chars().take(MAX_STORED_OUTPUT_CHARS).collect()),
        })
        .collect();
    let verdicts = serde_json::to_string(&verdicts).map_err(|e| {
        tracing::error!(error = %e, "cannot encode verdicts");
        ApiError::Internal
    })?;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let stored = state
        .store()
        .record_class_submission(&store::NewClassSubmission {
            student_id: of.id.to_string(),
            exercise_id: exercise.to_owned(),
            language: language.to_owned(),
            code: code.to_owned(),
            verdicts,
            passed: count(graded.passed),
            total: count(graded.total),
            points: scored.points,
            max_points: scored.max_points,
        })
        .await?;
    Ok(StoredSubmission {
        id: stored.id,
        at: stored.at.to_rfc3339(),
        late: stored.late,
        assignment_id: stored.assignment_id,
    })
}
