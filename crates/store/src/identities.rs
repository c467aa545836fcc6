//! School sign-in's records: accounts at a school's OpenID Connect provider linked to
//! students, and the sign-ins under way (held here, not in one node's memory, so a login
//! started on one node finishes on any other).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::classes::Student;
use crate::error::query;
use crate::time::{next_created_at, now_us};
use crate::{Store, StoreError};

/// The longest key of a pending sign-in (a state or a one-time code), in bytes.
pub const MAX_PENDING_ID_BYTES: usize = 128;

/// What a pending sign-in is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    /// Sent to the provider, keyed by its state.
    Login,
    /// Finished, waiting for the page to trade its one-time code for a session.
    Handoff,
}

impl PendingKind {
    fn as_str(self) -> &'static str {
        match self {
            PendingKind::Login => "login",
            PendingKind::Handoff => "handoff",
        }
    }
}

impl Store {
    /// The current student linked to the account `subject` of `issuer`, if any.
    pub async fn student_by_identity(&self, issuer: &str, subject: &str) -> Result<Option<Student>, StoreError> {
        const OP: &str = "student_by_identity";
        let id: Option<String> =
            sqlx::query_scalar("SELECT student_id FROM student_identities WHERE issuer = $1 AND subject = $2")
                .bind(issuer)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await
                .map_err(query(OP))?;
        match id {
            Some(id) => self.get_student(&id).await,
            None => Ok(None),
        }
    }

    /// Link the account `subject` of `issuer` to `student_id`. False if it is linked already
    /// (to anyone: an account is one student).
    pub async fn link_identity(&self, issuer: &str, subject: &str, student_id: &str) -> Result<bool, StoreError> {
        const OP: &str = "link_identity";
        let done = sqlx::query(
            "INSERT INTO student_identities (issuer, subject, student_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(student_id)
        .bind(next_created_at())
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(false),
            Err(e) => Err(StoreError::Query { op: OP, source: e }),
        }
    }

    /// Forget the accounts linked to `student_id` (the student was removed).
    pub(crate) async fn unlink_identities(&self, student_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM student_identities WHERE student_id = $1")
            .bind(student_id)
            .execute(&self.pool)
            .await
            .map_err(query("unlink_identities"))?;
        Ok(())
    }

    /// Hold a pending sign-in until `expires_at`, if fewer than `max_held` are held (expired
    /// ones are deleted first). False when full.
    pub async fn put_pending_signin(
        &self,
        kind: PendingKind,
        id: &str,
        payload: &str,
        expires_at: DateTime<Utc>,
        max_held: u64,
    ) -> Result<bool, StoreError> {
        const OP: &str = "put_pending_signin";
        sqlx::query("DELETE FROM signins_pending WHERE expires_at <= $1")
            .bind(now_us())
            .execute(&self.pool)
            .await
            .map_err(query(OP))?;
        let done = sqlx::query(
            "INSERT INTO signins_pending (id, kind, payload, expires_at) \
             SELECT $1, $2, $3, $4 WHERE (SELECT COUNT(*) FROM signins_pending) < $5",
        )
        .bind(id)
        .bind(kind.as_str())
        .bind(payload)
        .bind(expires_at.timestamp_micros())
        .bind(i64::try_from(max_held).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(query(OP))?;
        Ok(done.rows_affected() > 0)
    }

    /// Take a pending sign-in: its payload, once (a second take finds nothing), if it has not
    /// expired.
    pub async fn take_pending_signin(&self, kind: PendingKind, id: &str) -> Result<Option<String>, StoreError> {
        const OP: &str = "take_pending_signin";
        if id.is_empty() || id.len() > MAX_PENDING_ID_BYTES {
            return Ok(None);
        }
        let row = sqlx::query("DELETE FROM signins_pending WHERE id = $1 AND kind = $2 RETURNING payload, expires_at")
            .bind(id)
            .bind(kind.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(query(OP))?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at").map_err(query(OP))?;
        if expires_at <= now_us() {
            return Ok(None);
        }
        row.try_get("payload").map(Some).map_err(query(OP))
    }
}
