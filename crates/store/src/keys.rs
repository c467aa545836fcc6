//! API keys: who may call a server, and as what.
//!
//! A key is `tr_<prefix>_<secret>`: `tr_` so a leaked one is recognisable (secret scanners,
//! a log someone pasted), a random 8-hex-digit prefix that listings show, and 256 random bits
//! of secret as 64 hex digits. Only the SHA-256 of the whole key is stored. A plain hash is
//! enough, and the right tool: the key is random, not a password, so there is nothing to
//! guess from its hash and no dictionary to slow down (a password hash like Argon2 would only
//! cost CPU on every request); the hash is also what a request is looked up by.
//! The secret is handed out once, by [`Store::create_key`], and never logged or put in an error.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::query;
use crate::time::{from_us, now_us};
use crate::{Store, StoreError};

/// Longest key name.
pub const MAX_KEY_NAME_BYTES: usize = 64;
/// Keys a store holds at most, revoked ones included (their names stay taken): far more than
/// a school's classes and clients; it bounds what `list_keys` loads.
pub const MAX_KEYS: u32 = 10_000;
/// The highest runs-per-minute quota: above it a quota is no quota (the rate limit and the
/// node's admission bound a caller long before).
pub const MAX_RUNS_PER_MINUTE: u32 = 1_000_000;
/// The highest CPU-seconds-per-day quota: 1000 cores busy all day.
pub const MAX_CPU_S_PER_DAY: u32 = 86_400_000;
/// The longest expiry of a key, in days (10 years): a key that should never expire has none.
pub const MAX_KEY_EXPIRY_DAYS: u32 = 3650;
/// The one name no stored key may have: the server names requests made with an
/// `--auth-token` so (metering, the run log).
pub const RESERVED_KEY_NAME: &str = "auth-token";
/// What every key starts with.
pub const KEY_MARK: &str = "tr_";
/// Hex digits of a key's prefix (32 random bits, shown in listings).
pub const KEY_PREFIX_LEN: usize = 8;
/// Hex digits of a key's secret (256 random bits).
pub const KEY_SECRET_LEN: usize = 64;
/// Length of a whole key: `tr_` + prefix + `_` + secret.
pub const KEY_LEN: usize = KEY_MARK.len() + KEY_PREFIX_LEN + 1 + KEY_SECRET_LEN;

/// What a key may do. Stored as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, also the keys, the usage, the run log and the console.
    Admin,
    /// An API client (a platform, a Judge0 or Piston client): runs, submissions, snippets,
    /// exercises.
    Caller,
    /// The classroom page: run code, load exercises, save snippets; nothing else.
    Classroom,
    /// A teacher: what the classroom page may do, and its own classes (students,
    /// assignments, gradebook).
    Teacher,
    /// A student of a class: never a key's role, only a student session's (made from the
    /// class's join code or the student's login code). What the classroom page may do, and its
    /// own submissions.
    Student,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Caller, Role::Classroom, Role::Teacher, Role::Student];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Caller => "caller",
            Role::Classroom => "classroom",
            Role::Teacher => "teacher",
            Role::Student => "student",
        }
    }

    /// Whether a key may have this role (a student has a session, never a key).
    pub fn for_keys(self) -> bool {
        self != Role::Student
    }

    /// The role named `name` (`admin`, `caller`, `classroom`, `teacher`, `student`).
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key's quotas; `None`: no quota of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quotas {
    /// Runs started per minute (a sliding minute).
    pub runs_per_minute: Option<u32>,
    /// CPU-seconds per UTC day, over every run of the key.
    pub cpu_s_per_day: Option<u32>,
}

/// Whether `name` is a key name: 1 to [`MAX_KEY_NAME_BYTES`] of `[A-Za-z0-9._-]`.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_KEY_NAME_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `token` has the shape of a key (`tr_` + 8 hex + `_` + 64 hex). Anything else is not
/// looked up.
pub fn looks_like_key(token: &str) -> bool {
    let Some(rest) = token.strip_prefix(KEY_MARK) else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() == KEY_PREFIX_LEN + 1 + KEY_SECRET_LEN
        && b[KEY_PREFIX_LEN] == b'_'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == KEY_PREFIX_LEN || matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// The hex SHA-256 of a key: what the store keeps and looks keys up by.
pub fn key_hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| StoreError::NoRandomness { code: e.raw_os_error() })?;
    Ok(buf)
}

/// A key's secret text, as handed out once. Its `Debug` does not show it, so it cannot slip
/// into a log through a `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySecret(String);

impl KeySecret {
    /// The whole key, `tr_<prefix>_<secret>`: print it once, never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySecret(..)")
    }
}

/// A key to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// 1 to [`MAX_KEY_NAME_BYTES`] of `[A-Za-z0-9._-]`, never used before.
    pub name: String,
    pub role: Role,
    /// Each 1 to its maximum ([`MAX_RUNS_PER_MINUTE`], [`MAX_CPU_S_PER_DAY`]).
    pub quotas: Quotas,
    /// Days from now until it stops working, 1 to [`MAX_KEY_EXPIRY_DAYS`]; `None`: never.
    pub expires_in_days: Option<u32>,
}

/// A stored key (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub name: String,
    /// The key's first part, `tr_<prefix>`: not secret, shown so keys can be told apart.
    pub prefix: String,
    pub role: Role,
    pub quotas: Quotas,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Whether a key works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    Expired,
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }
}

impl ApiKey {
    /// Its state at `now` (revoked wins over expired).
    pub fn state(&self, now: DateTime<Utc>) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }
}

/// A new key and its secret, which exists only here.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: KeySecret,
}

/// What [`Store::revoke_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Revoked now.
    Revoked(ApiKey),
    /// It was revoked before (nothing changed).
    AlreadyRevoked(ApiKey),
    NotFound,
}

/// The columns of an [`ApiKey`], in the order `key_from_row` reads them.
macro_rules! key_columns {
    () => {
        "name, prefix, role, runs_per_minute, cpu_s_per_day, created_at, expires_at, revoked_at"
    };
}

fn check_new_key(new: &NewKey) -> Result<(), StoreError> {
    if !new.role.for_keys() {
        return Err(StoreError::BadKeyRole {
            role: new.role.as_str(),
        });
    }
    if !valid_key_name(&new.name) || new.name == RESERVED_KEY_NAME {
        return Err(StoreError::BadKeyName {
            name: new.name.chars().take(MAX_KEY_NAME_BYTES + 8).collect(),
        });
    }
    if let Some(n) = new.quotas.runs_per_minute {
        if n == 0 || n > MAX_RUNS_PER_MINUTE {
            return Err(StoreError::BadKeyLimit {
                field: "runs_per_minute",
                value: u64::from(n),
                max: u64::from(MAX_RUNS_PER_MINUTE),
            });
        }
    }
    if let Some(n) = new.quotas.cpu_s_per_day {
        if n == 0 || n > MAX_CPU_S_PER_DAY {
            return Err(StoreError::BadKeyLimit {
                field: "cpu_s_per_day",
                value: u64::from(n),
                max: u64::from(MAX_CPU_S_PER_DAY),
            });
        }
    }
    if let Some(n) = new.expires_in_days {
        if n == 0 || n > MAX_KEY_EXPIRY_DAYS {
            return Err(StoreError::BadKeyLimit {
                field: "expires_in_days",
                value: u64::from(n),
                max: u64::from(MAX_KEY_EXPIRY_DAYS),
            });
        }
    }
    Ok(())
}

impl Store {
    /// Create a key: its secret is in the answer and nowhere else. A name used before (also by
    /// a revoked key) is [`StoreError::DuplicateKeyName`]; past [`MAX_KEYS`] keys,
    /// [`StoreError::TooManyKeys`].
    pub async fn create_key(&self, new: &NewKey) -> Result<CreatedKey, StoreError> {
        const OP: &str = "create_key";
        check_new_key(new)?;
        let prefix = format!("{KEY_MARK}{}", hex(&random_bytes::<{ KEY_PREFIX_LEN / 2 }>()?));
        let secret = KeySecret(format!("{prefix}_{}", hex(&random_bytes::<{ KEY_SECRET_LEN / 2 }>()?)));
        let created_at = now_us();
        let expires_at = new
            .expires_in_days
            .map(|d| created_at + i64::from(d) * 86_400 * 1_000_000);
        // One statement: the count and the insert cannot be split by another insert on SQLite;
        // on Postgres two racing inserts may pass the bound by one each, which is harmless.
        let inserted = sqlx::query(
            "INSERT INTO api_keys (name, prefix, hash, role, runs_per_minute, cpu_s_per_day, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE (SELECT COUNT(*) FROM api_keys) < $9",
        )
        .bind(new.name.as_str())
        .bind(prefix.as_str())
        .bind(key_hash(secret.expose()))
        .bind(new.role.as_str())
        .bind(new.quotas.runs_per_minute.map(i64::from))
        .bind(new.quotas.cpu_s_per_day.map(i64::from))
        .bind(created_at)
        .bind(expires_at)
        .bind(i64::from(MAX_KEYS))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 0 => Err(StoreError::TooManyKeys),
            Ok(_) => Ok(CreatedKey {
                key: ApiKey {
                    name: new.name.clone(),
                    prefix,
                    role: new.role,
                    quotas: new.quotas,
                    created_at: from_us(created_at, "created_at", &new.name)?,
                    expires_at: expires_at.map(|us| from_us(us, "expires_at", &new.name)).transpose()?,
                    revoked_at: None,
                },
                secret,
            }),
            // The name (the hash of 256 random bits cannot collide).
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(StoreError::DuplicateKeyName { name: new.name.clone() })
            }
            Err(e) => Err(StoreError::Query { op: OP, source: e }),
        }
    }

    /// Every key, oldest first (at most [`MAX_KEYS`]).
    pub async fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        const OP: &str = "list_keys";
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys ORDER BY created_at, name LIMIT $1"
        ))
        .bind(i64::from(MAX_KEYS))
        .fetch_all(&self.pool)
        .await
        .map_err(query(OP))?;
        rows.iter().map(|r| key_from_row(r, OP)).collect()
    }

    /// A key by name.
    pub async fn get_key(&self, name: &str) -> Result<Option<ApiKey>, StoreError> {
        const OP: &str = "get_key";
        if !valid_key_name(name) {
            return Ok(None);
        }
        let row = sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(query(OP))?;
        row.map(|r| key_from_row(&r, OP)).transpose()
    }

    /// The key whose secret is `key` (whatever its state), looked up by its hash. A token
    /// without the shape of a key is not looked up.
    pub async fn find_key(&self, key: &str) -> Result<Option<ApiKey>, StoreError> {
        const OP: &str = "find_key";
        if !looks_like_key(key) {
            return Ok(None);
        }
        let row = sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys WHERE hash = $1"))
            .bind(key_hash(key))
            .fetch_optional(&self.pool)
            .await
            .map_err(query(OP))?;
        row.map(|r| key_from_row(&r, OP)).transpose()
    }

    /// Revoke a key for good (its name stays taken).
    pub async fn revoke_key(&self, name: &str) -> Result<RevokeOutcome, StoreError> {
        const OP: &str = "revoke_key";
        if !valid_key_name(name) {
            return Ok(RevokeOutcome::NotFound);
        }
        let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
            .bind(now_us())
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(query(OP))?;
        let Some(key) = self.get_key(name).await? else {
            return Ok(RevokeOutcome::NotFound);
        };
        Ok(if done.rows_affected() > 0 {
            RevokeOutcome::Revoked(key)
        } else {
            RevokeOutcome::AlreadyRevoked(key)
        })
    }

    /// The deployment's secret named `name` (32 random bytes): made by whichever node asks
    /// first, the same for every node after. Never logged.
    pub async fn shared_secret(&self, name: &str) -> Result<[u8; 32], StoreError> {
        const OP: &str = "shared_secret";
        let fresh = hex(&random_bytes::<32>()?);
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh.as_str())
        .bind(now_us())
        .execute(&self.pool)
        .await
        .map_err(query(OP))?;
        let value: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(query(OP))?;
        let mut out = [0u8; 32];
        if value.len() != 64 {
            return Err(StoreError::Corrupt {
                column: "server_secrets.value",
                key: name.to_owned(),
                value: format!("{} characters", value.len()),
            });
        }
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&value[2 * i..2 * i + 2], 16).map_err(|_| StoreError::Corrupt {
                column: "server_secrets.value",
                key: name.to_owned(),
                value: "not hex".to_owned(),
            })?;
        }
        Ok(out)
    }
}

fn key_from_row(row: &AnyRow, op: &'static str) -> Result<ApiKey, StoreError> {
    let name: String = row.try_get(0).map_err(query(op))?;
    let role: String = row.try_get(2).map_err(query(op))?;
    let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt {
        column: "api_keys.role",
        key: name.clone(),
        value: role.clone(),
    })?;
    let quota = |i: usize, column: &'static str| -> Result<Option<u32>, StoreError> {
        let v: Option<i64> = row.try_get(i).map_err(query(op))?;
        v.map(|v| {
            u32::try_from(v).map_err(|_| StoreError::Corrupt {
                column,
                key: name.clone(),
                value: v.to_string(),
            })
        })
        .transpose()
    };
    let quotas = Quotas {
        runs_per_minute: quota(3, "api_keys.runs_per_minute")?,
        cpu_s_per_day: quota(4, "api_keys.cpu_s_per_day")?,
    };
    let created_at: i64 = row.try_get(5).map_err(query(op))?;
    let expires_at: Option<i64> = row.try_get(6).map_err(query(op))?;
    let revoked_at: Option<i64> = row.try_get(7).map_err(query(op))?;
    Ok(ApiKey {
        prefix: row.try_get(1).map_err(query(op))?,
        role,
        quotas,
        created_at: from_us(created_at, "created_at", &name)?,
        expires_at: expires_at.map(|us| from_us(us, "expires_at", &name)).transpose()?,
        revoked_at: revoked_at.map(|us| from_us(us, "revoked_at", &name)).transpose()?,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_by_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Admin"), None);
    }

    #[test]
    fn key_names() {
        for good in ["a", "class-3b", "ide.v2", "A_b-9", &"x".repeat(MAX_KEY_NAME_BYTES)] {
            assert!(valid_key_name(good), "{good}");
        }
        for bad in ["", "a b", "ü", "a/b", "a\0", &"x".repeat(MAX_KEY_NAME_BYTES + 1)] {
            assert!(!valid_key_name(bad), "{bad}");
        }
    }

    #[test]
    fn key_shapes() {
        let key = format!("tr_0123abcd_{}", "f".repeat(KEY_SECRET_LEN));
        assert_eq!(key.len(), KEY_LEN);
        assert!(looks_like_key(&key));
        assert!(!looks_like_key(&key[..KEY_LEN - 1]));
        assert!(!looks_like_key(&key.replace("tr_", "xx_")));
        assert!(!looks_like_key(&key.to_uppercase()));
        assert!(!looks_like_key("secret-token"));
        assert_eq!(
            key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(format!("{:?}", KeySecret(key)), "KeySecret(..)");
    }
}
