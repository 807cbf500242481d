//! The database: one sqlx `Any` pool over SQLite or PostgreSQL, migrated at start-up.
//!
//! The same portable SQL runs on both (text ids, BIGINT milliseconds, ISO date text), so the
//! rules and queries exist once. SQLite runs in WAL mode with `synchronous=FULL`, so anything
//! acknowledged survives power loss.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

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
    /// SQLite only: every write takes its turn here, in arrival order, before it touches the
    /// database: transactions through [`Store::begin_write`], single statements (idempotency
    /// keys, sign-in attempts, sign-out, for example) through [`Store::execute_write`]. SQLite
    /// lets one connection write at a time and makes the others wait in its busy handler, which
    /// sleeps 1 to 100 ms between tries, holding a pool connection, while the lock may already
    /// be free: ~990 sleeps a second in the load benchmark before fixes 13 and 15, none after
    /// (docs/BENCHMARKS.md). PostgreSQL locks rows, so its writers do not queue.
    write_turns: Option<Arc<Mutex<()>>>,
}

/// A write transaction ([`Store::begin_write`]): derefs to its connection like sqlx's
/// `Transaction`, and holds the writer's turn until it commits, rolls back or is dropped.
pub struct WriteTransaction {
    // Declared first so it drops (rolling back if still open) before the turn is handed on.
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Deref for WriteTransaction {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
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
            write_turns: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Waits for this writer's turn (SQLite; at once on PostgreSQL). Taken before a pool
    /// connection, never while holding one: a writer waiting its turn with a connection in hand
    /// could leave the writer whose turn it is without one.
    async fn write_turn(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.write_turns {
            Some(turns) => Some(turns.clone().lock_owned().await),
            None => None,
        }
    }

    /// Begins a transaction that writes, once it is this writer's turn (SQLite writers queue in
    /// arrival order; see the `write_turns` field).
    pub async fn begin_write(&self) -> Result<WriteTransaction, sqlx::Error> {
        let turn = self.write_turn().await;
        let tx = self.pool.begin().await?;
        Ok(WriteTransaction { tx, _turn: turn })
    }

    /// Runs one writing statement on its own (autocommit), once it is this writer's turn, like
    /// a write transaction: outside the queue it would meet a queued transaction's lock in
    /// SQLite's busy handler, which sleeps 1–100 ms (docs/BENCHMARKS.md, fix 15).
    pub async fn execute_write<'q>(
        &self,
        statement: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
        let _turn = self.write_turn().await;
        statement.execute(&self.pool).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}", dir.path().join("council.db").display());
        Store::connect(&url).await.expect("connect")
    }

    /// Who wrote to the `turns` table, in the order their rows went in.
    async fn writers_in_order(store: &Store) -> Vec<String> {
        sqlx::query_scalar("SELECT writer FROM turns ORDER BY rowid")
            .fetch_all(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn sqlite_writers_take_turns_and_a_turn_passes_on_when_its_transaction_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        let mut first = store.begin_write().await.expect("first writer");
        sqlx::query("CREATE TABLE turns (writer TEXT)")
            .execute(&mut *first)
            .await
            .unwrap();

        // While the first writer's transaction is open, a second waits for its turn (rather
        // than beginning and meeting SQLite's lock); reads go on meanwhile.
        let began = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let waiting = tokio::spawn({
            let (store, began) = (store.clone(), began.clone());
            async move {
                let mut second = store.begin_write().await.expect("second writer");
                began.store(true, std::sync::atomic::Ordering::SeqCst);
                sqlx::query("INSERT INTO turns (writer) VALUES ('second')")
                    .execute(&mut *second)
                    .await
                    .unwrap();
                second.commit().await.unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !began.load(std::sync::atomic::Ordering::SeqCst),
            "a second writer began while the first held the turn"
        );
        let read: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(store.pool())
            .await
            .expect("reads are not queued behind writers");
        assert_eq!(read, 0);

        sqlx::query("INSERT INTO turns (writer) VALUES ('first')")
            .execute(&mut *first)
            .await
            .unwrap();
        first.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the second writer's turn came when the first committed")
            .unwrap();
        let order = writers_in_order(&store).await;
        assert_eq!(order, ["first", "second"]);

        // A transaction dropped on an error path (never committed) hands the turn on too, and
        // what it wrote is rolled back.
        let mut abandoned = store.begin_write().await.unwrap();
        sqlx::query("INSERT INTO turns (writer) VALUES ('abandoned')")
            .execute(&mut *abandoned)
            .await
            .unwrap();
        drop(abandoned);
        let mut next = tokio::time::timeout(Duration::from_secs(5), store.begin_write())
            .await
            .expect("a dropped transaction hands the turn on")
            .unwrap();
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM turns WHERE writer = 'abandoned'")
                .fetch_one(&mut *next)
                .await
                .unwrap();
        assert_eq!(count, 0);
        next.rollback().await.unwrap();
    }

    #[tokio::test]
    async fn a_single_write_statement_waits_for_the_writers_turn_instead_of_meeting_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        sqlx::query("CREATE TABLE turns (writer TEXT)")
            .execute(store.pool())
            .await
            .unwrap();
        let mut transaction = store.begin_write().await.unwrap();
        sqlx::query("INSERT INTO turns (writer) VALUES ('transaction')")
            .execute(&mut *transaction)
            .await
            .unwrap();

        let statement = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .execute_write(sqlx::query(
                        "INSERT INTO turns (writer) VALUES ('statement')",
                    ))
                    .await
            }
        });
        // Outside the queue the statement would take a connection and sit in SQLite's busy
        // handler (sleeping 1–100 ms at a time) until the transaction ends. In the queue it has
        // not taken a connection yet: only the transaction's is in use.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !statement.is_finished(),
            "the statement ran while a transaction held the turn"
        );
        let in_use = store.pool().size() as usize - store.pool().num_idle();
        assert_eq!(in_use, 1, "the waiting statement holds a connection");

        transaction.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), statement)
            .await
            .expect("the statement's turn came when the transaction committed")
            .unwrap()
            .unwrap();
        let order = writers_in_order(&store).await;
        assert_eq!(order, ["transaction", "statement"]);
    }
}
