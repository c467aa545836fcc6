//! A class's stored submissions, read: the teacher's gradebook (students × assignment
//! exercises, best and latest score per cell), its CSV export, a cell's submissions, the
//! common failures of an exercise; and a student's own submissions.
//!
//! Scores are fractions from 0 to 1 with their points (`points / max_points`), the shape an
//! LTI 1.3 grade pass-back sends (`scoreGiven` / `scoreMaximum`).

use std::collections::{BTreeMap, HashMap};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use store::{Class, ClassSubmission, Student};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::StudentOf;
use crate::classes::{class_student, cut, managed_class, student, AssignmentView, StoredVerdict};
use crate::native::ErrorBody;
use crate::{ApiError, AppState, Caller};

/// Most frequent wrong outputs listed per test in the common-failures view.
pub const TOP_WRONG_OUTPUTS: usize = 5;

pub fn openapi() -> utoipa::openapi::OpenApi {
    GradebookApi::openapi()
}

#[derive(OpenApi)]
#[openapi(
    paths(gradebook, gradebook_csv, student_submissions, failures, my_submissions),
    components(schemas(
        Gradebook,
        GradebookColumn,
        GradebookRow,
        Cell,
        SubmissionView,
        StoredVerdict,
        Failures,
        TestFailures,
        WrongOutput
    ))
)]
struct GradebookApi;

/// The gradebook: one column per exercise of each assignment, in order; one row per student.
#[derive(Debug, Serialize, ToSchema)]
pub struct Gradebook {
    pub class_id: String,
    pub class_name: String,
    pub assignments: Vec<AssignmentView>,
    pub columns: Vec<GradebookColumn>,
    pub rows: Vec<GradebookRow>,
}

/// One exercise of one assignment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GradebookColumn {
    pub assignment_id: String,
    pub assignment_title: String,
    pub exercise_id: String,
}

/// A student's cells, one per column (`null`: never submitted).
#[derive(Debug, Serialize, ToSchema)]
pub struct GradebookRow {
    pub student_id: String,
    pub display_name: String,
    pub cells: Vec<Option<Cell>>,
}

/// A student's submissions of one exercise, summed up.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cell {
    /// The best score, 0 to 1, and its points.
    pub best_score: f64,
    pub best_points: u32,
    /// The latest submission's score, 0 to 1, and its points.
    pub latest_score: f64,
    pub latest_points: u32,
    pub max_points: u32,
    pub submissions: u32,
    /// The latest submission was after its deadline.
    pub latest_late: bool,
    pub latest_at: String,
}

/// A stored submission, with its code and verdicts.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionView {
    pub id: String,
    pub student_id: String,
    pub exercise_id: String,
    /// The assignment whose deadline it was judged against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment_id: Option<String>,
    pub at: String,
    pub language: String,
    pub code: String,
    pub verdicts: Vec<StoredVerdict>,
    pub passed: u32,
    pub total: u32,
    /// 0 to 1.
    pub score: f64,
    pub points: u32,
    pub max_points: u32,
    pub late: bool,
}

impl From<ClassSubmission> for SubmissionView {
    fn from(s: ClassSubmission) -> Self {
        let verdicts = serde_json::from_str(&s.verdicts).unwrap_or_else(|e| {
            // Only this server writes them; an unreadable one shows as no verdicts.
            tracing::error!(id = %s.id, error = %e, "stored verdicts are unreadable");
            Vec::new()
        });
        SubmissionView {
            score: s.score(),
            id: s.id,
            student_id: s.student_id,
            exercise_id: s.exercise_id,
            assignment_id: s.assignment_id,
            at: s.at.to_rfc3339(),
            language: s.language,
            code: s.code,
            verdicts,
            passed: s.passed,
            total: s.total,
            points: s.points,
            max_points: s.max_points,
            late: s.late,
        }
    }
}

/// The cell of `tries` (oldest first), `None` without any.
fn cell(tries: &[&ClassSubmission]) -> Option<Cell> {
    let latest = tries.last()?;
    let best = tries
        .iter()
        .max_by(|a, b| a.score().total_cmp(&b.score()))
        .expect("not empty");
    Some(Cell {
        best_score: best.score(),
        best_points: best.points,
        latest_score: latest.score(),
        latest_points: latest.points,
        max_points: latest.max_points,
        submissions: tries.len() as u32,
        latest_late: latest.late,
        latest_at: latest.at.to_rfc3339(),
    })
}

/// The gradebook of a class the caller manages.
async fn build(state: &AppState, class: Class) -> Result<Gradebook, ApiError> {
    let store = state.store();
    let assignments = store.list_assignments(&class.id).await?;
    let students = store.list_students(&class.id).await?;
    let submissions = store.submission_summaries(&class.id).await?;
    let mut by_cell: HashMap<(&str, &str), Vec<&ClassSubmission>> = HashMap::new();
    for s in &submissions {
        by_cell
            .entry((s.student_id.as_str(), s.exercise_id.as_str()))
            .or_default()
            .push(s);
    }
    let columns: Vec<GradebookColumn> = assignments
        .iter()
        .flat_map(|a| {
            a.exercises.iter().map(|e| GradebookColumn {
                assignment_id: a.id.clone(),
                assignment_title: a.title.clone(),
                exercise_id: e.clone(),
            })
        })
        .collect();
    let rows = students
        .into_iter()
        .map(|Student { id, display_name, .. }| GradebookRow {
            cells: columns
                .iter()
                .map(|c| {
                    by_cell
                        .get(&(id.as_str(), c.exercise_id.as_str()))
                        .and_then(|tries| cell(tries))
                })
                .collect(),
            student_id: id,
            display_name,
        })
        .collect();
    Ok(Gradebook {
        class_id: class.id,
        class_name: class.name,
        assignments: assignments.into_iter().map(Into::into).collect(),
        columns,
        rows,
    })
}

/// The class × assignment exercises, best and latest score per student.
#[utoipa::path(
    get,
    path = "/api/v1/classes/{class}/gradebook",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The gradebook", body = Gradebook),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class", body = ErrorBody),
    )
)]
pub(crate) async fn gradebook(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(class): Path<String>,
) -> Result<Json<Gradebook>, ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    Ok(Json(build(&state, class).await?))
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; a text a
/// spreadsheet would run as a formula (starting with = + - @, or a tab or carriage return)
/// gets a leading `'`.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The gradebook as CSV: a header row, then one row per student.
pub fn to_csv(book: &Gradebook) -> String {
    let mut out = String::new();
    let mut line = |fields: Vec<String>| {
        let fields: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    };
    let mut header = vec!["student".to_owned()];
    header.extend(
        book.columns
            .iter()
            .map(|c| format!("{} / {}", c.assignment_title, c.exercise_id)),
    );
    header.push("average".to_owned());
    line(header);
    for row in &book.rows {
        let mut fields = vec![row.display_name.clone()];
        fields.extend(row.cells.iter().map(|c| match c {
            Some(c) => format!("{:.2}", c.best_score),
            None => String::new(),
        }));
        let total: f64 = row.cells.iter().flatten().map(|c| c.best_score).sum();
        let average = if row.cells.is_empty() {
            0.0
        } else {
            total / row.cells.len() as f64
        };
        fields.push(format!("{average:.2}"));
        line(fields);
    }
    out
}

/// The gradebook as CSV: `student`, one column per assignment exercise (the best score, 0 to
/// 1; empty if never submitted), `average` (unsubmitted exercises count 0).
#[utoipa::path(
    get,
    path = "/api/v1/classes/{class}/gradebook.csv",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "RFC 4180 CSV, UTF-8", content_type = "text/csv", body = String),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class", body = ErrorBody),
    )
)]
pub(crate) async fn gradebook_csv(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(class): Path<String>,
) -> Result<Response, ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    let book = build(&state, class).await?;
    // A byte-order mark: spreadsheets then read the Chinese names as UTF-8.
    let body = format!("\u{feff}{}", to_csv(&book));
    let disposition = format!("attachment; filename=\"gradebook-{}.csv\"", book.class_id);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response())
}

/// `?exercise=ID`: only this exercise's submissions.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExerciseFilter {
    /// An exercise id.
    pub exercise: Option<String>,
}

fn filter(query: Result<Query<ExerciseFilter>, QueryRejection>) -> Result<Option<String>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(format!("bad query: {}", e.body_text())))?;
    Ok(q.exercise.filter(|e| !e.is_empty()))
}

/// A student's submissions (a gradebook cell with `?exercise=`), oldest first, with code and
/// verdicts.
#[utoipa::path(
    get,
    path = "/api/v1/classes/{class}/students/{student}/submissions",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id"), ("student" = String, Path, description = "The student's id"), ExerciseFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The submissions", body = Vec<SubmissionView>),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class or student", body = ErrorBody),
    )
)]
pub(crate) async fn student_submissions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((class, student)): Path<(String, String)>,
    query: Result<Query<ExerciseFilter>, QueryRejection>,
) -> Result<Json<Vec<SubmissionView>>, ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    let exercise = filter(query)?;
    let student = class_student(&state, &class, &student).await?;
    let list = state
        .store()
        .list_class_submissions(&class.id, Some(&student.id), exercise.as_deref())
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// The signed-in student's own submissions, oldest first, with code and verdicts.
#[utoipa::path(
    get,
    path = "/api/v1/classes/me/submissions",
    tag = "classes",
    params(ExerciseFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The submissions", body = Vec<SubmissionView>),
        (status = 403, description = "Not a student session", body = ErrorBody),
    )
)]
pub(crate) async fn my_submissions(
    State(state): State<AppState>,
    of: Option<Extension<StudentOf>>,
    query: Result<Query<ExerciseFilter>, QueryRejection>,
) -> Result<Json<Vec<SubmissionView>>, ApiError> {
    let me = student(of)?;
    let exercise = filter(query)?;
    let list = state
        .store()
        .list_class_submissions(&me.class, Some(&me.id), exercise.as_deref())
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// What went wrong with an exercise across a class.
#[derive(Debug, Serialize, ToSchema)]
pub struct Failures {
    pub exercise_id: String,
    pub submissions: u32,
    /// Students who submitted it.
    pub students: u32,
    /// Students whose best submission passed every test.
    pub solved_by: u32,
    /// Tests, the most failed first.
    pub tests: Vec<TestFailures>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestFailures {
    /// The test's name (`test N` when it has none).
    pub name: String,
    pub hidden: bool,
    /// Submissions that failed it.
    pub failed: u32,
    /// Failures by verdict (`wrong_answer`, `runtime_error`…).
    pub verdicts: BTreeMap<String, u32>,
    /// The most frequent outputs of wrong answers (visible tests only), commonest first.
    pub wrong_outputs: Vec<WrongOutput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WrongOutput {
    /// What the program printed (the first 200 characters).
    pub output: String,
    pub count: u32,
}

/// Which tests of an exercise fail most in a class, how, and the most frequent wrong outputs.
#[utoipa::path(
    get,
    path = "/api/v1/classes/{class}/exercises/{exercise}/failures",
    tag = "classes",
    params(("class" = String, Path, description = "The class's id"), ("exercise" = String, Path, description = "The exercise's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The common failures", body = Failures),
        (status = 403, description = "Not this class's teacher", body = ErrorBody),
        (status = 404, description = "No such class or exercise", body = ErrorBody),
    )
)]
pub(crate) async fn failures(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((class, exercise)): Path<(String, String)>,
) -> Result<Json<Failures>, ApiError> {
    let class = managed_class(&state, &caller, &class).await?;
    crate::native::find_exercise(&state, &exercise)
        .await
        .map_err(|_| ApiError::NotFound(format!("no exercise with id {:?}", cut(&exercise))))?;
    let list = state
        .store()
        .list_class_submissions(&class.id, None, Some(&exercise))
        .await?;
    Ok(Json(common_failures(&exercise, &list)))
}

/// The common failures of `submissions` (all of one exercise).
pub fn common_failures(exercise: &str, submissions: &[ClassSubmission]) -> Failures {
    struct Tally {
        hidden: bool,
        failed: u32,
        verdicts: BTreeMap<String, u32>,
        outputs: HashMap<String, u32>,
    }
    let mut tests: Vec<(String, Tally)> = Vec::new();
    let mut best: HashMap<&str, bool> = HashMap::new();
    for s in submissions {
        let solved = s.max_points > 0 && s.points == s.max_points;
        *best.entry(s.student_id.as_str()).or_default() |= solved;
        let verdicts: Vec<StoredVerdict> = serde_json::from_str(&s.verdicts).unwrap_or_default();
        for (i, v) in verdicts.into_iter().enumerate() {
            let name = v.name.unwrap_or_else(|| format!("test {}", i + 1));
            let at = match tests.iter().position(|(n, _)| *n == name) {
                Some(at) => at,
                None => {
                    tests.push((
                        name,
                        Tally {
                            hidden: v.hidden,
                            failed: 0,
                            verdicts: BTreeMap::new(),
                            outputs: HashMap::new(),
                        },
                    ));
                    tests.len() - 1
                }
            };
            let tally = &mut tests[at].1;
            if v.verdict == "accepted" {
                continue;
            }
            tally.failed += 1;
            *tally.verdicts.entry(v.verdict.clone()).or_default() += 1;
            if let (false, "wrong_answer", Some(output)) = (v.hidden, v.verdict.as_str(), v.output) {
                *tally.outputs.entry(output).or_default() += 1;
            }
        }
    }
    let mut tests: Vec<TestFailures> = tests
        .into_iter()
        .map(|(name, t)| {
            let mut outputs: Vec<WrongOutput> = t
                .outputs
                .into_iter()
                .map(|(output, count)| WrongOutput { output, count })
                .collect();
            outputs.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.output.cmp(&b.output)));
            outputs.truncate(TOP_WRONG_OUTPUTS);
            TestFailures {
                name,
                hidden: t.hidden,
                failed: t.failed,
                verdicts: t.verdicts,
                wrong_outputs: outputs,
            }
        })
        .collect();
    // Stable: tests failed equally often keep their order.
    tests.sort_by_key(|t| std::cmp::Reverse(t.failed));
    Failures {
        exercise_id: exercise.to_owned(),
        submissions: submissions.len() as u32,
        students: best.len() as u32,
        solved_by: best.values().filter(|s| **s).count() as u32,
        tests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("李雷"), "李雷");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for risky in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert_eq!(csv_field(risky), format!("'{risky}"));
        }
        assert_eq!(csv_field("0.50"), "0.50");
    }

    fn submission(student: &str, points: u32, verdicts: &[(&str, Option<&str>)]) -> ClassSubmission {
        let verdicts: Vec<StoredVerdict> = verdicts
            .iter()
            .enumerate()
            .map(|(i, (v, out))| StoredVerdict {
                name: Some(format!("t{i}")),
                hidden: i == 2,
                verdict: (*v).to_owned(),
                output: out.map(str::to_owned),
            })
            .collect();
        ClassSubmission {
            id: "x".into(),
            class_id: "c".into(),
            student_id: student.into(),
            exercise_id: "e".into(),
            assignment_id: None,
            at: chrono::Utc::now(),
            language: "python".into(),
            code: String::new(),
            verdicts: serde_json::to_string(&verdicts).unwrap(),
            passed: points,
            total: 3,
            points,
            max_points: 3,
            late: false,
        }
    }

    #[test]
    fn common_failures_count_tests_verdicts_and_wrong_outputs() {
        let list = [
            submission(
                "a",
                1,
                &[
                    ("accepted", Some("3")),
                    ("wrong_answer", Some("7")),
                    ("wrong_answer", None),
                ],
            ),
            submission(
                "b",
                1,
                &[
                    ("accepted", Some("3")),
                    ("wrong_answer", Some("7")),
                    ("runtime_error", None),
                ],
            ),
            submission(
                "b",
                2,
                &[("accepted", Some("3")), ("wrong_answer", Some("8")), ("accepted", None)],
            ),
            submission(
                "b",
                3,
                &[("accepted", Some("3")), ("accepted", Some("5")), ("accepted", None)],
            ),
        ];
        let f = common_failures("e", &list);
        assert_eq!((f.submissions, f.students, f.solved_by), (4, 2, 1));
        assert_eq!(f.tests[0].name, "t1");
        assert_eq!(f.tests[0].failed, 3);
        assert_eq!(f.tests[0].wrong_outputs[0].output, "7");
        assert_eq!(f.tests[0].wrong_outputs[0].count, 2);
        assert_eq!(f.tests[1].name, "t2");
        assert_eq!(f.tests[1].verdicts.get("runtime_error"), Some(&1));
        assert!(
            f.tests[1].wrong_outputs.is_empty(),
            "a hidden test's output is never kept"
        );
        assert_eq!(f.tests[2].failed, 0);
    }
}
