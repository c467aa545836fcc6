//! Persistence and the work queue of tiderun.
//!
//! **Owns:** metering (per key, UTC day and runtime: runs, errors, limits hit, CPU, wall and
//! memory-limit × wall time, added up by every node) and the recent runs' log (never code,
//! input or output); API keys (names, roles, quotas, expiry; only a hash of each secret) and
//! the secrets every node shares; classes (a teacher's classes, students, assignments and every
//! graded submission of a signed-in student); async submissions (token, request JSON, status, result JSON, owner, times) and
//! snippets (shared programs) and exercises posted by teachers, in SQLite — one file under the data dir, nothing else to start —
//! or Postgres when the URL says `postgres://`, through **one** code path: sqlx's `Any` driver,
//! the same SQL strings on both backends, one set of embedded migrations. Also the claims and
//! leases that let several nodes share one database ([`Claim`]), and the queue of submission
//! tokens waiting for a worker, behind the [`Queue`] trait: [`WorkQueue`] (in-process) or
//! [`JetStreamQueue`] (NATS JetStream, shared by every node).
//!
//! **Never:** knows an API dialect — requests and results are opaque JSON text, statuses plain
//! integers (1 queued, 2 processing, ≥ 3 finished); runs programs; imports `sandbox`,
//! `runtimes`, `engine` or anything above them; puts a database URL (it may hold a password)
//! or a stored payload in an error message; panics in a library path.
//!
//! ```no_run
//! # async fn demo() -> Result<(), store::StoreError> {
//! use store::{NewSubmission, Store};
//!
//! let store = Store::connect("sqlite://./tiderun-data/tiderun.db").await?;
//! let token = Store::new_token();
//! store
//!     .insert_submission(&NewSubmission { token: token.clone(), request: r#"{"source_code":"…"}"#.into(), owner: None })
//!     .await?;
//! let lease = std::time::Duration::from_secs(30);
//! if let Some(claim) = store.claim_submission(&token, "node-1", lease).await? {
//!     // … run it, renewing the lease every third of it …
//!     store.finish_claimed(&claim, 3, r#"{"stdout":"hi\n"}"#).await?;
//! }
//! # Ok(()) }
//! ```

mod claims;
mod classes;
mod error;
mod exercises;
mod identities;
mod jetstream;
mod keys;
mod queue;
mod snippets;
mod store;
mod submissions;
mod time;
mod usage;

pub use claims::{Claim, NodeLock};
pub use classes::{
    new_code, normalize_code, valid_id, Assignment, Class, ClassSubmission, JoinOutcome, NewAssignment,
    NewClassSubmission, Student, CODE_ALPHABET, JOIN_CODE_LEN, LOGIN_CODE_LEN, MAX_ASSIGNMENTS_PER_CLASS,
    MAX_ASSIGNMENT_TITLE_CHARS, MAX_CLASSES_LISTED, MAX_CLASSES_PER_OWNER, MAX_CLASS_NAME_CHARS,
    MAX_DISPLAY_NAME_CHARS, MAX_EXERCISES_PER_ASSIGNMENT, MAX_STORED_CODE_BYTES, MAX_STORED_VERDICTS_BYTES,
    MAX_STUDENTS_PER_CLASS, MAX_SUBMISSIONS_PER_EXERCISE, MAX_SUBMISSIONS_READ,
};
pub use error::{Failure, StoreError};
pub use exercises::{
    ExerciseSummary, PutOutcome, StoredExercise, Writer, MAX_EXERCISE_BYTES, MAX_EXERCISE_ID_BYTES,
    MAX_EXERCISE_SUMMARY_BYTES, MAX_STORED_EXERCISES,
};
pub use identities::{PendingKind, MAX_PENDING_ID_BYTES};
pub use jetstream::{
    JetStreamNames, JetStreamOptions, JetStreamQueue, QueueError, CONNECT_TIMEOUT as QUEUE_CONNECT_TIMEOUT, CONSUMER,
    MAX_DELIVER, MAX_MESSAGE_AGE, PUBLISH_TIMEOUT, STREAM, SUBJECT,
};
pub use keys::{
    key_hash, looks_like_key, random_bytes, valid_key_name, ApiKey, CreatedKey, KeySecret, KeyState, NewKey, Quotas,
    RevokeOutcome, Role, KEY_LEN, KEY_MARK, MAX_CPU_S_PER_DAY, MAX_KEYS, MAX_KEY_EXPIRY_DAYS, MAX_KEY_NAME_BYTES,
    MAX_RUNS_PER_MINUTE, RESERVED_KEY_NAME,
};
pub use queue::{Acker, Delivery, Popped, PushError, Queue, WorkQueue};
pub use snippets::{Snippet, MAX_SNIPPET_BYTES, MAX_SNIPPET_LANGUAGE_BYTES, SNIPPET_ID_LEN};
pub use store::{default_sqlite_url, Store};
pub use submissions::{
    DeleteOutcome, NewSubmission, Page, Submission, FIRST_FINISHED_STATUS, MAX_PER_PAGE, STATUS_PROCESSING,
    STATUS_QUEUED,
};
pub use usage::{
    RunRecord, RunsQuery, UsageQuery, UsageRow, UsageTotals, MAX_RUNS_PER_PAGE, MAX_USAGE_DAYS, MAX_USAGE_ROWS,
    RUN_LOG_MAX_AGE, RUN_LOG_MAX_ROWS,
};
