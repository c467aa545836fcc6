//! The store's errors.

use std::path::PathBuf;

/// Everything that can go wrong in the store. Messages never contain a database URL (it may
/// hold a password) nor stored payloads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names a scheme the store does not speak.
    #[error("unsupported database url scheme `{scheme}`: expected sqlite://PATH or postgres://…")]
    UnsupportedScheme { scheme: String },
    /// The URL has no `scheme:` at all.
    #[error("database url has no scheme: expected sqlite://PATH or postgres://…")]
    NoScheme,
    /// The URL has a known scheme but sqlx cannot parse the rest.
    #[error("invalid {backend} database url")]
    InvalidUrl {
        backend: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// `sqlite://` without a file.
    #[error("sqlite database url names no file: expected sqlite://PATH")]
    NoSqlitePath,
    /// The SQLite file's directory could not be created.
    #[error("cannot create the database directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to the {backend} database")]
    Connect {
        backend: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot apply the migrations to the {backend} database")]
    Migrate {
        backend: &'static str,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A statement failed; `op` names the store operation.
    #[error("database error in {op}")]
    Query {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A row holds a value the store could not have written (e.g. a timestamp out of range).
    #[error("stored {column} of {key} is invalid: {value}")]
    Corrupt {
        column: &'static str,
        key: String,
        value: String,
    },
    /// `insert_submission` with a token that is already stored.
    #[error("a submission with token {token} already exists")]
    DuplicateToken { token: String },
    /// `finish_submission` on a token that is not stored.
    #[error("no submission with token {token}")]
    UnknownSubmission { token: String },
    /// `finish_submission` with a status below the finished range.
    #[error("status {status} is not a finished status (at least {min})", min = crate::FIRST_FINISHED_STATUS)]
    NotAFinishedStatus { status: i32 },
    /// Text with a NUL character: Postgres cannot store it in a TEXT column, so neither backend
    /// accepts it.
    #[error("{field} contains a NUL character")]
    NulCharacter { field: &'static str },
    /// A page number or page size out of range.
    #[error("page {page} of size {per_page} is out of range: pages start at 1 and hold 1 to {max} items", max = crate::MAX_PER_PAGE)]
    InvalidPage { page: u32, per_page: u32 },
    #[error("snippet is {size} bytes, more than the limit of {limit} bytes", limit = crate::MAX_SNIPPET_BYTES)]
    SnippetTooLarge { size: usize },
    #[error("snippet language is {size} bytes, more than the limit of {limit} bytes", limit = crate::MAX_SNIPPET_LANGUAGE_BYTES)]
    LanguageTooLong { size: usize },
    #[error("exercise id is {size} bytes: it must be 1 to {max} bytes", max = crate::MAX_EXERCISE_ID_BYTES)]
    BadExerciseId { size: usize },
    #[error("exercise is {size} bytes, more than the limit of {limit} bytes", limit = crate::MAX_EXERCISE_BYTES)]
    ExerciseTooLarge { size: usize },
    #[error("exercise summary is {size} bytes, more than the limit of {limit} bytes", limit = crate::MAX_EXERCISE_SUMMARY_BYTES)]
    ExerciseSummaryTooLarge { size: usize },
    /// A new exercise when [`crate::MAX_STORED_EXERCISES`] are stored.
    #[error("{max} exercises are stored already, the most there may be; delete one first", max = crate::MAX_STORED_EXERCISES)]
    TooManyExercises,
    /// Inserted and deleted by others between each of `put_exercise`'s attempts.
    #[error("exercise {id} was changed by other requests while it was stored")]
    ExerciseRace { id: String },
    /// Every random snippet id tried was taken (practically impossible with 48 random bits).
    #[error("no free snippet id after {tries} tries")]
    NoFreeSnippetId { tries: u32 },
}

impl StoreError {
    /// True when the caller's input was at fault (an API answers 4xx with this message), false
    /// for the store's own failures (5xx, details only in the log).
    pub fn is_caller_mistake(&self) -> bool {
        matches!(
            self,
            StoreError::NulCharacter { .. }
                | StoreError::InvalidPage { .. }
                | StoreError::SnippetTooLarge { .. }
                | StoreError::LanguageTooLong { .. }
                | StoreError::BadExerciseId { .. }
                | StoreError::ExerciseTooLarge { .. }
                | StoreError::ExerciseSummaryTooLarge { .. }
                | StoreError::TooManyExercises
        )
    }
}

/// Wrap a sqlx error with the operation that failed.
pub(crate) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { op, source }
}
