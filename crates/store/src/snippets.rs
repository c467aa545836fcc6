//! Snippets: a program saved under a short random id, for "share a link".

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::error::query;
use crate::store::check_text;
use crate::time::{from_us, now_us};
use crate::{Store, StoreError};

/// Largest snippet code: a classroom program, not a file store.
pub const MAX_SNIPPET_BYTES: usize = 64 * 1024;
/// Largest language name of a snippet (names and aliases are a few bytes).
pub const MAX_SNIPPET_LANGUAGE_BYTES: usize = 64;
/// Length of a snippet id: 8 characters of the URL-safe base64 alphabet, 48 random bits.
pub const SNIPPET_ID_LEN: usize = 8;
/// Fresh ids tried before giving up; with 48 bits a second try is already a rarity.
const SNIPPET_ID_TRIES: u32 = 4;
/// RFC 4648 §5, the URL- and filename-safe alphabet.
const URL_SAFE_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A stored snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// [`SNIPPET_ID_LEN`] URL-safe characters.
    pub id: String,
    pub language: String,
    pub code: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Save a program; returns its new id. Code is at most [`MAX_SNIPPET_BYTES`], the language
    /// name at most [`MAX_SNIPPET_LANGUAGE_BYTES`].
    pub async fn insert_snippet(&self, language: &str, code: &str) -> Result<String, StoreError> {
        if code.len() > MAX_SNIPPET_BYTES {
            return Err(StoreError::SnippetTooLarge { size: code.len() });
        }
        if language.len() > MAX_SNIPPET_LANGUAGE_BYTES {
            return Err(StoreError::LanguageTooLong { size: language.len() });
        }
        check_text("language", language)?;
        check_text("code", code)?;
        for _ in 0..SNIPPET_ID_TRIES {
            let id = new_snippet_id();
            let inserted = sqlx::query("INSERT INTO snippets (id, language, code, created_at) VALUES ($1, $2, $3, $4)")
                .bind(id.as_str())
                .bind(language)
                .bind(code)
                .bind(now_us())
                .execute(&self.pool)
                .await;
            match inserted {
                Ok(_) => return Ok(id),
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
                Err(e) => {
                    return Err(StoreError::Query {
                        op: "insert_snippet",
                        source: e,
                    })
                }
            }
        }
        Err(StoreError::NoFreeSnippetId {
            tries: SNIPPET_ID_TRIES,
        })
    }

    /// A snippet by id.
    pub async fn get_snippet(&self, id: &str) -> Result<Option<Snippet>, StoreError> {
        const OP: &str = "get_snippet";
        let Some(row) = sqlx::query("SELECT id, language, code, created_at FROM snippets WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query(OP))?
        else {
            return Ok(None);
        };
        let id: String = row.try_get(0).map_err(query(OP))?;
        let created_at: i64 = row.try_get(3).map_err(query(OP))?;
        Ok(Some(Snippet {
            language: row.try_get(1).map_err(query(OP))?,
            code: row.try_get(2).map_err(query(OP))?,
            created_at: from_us(created_at, "created_at", &id)?,
            id,
        }))
    }
}

/// 8 random characters of the URL-safe alphabet. The randomness is a UUID v4's (the OS
/// generator): its first 6 bytes are all random, 6 bits per character.
fn new_snippet_id() -> String {
    let uuid = uuid::Uuid::new_v4();
    let b = uuid.as_bytes();
    let bits = u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]]);
    (0..SNIPPET_ID_LEN)
        .map(|i| char::from(URL_SAFE_ALPHABET[((bits >> (6 * i)) & 0x3f) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe_and_differ() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_snippet_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), SNIPPET_ID_LEN);
            assert!(
                id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
                "{id}"
            );
        }
    }
}
