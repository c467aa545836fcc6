//! Classes: a teacher's classes, their students, assignments and every graded submission of a
//! signed-in student.
//!
//! A class belongs to the key that made it (`owner`, a key name). A student has no key, no
//! e-mail and no password: a display name, the class it joined with the class's join code, and
//! a personal login code the teacher sees in the roster. Submissions are stored whatever their
//! time (after the deadline they are marked `late`); what one holds is bounded by the limits
//! below. Verdicts are opaque JSON text written by the server.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::query;
use crate::keys::random_bytes;
use crate::store::check_text;
use crate::time::{from_us, next_created_at, now_us};
use crate::{Store, StoreError};

/// Longest class name, in characters.
pub const MAX_CLASS_NAME_CHARS: usize = 100;
/// Longest student display name, in characters (a name in a roster, not an essay).
pub const MAX_DISPLAY_NAME_CHARS: usize = 40;
/// Longest assignment title, in characters.
pub const MAX_ASSIGNMENT_TITLE_CHARS: usize = 200;
/// Classes one key may own: a teacher's classes over many years.
pub const MAX_CLASSES_PER_OWNER: u64 = 200;
/// Students of one class, removed ones included: a school class is 30 to 60.
pub const MAX_STUDENTS_PER_CLASS: u64 = 300;
/// Assignments of one class: one a day over a school year.
pub const MAX_ASSIGNMENTS_PER_CLASS: u64 = 300;
/// Exercises in one assignment.
pub const MAX_EXERCISES_PER_ASSIGNMENT: usize = 50;
/// Submissions one student may store for one exercise: far more than a student types, few
/// enough that a script cannot fill the disk through one student.
pub const MAX_SUBMISSIONS_PER_EXERCISE: u64 = 500;
/// The largest program stored with a submission (a classroom exercise is a page or two).
pub const MAX_STORED_CODE_BYTES: usize = 64 * 1024;
/// The largest verdicts text stored with a submission (the server cuts each test's output
/// to fit well within it).
pub const MAX_STORED_VERDICTS_BYTES: usize = 64 * 1024;
/// Submissions one read loads at most (a gradebook of a full class, a common-failures view);
/// past it the read asks for a narrower one.
pub const MAX_SUBMISSIONS_READ: u64 = 100_000;
/// Classes one listing shows at most (an admin's listing of every class).
pub const MAX_CLASSES_LISTED: u64 = 10_000;
/// Letters of a join code (40 random bits: guessing one is rate limited per address).
pub const JOIN_CODE_LEN: usize = 8;
/// Letters of a student's login code (50 random bits).
pub const LOGIN_CODE_LEN: usize = 10;
/// The letters codes are made of: digits and capitals without 0/O and 1/I, 32 of them (so a
/// random byte maps onto them without bias), read aloud and typed without confusion.
pub const CODE_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// A class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub id: String,
    /// The name of the key that made it.
    pub owner: String,
    pub name: String,
    pub join_code: String,
    pub created_at: DateTime<Utc>,
}

/// A student of a class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Student {
    pub id: String,
    pub class_id: String,
    pub display_name: String,
    pub login_code: String,
    pub joined_at: DateTime<Utc>,
}

/// An assignment to create or to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssignment {
    pub title: String,
    /// Where it is listed among the class's assignments (lower first).
    pub position: i64,
    /// Exercise ids, in the order students see them.
    pub exercises: Vec<String>,
    pub publish_at: Option<DateTime<Utc>>,
    pub deadline: Option<DateTime<Utc>>,
}

/// An assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub id: String,
    pub class_id: String,
    pub title: String,
    pub position: i64,
    pub exercises: Vec<String>,
    pub publish_at: Option<DateTime<Utc>>,
    pub deadline: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Assignment {
    /// Whether students see it at `now`.
    pub fn published(&self, now: DateTime<Utc>) -> bool {
        self.publish_at.is_none_or(|p| p <= now)
    }

    /// Whether a submission at `at` is after its deadline.
    pub fn late(&self, at: DateTime<Utc>) -> bool {
        self.deadline.is_some_and(|d| at > d)
    }
}

/// A graded submission to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClassSubmission {
    pub student_id: String,
    pub exercise_id: String,
    pub language: String,
    /// At most [`MAX_STORED_CODE_BYTES`].
    pub code: String,
    /// JSON, at most [`MAX_STORED_VERDICTS_BYTES`].
    pub verdicts: String,
    pub passed: u32,
    pub total: u32,
    pub points: u32,
    pub max_points: u32,
}

/// A stored submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSubmission {
    pub id: String,
    pub class_id: String,
    pub student_id: String,
    pub exercise_id: String,
    /// The assignment whose deadline it was judged against, if any.
    pub assignment_id: Option<String>,
    pub at: DateTime<Utc>,
    pub language: String,
    /// Empty in summaries (`submission_summaries`).
    pub code: String,
    /// Empty in summaries.
    pub verdicts: String,
    pub passed: u32,
    pub total: u32,
    pub points: u32,
    pub max_points: u32,
    pub late: bool,
}

impl ClassSubmission {
    /// The score, a fraction from 0 to 1 (0 without points to earn).
    pub fn score(&self) -> f64 {
        if self.max_points == 0 {
            0.0
        } else {
            f64::from(self.points) / f64::from(self.max_points)
        }
    }

    /// Every point earned: the exercise is done.
    pub fn full_marks(&self) -> bool {
        self.max_points > 0 && self.points == self.max_points
    }
}

/// What [`Store::join_class`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined(Student),
    /// No class has this join code (now).
    UnknownCode,
}

/// A code of `len` random letters of [`CODE_ALPHABET`].
pub fn new_code<const N: usize>() -> Result<String, StoreError> {
    Ok(random_bytes::<N>()?
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(b % 32)]))
        .collect())
}

/// A code as typed (any case, spaces and dashes between groups) in its stored form; `None`
/// when it holds a letter no code has or has not `len` letters.
pub fn normalize_code(typed: &str, len: usize) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == len && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// A random id: 16 hex digits.
fn new_id() -> Result<String, StoreError> {
    Ok(random_bytes::<8>()?.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `id` may be an id (so a path segment is not sent to the database otherwise).
pub fn valid_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Trimmed text of 1 to `max` characters without control characters.
fn checked_text(field: &'static str, text: &str, max: usize) -> Result<String, StoreError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(StoreError::BadClassText { field, max });
    }
    Ok(text.to_owned())
}

/// `name`, or the first of "name 2", "name 3"… whose lowercase is not in `taken`, each cut to
/// [`MAX_DISPLAY_NAME_CHARS`] characters.
fn free_name(name: &str, taken: &[String]) -> String {
    let numbered = |n: usize| {
        let suffix = format!(" {n}");
        let keep = MAX_DISPLAY_NAME_CHARS - suffix.len();
        let stem: String = name.chars().take(keep).collect();
        format!("{}{suffix}", stem.trim_end())
    };
    std::iter::once(name.to_owned())
        .chain((2..).map(numbered))
        .find(|candidate| !taken.contains(&candidate.to_lowercase()))
        .unwrap_or_else(|| name.to_owned())
}

/// Tries at a fresh random code before giving up (a clash of 40 random bits is rare already).
const CODE_TRIES: u32 = 8;

impl Store {
    /// Create a class owned by the key `owner`, with a fresh join code.
    pub async fn create_class(&self, owner: &str, name: &str) -> Result<Class, StoreError> {
        const OP: &str = "create_class";
        let name = checked_text("name", name, MAX_CLASS_NAME_CHARS)?;
        let id = new_id()?;
        let created_at = next_created_at();
        for _ in 0..CODE_TRIES {
            let join_code = new_code::<JOIN_CODE_LEN>()?;
            let inserted = sqlx::query(
                "INSERT INTO classes (id, owner, name, join_code, created_at) \
                 SELECT $1, $2, $3, $4, $5 WHERE (SELECT COUNT(*) FROM classes WHERE owner = $2) < $6",
            )
            .bind(id.as_str())
            .bind(owner)
            .bind(name.as_str())
            .bind(join_code.as_str())
            .bind(created_at)
            .bind(MAX_CLASSES_PER_OWNER as i64)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(done) if done.rows_affected() == 0 => {
                    return Err(StoreError::ClassLimit {
                        what: "classes of one key",
                        max: MAX_CLASSES_PER_OWNER,
                    })
                }
                Ok(_) => {
                    return Ok(Class {
                        id,
                        owner: owner.to_owned(),
                        name,
                        join_code,
                        created_at: from_us(created_at, "classes.created_at", owner)?,
                    })
                }
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
                Err(e) => return Err(StoreError::Query { op: OP, source: e }),
            }
        }
        Err(StoreError::NoFreeCode { tries: CODE_TRIES })
    }

    /// The classes of `owner` (every class for `None`), oldest first; at most
    /// [`MAX_CLASSES_LISTED`].
    pub async fn list_classes(&self, owner: Option<&str>) -> Result<Vec<Class>, StoreError> {
        const OP: &str = "list_classes";
        let columns = "SELECT id, owner, name, join_code, created_at FROM classes";
        let rows = match owner {
            Some(owner) => {
                sqlx::query(&format!("{columns} WHERE owner = $1 ORDER BY created_at, id LIMIT $2"))
                    .bind(owner)
                    .bind(MAX_CLASSES_LISTED as i64)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query(&format!("{columns} ORDER BY created_at, id LIMIT $1"))
                    .bind(MAX_CLASSES_LISTED as i64)
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(query(OP))?;
        rows.iter().map(|r| class_from_row(r, OP)).collect()
    }

    pub async fn get_class(&self, id: &str) -> Result<Option<Class>, StoreError> {
        const OP: &str = "get_class";
        if !valid_id(id) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT id, owner, name, join_code, created_at FROM classes WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query(OP))?;
        row.map(|r| class_from_row(&r, OP)).transpose()
    }

    /// A fresh join code for a class (the old one stops working); `None` if there is no such
    /// class.
    pub async fn rotate_join_code(&self, id: &str) -> Result<Option<Class>, StoreError> {
        const OP: &str = "rotate_join_code";
        if !valid_id(id) {
            return Ok(None);
        }
        for _ in 0..CODE_TRIES {
            let code = new_code::<JOIN_CODE_LEN>()?;
            match sqlx::query("UPDATE classes SET join_code = $1 WHERE id = $2")
                .bind(code.as_str())
                .bind(id)
                .execute(&self.pool)
                .await
            {
                Ok(_) => return self.get_class(id).await,
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
                Err(e) => return Err(StoreError::Query { op: OP, source: e }),
            }
        }
        Err(StoreError::NoFreeCode { tries: CODE_TRIES })
    }

    /// Join the class whose join code is `join_code` (as typed) as `display_name`, unique
    /// among the class's students (case-insensitively).
    pub async fn join_class(&self, join_code: &str, display_name: &str) -> Result<JoinOutcome, StoreError> {
        const OP: &str = "join_class";
        let name = checked_text("display_name", display_name, MAX_DISPLAY_NAME_CHARS)?;
        let Some(class_id) = self.class_by_join_code(join_code, OP).await? else {
            return Ok(JoinOutcome::UnknownCode);
        };
        self.add_student(&class_id, &name).await.map(JoinOutcome::Joined)
    }

    /// Join as [`Store::join_class`] does, but when another student of the class has the name,
    /// as the first free of "name 2", "name 3"… (cut to fit [`MAX_DISPLAY_NAME_CHARS`]): for a
    /// name that comes from a school's sign-in, which the student cannot retype.
    pub async fn join_class_unique(&self, join_code: &str, display_name: &str) -> Result<JoinOutcome, StoreError> {
        const OP: &str = "join_class_unique";
        let name = checked_text("display_name", display_name, MAX_DISPLAY_NAME_CHARS)?;
        let Some(class_id) = self.class_by_join_code(join_code, OP).await? else {
            return Ok(JoinOutcome::UnknownCode);
        };
        // Again if another student took the free name meanwhile.
        for _ in 0..CODE_TRIES {
            let taken: Vec<String> = self
                .list_students(&class_id)
                .await?
                .into_iter()
                .map(|s| s.display_name.to_lowercase())
                .collect();
            match self.add_student(&class_id, &free_name(&name, &taken)).await {
                Err(StoreError::NameTaken { .. }) => continue,
                joined => return joined.map(JoinOutcome::Joined),
            }
        }
        Err(StoreError::NameTaken { name })
    }

    /// The id of the class whose join code is `join_code` (as typed).
    async fn class_by_join_code(&self, join_code: &str, op: &'static str) -> Result<Option<String>, StoreError> {
        let Some(code) = normalize_code(join_code, JOIN_CODE_LEN) else {
            return Ok(None);
        };
        sqlx::query_scalar("SELECT id FROM classes WHERE join_code = $1")
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(query(op))
    }

    async fn add_student(&self, class_id: &str, name: &str) -> Result<Student, StoreError> {
        const OP: &str = "add_student";
        self.check_name_free(class_id, name, None).await?;
        let id = new_id()?;
        let joined_at = next_created_at();
        for _ in 0..CODE_TRIES {
            let login_code = new_code::<LOGIN_CODE_LEN>()?;
            let inserted = sqlx::query(
                "INSERT INTO students (id, class_id, display_name, login_code, joined_at) \
                 SELECT $1, $2, $3, $4, $5 WHERE (SELECT COUNT(*) FROM students WHERE class_id = $2) < $6",
            )
            .bind(id.as_str())
            .bind(class_id)
            .bind(name)
            .bind(login_code.as_str())
            .bind(joined_at)
            .bind(MAX_STUDENTS_PER_CLASS as i64)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(done) if done.rows_affected() == 0 => {
                    return Err(StoreError::ClassLimit {
                        what: "students of one class",
                        max: MAX_STUDENTS_PER_CLASS,
                    })
                }
                Ok(_) => {
                    return Ok(Student {
                        id,
                        class_id: class_id.to_owned(),
                        display_name: name.to_owned(),
                        login_code,
                        joined_at: from_us(joined_at, "students.joined_at", class_id)?,
                    })
                }
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
                Err(e) => return Err(StoreError::Query { op: OP, source: e }),
            }
        }
        Err(StoreError::NoFreeCode { tries: CODE_TRIES })
    }

    /// [`StoreError::NameTaken`] if another current student of the class has this name.
    async fn check_name_free(&self, class_id: &str, name: &str, except: Option<&str>) -> Result<(), StoreError> {
        let taken = self
            .list_students(class_id)
            .await?
            .into_iter()
            .any(|s| Some(s.id.as_str()) != except && s.display_name.to_lowercase() == name.to_lowercase());
        if taken {
            return Err(StoreError::NameTaken { name: name.to_owned() });
        }
        Ok(())
    }

    /// The current student whose login code is `code` (as typed).
    pub async fn find_student_by_login(&self, code: &str) -> Result<Option<Student>, StoreError> {
        const OP: &str = "find_student_by_login";
        let Some(code) = normalize_code(code, LOGIN_CODE_LEN) else {
            return Ok(None);
        };
        let row = sqlx::query(concat!(
            "SELECT ",
            student_columns!(),
            " FROM students WHERE login_code = $1 AND removed_at IS NULL"
        ))
        .bind(code.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(query(OP))?;
        row.map(|r| student_from_row(&r, OP)).transpose()
    }

    /// A current (not removed) student by id.
    pub async fn get_student(&self, id: &str) -> Result<Option<Student>, StoreError> {
        const OP: &str = "get_student";
        if !valid_id(id) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            student_columns!(),
            " FROM students WHERE id = $1 AND removed_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(query(OP))?;
        row.map(|r| student_from_row(&r, OP)).transpose()
    }

    /// The current students of a class, in the order they joined.
    pub async fn list_students(&self, class_id: &str) -> Result<Vec<Student>, StoreError> {
        const OP: &str = "list_students";
        let rows = sqlx::query(concat!(
            "SELECT ",
            student_columns!(),
            " FROM students WHERE class_id = $1 AND removed_at IS NULL ORDER BY joined_at, id LIMIT $2"
        ))
        .bind(class_id)
        .bind(MAX_STUDENTS_PER_CLASS as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(query(OP))?;
        rows.iter().map(|r| student_from_row(r, OP)).collect()
    }

    /// Rename a current student of `class_id`; `None` if there is none with this id.
    pub async fn rename_student(
        &self,
        class_id: &str,
        id: &str,
        display_name: &str,
    ) -> Result<Option<Student>, StoreError> {
        const OP: &str = "rename_student";
        let name = checked_text("display_name", display_name, MAX_DISPLAY_NAME_CHARS)?;
        match self.get_student(id).await? {
            Some(s) if s.class_id == class_id => {}
            _ => return Ok(None),
        }
        self.check_name_free(class_id, &name, Some(id)).await?;
        sqlx::query("UPDATE students SET display_name = $1 WHERE id = $2 AND class_id = $3")
            .bind(name.as_str())
            .bind(id)
            .bind(class_id)
            .execute(&self.pool)
            .await
            .map_err(query(OP))?;
        self.get_student(id).await
    }

    /// Remove a student from the roster (its login code stops working; its submissions stay).
    /// False if `class_id` has no current student with this id.
    pub async fn remove_student(&self, class_id: &str, id: &str) -> Result<bool, StoreError> {
        const OP: &str = "remove_student";
        if !valid_id(id) {
            return Ok(false);
        }
        let done =
            sqlx::query("UPDATE students SET removed_at = $1 WHERE id = $2 AND class_id = $3 AND removed_at IS NULL")
                .bind(now_us())
                .bind(id)
                .bind(class_id)
                .execute(&self.pool)
                .await
                .map_err(query(OP))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        // A removed student cannot be signed in to by a school account either.
        self.unlink_identities(id).await?;
        Ok(true)
    }

    /// Add an assignment to a class.
    pub async fn create_assignment(&self, class_id: &str, new: &NewAssignment) -> Result<Assignment, StoreError> {
        const OP: &str = "create_assignment";
        let (title, exercises) = check_assignment(new)?;
        let id = new_id()?;
        let created_at = next_created_at();
        let done = sqlx::query(
            "INSERT INTO assignments (id, class_id, title, position, exercises, publish_at, deadline, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE (SELECT COUNT(*) FROM assignments WHERE class_id = $2) < $9",
        )
        .bind(id.as_str())
        .bind(class_id)
        .bind(title.as_str())
        .bind(new.position)
        .bind(exercises.as_str())
        .bind(new.publish_at.map(|t| t.timestamp_micros()))
        .bind(new.deadline.map(|t| t.timestamp_micros()))
        .bind(created_at)
        .bind(MAX_ASSIGNMENTS_PER_CLASS as i64)
        .execute(&self.pool)
        .await
        .map_err(query(OP))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ClassLimit {
                what: "assignments of one class",
                max: MAX_ASSIGNMENTS_PER_CLASS,
            });
        }
        Ok(Assignment {
            class_id: class_id.to_owned(),
            title,
            position: new.position,
            exercises: new.exercises.clone(),
            publish_at: new.publish_at,
            deadline: new.deadline,
            created_at: from_us(created_at, "assignments.created_at", &id)?,
            id,
        })
    }

    /// Replace an assignment of a class; `None` if it has none with this id.
    pub async fn update_assignment(
        &self,
        class_id: &str,
        id: &str,
        new: &NewAssignment,
    ) -> Result<Option<Assignment>, StoreError> {
        const OP: &str = "update_assignment";
        let (title, exercises) = check_assignment(new)?;
        if !valid_id(id) {
            return Ok(None);
        }
        sqlx::query(
            "UPDATE assignments SET title = $1, position = $2, exercises = $3, publish_at = $4, deadline = $5 \
             WHERE id = $6 AND class_id = $7",
        )
        .bind(title.as_str())
        .bind(new.position)
        .bind(exercises.as_str())
        .bind(new.publish_at.map(|t| t.timestamp_micros()))
        .bind(new.deadline.map(|t| t.timestamp_micros()))
        .bind(id)
        .bind(class_id)
        .execute(&self.pool)
        .await
        .map_err(query(OP))?;
        self.get_assignment(class_id, id).await
    }

    /// Delete an assignment (its submissions stay: they belong to the students' exercises).
    pub async fn delete_assignment(&self, class_id: &str, id: &str) -> Result<bool, StoreError> {
        const OP: &str = "delete_assignment";
        if !valid_id(id) {
            return Ok(false);
        }
        let done = sqlx::query("DELETE FROM assignments WHERE id = $1 AND class_id = $2")
            .bind(id)
            .bind(class_id)
            .execute(&self.pool)
            .await
            .map_err(query(OP))?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn get_assignment(&self, class_id: &str, id: &str) -> Result<Option<Assignment>, StoreError> {
        const OP: &str = "get_assignment";
        if !valid_id(id) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            assignment_columns!(),
            " FROM assignments WHERE id = $1 AND class_id = $2"
        ))
        .bind(id)
        .bind(class_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(query(OP))?;
        row.map(|r| assignment_from_row(&r, OP)).transpose()
    }

    /// The assignments of a class, by position, then by creation.
    pub async fn list_assignments(&self, class_id: &str) -> Result<Vec<Assignment>, StoreError> {
        const OP: &str = "list_assignments";
        let rows = sqlx::query(concat!(
            "SELECT ",
            assignment_columns!(),
            " FROM assignments WHERE class_id = $1 ORDER BY position, created_at LIMIT $2"
        ))
        .bind(class_id)
        .bind(MAX_ASSIGNMENTS_PER_CLASS as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(query(OP))?;
        rows.iter().map(|r| assignment_from_row(r, OP)).collect()
    }

    /// Store a graded submission of a current student, at now. Its deadline is the latest of
    /// the class's published assignments holding the exercise (none: no deadline), so a
    /// submission is late only when no assignment still accepts it on time; it is stored
    /// either way. [`StoreError::ClassLimit`] past [`MAX_SUBMISSIONS_PER_EXERCISE`].
    pub async fn record_class_submission(&self, new: &NewClassSubmission) -> Result<ClassSubmission, StoreError> {
        const OP: &str = "record_class_submission";
        if new.code.len() > MAX_STORED_CODE_BYTES {
            return Err(StoreError::StoredTooLarge {
                field: "code",
                size: new.code.len(),
                max: MAX_STORED_CODE_BYTES,
            });
        }
        if new.verdicts.len() > MAX_STORED_VERDICTS_BYTES {
            return Err(StoreError::StoredTooLarge {
                field: "verdicts",
                size: new.verdicts.len(),
                max: MAX_STORED_VERDICTS_BYTES,
            });
        }
        check_text("code", &new.code)?;
        check_text("language", &new.language)?;
        let student = self
            .get_student(&new.student_id)
            .await?
            .ok_or_else(|| StoreError::UnknownStudent {
                id: new.student_id.clone(),
            })?;
        let at_us = next_created_at();
        let at = from_us(at_us, "class_submissions.at", &student.id)?;
        // The assignment that gives the most time: no deadline beats any deadline.
        let assignment = self
            .list_assignments(&student.class_id)
            .await?
            .into_iter()
            .filter(|a| a.published(at) && a.exercises.contains(&new.exercise_id))
            .max_by_key(|a| (a.deadline.is_none(), a.deadline));
        let late = assignment.as_ref().is_some_and(|a| a.late(at));
        let id = uuid::Uuid::now_v7().to_string();
        let done = sqlx::query(
            "INSERT INTO class_submissions (id, class_id, student_id, exercise_id, assignment_id, at, language, code, \
             verdicts, passed, total, points, max_points, late) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 \
             WHERE (SELECT COUNT(*) FROM class_submissions WHERE student_id = $3 AND exercise_id = $4) < $15",
        )
        .bind(id.as_str())
        .bind(student.class_id.as_str())
        .bind(student.id.as_str())
        .bind(new.exercise_id.as_str())
        .bind(assignment.as_ref().map(|a| a.id.as_str()))
        .bind(at_us)
        .bind(new.language.as_str())
        .bind(new.code.as_str())
        .bind(new.verdicts.as_str())
        .bind(i64::from(new.passed))
        .bind(i64::from(new.total))
        .bind(i64::from(new.points))
        .bind(i64::from(new.max_points))
        .bind(i64::from(late))
        .bind(MAX_SUBMISSIONS_PER_EXERCISE as i64)
        .execute(&self.pool)
        .await
        .map_err(query(OP))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ClassLimit {
                what: "stored submissions of one student for one exercise",
                max: MAX_SUBMISSIONS_PER_EXERCISE,
            });
        }
        Ok(ClassSubmission {
            id,
            class_id: student.class_id,
            student_id: student.id,
            exercise_id: new.exercise_id.clone(),
            assignment_id: assignment.map(|a| a.id),
            at,
            language: new.language.clone(),
            code: new.code.clone(),
            verdicts: new.verdicts.clone(),
            passed: new.passed,
            total: new.total,
            points: new.points,
            max_points: new.max_points,
            late,
        })
    }

    /// Submissions of a class, oldest first, with their code and verdicts: of one student
    /// and/or one exercise. At most [`MAX_SUBMISSIONS_READ`].
    pub async fn list_class_submissions(
        &self,
        class_id: &str,
        student_id: Option<&str>,
        exercise_id: Option<&str>,
    ) -> Result<Vec<ClassSubmission>, StoreError> {
        self.read_submissions(
            "list_class_submissions",
            "code, verdicts",
            class_id,
            student_id,
            exercise_id,
        )
        .await
    }

    /// Every submission of a class, oldest first, without code and verdicts (a gradebook's
    /// numbers). At most [`MAX_SUBMISSIONS_READ`].
    pub async fn submission_summaries(&self, class_id: &str) -> Result<Vec<ClassSubmission>, StoreError> {
        self.read_submissions("submission_summaries", "'', ''", class_id, None, None)
            .await
    }

    /// One student's submissions, oldest first, without code and verdicts (done or not, best
    /// scores). At most [`MAX_SUBMISSIONS_READ`].
    pub async fn student_summaries(
        &self,
        class_id: &str,
        student_id: &str,
    ) -> Result<Vec<ClassSubmission>, StoreError> {
        self.read_submissions("student_summaries", "'', ''", class_id, Some(student_id), None)
            .await
    }

    async fn read_submissions(
        &self,
        op: &'static str,
        payload: &'static str,
        class_id: &str,
        student_id: Option<&str>,
        exercise_id: Option<&str>,
    ) -> Result<Vec<ClassSubmission>, StoreError> {
        // Only the filters given are in the SQL (a NULL parameter has no type on Postgres).
        let mut sql = format!(
            "SELECT id, class_id, student_id, exercise_id, assignment_id, at, language, {payload}, passed, total, \
             points, max_points, late FROM class_submissions WHERE class_id = $1"
        );
        let mut n = 1;
        for (column, value) in [("student_id", student_id), ("exercise_id", exercise_id)] {
            if value.is_some() {
                n += 1;
                sql.push_str(&format!(" AND {column} = ${n}"));
            }
        }
        sql.push_str(&format!(" ORDER BY at, id LIMIT ${}", n + 1));
        let mut statement = sqlx::query(&sql).bind(class_id);
        for value in [student_id, exercise_id].into_iter().flatten() {
            statement = statement.bind(value);
        }
        let rows = statement
            .bind(MAX_SUBMISSIONS_READ as i64 + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(query(op))?;
        if rows.len() as u64 > MAX_SUBMISSIONS_READ {
            return Err(StoreError::ClassLimit {
                what: "submissions read at once (ask for one exercise or student)",
                max: MAX_SUBMISSIONS_READ,
            });
        }
        rows.iter().map(|r| submission_from_row(r, op)).collect()
    }
}

/// The title and the exercises' JSON of an assignment, checked.
fn check_assignment(new: &NewAssignment) -> Result<(String, String), StoreError> {
    let title = checked_text("title", &new.title, MAX_ASSIGNMENT_TITLE_CHARS)?;
    if new.exercises.len() > MAX_EXERCISES_PER_ASSIGNMENT {
        return Err(StoreError::ClassLimit {
            what: "exercises of one assignment",
            max: MAX_EXERCISES_PER_ASSIGNMENT as u64,
        });
    }
    for id in &new.exercises {
        if id.is_empty() || id.len() > crate::MAX_EXERCISE_ID_BYTES {
            return Err(StoreError::BadExerciseId { size: id.len() });
        }
        check_text("exercises", id)?;
    }
    let exercises = serde_json::to_string(&new.exercises).map_err(|e| StoreError::Corrupt {
        column: "assignments.exercises",
        key: title.clone(),
        value: e.to_string(),
    })?;
    Ok((title, exercises))
}

macro_rules! student_columns {
    () => {
        "id, class_id, display_name, login_code, joined_at"
    };
}
use student_columns;

macro_rules! assignment_columns {
    () => {
        "id, class_id, title, position, exercises, publish_at, deadline, created_at"
    };
}
use assignment_columns;

fn class_from_row(row: &AnyRow, op: &'static str) -> Result<Class, StoreError> {
    let id: String = row.try_get(0).map_err(query(op))?;
    let created_at: i64 = row.try_get(4).map_err(query(op))?;
    Ok(Class {
        owner: row.try_get(1).map_err(query(op))?,
        name: row.try_get(2).map_err(query(op))?,
        join_code: row.try_get(3).map_err(query(op))?,
        created_at: from_us(created_at, "classes.created_at", &id)?,
        id,
    })
}

fn student_from_row(row: &AnyRow, op: &'static str) -> Result<Student, StoreError> {
    let id: String = row.try_get(0).map_err(query(op))?;
    let joined_at: i64 = row.try_get(4).map_err(query(op))?;
    Ok(Student {
        class_id: row.try_get(1).map_err(query(op))?,
        display_name: row.try_get(2).map_err(query(op))?,
        login_code: row.try_get(3).map_err(query(op))?,
        joined_at: from_us(joined_at, "students.joined_at", &id)?,
        id,
    })
}

fn optional_time(us: Option<i64>, column: &'static str, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    us.map(|us| from_us(us, column, key)).transpose()
}

fn assignment_from_row(row: &AnyRow, op: &'static str) -> Result<Assignment, StoreError> {
    let id: String = row.try_get(0).map_err(query(op))?;
    let exercises: String = row.try_get(4).map_err(query(op))?;
    let exercises = serde_json::from_str(&exercises).map_err(|_| StoreError::Corrupt {
        column: "assignments.exercises",
        key: id.clone(),
        value: exercises.chars().take(100).collect(),
    })?;
    let created_at: i64 = row.try_get(7).map_err(query(op))?;
    Ok(Assignment {
        class_id: row.try_get(1).map_err(query(op))?,
        title: row.try_get(2).map_err(query(op))?,
        position: row.try_get(3).map_err(query(op))?,
        exercises,
        publish_at: optional_time(row.try_get(5).map_err(query(op))?, "assignments.publish_at", &id)?,
        deadline: optional_time(row.try_get(6).map_err(query(op))?, "assignments.deadline", &id)?,
        created_at: from_us(created_at, "assignments.created_at", &id)?,
        id,
    })
}

fn count(row: &AnyRow, i: usize, op: &'static str) -> Result<u32, StoreError> {
    let n: i64 = row.try_get(i).map_err(query(op))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn submission_from_row(row: &AnyRow, op: &'static str) -> Result<ClassSubmission, StoreError> {
    let id: String = row.try_get(0).map_err(query(op))?;
    let at: i64 = row.try_get(5).map_err(query(op))?;
    let late: i64 = row.try_get(13).map_err(query(op))?;
    Ok(ClassSubmission {
        class_id: row.try_get(1).map_err(query(op))?,
        student_id: row.try_get(2).map_err(query(op))?,
        exercise_id: row.try_get(3).map_err(query(op))?,
        assignment_id: row.try_get(4).map_err(query(op))?,
        at: from_us(at, "class_submissions.at", &id)?,
        language: row.try_get(6).map_err(query(op))?,
        code: row.try_get(7).map_err(query(op))?,
        verdicts: row.try_get(8).map_err(query(op))?,
        passed: count(row, 9, op)?,
        total: count(row, 10, op)?,
        points: count(row, 11, op)?,
        max_points: count(row, 12, op)?,
        late: late != 0,
        id,
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_taken_name_gets_the_first_free_number_and_stays_within_the_limit() {
        let taken = |names: &[&str]| names.iter().map(|n| n.to_lowercase()).collect::<Vec<_>>();
        assert_eq!(free_name("Li Lei", &taken(&[])), "Li Lei");
        assert_eq!(free_name("Li Lei", &taken(&["li lei"])), "Li Lei 2");
        assert_eq!(free_name("Li Lei", &taken(&["Li Lei", "Li Lei 2"])), "Li Lei 3");
        let long = "长".repeat(MAX_DISPLAY_NAME_CHARS);
        let second = free_name(&long, &taken(&[&long]));
        assert_eq!(second.chars().count(), MAX_DISPLAY_NAME_CHARS);
        assert!(second.ends_with("长 2"), "{second}");
    }

    use super::*;

    #[test]
    fn codes_use_only_unambiguous_letters_and_read_back_as_typed() {
        let code = new_code::<JOIN_CODE_LEN>().unwrap();
        assert_eq!(code.len(), JOIN_CODE_LEN);
        assert!(!code.contains(['0', 'O', '1', 'I']), "{code}");
        let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
        assert_eq!(normalize_code(&typed, JOIN_CODE_LEN), Some(code));
        assert_eq!(normalize_code("ABCD-EFG0", JOIN_CODE_LEN), None, "0 is no code letter");
        assert_eq!(normalize_code("ABC", JOIN_CODE_LEN), None);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(checked_text("name", "  小明 ", 40).unwrap(), "小明");
        assert!(checked_text("name", "   ", 40).is_err());
        assert!(checked_text("name", &"字".repeat(41), 40).is_err());
        assert!(checked_text("name", "a\u{7}b", 40).is_err());
    }
}
