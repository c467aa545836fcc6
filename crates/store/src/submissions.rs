//! Async submissions: stored on arrival (queued), claimed by one worker (processing), finished
//! with a result. The request and result are JSON text the store never looks into.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::query;
use crate::store::check_text;
use crate::time::{from_us, next_created_at, now_us};
use crate::{Store, StoreError};

/// Stored, waiting for a worker.
pub const STATUS_QUEUED: i32 = 1;
/// Claimed by a worker, running.
pub const STATUS_PROCESSING: i32 = 2;
/// Statuses from this one up are final (which one means what is the API layer's business).
pub const FIRST_FINISHED_STATUS: i32 = 3;
/// Largest page of [`Store::list_submissions`]: bounds what one call holds in memory (results
/// can be large).
pub const MAX_PER_PAGE: u32 = 1_000;
/// Tokens per `IN (…)` query of [`Store::get_submissions`]: far below SQLite's 32,766 and
/// Postgres's 65,535 bind parameters.
const TOKENS_PER_QUERY: usize = 500;

/// A submission's request and result text in characters (both backends count characters; a
/// character is at most 4 bytes).
const TEXT_SIZE: &str = "CAST(LENGTH(request) + COALESCE(LENGTH(result), 0) AS BIGINT)";

/// The columns of a [`Submission`], in the order `submission_from_row` reads them.
macro_rules! columns {
    () => {
        "token, request, status, result, owner, created_at, finished_at"
    };
}

/// A submission to store (status [`STATUS_QUEUED`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubmission {
    /// Unique key, normally [`Store::new_token`] (a UUID v4).
    pub token: String,
    /// The request as JSON text.
    pub request: String,
    /// The name of the API key that made it (`None`: made without a key). Only that key (or
    /// an admin) may read, list or delete it.
    pub owner: Option<String>,
}

/// A stored submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub token: String,
    /// The request as JSON text, as it was inserted.
    pub request: String,
    /// 1 queued, 2 processing, ≥ 3 finished.
    pub status: i32,
    /// The result as JSON text, once finished.
    pub result: Option<String>,
    pub owner: Option<String>,
    /// When it was inserted (microsecond precision, UTC).
    pub created_at: DateTime<Utc>,
    /// When it was finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl Submission {
    /// True once a worker stored its result.
    pub fn is_finished(&self) -> bool {
        self.status >= FIRST_FINISHED_STATUS
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Items in the whole listing, not only this page.
    pub total_count: u64,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

impl<T> Page<T> {
    /// Pages in the whole listing (0 when it is empty).
    pub fn total_pages(&self) -> u64 {
        self.total_count.div_ceil(u64::from(self.per_page.max(1)))
    }
}

/// What [`Store::delete_submission`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Deleted; this is what was stored.
    Deleted(Submission),
    /// No submission with that token.
    NotFound,
    /// Still queued or processing: only finished submissions can be deleted.
    NotFinished { status: i32 },
}

impl Store {
    /// Store one submission, queued. A token that is already stored is
    /// [`StoreError::DuplicateToken`].
    pub async fn insert_submission(&self, new: &NewSubmission) -> Result<(), StoreError> {
        check_submission(new)?;
        insert(&self.pool, new, next_created_at()).await
    }

    /// Store several submissions in one transaction: all or none. Their creation times follow
    /// the slice's order, so listings and recovery keep it.
    pub async fn insert_submissions(&self, new: &[NewSubmission]) -> Result<(), StoreError> {
        const OP: &str = "insert_submissions";
        new.iter().try_for_each(check_submission)?;
        let mut tx = self.pool.begin().await.map_err(query(OP))?;
        for s in new {
            insert(&mut *tx, s, next_created_at()).await?;
        }
        tx.commit().await.map_err(query(OP))
    }

    /// Tokens are made by `Store::new_token` (UUIDs); anything else — a NUL byte, which
    /// Postgres text cannot hold, or a megabyte of path — is unknown without asking the
    /// database.
    fn plausible_token(token: &str) -> bool {
        !token.is_empty() && token.len() <= 64 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }

    /// One submission by token.
    pub async fn get_submission(&self, token: &str) -> Result<Option<Submission>, StoreError> {
        const OP: &str = "get_submission";
        if !Self::plausible_token(token) {
            return Ok(None);
        }
        let row = sqlx::query(concat!("SELECT ", columns!(), " FROM submissions WHERE token = $1"))
            .bind(token)
            .fetch_optional(&self.pool)
            .await
            .map_err(query(OP))?;
        row.map(|r| submission_from_row(&r, OP)).transpose()
    }

    /// Several submissions by token, in the order asked (`None` where a token is unknown; a
    /// token asked twice is answered twice). Refused with [`StoreError::AnswerTooLarge`] when
    /// their request and result text (as answered, repeats counted) is more than `max_text`
    /// characters: what one call loads into memory is bounded by the caller, not by what the
    /// submissions happen to hold.
    pub async fn get_submissions(
        &self,
        tokens: &[String],
        max_text: u64,
    ) -> Result<Vec<Option<Submission>>, StoreError> {
        const OP: &str = "get_submissions";
        let mut found: HashMap<String, Submission> = HashMap::with_capacity(tokens.len());
        let asked: Vec<String> = tokens.iter().filter(|t| Self::plausible_token(t)).cloned().collect();
        let mut sizes: HashMap<String, u64> = HashMap::with_capacity(asked.len());
        for chunk in asked.chunks(TOKENS_PER_QUERY) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT token, {TEXT_SIZE} FROM submissions WHERE token IN ({})",
                placeholders.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for t in chunk {
                q = q.bind(t.as_str());
            }
            for row in q.fetch_all(&self.pool).await.map_err(query(OP))? {
                let token: String = row.try_get(0).map_err(query(OP))?;
                let size: i64 = row.try_get(1).map_err(query(OP))?;
                sizes.insert(token, u64::try_from(size).unwrap_or(0));
            }
        }
        let chars = asked.iter().filter_map(|t| sizes.get(t)).sum::<u64>();
        if chars > max_text {
            return Err(StoreError::AnswerTooLarge { chars, max: max_text });
        }
        for chunk in asked.chunks(TOKENS_PER_QUERY) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {} FROM submissions WHERE token IN ({})",
                columns!(),
                placeholders.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for t in chunk {
                q = q.bind(t.as_str());
            }
            for row in q.fetch_all(&self.pool).await.map_err(query(OP))? {
                let s = submission_from_row(&row, OP)?;
                found.insert(s.token.clone(), s);
            }
        }
        Ok(tokens.iter().map(|t| found.get(t).cloned()).collect())
    }

    /// A page of submissions, newest first. `page` starts at 1; `per_page` is 1 to
    /// [`MAX_PER_PAGE`]. Like [`Store::get_submissions`], a page whose request and result
    /// text is more than `max_text` characters is refused ([`StoreError::AnswerTooLarge`])
    /// before it is loaded.
    pub async fn list_submissions(
        &self,
        page: u32,
        per_page: u32,
        max_text: u64,
    ) -> Result<Page<Submission>, StoreError> {
        self.list_page(None, page, per_page, max_text).await
    }

    /// [`Store::list_submissions`] of one owner only: `Some(key)` the submissions made with
    /// that key, `None` those made without one.
    pub async fn list_submissions_of(
        &self,
        owner: Option<&str>,
        page: u32,
        per_page: u32,
        max_text: u64,
    ) -> Result<Page<Submission>, StoreError> {
        self.list_page(Some(owner), page, per_page, max_text).await
    }

    async fn list_page(
        &self,
        owner: Option<Option<&str>>,
        page: u32,
        per_page: u32,
        max_text: u64,
    ) -> Result<Page<Submission>, StoreError> {
        const OP: &str = "list_submissions";
        if page == 0 || per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(StoreError::InvalidPage { page, per_page });
        }
        // The owner is bound last ($3), after LIMIT and OFFSET; the count binds it alone ($1).
        let (filter, count_filter) = match owner {
            None => ("", ""),
            Some(None) => (" WHERE owner IS NULL", " WHERE owner IS NULL"),
            Some(Some(_)) => (" WHERE owner = $3", " WHERE owner = $1"),
        };
        let key = owner.flatten();
        let offset = i64::from(page - 1) * i64::from(per_page);
        let sql = format!("SELECT COUNT(*) FROM submissions{count_filter}");
        let mut count = sqlx::query_scalar(&sql);
        if let Some(key) = key {
            count = count.bind(key);
        }
        let total: i64 = count.fetch_one(&self.pool).await.map_err(query(OP))?;
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM (SELECT {TEXT_SIZE} AS size FROM submissions{filter} \
             ORDER BY created_at DESC, token DESC LIMIT $1 OFFSET $2) AS page"
        );
        let mut sum = sqlx::query_scalar(&sql).bind(i64::from(per_page)).bind(offset);
        if let Some(key) = key {
            sum = sum.bind(key);
        }
        let chars: i64 = sum.fetch_one(&self.pool).await.map_err(query(OP))?;
        let chars = u64::try_from(chars).unwrap_or(0);
        if chars > max_text {
            return Err(StoreError::AnswerTooLarge { chars, max: max_text });
        }
        let sql = format!(
            "SELECT {} FROM submissions{filter} ORDER BY created_at DESC, token DESC LIMIT $1 OFFSET $2",
            columns!()
        );
        let mut rows = sqlx::query(&sql).bind(i64::from(per_page)).bind(offset);
        if let Some(key) = key {
            rows = rows.bind(key);
        }
        let rows = rows.fetch_all(&self.pool).await.map_err(query(OP))?;
        let items = rows
            .iter()
            .map(|r| submission_from_row(r, OP))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total_count: u64::try_from(total).unwrap_or(0),
            page,
            per_page,
        })
    }

    /// Store the result whatever the submission's state: the final `status` (≥
    /// [`FIRST_FINISHED_STATUS`]), the result JSON and the finish time. A worker stores its
    /// result with [`Store::finish_claimed`] instead, which only the current claim can.
    pub async fn finish_submission(&self, token: &str, status: i32, result_json: &str) -> Result<(), StoreError> {
        if status < FIRST_FINISHED_STATUS {
            return Err(StoreError::NotAFinishedStatus { status });
        }
        check_text("result", result_json)?;
        let done = sqlx::query("UPDATE submissions SET status = $1, result = $2, finished_at = $3 WHERE token = $4")
            .bind(status)
            .bind(result_json)
            .bind(now_us())
            .bind(token)
            .execute(&self.pool)
            .await
            .map_err(query("finish_submission"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownSubmission {
                token: token.to_owned(),
            });
        }
        Ok(())
    }

    /// Delete a finished submission. Queued and processing ones stay (a worker may be
    /// writing its result).
    pub async fn delete_submission(&self, token: &str) -> Result<DeleteOutcome, StoreError> {
        const OP: &str = "delete_submission";
        if !Self::plausible_token(token) {
            return Ok(DeleteOutcome::NotFound);
        }
        // One statement decides, so a submission that finishes meanwhile is never half-deleted.
        let deleted = sqlx::query(concat!(
            "DELETE FROM submissions WHERE token = $1 AND status >= $2 RETURNING ",
            columns!()
        ))
        .bind(token)
        .bind(FIRST_FINISHED_STATUS)
        .fetch_all(&self.pool)
        .await
        .map_err(query(OP))?;
        if let Some(row) = deleted.first() {
            return Ok(DeleteOutcome::Deleted(submission_from_row(row, OP)?));
        }
        let status: Option<i32> = sqlx::query_scalar("SELECT status FROM submissions WHERE token = $1")
            .bind(token)
            .fetch_optional(&self.pool)
            .await
            .map_err(query(OP))?;
        Ok(match status {
            None => DeleteOutcome::NotFound,
            Some(status) => DeleteOutcome::NotFinished { status },
        })
    }

    /// Tokens of queued and processing submissions, oldest first.
    pub async fn unfinished_submissions(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("SELECT token FROM submissions WHERE status IN ($1, $2) ORDER BY created_at, token")
            .bind(STATUS_QUEUED)
            .bind(STATUS_PROCESSING)
            .fetch_all(&self.pool)
            .await
            .map_err(query("unfinished_submissions"))
    }

    /// How many submissions have each status (for metrics); statuses with none are absent.
    pub async fn count_by_status(&self) -> Result<BTreeMap<i32, u64>, StoreError> {
        const OP: &str = "count_by_status";
        let rows = sqlx::query("SELECT status, COUNT(*) FROM submissions GROUP BY status")
            .fetch_all(&self.pool)
            .await
            .map_err(query(OP))?;
        rows.iter()
            .map(|r| {
                let status: i32 = r.try_get(0).map_err(query(OP))?;
                let count: i64 = r.try_get(1).map_err(query(OP))?;
                Ok((status, u64::try_from(count).unwrap_or(0)))
            })
            .collect()
    }
}

pub(crate) fn check_submission(new: &NewSubmission) -> Result<(), StoreError> {
    check_text("token", &new.token)?;
    check_text("request", &new.request)?;
    if let Some(owner) = &new.owner {
        check_text("owner", owner)?;
    }
    Ok(())
}

async fn insert<'c, E>(executor: E, new: &NewSubmission, created_at: i64) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query("INSERT INTO submissions (token, request, status, owner, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(new.token.as_str())
        .bind(new.request.as_str())
        .bind(STATUS_QUEUED)
        .bind(new.owner.as_deref())
        .bind(created_at)
        .execute(executor)
        .await
        .map_err(|e| insert_error(e, &new.token, "insert_submission"))?;
    Ok(())
}

/// An insert's error: a token stored already is [`StoreError::DuplicateToken`].
pub(crate) fn insert_error(e: sqlx::Error, token: &str, op: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::DuplicateToken {
            token: token.to_owned(),
        },
        _ => StoreError::Query { op, source: e },
    }
}

fn submission_from_row(row: &AnyRow, op: &'static str) -> Result<Submission, StoreError> {
    let token: String = row.try_get(0).map_err(query(op))?;
    let created_at: i64 = row.try_get(5).map_err(query(op))?;
    let finished_at: Option<i64> = row.try_get(6).map_err(query(op))?;
    Ok(Submission {
        request: row.try_get(1).map_err(query(op))?,
        status: row.try_get(2).map_err(query(op))?,
        result: row.try_get(3).map_err(query(op))?,
        owner: row.try_get(4).map_err(query(op))?,
        created_at: from_us(created_at, "created_at", &token)?,
        finished_at: finished_at.map(|us| from_us(us, "finished_at", &token)).transpose()?,
        token,
    })
}
