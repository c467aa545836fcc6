//! Claims and leases: how the nodes sharing a database run each submission once.
//!
//! A worker takes a queued submission by claiming it (1 → 2). The claim carries a lease: the
//! claiming node's id and a time, on the database's clock, until which the row is that node's.
//! The node renews the lease while the run lasts. A node that stops (a crash, a kill -9, a
//! partition) stops renewing; once its lease has run out the row is claimable again — by a
//! redelivered queue message, by a worker looking for work no queue holds
//! ([`Store::claim_next`]), or after [`Store::requeue_expired`] put it back to queued. Each
//! claim counts one attempt; the attempt number fences the result: only the claim that is
//! still current stores one ([`Store::finish_claimed`]), so a node that comes back after its
//! lease was taken over cannot store a second result.
//!
//! On Postgres concurrent claimers take different rows (`FOR UPDATE SKIP LOCKED`); SQLite has
//! one writer at a time, and serves one node ([`Store::lock_single_node`]).

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use sqlx::Row;

use crate::error::query;
use crate::store::check_text;
use crate::submissions::{check_submission, insert_error};
use crate::time::{next_created_at, now_us};
use crate::{NewSubmission, Store, StoreError, FIRST_FINISHED_STATUS, STATUS_PROCESSING, STATUS_QUEUED};

/// A submission claimed by a node's worker. Only this claim may renew its lease, store its
/// result or give it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub token: String,
    /// The node that holds it (its node id).
    pub owner: String,
    /// Which claim of the submission this is: 1 for its first run, 2 after one was cut short...
    pub attempt: i32,
}

/// Held while this process serves a SQLite database ([`Store::lock_single_node`]); dropping it
/// lets another process take over.
#[derive(Debug)]
pub struct NodeLock {
    path: PathBuf,
    _file: File,
}

impl NodeLock {
    /// The lock file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// A lease as bound in SQL: whole microseconds, at least one.
fn lease_us(lease: Duration) -> i64 {
    i64::try_from(lease.as_micros()).unwrap_or(i64::MAX).max(1)
}

impl Store {
    /// Claim a submission for `owner` for `lease`: a queued one, or a processing one whose
    /// lease ran out (its node stopped). `None` when it is finished, unknown, or held by a live
    /// lease — so a token delivered twice runs once.
    pub async fn claim_submission(
        &self,
        token: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Claim>, StoreError> {
        const OP: &str = "claim_submission";
        check_text("owner", owner)?;
        let now = self.backend.now_sql();
        let sql = format!(
            "UPDATE submissions SET status = $1, lease_owner = $2, lease_until = {now} + $3, attempts = attempts + 1 \
             WHERE token = $4 AND (status = $5 OR (status = $1 AND (lease_until IS NULL OR lease_until < {now}))) \
             RETURNING attempts"
        );
        let row = sqlx::query(&sql)
            .bind(STATUS_PROCESSING)
            .bind(owner)
            .bind(lease_us(lease))
            .bind(token)
            .bind(STATUS_QUEUED)
            .fetch_optional(&self.pool)
            .await
            .map_err(query(OP))?;
        row.map(|r| {
            Ok(Claim {
                token: token.to_owned(),
                owner: owner.to_owned(),
                attempt: r.try_get(0).map_err(query(OP))?,
            })
        })
        .transpose()
    }

    /// Claim the oldest submission no worker holds: one queued for longer than `grace` (younger
    /// ones are left to the queue that carries them), or one whose lease ran out. For workers
    /// with nothing to do: it finds what a stopped node left behind — in its in-process queue,
    /// half run, or never published. `None` when there is none.
    pub async fn claim_next(&self, owner: &str, lease: Duration, grace: Duration) -> Result<Option<Claim>, StoreError> {
        const OP: &str = "claim_next";
        check_text("owner", owner)?;
        let now = self.backend.now_sql();
        let skip_locked = self.backend.skip_locked();
        let sql = format!(
            "UPDATE submissions SET status = $1, lease_owner = $2, lease_until = {now} + $3, attempts = attempts + 1 \
             WHERE token = (SELECT token FROM submissions \
                 WHERE (status = $4 AND created_at < $5) OR (status = $1 AND (lease_until IS NULL OR lease_until < {now})) \
                 ORDER BY created_at, token LIMIT 1{skip_locked}) \
             AND (status = $4 OR (status = $1 AND (lease_until IS NULL OR lease_until < {now}))) \
             RETURNING token, attempts"
        );
        let queued_before = now_us().saturating_sub(lease_us(grace));
        let row = sqlx::query(&sql)
            .bind(STATUS_PROCESSING)
            .bind(owner)
            .bind(lease_us(lease))
            .bind(STATUS_QUEUED)
            .bind(queued_before)
            .fetch_optional(&self.pool)
            .await
            .map_err(query(OP))?;
        row.map(|r| {
            Ok(Claim {
                token: r.try_get(0).map_err(query(OP))?,
                owner: owner.to_owned(),
                attempt: r.try_get(1).map_err(query(OP))?,
            })
        })
        .transpose()
    }

    /// Store a submission already claimed by `owner` (a run that starts at once, such as
    /// Judge0's `wait=true`): no other worker takes it while the lease is renewed. A token that
    /// is already stored is [`StoreError::DuplicateToken`].
    pub async fn insert_claimed(&self, new: &NewSubmission, owner: &str, lease: Duration) -> Result<Claim, StoreError> {
        check_submission(new)?;
        check_text("owner", owner)?;
        let now = self.backend.now_sql();
        let sql = format!(
            "INSERT INTO submissions (token, request, status, owner, created_at, lease_owner, lease_until, attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, {now} + $7, 1)"
        );
        sqlx::query(&sql)
            .bind(new.token.as_str())
            .bind(new.request.as_str())
            .bind(STATUS_PROCESSING)
            .bind(new.owner.as_deref())
            .bind(next_created_at())
            .bind(owner)
            .bind(lease_us(lease))
            .execute(&self.pool)
            .await
            .map_err(|e| insert_error(e, &new.token, "insert_claimed"))?;
        Ok(Claim {
            token: new.token.clone(),
            owner: owner.to_owned(),
            attempt: 1,
        })
    }

    /// Extend the claim's lease to `lease` from now. False when the claim is no longer current
    /// (its lease ran out and another node took the submission, or it was given back).
    pub async fn renew_lease(&self, claim: &Claim, lease: Duration) -> Result<bool, StoreError> {
        let now = self.backend.now_sql();
        let sql = format!(
            "UPDATE submissions SET lease_until = {now} + $1 \
             WHERE token = $2 AND status = $3 AND lease_owner = $4 AND attempts = $5"
        );
        let done = sqlx::query(&sql)
            .bind(lease_us(lease))
            .bind(claim.token.as_str())
            .bind(STATUS_PROCESSING)
            .bind(claim.owner.as_str())
            .bind(claim.attempt)
            .execute(&self.pool)
            .await
            .map_err(query("renew_lease"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Store the claim's result: the final `status` (≥ [`FIRST_FINISHED_STATUS`]), the result
    /// JSON and the finish time. False — nothing stored — when the claim is no longer current:
    /// the submission has one result, stored by whichever claim was current.
    pub async fn finish_claimed(&self, claim: &Claim, status: i32, result_json: &str) -> Result<bool, StoreError> {
        if status < FIRST_FINISHED_STATUS {
            return Err(StoreError::NotAFinishedStatus { status });
        }
        check_text("result", result_json)?;
        let done = sqlx::query(
            "UPDATE submissions SET status = $1, result = $2, finished_at = $3, lease_until = NULL \
             WHERE token = $4 AND status = $5 AND lease_owner = $6 AND attempts = $7",
        )
        .bind(status)
        .bind(result_json)
        .bind(now_us())
        .bind(claim.token.as_str())
        .bind(STATUS_PROCESSING)
        .bind(claim.owner.as_str())
        .bind(claim.attempt)
        .execute(&self.pool)
        .await
        .map_err(query("finish_claimed"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Give a claim back unfinished (a node that drains): the submission is queued again at
    /// once and the attempt is not counted. False when the claim was no longer current.
    pub async fn release_claim(&self, claim: &Claim) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE submissions SET status = $1, lease_owner = NULL, lease_until = NULL, attempts = attempts - 1 \
             WHERE token = $2 AND status = $3 AND lease_owner = $4 AND attempts = $5",
        )
        .bind(STATUS_QUEUED)
        .bind(claim.token.as_str())
        .bind(STATUS_PROCESSING)
        .bind(claim.owner.as_str())
        .bind(claim.attempt)
        .execute(&self.pool)
        .await
        .map_err(query("release_claim"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Put every processing submission whose lease ran out (its node stopped) back to queued;
    /// their tokens, oldest first, to queue again. Each such row is returned to exactly one of
    /// the nodes that call this at the same time.
    pub async fn requeue_expired(&self) -> Result<Vec<String>, StoreError> {
        const OP: &str = "requeue_expired";
        let now = self.backend.now_sql();
        let sql = format!(
            "UPDATE submissions SET status = $1, lease_owner = NULL, lease_until = NULL \
             WHERE status = $2 AND (lease_until IS NULL OR lease_until < {now}) RETURNING token, created_at"
        );
        let rows = sqlx::query(&sql)
            .bind(STATUS_QUEUED)
            .bind(STATUS_PROCESSING)
            .fetch_all(&self.pool)
            .await
            .map_err(query(OP))?;
        let mut tokens = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>(1).map_err(query(OP))?,
                    r.try_get::<String, _>(0).map_err(query(OP))?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tokens.sort();
        Ok(tokens.into_iter().map(|(_, token)| token).collect())
    }

    /// Delete a submission that is still queued (its queue refused it); false when a worker
    /// claimed it meanwhile (it runs) or it is unknown.
    pub async fn delete_queued(&self, token: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM submissions WHERE token = $1 AND status = $2")
            .bind(token)
            .bind(STATUS_QUEUED)
            .execute(&self.pool)
            .await
            .map_err(query("delete_queued"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Store the result of a submission no worker claimed (one its queue refused): only while
    /// it is still queued. False when a worker claimed it meanwhile (its result wins).
    pub async fn finish_queued(&self, token: &str, status: i32, result_json: &str) -> Result<bool, StoreError> {
        if status < FIRST_FINISHED_STATUS {
            return Err(StoreError::NotAFinishedStatus { status });
        }
        check_text("result", result_json)?;
        let done = sqlx::query(
            "UPDATE submissions SET status = $1, result = $2, finished_at = $3 WHERE token = $4 AND status = $5",
        )
        .bind(status)
        .bind(result_json)
        .bind(now_us())
        .bind(token)
        .bind(STATUS_QUEUED)
        .execute(&self.pool)
        .await
        .map_err(query("finish_queued"))?;
        Ok(done.rows_affected() == 1)
    }

    /// For SQLite, which serves one node: take the database's node lock (an exclusive `flock`
    /// on `<file>-node.lock`, holding this process's pid) or fail with
    /// [`StoreError::NodeLocked`] when another live process holds it. The lock goes with the
    /// process, however it ends. `None` for Postgres (many nodes share it; leases keep them
    /// apart) and for an in-memory database.
    pub fn lock_single_node(&self) -> Result<Option<NodeLock>, StoreError> {
        let Some(db) = &self.sqlite_path else {
            return Ok(None);
        };
        let mut name = db.as_os_str().to_owned();
        name.push("-node.lock");
        let path = PathBuf::from(name);
        let failed = |source| StoreError::NodeLock {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(failed)?;
        match rustix::fs::flock(file.as_fd(), rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let holder = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse().ok());
                return Err(StoreError::NodeLocked { path, holder });
            }
            Err(e) => return Err(failed(e.into())),
        }
        file.set_len(0).map_err(failed)?;
        writeln!(file, "{}", std::process::id()).map_err(failed)?;
        Ok(Some(NodeLock { path, _file: file }))
    }

    /// Put every processing submission back to queued, whatever its lease; how many. Only
    /// with the database's [`NodeLock`], which proves that no other process runs any of them
    /// (start-up on SQLite: what the previous process left half run is run again at once
    /// rather than when its lease runs out).
    pub async fn requeue_processing(&self, _proof: &NodeLock) -> Result<u64, StoreError> {
        let done =
            sqlx::query("UPDATE submissions SET status = $1, lease_owner = NULL, lease_until = NULL WHERE status = $2")
                .bind(STATUS_QUEUED)
                .bind(STATUS_PROCESSING)
                .execute(&self.pool)
                .await
                .map_err(query("requeue_processing"))?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn leases_are_whole_positive_microseconds() {
        use std::time::Duration;
        assert_eq!(super::lease_us(Duration::from_secs(30)), 30_000_000);
        assert_eq!(super::lease_us(Duration::ZERO), 1);
        assert_eq!(super::lease_us(Duration::MAX), i64::MAX);
    }
}
