//! Connecting: the URL decides the backend, everything after that is one code path.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Executor};
use tracing::info;

use crate::error::query;
use crate::StoreError;

/// Migrations embedded at build time; the same DDL serves both backends.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections to a SQLite file: SQLite serialises writers anyway, a few connections let reads
/// go on beside a write (WAL).
const SQLITE_MAX_CONNECTIONS: u32 = 8;
/// Connections to Postgres per node: one server is shared by every node of a deployment.
const POSTGRES_MAX_CONNECTIONS: u32 = 10;
/// Run on every SQLite connection as it opens:
/// - `busy_timeout` 5000 ms: how long a writer waits for the lock before its statement fails;
///   far longer than any of the store's short transactions, short enough that a stuck writer
///   shows up as an error;
/// - `synchronous = NORMAL`: with WAL, durable against a crash of tiderun (not of the
///   machine) at far fewer fsyncs than FULL.
///
/// (The journal mode belongs to the file and is set once in `connect_sqlite`.)
const SQLITE_CONNECTION_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;";
/// How long a statement waits for a free connection (or for Postgres to answer a connect).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// The SQLite file under the data dir.
const SQLITE_FILE_NAME: &str = "tiderun.db";

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The database's clock as BIGINT microseconds since the epoch, in SQL. Leases are set and
    /// compared on this one clock, so the clocks of the nodes sharing a database never decide
    /// whether a lease ran out. (The only SQL that differs between the backends, with
    /// [`Backend::skip_locked`].)
    pub(crate) fn now_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
        }
    }

    /// The clause that makes concurrent claimers on Postgres take different rows instead of
    /// waiting for each other's locks; SQLite has one writer at a time and no row locks.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// Submissions and snippets in SQLite or Postgres. Cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    /// The SQLite file (absolute), for the node lock; `None` for Postgres and in-memory SQLite.
    pub(crate) sqlite_path: Option<PathBuf>,
}

/// The default database of a node: `sqlite://DATA_DIR/tiderun.db`.
pub fn default_sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join(SQLITE_FILE_NAME).display())
}

impl Store {
    /// Connect and bring the schema up to date.
    ///
    /// - `sqlite://PATH` (or `sqlite:PATH`): the file and its directory are created when
    ///   missing; WAL journal, a busy timeout of 5 s. `sqlite::memory:` is a private in-memory
    ///   database on a single connection (for tests).
    /// - `postgres://…` or `postgresql://…`: any URL sqlx accepts.
    ///
    /// Any other scheme is an error that names it.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        // `Any` panics without its drivers; installing them is idempotent (once per process).
        sqlx::any::install_default_drivers();
        let Some((scheme, _)) = url.split_once(':') else {
            return Err(StoreError::NoScheme);
        };
        match scheme {
            "sqlite" => Self::connect_sqlite(url).await,
            "postgres" | "postgresql" => Self::connect_postgres(url).await,
            other => Err(StoreError::UnsupportedScheme {
                scheme: other.to_owned(),
            }),
        }
    }

    async fn connect_sqlite(url: &str) -> Result<Store, StoreError> {
        let backend = Backend::Sqlite;
        let invalid = |source| StoreError::InvalidUrl {
            backend: backend.as_str(),
            source,
        };
        let in_memory = is_sqlite_memory(url);
        let mut sqlite_path = None;
        // `Any` rebuilds the SQLite options from a URL on every connect, so the URL carries what
        // must hold for every connection; the per-connection settings are pragmas run by
        // `after_connect`.
        let any_url = if in_memory {
            url.to_owned()
        } else {
            // sqlx parses and validates (percent-decoding the path); the URL handed on names
            // the file by its absolute path, creates it if missing unless the caller's own
            // parameters say otherwise.
            let options = SqliteConnectOptions::from_str(url).map_err(invalid)?;
            if options.get_filename().as_os_str().is_empty() {
                return Err(StoreError::NoSqlitePath);
            }
            let path = absolute_with_parent(options.get_filename())?;
            let params = url.split_once('?').map_or("mode=rwc", |(_, params)| params);
            let any_url = format!("sqlite://{}?{params}", percent_encode_path(&path));
            sqlite_path = Some(path);
            any_url
        };
        let any_options = AnyConnectOptions::from_str(&any_url).map_err(invalid)?;
        let pool_options = AnyPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(SQLITE_CONNECTION_PRAGMAS).await?;
                    Ok(())
                })
            });
        let pool_options = if in_memory {
            // Each `Any` connection to `:memory:` would be a different database: keep exactly
            // one, forever.
            pool_options
                .min_connections(1)
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool_options.max_connections(SQLITE_MAX_CONNECTIONS)
        };
        let pool = pool_options
            .connect_with(any_options)
            .await
            .map_err(|source| StoreError::Connect {
                backend: backend.as_str(),
                source,
            })?;
        if !in_memory {
            // Persistent in the file: set once here, before the pool is shared, since changing
            // the journal mode needs an exclusive lock that the busy timeout does not wait for.
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_one(&pool)
                .await
                .map_err(query("connect"))?;
        }
        Self::finish_connect(pool, backend, sqlite_path).await
    }

    async fn connect_postgres(url: &str) -> Result<Store, StoreError> {
        let backend = Backend::Postgres;
        let any_options = AnyConnectOptions::from_str(url).map_err(|source| StoreError::InvalidUrl {
            backend: backend.as_str(),
            source,
        })?;
        let pool = AnyPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .max_connections(POSTGRES_MAX_CONNECTIONS)
            .connect_with(any_options)
            .await
            .map_err(|source| StoreError::Connect {
                backend: backend.as_str(),
                source,
            })?;
        Self::finish_connect(pool, backend, None).await
    }

    async fn finish_connect(
        pool: AnyPool,
        backend: Backend,
        sqlite_path: Option<PathBuf>,
    ) -> Result<Store, StoreError> {
        MIGRATOR.run(&pool).await.map_err(|source| StoreError::Migrate {
            backend: backend.as_str(),
            source,
        })?;
        info!(backend = backend.as_str(), "store connected");
        Ok(Store {
            pool,
            backend,
            sqlite_path,
        })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        self.backend.as_str()
    }

    /// A fresh submission token: a random UUID v4, lower-case hyphenated.
    pub fn new_token() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// Whether the database answers (for readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|source| StoreError::Query { op: "ping", source })
    }

    /// Close every connection, waiting for statements in flight. Further calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite::memory:`, `sqlite://:memory:` and `mode=memory` all mean an in-memory database.
fn is_sqlite_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    path == ":memory:" || params.split('&').any(|p| p == "mode=memory")
}

/// Make a relative path absolute (so the URL handed to sqlx cannot read its first component as
/// a host name) and create its directory.
fn absolute_with_parent(path: &Path) -> Result<PathBuf, StoreError> {
    let path = std::path::absolute(path).map_err(|source| StoreError::CreateDir {
        path: path.to_owned(),
        source,
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    Ok(path)
}

/// A path as a URL path: every byte but unreserved characters and `/` percent-encoded (sqlx
/// decodes it back to the same bytes).
fn percent_encode_path(path: &Path) -> String {
    let mut out = String::new();
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Refuse text Postgres cannot store (NUL), so both backends accept exactly the same input.
pub(crate) fn check_text(field: &'static str, text: &str) -> Result<(), StoreError> {
    if text.contains('\0') {
        return Err(StoreError::NulCharacter { field });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls() {
        assert!(is_sqlite_memory("sqlite::memory:"));
        assert!(is_sqlite_memory("sqlite://:memory:"));
        assert!(is_sqlite_memory("sqlite://?mode=memory"));
        assert!(!is_sqlite_memory("sqlite://data/tiderun.db"));
        assert!(!is_sqlite_memory("sqlite:///tmp/memory.db"));
    }

    #[test]
    fn paths_survive_the_url() {
        let path = Path::new("/tmp/a b/c%41?d#e/ü.db");
        let url = format!("sqlite://{}?mode=rwc", percent_encode_path(path));
        let options = SqliteConnectOptions::from_str(&url).unwrap();
        assert_eq!(options.get_filename(), path);
    }

    #[test]
    fn default_url_is_under_the_data_dir() {
        assert_eq!(
            default_sqlite_url(Path::new("./tiderun-data")),
            "sqlite://./tiderun-data/tiderun.db"
        );
    }
}
