//! The database: one sqlx `Any` pool over SQLite or PostgreSQL, migrated at start-up.
//!
//! The same portable SQL runs on both (text ids, BIGINT milliseconds, ISO date text), so the
//! rules and queries exist once. SQLite runs in WAL mode with `synchronous=FULL`, so anything
//! acknowledged survives power loss.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    sqlite_file: Option<PathBuf>,
}

impl Store {
    /// Connects to `sqlite://path` (created if missing) or `postgres://…`, then applies any
    /// migrations not yet applied. Several instances may start at once against PostgreSQL:
    /// sqlx takes an advisory lock while migrating.
    pub async fn connect(url: &str) -> Result<Store, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(sqlx::Error::Configuration(
                format!("unsupported database URL '{url}': use sqlite://FILE or postgres://…")
                    .into(),
            ));
        };
        if backend == Backend::Postgres && !cfg!(feature = "postgres") {
            return Err(sqlx::Error::Configuration(
                "this build of the council has no PostgreSQL driver (cargo feature `postgres`)"
                    .into(),
            ));
        }
        let sqlite_file = match backend {
            Backend::Sqlite => sqlite_file_of(url),
            Backend::Postgres => None,
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store {
            pool,
            backend,
            sqlite_file,
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite database file, if this store is one (not in memory).
    pub fn sqlite_file(&self) -> Option<&Path> {
        self.sqlite_file.as_deref()
    }

    /// Where files that belong with the database go by default (`<db>-evidence`, `<db>-outbox`):
    /// beside the SQLite file, or under the system's temporary folder for PostgreSQL (where a
    /// real council sets `--evidence-dir` and `--outbox`).
    pub fn default_folder(&self, what: &str) -> PathBuf {
        match &self.sqlite_file {
            Some(file) => {
                let stem = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "kerbside-council".into());
                let parent = file
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                parent.join(format!("{stem}-{what}"))
            }
            None => std::env::temp_dir().join("kerbside-council").join(what),
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://path?options` → `path` (None for an in-memory database).
fn sqlite_file_of(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(PathBuf::from(path))
    }
}

/// Milliseconds since the Unix epoch, as stored.
pub fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub fn parse_date(text: &str) -> Result<NaiveDate, crate::Error> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| crate::Error::Internal(format!("stored date '{text}' unreadable: {e}")))
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// True when a write failed on a UNIQUE constraint (on either backend).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}
