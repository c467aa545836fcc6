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
    /// The submissions asked for at once hold more text than the caller lets one answer hold.
    #[error("these submissions hold {chars} characters of requests and results, more than one answer may hold ({max}): ask for fewer at a time")]
    AnswerTooLarge { chars: u64, max: u64 },
    /// A usage read whose days are out of order or span more than [`crate::MAX_USAGE_DAYS`].
    #[error("from {from} to {to} is not a range of 1 to {max} days", max = crate::MAX_USAGE_DAYS)]
    InvalidUsageRange {
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    },
    /// A usage read that would return more rows than one answer holds.
    #[error("more than {max} usage rows: narrow the days, or ask for one key or runtime")]
    UsageTooLarge { max: i64 },
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
    /// A key name that is not 1 to 64 of `[A-Za-z0-9._-]` (the name, cut short, is the
    /// caller's own text, never a secret).
    #[error("{name:?} is not a key name: 1 to {max} of A-Z a-z 0-9 . _ - (and not {reserved:?})", max = crate::MAX_KEY_NAME_BYTES, reserved = crate::RESERVED_KEY_NAME)]
    BadKeyName { name: String },
    /// A quota or expiry out of its range.
    #[error("{field} is {value}: it must be 1 to {max}")]
    BadKeyLimit { field: &'static str, value: u64, max: u64 },
    /// A role no key may have (`student`: students have sessions).
    #[error("a key cannot have the role {role}: students sign in with their class's join code or their login code")]
    BadKeyRole { role: &'static str },
    /// A key name used before (names are never reused, not even a revoked key's).
    #[error("a key named {name:?} exists or existed: names are never reused, pick another")]
    DuplicateKeyName { name: String },
    /// [`crate::MAX_KEYS`] keys are stored (revoked ones count: their names stay taken).
    #[error("{max} keys are stored already (revoked ones included), the most there may be", max = crate::MAX_KEYS)]
    TooManyKeys,
    /// A class's, student's or assignment's text that is empty, too long or has control
    /// characters.
    #[error("{field} must be 1 to {max} characters, without control characters")]
    BadClassText { field: &'static str, max: usize },
    /// A class, its roster, assignments or stored submissions are at one of their bounds.
    #[error("at most {max} {what}")]
    ClassLimit { what: &'static str, max: u64 },
    /// Another current student of the class has this display name.
    #[error("another student of this class is called {name:?}: pick another name")]
    NameTaken { name: String },
    /// A submission's stored part past its bound.
    #[error("{field} is {size} bytes, more than the {max} bytes a stored submission keeps")]
    StoredTooLarge {
        field: &'static str,
        size: usize,
        max: usize,
    },
    /// A submission of a student who is not (or no longer) in a class.
    #[error("no current student with id {id}")]
    UnknownStudent { id: String },
    /// Every random join or login code tried was taken.
    #[error("no free code after {tries} tries")]
    NoFreeCode { tries: u32 },
    /// The operating system's random generator failed.
    #[error("no randomness from the operating system (os error {code:?})")]
    NoRandomness { code: Option<i32> },
    /// Every random snippet id tried was taken (practically impossible with 48 random bits).
    #[error("no free snippet id after {tries} tries")]
    NoFreeSnippetId { tries: u32 },
    /// Another process holds the SQLite file's node lock: SQLite serves one node.
    #[error("another tiderun process{holder} serves this SQLite database (lock file {path}); SQLite serves one node: use Postgres for several", holder = holder.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    NodeLocked { path: PathBuf, holder: Option<u32> },
    /// The SQLite file's node lock could not be opened or taken.
    #[error("cannot lock {path}")]
    NodeLock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// True when the caller's input was at fault (an API answers 4xx with this message), false
    /// for the store's own failures (5xx, details only in the log).
    pub fn is_caller_mistake(&self) -> bool {
        matches!(
            self,
            StoreError::NulCharacter { .. }
                | StoreError::InvalidPage { .. }
                | StoreError::AnswerTooLarge { .. }
                | StoreError::SnippetTooLarge { .. }
                | StoreError::LanguageTooLong { .. }
                | StoreError::BadExerciseId { .. }
                | StoreError::ExerciseTooLarge { .. }
                | StoreError::ExerciseSummaryTooLarge { .. }
                | StoreError::TooManyExercises
                | StoreError::InvalidUsageRange { .. }
                | StoreError::UsageTooLarge { .. }
                | StoreError::BadKeyName { .. }
                | StoreError::BadKeyLimit { .. }
                | StoreError::BadKeyRole { .. }
                | StoreError::DuplicateKeyName { .. }
                | StoreError::TooManyKeys
                | StoreError::BadClassText { .. }
                | StoreError::ClassLimit { .. }
                | StoreError::NameTaken { .. }
                | StoreError::StoredTooLarge { .. }
                | StoreError::UnknownStudent { .. }
        )
    }
}

/// What an API should tell its caller about a store failure that is not the caller's mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database cannot be reached or refuses work for now (stopped, restarting, out of
    /// connections, locked past the busy timeout): try again later (HTTP 503).
    Unavailable,
    /// The database's disk is full: nothing new can be saved until space is freed (HTTP 507).
    StorageFull,
    /// Anything else: a bug or a damaged database (HTTP 500, details only in the log).
    Internal,
}

/// SQLite's primary result codes that mean "full" or "not now" (extended codes carry the
/// primary one in their low byte; <https://www.sqlite.org/rescode.html>).
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_NOMEM: i32 = 7;
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;

/// Postgres's SQLSTATE for a full disk (class 53, insufficient resources).
const PG_DISK_FULL: &str = "53100";
/// SQLSTATE classes and codes that mean the server cannot take work now: 08 connection
/// exceptions, 53 insufficient resources (out of memory, too many connections), 57P01-57P05
/// (administrator or crash shutdown, cannot connect now, idle-session timeout), 58 system
/// errors (I/O on the server's side).
const PG_UNAVAILABLE_CLASSES: [&str; 3] = ["08", "53", "58"];
const PG_UNAVAILABLE_CODES: [&str; 5] = ["57P01", "57P02", "57P03", "57P04", "57P05"];

impl StoreError {
    /// How an API answers this error when it is not [a caller mistake](Self::is_caller_mistake):
    /// the database is down, its disk is full, or something else broke.
    pub fn failure(&self) -> Failure {
        match self {
            StoreError::Query { source, .. } | StoreError::Connect { source, .. } => classify(source),
            StoreError::CreateDir { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                Failure::StorageFull
            }
            _ => Failure::Internal,
        }
    }
}

/// Sort a sqlx error into [`Failure`].
fn classify(e: &sqlx::Error) -> Failure {
    match e {
        // No connection within the acquire timeout (the server refuses or does not answer),
        // the pool shut, the socket broke, the SQLite worker thread died.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed | sqlx::Error::Tls(_) => {
            Failure::Unavailable
        }
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => Failure::StorageFull,
        sqlx::Error::Io(_) => Failure::Unavailable,
        sqlx::Error::Database(db) => {
            if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                return classify_sqlite(sqlite);
            }
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                return classify_sqlstate(pg.code());
            }
            Failure::Internal
        }
        _ => Failure::Internal,
    }
}

fn classify_sqlite(e: &sqlx::sqlite::SqliteError) -> Failure {
    use sqlx::error::DatabaseError;
    let Some(code) = e.code().and_then(|c| c.parse::<i32>().ok()) else {
        return Failure::Internal;
    };
    match code & 0xff {
        SQLITE_FULL => Failure::StorageFull,
        SQLITE_BUSY | SQLITE_LOCKED | SQLITE_NOMEM | SQLITE_READONLY | SQLITE_IOERR | SQLITE_CANTOPEN => {
            Failure::Unavailable
        }
        _ => Failure::Internal,
    }
}

fn classify_sqlstate(code: &str) -> Failure {
    if code == PG_DISK_FULL {
        Failure::StorageFull
    } else if PG_UNAVAILABLE_CODES.contains(&code) || PG_UNAVAILABLE_CLASSES.iter().any(|c| code.starts_with(c)) {
        Failure::Unavailable
    } else {
        Failure::Internal
    }
}

/// Wrap a sqlx error with the operation that failed.
pub(crate) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { op, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::from(kind))
    }

    #[test]
    fn a_database_that_cannot_be_reached_is_unavailable() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            io(std::io::ErrorKind::ConnectionRefused),
            io(std::io::ErrorKind::ConnectionReset),
            io(std::io::ErrorKind::UnexpectedEof),
        ] {
            let e = StoreError::Query { op: "test", source: e };
            assert_eq!(e.failure(), Failure::Unavailable, "{e:?}");
        }
    }

    #[test]
    fn no_space_left_is_storage_full() {
        let e = StoreError::Query {
            op: "test",
            // ENOSPC
            source: sqlx::Error::Io(std::io::Error::from_raw_os_error(28)),
        };
        assert_eq!(e.failure(), Failure::StorageFull);
    }

    #[test]
    fn sqlstates_are_sorted() {
        assert_eq!(classify_sqlstate("53100"), Failure::StorageFull);
        for code in ["57P01", "57P03", "08006", "08001", "53300", "53200", "58030"] {
            assert_eq!(classify_sqlstate(code), Failure::Unavailable, "{code}");
        }
        for code in ["23505", "42P01", "22P02", "57014"] {
            assert_eq!(classify_sqlstate(code), Failure::Internal, "{code}");
        }
    }

    #[test]
    fn other_errors_are_internal() {
        let e = StoreError::Query {
            op: "test",
            source: sqlx::Error::RowNotFound,
        };
        assert_eq!(e.failure(), Failure::Internal);
        assert_eq!(
            StoreError::UnknownSubmission { token: "t".into() }.failure(),
            Failure::Internal
        );
    }
}
