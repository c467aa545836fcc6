//! Exercises posted through the API: a definition and a listing summary, both JSON text the
//! store never looks into, under an id the caller chose, and who posted it: a teacher's key
//! name ([`Writer::Owner`]), which alone may change its own, or none (a caller or admin key,
//! [`Writer::Any`], which may change any).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::error::query;
use crate::store::check_text;
use crate::time::{from_us, now_us};
use crate::{Store, StoreError};

/// Largest exercise definition: statement, starters and test cases of a classroom exercise,
/// with room for a large test input; far below the request body limit.
pub const MAX_EXERCISE_BYTES: usize = 1 << 20;
/// Largest listing summary (a title or two and a few language names).
pub const MAX_EXERCISE_SUMMARY_BYTES: usize = 4 << 10;
/// Longest exercise id.
pub const MAX_EXERCISE_ID_BYTES: usize = 64;
/// Exercises stored at most: a listing returns them all, so their number is bounded.
pub const MAX_STORED_EXERCISES: i64 = 1_000;

/// A stored exercise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredExercise {
    pub id: String,
    /// As JSON text, as it was put.
    pub definition: String,
    /// The teacher's key that posted it; `None` when a caller or admin key did.
    pub owner: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One entry of [`Store::list_exercises`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExerciseSummary {
    pub id: String,
    /// As JSON text, as it was put.
    pub summary: String,
    /// As in [`StoredExercise::owner`].
    pub owner: Option<String>,
}

/// Who writes or deletes an exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer<'a> {
    /// A caller or admin key: any exercise; a new one has no owner, a replaced one keeps its.
    Any,
    /// A teacher's key, by name: a new exercise becomes theirs; one of another (or of none)
    /// is left alone ([`PutOutcome::NotYours`]).
    Owner(&'a str),
}

/// What [`Store::put_exercise`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Replaced,
    /// The id is another's exercise (or a caller's): nothing was written.
    NotYours,
}

impl Store {
    /// Store an exercise under `id`, replacing the one stored under it if `writer` may. A new
    /// one is refused when [`MAX_STORED_EXERCISES`] are stored already.
    pub async fn put_exercise(
        &self,
        id: &str,
        definition: &str,
        summary: &str,
        writer: Writer<'_>,
    ) -> Result<PutOutcome, StoreError> {
        const OP: &str = "put_exercise";
        if id.is_empty() || id.len() > MAX_EXERCISE_ID_BYTES {
            return Err(StoreError::BadExerciseId { size: id.len() });
        }
        if definition.len() > MAX_EXERCISE_BYTES {
            return Err(StoreError::ExerciseTooLarge { size: definition.len() });
        }
        if summary.len() > MAX_EXERCISE_SUMMARY_BYTES {
            return Err(StoreError::ExerciseSummaryTooLarge { size: summary.len() });
        }
        check_text("id", id)?;
        check_text("definition", definition)?;
        check_text("summary", summary)?;
        let now = now_us();
        // Update first; insert when there was nothing to update. A concurrent insert of the
        // same id makes ours a unique violation: then it exists, and the update applies.
        // The owner is in the update's condition, so a teacher never overwrites another's.
        let owner = match writer {
            Writer::Any => None,
            Writer::Owner(name) => Some(name),
        };
        for _ in 0..2 {
            let update = sqlx::query(match owner {
                None => "UPDATE exercises SET definition = $1, summary = $2, updated_at = $3 WHERE id = $4",
                Some(_) => {
                    "UPDATE exercises SET definition = $1, summary = $2, updated_at = $3 WHERE id = $4 AND owner = $5"
                }
            })
            .bind(definition)
            .bind(summary)
            .bind(now)
            .bind(id);
            let update = match owner {
                None => update,
                Some(name) => update.bind(name),
            };
            let updated = update.execute(&self.pool).await.map_err(query(OP))?;
            if updated.rows_affected() > 0 {
                return Ok(PutOutcome::Replaced);
            }
            // The count and the insert in one statement, so the bound holds under concurrent
            // inserts on Postgres as far as one statement's snapshot allows.
            let inserted = sqlx::query(
                "INSERT INTO exercises (id, definition, summary, created_at, updated_at, owner) \
                 SELECT $1, $2, $3, $4, $4, $6 WHERE (SELECT COUNT(*) FROM exercises) < $5",
            )
            .bind(id)
            .bind(definition)
            .bind(summary)
            .bind(now)
            .bind(MAX_STORED_EXERCISES)
            .bind(owner)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(r) if r.rows_affected() > 0 => return Ok(PutOutcome::Created),
                Ok(_) => return Err(StoreError::TooManyExercises),
                // It exists: a teacher's update found it not theirs; anyone else's, try again.
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() && owner.is_some() => {
                    return Ok(PutOutcome::NotYours)
                }
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
                Err(e) => return Err(StoreError::Query { op: OP, source: e }),
            }
        }
        Err(StoreError::ExerciseRace { id: id.to_owned() })
    }

    /// An exercise by id.
    pub async fn get_exercise(&self, id: &str) -> Result<Option<StoredExercise>, StoreError> {
        const OP: &str = "get_exercise";
        let Some(row) =
            sqlx::query("SELECT id, definition, created_at, updated_at, owner FROM exercises WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(query(OP))?
        else {
            return Ok(None);
        };
        let id: String = row.try_get(0).map_err(query(OP))?;
        let created_at: i64 = row.try_get(2).map_err(query(OP))?;
        let updated_at: i64 = row.try_get(3).map_err(query(OP))?;
        Ok(Some(StoredExercise {
            definition: row.try_get(1).map_err(query(OP))?,
            owner: row.try_get(4).map_err(query(OP))?,
            created_at: from_us(created_at, "created_at", &id)?,
            updated_at: from_us(updated_at, "updated_at", &id)?,
            id,
        }))
    }

    /// Every stored exercise's summary, by id (at most [`MAX_STORED_EXERCISES`]).
    pub async fn list_exercises(&self) -> Result<Vec<ExerciseSummary>, StoreError> {
        const OP: &str = "list_exercises";
        let rows = sqlx::query("SELECT id, summary, owner FROM exercises ORDER BY id LIMIT $1")
            .bind(MAX_STORED_EXERCISES)
            .fetch_all(&self.pool)
            .await
            .map_err(query(OP))?;
        rows.into_iter()
            .map(|row| {
                Ok(ExerciseSummary {
                    id: row.try_get(0).map_err(query(OP))?,
                    summary: row.try_get(1).map_err(query(OP))?,
                    owner: row.try_get(2).map_err(query(OP))?,
                })
            })
            .collect()
    }

    /// Remove an exercise `writer` may change; false when there was none it may.
    pub async fn delete_exercise(&self, id: &str, writer: Writer<'_>) -> Result<bool, StoreError> {
        let delete = match writer {
            Writer::Any => sqlx::query("DELETE FROM exercises WHERE id = $1").bind(id),
            Writer::Owner(name) => sqlx::query("DELETE FROM exercises WHERE id = $1 AND owner = $2")
                .bind(id)
                .bind(name),
        };
        let deleted = delete.execute(&self.pool).await.map_err(query("delete_exercise"))?;
        Ok(deleted.rows_affected() > 0)
    }
}
