//! The database: SQLite (a file) or PostgreSQL, migrated at start-up through an sqlx `Any` pool.
//!
//! The same portable SQL runs on both (text ids, BIGINT milliseconds, ISO date text; see
//! [`crate::sql`]), so the rules and queries exist once. On PostgreSQL statements go through
//! the pool. On SQLite they go through the store's own rusqlite connections, on the asking
//! task's thread: one writing connection shared by the writers in turn ([`Batch`]) and
//! query-only reading connections ([`SqliteReads`], [`Reader`]). SQLite runs in WAL mode with
//! `synchronous=FULL`, so anything acknowledged survives power loss.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;
use std::cell::RefCell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Mutex, OwnedMutexGuard};

use crate::sql::{sqlx_error, Queries, Query, Row};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A pooled connection idle longer than this is pinged before use (see [`Store::connect`]).
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

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
    /// keys, sign-in attempts, sign-out, for example) through [`Store::execute_write`], on the
    /// one writing connection. SQLite lets one connection write at a time and makes the others
    /// wait in its busy handler, which sleeps 1 to 100 ms between tries while the lock may
    /// already be free: ~990 sleeps a second in the load benchmark before fixes 13 and 15, none
    /// after (docs/BENCHMARKS.md). PostgreSQL locks rows, so its writers do not queue.
    ///
    /// The writers in the queue also share commits (group commit, fix 17): see [`Batch`].
    write_turns: Option<Arc<Turns>>,
    /// SQLite (a file) only: query-only connections of its own for reads; see [`SqliteReads`].
    sqlite_reads: Option<Arc<SqliteReads>>,
}

/// Reads on SQLite run on the asking task's own thread, through connections of their own (the
/// hottest since fix 18, every read since fix 19). sqlx runs each SQLite
/// connection on a thread of its own, sends every statement there and every row back, and
/// converts each row for its `Any` driver: in the reads benchmark those threads took ~46 % of
/// the CPU and SQLite itself ~10 % (docs/BENCHMARKS.md, fix 18). A read from SQLite's page
/// cache takes tens of microseconds, so it runs where it is asked for, as a CPU-bound step of
/// the request would. In WAL mode readers never wait for the writer, and each read sees what
/// was committed before it began; nothing is acknowledged before it is committed (see
/// [`Batch`]), so a resident reads back whatever they were told was done. The connections are
/// query-only: nothing can be written through them.
#[derive(Debug)]
pub struct SqliteReads {
    file: PathBuf,
    idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
}

/// Reading connections kept open between reads; more may be open while reads overlap.
const IDLE_READERS: usize = 8;

impl SqliteReads {
    fn new(file: PathBuf) -> SqliteReads {
        SqliteReads {
            file,
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        // A WAL reader waits only while the WAL is being recovered after a crash, or reset.
        open_sqlite(
            &self.file,
            "PRAGMA query_only = ON",
            Duration::from_secs(1),
            32,
        )
    }

    /// Runs `read` inside one read transaction, so all it reads comes from one snapshot.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut conn = self.take()?;
        let result = (|| {
            let tx = conn.transaction()?;
            let out = read(&tx)?;
            tx.commit()?;
            Ok(out)
        })();
        self.give_back(conn);
        result
    }

    fn take(&self) -> rusqlite::Result<rusqlite::Connection> {
        let idle = self.idle().pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    fn give_back(&self, conn: rusqlite::Connection) {
        // A connection left inside a transaction would pin its snapshot: close it instead.
        if conn.is_autocommit() {
            let mut idle = self.idle();
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<rusqlite::Connection>> {
        // The list holds no invariant a panicking reader could break.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A connection for reads ([`Store::reader`]): on a SQLite file one of the reading connections,
/// run on the asking thread; otherwise one of the pool's. Each statement reads what was
/// committed before it began, as on a pool connection: reads that must agree with each other
/// go through [`SqliteReads::read`] instead.
pub struct Reader<'s> {
    inner: ReaderInner<'s>,
}

enum ReaderInner<'s> {
    Sqlite {
        reads: &'s SqliteReads,
        /// Always `Some` until dropped.
        conn: Option<rusqlite::Connection>,
    },
    Pool(sqlx::pool::PoolConnection<sqlx::Any>),
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let ReaderInner::Sqlite { reads, conn } = &mut self.inner {
            if let Some(conn) = conn.take() {
                reads.give_back(conn);
            }
        }
    }
}

impl Reader<'_> {
    fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            ReaderInner::Sqlite { conn, .. } => conn.as_ref(),
            ReaderInner::Pool(_) => None,
        }
    }
}

impl Queries for Reader<'_> {
    async fn execute(&mut self, query: Query<'_>) -> Result<u64, sqlx::Error> {
        match &mut self.inner {
            ReaderInner::Pool(conn) => Queries::execute(conn, query).await,
            // Reading connections are query-only: SQLite refuses the write.
            ReaderInner::Sqlite { .. } => query
                .execute_sqlite(self.sqlite().expect("an open reader"))
                .map_err(sqlx_error),
        }
    }

    async fn fetch_all<T: Row>(&mut self, query: Query<'_>) -> Result<Vec<T>, sqlx::Error> {
        if let ReaderInner::Pool(conn) = &mut self.inner {
            return Queries::fetch_all(conn, query).await;
        }
        query
            .fetch_all_sqlite(self.sqlite().expect("an open reader"))
            .map_err(sqlx_error)
    }

    async fn fetch_optional<T: Row>(&mut self, query: Query<'_>) -> Result<Option<T>, sqlx::Error> {
        if let ReaderInner::Pool(conn) = &mut self.inner {
            return Queries::fetch_optional(conn, query).await;
        }
        query
            .fetch_optional_sqlite(self.sqlite().expect("an open reader"))
            .map_err(sqlx_error)
    }
}

/// One of the store's own connections to its SQLite file, which `Store::connect` has created
/// and migrated: `pragmas` run first; `busy` bounds a wait for another connection's lock.
fn open_sqlite(
    file: &Path,
    pragmas: &str,
    busy: Duration,
    cached_statements: usize,
) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(pragmas)?;
    conn.busy_timeout(busy)?;
    conn.set_prepared_statement_cache_capacity(cached_statements);
    Ok(conn)
}

/// The writers' queue (SQLite) and the batch its writers share.
#[derive(Debug)]
struct Turns {
    batch: Arc<Mutex<Batch>>,
    /// Writers queued for the turn right now (including those back to see their batch
    /// committed): while there are any, a writer that has done its work leaves the commit to
    /// the batch's last writer instead of paying for its own.
    waiting: AtomicUsize,
}

/// SQLite's group commit. The connection that holds the turn keeps one transaction open across
/// writers: each writer works inside a savepoint (rolled back alone if it fails or is dropped),
/// then, when others are queued, hands the turn on and waits for the batch to be committed;
/// the writer that finds no one queued behind it (or a full batch) commits for all, and every
/// writer in the batch hears the outcome of that one `COMMIT` (one fsync) before it answers.
/// Nothing is acknowledged before its commit is durable; a failed commit fails every writer in
/// the batch. Before this, each writer paid its own `COMMIT`, and about half of the turn's
/// time went on fsyncs (docs/BENCHMARKS.md, fix 17).
///
/// The connection is SQLite's one writing connection, a rusqlite one, and the writer whose
/// turn it is runs its statements on its own thread (fix 19): through sqlx, each statement
/// went to the connection's worker thread and back, two thread switches per statement while
/// every other writer waited, and the turn's time went mostly on those switches
/// (docs/BENCHMARKS.md). A statement inside the open transaction only touches SQLite's page
/// cache. The `COMMIT` waits for the disk (one fsync, ~0.3 ms here) on the task's thread too:
/// handing it to a blocking thread (`block_in_place`) measured worse, p99 73 against 59 ms in
/// the load benchmark's mix (docs/BENCHMARKS.md, fix 19).
#[derive(Debug)]
struct Batch {
    file: PathBuf,
    /// The writing connection, opened at the first write and kept open.
    conn: Option<rusqlite::Connection>,
    /// How writers whose work is in the open transaction hear how its commit went.
    members: Vec<oneshot::Sender<Result<(), String>>>,
    /// Whether `conn` is inside the batch's transaction.
    began: bool,
    /// Counts batches ended (committed or failed), so a writer can tell whether its own has.
    generation: u64,
}

/// Writers in one batch at most: bounds the wait of the batch's first writer.
const MAX_BATCH: usize = 128;
const SAVEPOINT: &str = "kerbside_writer";

impl Batch {
    fn new(file: PathBuf) -> Batch {
        Batch {
            file,
            conn: None,
            members: Vec::new(),
            began: false,
            generation: 0,
        }
    }

    fn conn(&self) -> &rusqlite::Connection {
        self.conn.as_ref().expect("a writer's batch is open")
    }

    fn open_connection(&self) -> rusqlite::Result<rusqlite::Connection> {
        // Only writers outside this store (another process, a test's set-up) can hold the lock.
        open_sqlite(
            &self.file,
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
            Duration::from_secs(10),
            128,
        )
    }

    /// Begins a batch if none is open. `IMMEDIATE` takes the write lock at once, so no
    /// statement of the batch can meet another process's lock half way.
    fn open(&mut self) -> rusqlite::Result<()> {
        if self.began {
            return Ok(());
        }
        if self.conn.is_none() {
            self.conn = Some(self.open_connection()?);
        }
        self.conn().execute_batch("BEGIN IMMEDIATE")?;
        self.began = true;
        Ok(())
    }

    fn begin_savepoint(&mut self) -> rusqlite::Result<()> {
        self.open()?;
        self.conn().execute_batch(&format!("SAVEPOINT {SAVEPOINT}"))
    }

    fn release_savepoint(&mut self) -> rusqlite::Result<()> {
        self.conn().execute_batch(&format!("RELEASE {SAVEPOINT}"))
    }

    /// Undoes the savepoint of a writer that rolled back or was dropped; the batch goes on.
    fn undo_savepoint(&mut self) {
        if !self.began {
            return;
        }
        let undone = self
            .conn()
            .execute_batch(&format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}"));
        if let Err(e) = undone {
            self.fail(format!("undoing an abandoned write: {e}"));
        }
    }

    /// Joins the open transaction's batch; the receiver hears how its commit went.
    fn join(&mut self) -> (oneshot::Receiver<Result<(), String>>, u64) {
        let (tx, rx) = oneshot::channel();
        self.members.push(tx);
        (rx, self.generation)
    }

    /// Commits the open transaction for every writer in it (or fails them all).
    fn commit_all(&mut self) {
        if !self.began {
            if !self.members.is_empty() {
                self.fail("the batch's transaction was lost".into());
            }
            return;
        }
        let conn = self.conn();
        match conn.execute_batch("COMMIT") {
            Ok(()) => {
                self.began = false;
                self.generation += 1;
                for member in self.members.drain(..) {
                    let _ = member.send(Ok(()));
                }
            }
            Err(e) => self.fail(format!("committing: {e}")),
        }
    }

    /// Ends the batch without committing: every writer in it gets `why` as its error.
    fn fail(&mut self, why: String) {
        tracing::error!(%why, writers = self.members.len(), "a batch of SQLite writes failed");
        self.generation += 1;
        for member in self.members.drain(..) {
            let _ = member.send(Err(why.clone()));
        }
        self.began = false;
        if let Some(conn) = &self.conn {
            // Never hand a connection in an unknown state to another writer: one that cannot
            // be rolled back is closed, and the next writer opens another.
            if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
                self.conn = None;
            }
        }
    }
}

/// A write transaction ([`Store::begin_write`]): statements run on it through [`Queries`],
/// and it holds the writer's turn until it commits, rolls back or is dropped.
/// On SQLite it is a savepoint in the writers' shared batch ([`Batch`]).
pub struct WriteTransaction {
    inner: Writer,
}

enum Writer {
    Postgres(sqlx::Transaction<'static, sqlx::Any>),
    Done,
    Sqlite {
        /// `None` once committed or rolled back.
        turn: Option<OwnedMutexGuard<Batch>>,
        turns: Arc<Turns>,
    },
}

impl WriteTransaction {
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match &mut self.inner {
            Writer::Postgres(_) => match std::mem::replace(&mut self.inner, Writer::Done) {
                Writer::Postgres(tx) => tx.commit().await,
                _ => unreachable!(),
            },
            Writer::Sqlite { turn, turns } => {
                let mut batch = turn.take().expect("an open writer");
                if let Err(e) = batch.release_savepoint() {
                    batch.fail(format!("ending a writer's savepoint: {e}"));
                    return Err(sqlx_error(e));
                }
                let (outcome, generation) = batch.join();
                settle(turns.clone(), batch, outcome, generation).await
            }
            Writer::Done => unreachable!(),
        }
    }

    /// Commits; or, while a request with an Idempotency-Key is being handled
    /// ([`holding_answers`]), leaves the transaction open so that the request's recorded answer
    /// is written in it and commits with it ([`take_held`]). The action and its answer then
    /// cost one turn and one commit instead of two of each, and neither is ever committed
    /// without the other (docs/BENCHMARKS.md, fix 21). The caller must have read everything it
    /// answers with already, through this transaction: a read through [`Store::reader`] after
    /// this does not see these writes until they are committed.
    pub async fn commit_with_answer(self) -> Result<(), sqlx::Error> {
        let mut unheld = Some(self);
        let _outside_a_keyed_request = HELD.try_with(|held| {
            let mut held = held.borrow_mut();
            if held.is_none() {
                *held = unheld.take();
            }
        });
        match unheld {
            Some(transaction) => transaction.commit().await,
            None => Ok(()),
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        // Undone when dropped, at once and whole: no cancellation can stop it half way.
        drop(self);
        Ok(())
    }

    /// Whether no other writer can change anything until this transaction ends: true on
    /// SQLite, where writers take turns and the batch holds the database's write lock; false on
    /// PostgreSQL, where transactions run side by side and take row locks.
    pub fn excludes_every_other_writer(&self) -> bool {
        matches!(self.inner, Writer::Sqlite { .. })
    }

    /// The open batch's connection (SQLite).
    fn sqlite(&self) -> &rusqlite::Connection {
        match &self.inner {
            Writer::Sqlite { turn, .. } => turn.as_ref().expect("an open writer").conn(),
            _ => unreachable!("a SQLite writer"),
        }
    }
}

impl Drop for WriteTransaction {
    fn drop(&mut self) {
        // sqlx's own transaction rolls itself back when dropped; a savepoint is undone here,
        // before anyone else takes the turn. With no one queued, the batch is committed for
        // the writers already in it.
        if let Writer::Sqlite { turn, turns } = &mut self.inner {
            if let Some(mut batch) = turn.take() {
                batch.undo_savepoint();
                if turns.waiting.load(Ordering::SeqCst) == 0 {
                    batch.commit_all();
                }
            }
        }
    }
}

impl Queries for WriteTransaction {
    async fn execute(&mut self, query: Query<'_>) -> Result<u64, sqlx::Error> {
        if let Writer::Postgres(tx) = &mut self.inner {
            return Ok(query.into_sqlx().execute(&mut **tx).await?.rows_affected());
        }
        query.execute_sqlite(self.sqlite()).map_err(sqlx_error)
    }

    async fn fetch_all<T: Row>(&mut self, query: Query<'_>) -> Result<Vec<T>, sqlx::Error> {
        if let Writer::Postgres(tx) = &mut self.inner {
            return Queries::fetch_all(&mut **tx, query).await;
        }
        query.fetch_all_sqlite(self.sqlite()).map_err(sqlx_error)
    }

    async fn fetch_optional<T: Row>(&mut self, query: Query<'_>) -> Result<Option<T>, sqlx::Error> {
        if let Writer::Postgres(tx) = &mut self.inner {
            return Queries::fetch_optional(&mut **tx, query).await;
        }
        query
            .fetch_optional_sqlite(self.sqlite())
            .map_err(sqlx_error)
    }
}

/// A writer that has joined the batch waits here for its outcome (see [`commit_in_turn`]).
async fn settle(
    turns: Arc<Turns>,
    batch: OwnedMutexGuard<Batch>,
    outcome: oneshot::Receiver<Result<(), String>>,
    generation: u64,
) -> Result<(), sqlx::Error> {
    let committer = commit_in_turn(turns, batch, generation);
    match outcome.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(sqlx::Error::Protocol(why)),
        Err(_) => {
            let _ = committer.await;
            Err(sqlx::Error::Protocol(
                "the batch ended without an outcome".into(),
            ))
        }
    }
}

tokio::task_local! {
    /// The transaction a keyed request's handler ended with
    /// [`WriteTransaction::commit_with_answer`], open until its answer is written in it.
    static HELD: RefCell<Option<WriteTransaction>>;
}

/// Runs a keyed request's handler so that a transaction it ends with
/// [`WriteTransaction::commit_with_answer`] is held open for its answer; the same task takes
/// it back with [`take_held`] (dropped unclaimed, it rolls back).
pub async fn holding_answers<F: Future>(handler: F) -> F::Output {
    HELD.scope(RefCell::new(None), handler).await
}

/// The transaction held for this task's answer, if its handler left one.
pub fn take_held() -> Option<WriteTransaction> {
    HELD.try_with(|held| held.borrow_mut().take())
        .ok()
        .flatten()
}

/// A held transaction commits before its task writes anything else: on SQLite it holds the
/// writers' turn, which the next write would otherwise wait for forever.
async fn commit_held() -> Result<(), sqlx::Error> {
    match take_held() {
        Some(held) => held.commit().await,
        None => Ok(()),
    }
}

/// Sees the batch a writer has done its work in committed: hands the turn on when others are
/// queued and comes back to commit if the batch is still open then; commits at once otherwise.
/// On a task of its own, so a request cancelled while waiting cannot leave its batch open.
fn commit_in_turn(
    turns: Arc<Turns>,
    batch: OwnedMutexGuard<Batch>,
    generation: u64,
) -> tokio::task::JoinHandle<()> {
    let hand_on = turns.waiting.load(Ordering::SeqCst) > 0 && batch.members.len() < MAX_BATCH;
    tokio::spawn(async move {
        let mut batch = batch;
        if hand_on {
            drop(batch);
            batch = take_turn(&turns).await;
            if batch.generation != generation {
                return; // a later writer committed it
            }
        }
        batch.commit_all();
    })
}

/// Queues for the writers' turn.
async fn take_turn(turns: &Arc<Turns>) -> OwnedMutexGuard<Batch> {
    struct Queued<'a>(&'a AtomicUsize);
    impl Drop for Queued<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    turns.waiting.fetch_add(1, Ordering::SeqCst);
    let queued = Queued(&turns.waiting);
    let batch = turns.batch.clone().lock_owned().await;
    drop(queued);
    batch
}

/// Connections to PostgreSQL by default: four per core of this machine, from 4 to 16. More
/// connections than the cores can serve only queue their backends for the same cores: on two
/// cores shared with PostgreSQL, 8 connections served the benchmark's mix 11–24 % faster than
/// 16 or 4 (docs/BENCHMARKS.md, fix 33). At most 16, so several instances of the council stay
/// within PostgreSQL's default limit of 100 connections.
pub fn default_postgres_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    u32::try_from(cores * 4).unwrap_or(u32::MAX).clamp(4, 16)
}

impl Store {
    /// Connects to `sqlite://path` (created if missing) or `postgres://…`, then applies any
    /// migrations not yet applied. Several instances may start at once against PostgreSQL:
    /// sqlx takes an advisory lock while migrating.
    pub async fn connect(url: &str) -> Result<Store, sqlx::Error> {
        Store::connect_with_connections(url, None).await
    }

    /// [`Store::connect`] with at most `connections` connections to PostgreSQL (the council's
    /// `--database-connections`); `None` takes [`default_postgres_connections`]. SQLite's
    /// pool is not sized by it: its reads and writes have connections of their own.
    pub async fn connect_with_connections(
        url: &str,
        connections: Option<u32>,
    ) -> Result<Store, sqlx::Error> {
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
            // The writers' and readers' own connections open the file by its path.
            Backend::Sqlite => Some(sqlite_file_of(url).ok_or_else(|| {
                sqlx::Error::Configuration(
                    "the council keeps its data in a file: use sqlite://FILE, not an in-memory database"
                        .into(),
                )
            })?),
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
                Backend::Postgres => connections.unwrap_or_else(default_postgres_connections),
            })
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection it hands out by default: on PostgreSQL one more
            // round trip per statement group, for a connection used a moment ago (~10 % of a
            // read; docs/BENCHMARKS.md, fix 23). Only one idle for over a second is pinged
            // (sqlx's own recipe; HikariCP skips its check within 500 ms the same way), so
            // connections PostgreSQL dropped while the council was quiet are replaced unseen.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::Executor::execute(
                            &mut *conn,
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
            sqlite_reads: sqlite_file
                .clone()
                .map(|file| Arc::new(SqliteReads::new(file))),
            write_turns: sqlite_file.clone().map(|file| {
                Arc::new(Turns {
                    batch: Arc::new(Mutex::new(Batch::new(file))),
                    waiting: AtomicUsize::new(0),
                })
            }),
            sqlite_file,
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that writes, once it is this writer's turn (SQLite writers queue in
    /// arrival order and share the one writing connection and its commits; see the
    /// `write_turns` field). A writer waiting for its turn holds no connection.
    pub async fn begin_write(&self) -> Result<WriteTransaction, sqlx::Error> {
        commit_held().await?;
        let Some(turns) = &self.write_turns else {
            return Ok(WriteTransaction {
                inner: Writer::Postgres(self.pool.begin().await?),
            });
        };
        let mut batch = take_turn(turns).await;
        if let Err(e) = batch.begin_savepoint() {
            batch.fail(format!("beginning a write: {e}"));
            return Err(sqlx_error(e));
        }
        Ok(WriteTransaction {
            inner: Writer::Sqlite {
                turn: Some(batch),
                turns: turns.clone(),
            },
        })
    }

    /// Runs one writing statement on its own, once it is this writer's turn, like a write
    /// transaction: outside the queue it would meet a queued transaction's lock in SQLite's
    /// busy handler, which sleeps 1–100 ms (docs/BENCHMARKS.md, fix 15). On SQLite it joins
    /// the writers' batch without a savepoint (one statement, not three): a constraint
    /// violation undoes only the statement; any other failure fails the whole batch.
    /// Returns the rows the statement changed, once they are committed.
    pub async fn execute_write(&self, statement: Query<'_>) -> Result<u64, sqlx::Error> {
        self.execute_write_then(statement, |_| true).await
    }

    /// [`Store::execute_write`] for a statement that need not be durable before the writes
    /// that follow it: on SQLite, unless `wait(rows changed)` asks for the commit, it returns
    /// once the statement has run, and its batch commits as usual without this caller
    /// waiting. SQLite commits batches in order, so whatever a later write of the caller's is
    /// told was committed includes this statement. Before any answer depends on it alone, the
    /// caller must write again (and wait), or ask `wait` for the commit.
    pub async fn execute_write_then(
        &self,
        statement: Query<'_>,
        wait: impl FnOnce(u64) -> bool,
    ) -> Result<u64, sqlx::Error> {
        commit_held().await?;
        let Some(turns) = &self.write_turns else {
            let mut conn = self.pool.acquire().await?;
            return conn.execute(statement).await;
        };
        let mut batch = take_turn(turns).await;
        if let Err(e) = batch.open() {
            batch.fail(format!("beginning a write: {e}"));
            return Err(sqlx_error(e));
        }
        match statement.execute_sqlite(batch.conn()).map_err(sqlx_error) {
            Ok(changed) if wait(changed) => {
                let (outcome, generation) = batch.join();
                settle(turns.clone(), batch, outcome, generation).await?;
                Ok(changed)
            }
            Ok(changed) => {
                let generation = batch.generation;
                commit_in_turn(turns.clone(), batch, generation);
                Ok(changed)
            }
            // A constraint (an email already registered, say) undoes just the statement in
            // SQLite, so the batch goes on; any other error may have ended the transaction.
            Err(e) if is_constraint_violation(&e) => Err(e),
            Err(e) => {
                batch.fail(format!("a single write failed: {e}"));
                Err(e)
            }
        }
    }

    /// A connection for reads (see [`Reader`]).
    pub async fn reader(&self) -> Result<Reader<'_>, sqlx::Error> {
        let inner = match self.sqlite_reads() {
            Some(reads) => ReaderInner::Sqlite {
                reads,
                conn: Some(reads.take().map_err(sqlx_error)?),
            },
            None => ReaderInner::Pool(self.pool.acquire().await?),
        };
        Ok(Reader { inner })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The same store with every read through the pool, as on PostgreSQL.
    #[cfg(test)]
    pub fn without_sqlite_reads(&self) -> Store {
        Store {
            sqlite_reads: None,
            ..self.clone()
        }
    }

    /// The reading connections, on a SQLite file (see [`SqliteReads`]).
    pub fn sqlite_reads(&self) -> Option<&SqliteReads> {
        self.sqlite_reads.as_deref()
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
        if let Some(reads) = &self.sqlite_reads {
            reads.idle().clear();
        }
        if let Some(turns) = &self.write_turns {
            let mut batch = turns.batch.clone().lock_owned().await;
            batch.commit_all();
            batch.conn = None;
        }
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

/// A new row id: a UUIDv7 (the time in milliseconds, then a counter and random bits), so ids
/// made later sort after earlier ones. A new row's id then lands on the last page of each
/// index keyed by it (the primary key, and `payments_by_permit_status` or `permit_events_by_permit`
/// for a new permit's payment and history), which a batch's writers share, instead of on a
/// random page each: a batch's commit took half as long, and purchases went up ~30 %
/// (docs/BENCHMARKS.md, fix 24). The time in it is the machine's, used for ordering
/// only; no rule reads it. Ids are never what protects anything: every lookup is scoped to its
/// account, and the payment page takes a random token of its own.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// True when a write failed on a UNIQUE constraint (on either backend).
/// A unique, foreign key, not-null or check constraint refused the statement (SQLite then
/// undoes the statement alone; the transaction goes on).
fn is_constraint_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            !matches!(db.kind(), sqlx::error::ErrorKind::Other)
                || db.message().contains("constraint failed")
        }
        _ => false,
    }
}

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
    use crate::sql::{query, query_scalar};
    use std::time::Duration;

    #[test]
    fn ids_made_later_sort_after_earlier_ones_and_never_repeat() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{id}"
            );
        }
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
        }
    }

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
        query("CREATE TABLE turns (writer TEXT)")
            .execute(&mut first)
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
                query("INSERT INTO turns (writer) VALUES ('second')")
                    .execute(&mut second)
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

        query("INSERT INTO turns (writer) VALUES ('first')")
            .execute(&mut first)
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
        query("INSERT INTO turns (writer) VALUES ('abandoned')")
            .execute(&mut abandoned)
            .await
            .unwrap();
        drop(abandoned);
        let mut next = tokio::time::timeout(Duration::from_secs(5), store.begin_write())
            .await
            .expect("a dropped transaction hands the turn on")
            .unwrap();
        let count: i64 = query_scalar("SELECT COUNT(*) FROM turns WHERE writer = 'abandoned'")
            .fetch_one(&mut next)
            .await
            .unwrap();
        assert_eq!(count, 0);
        next.rollback().await.unwrap();
    }

    /// One writing statement through `execute_write`, on a task of its own.
    fn spawn_statement(
        store: &Store,
        sql: &'static str,
    ) -> tokio::task::JoinHandle<Result<u64, sqlx::Error>> {
        let store = store.clone();
        tokio::spawn(async move { store.execute_write(query(sql)).await })
    }

    /// Batches ended so far (SQLite): commits, plus failures.
    async fn batches_ended(store: &Store) -> u64 {
        let turns = store.write_turns.as_ref().unwrap();
        turns.batch.lock().await.generation
    }

    async fn turns_table(store: &Store) {
        let mut create = store.begin_write().await.unwrap();
        query("CREATE TABLE turns (writer TEXT)")
            .execute(&mut create)
            .await
            .unwrap();
        create.commit().await.unwrap();
    }

    /// A store with an empty `turns` table, and the folder it lives in.
    async fn store_with_turns() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        turns_table(&store).await;
        (dir, store)
    }

    /// A writer holding the turn, having written `name`.
    async fn writer_that_wrote(store: &Store, name: &str) -> WriteTransaction {
        let mut tx = store.begin_write().await.unwrap();
        query("INSERT INTO turns (writer) VALUES ($1)")
            .bind(name)
            .execute(&mut tx)
            .await
            .unwrap();
        tx
    }

    /// Writers queued for the turn now.
    fn queued(store: &Store) -> usize {
        store
            .write_turns
            .as_ref()
            .unwrap()
            .waiting
            .load(Ordering::SeqCst)
    }

    /// Returns once more than `before` writers are queued.
    async fn until_queued(store: &Store, before: usize) {
        while queued(store) == before {
            tokio::task::yield_now().await;
        }
    }

    /// Starts a writer that waits for its turn, writes `name`, then commits (or, when `keep`
    /// is false, drops its transaction); returns once it is queued.
    async fn queued_writer(
        store: &Store,
        name: &'static str,
        keep: bool,
    ) -> tokio::task::JoinHandle<Result<(), sqlx::Error>> {
        let before = queued(store);
        let writer = tokio::spawn({
            let store = store.clone();
            async move {
                let mut tx = store.begin_write().await?;
                query("INSERT INTO turns (writer) VALUES ($1)")
                    .bind(name)
                    .execute(&mut tx)
                    .await?;
                if keep {
                    tx.commit().await
                } else {
                    drop(tx);
                    Ok(())
                }
            }
        });
        until_queued(store, before).await;
        writer
    }

    #[tokio::test]
    async fn writers_queued_together_share_one_commit_and_a_dropped_one_is_undone_alone() {
        let (_dir, store) = store_with_turns().await;
        let before = batches_ended(&store).await;

        let first = writer_that_wrote(&store, "first").await;
        let dropped = queued_writer(&store, "dropped", false).await;
        let second = queued_writer(&store, "second", true).await;
        let statement = spawn_statement(&store, "INSERT INTO turns (writer) VALUES ('statement')");
        tokio::time::sleep(Duration::from_millis(100)).await;

        // The first writer's commit is heard only once the batch is committed; no one sees
        // its row before then.
        let committing = tokio::spawn(first.commit());
        let done = tokio::time::timeout(Duration::from_secs(5), async {
            for writer in [dropped, second, committing] {
                writer.await.unwrap().unwrap();
            }
            statement.await.unwrap().unwrap();
        });
        done.await.expect("every writer hears its outcome");
        assert_eq!(
            writers_in_order(&store).await,
            ["first", "second", "statement"]
        );
        assert_eq!(
            batches_ended(&store).await - before,
            1,
            "four writers, one commit"
        );
    }

    #[tokio::test]
    async fn a_statement_refused_by_a_constraint_leaves_the_rest_of_its_batch_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        let mut create = store.begin_write().await.unwrap();
        query("CREATE TABLE turns (writer TEXT UNIQUE)")
            .execute(&mut create)
            .await
            .unwrap();
        query("INSERT INTO turns (writer) VALUES ('taken')")
            .execute(&mut create)
            .await
            .unwrap();
        // The refused statement and the next writer queue behind this one: one batch.
        let refused = spawn_statement(&store, "INSERT INTO turns (writer) VALUES ('taken')");
        until_queued(&store, 0).await;
        let next = queued_writer(&store, "next", true).await;
        create.commit().await.unwrap();
        let refused = refused.await.unwrap().unwrap_err();
        assert!(is_unique_violation(&refused), "{refused}");
        next.await.unwrap().expect("the batch went on");
        assert_eq!(writers_in_order(&store).await, ["taken", "next"]);
    }

    #[tokio::test]
    async fn a_writer_whose_request_is_cancelled_after_it_commits_is_still_committed() {
        let (_dir, store) = store_with_turns().await;
        let first = writer_that_wrote(&store, "cancelled").await;
        let next = queued_writer(&store, "next", true).await;
        // Cancelled while it waits for the batch: the batch is committed all the same.
        let commit = first.commit();
        let _ = tokio::time::timeout(Duration::from_millis(50), commit).await;
        tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(writers_in_order(&store).await, ["cancelled", "next"]);
    }

    #[tokio::test]
    async fn what_a_writer_acknowledged_is_on_disk_for_a_new_connection() {
        let (dir, store) = store_with_turns().await;
        let before = batches_ended(&store).await;
        let writers: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut tx = store.begin_write().await?;
                    query("INSERT INTO turns (writer) VALUES ($1)")
                        .bind(format!("w{n}"))
                        .execute(&mut tx)
                        .await?;
                    tx.commit().await
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        // Another connection (another process would do the same) sees every acknowledged row:
        // nothing acknowledged was left in an open batch.
        let other = sqlite_store(&dir).await;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM turns")
            .fetch_one(other.pool())
            .await
            .unwrap();
        assert_eq!(count, 32);
        assert!(
            batches_ended(&store).await - before < 32,
            "some writers shared a commit"
        );
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
        query("INSERT INTO turns (writer) VALUES ('transaction')")
            .execute(&mut transaction)
            .await
            .unwrap();

        let statement = spawn_statement(&store, "INSERT INTO turns (writer) VALUES ('statement')");
        // Outside the queue the statement would take a connection and sit in SQLite's busy
        // handler (sleeping 1–100 ms at a time) until the transaction ends. In the queue it
        // waits for the writers' connection, and holds none of the pool's meanwhile.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !statement.is_finished(),
            "the statement ran while a transaction held the turn"
        );
        let in_use = store.pool().size() as usize - store.pool().num_idle();
        assert_eq!(in_use, 0, "the waiting statement holds a pool connection");

        transaction.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), statement)
            .await
            .expect("the statement's turn came when the transaction committed")
            .unwrap()
            .unwrap();
        let order = writers_in_order(&store).await;
        assert_eq!(order, ["transaction", "statement"]);
    }

    /// Rows of the `turns` table named `writer`, read through the store's reading connections.
    fn read_back(store: &Store, writer: &str) -> i64 {
        store
            .sqlite_reads()
            .expect("a SQLite file has its readers")
            .read(|conn| {
                conn.query_row(
                    "SELECT COUNT(*) FROM turns WHERE writer = $1",
                    [writer],
                    |row| row.get(0),
                )
            })
            .unwrap()
    }

    #[tokio::test]
    async fn a_reading_connection_sees_each_write_once_it_is_acknowledged() {
        let (_dir, store) = store_with_turns().await;
        assert_eq!(read_back(&store, "w0"), 0);
        let writers: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let name = format!("w{n}");
                    let mut tx = store.begin_write().await.unwrap();
                    query("INSERT INTO turns (writer) VALUES ($1)")
                        .bind(&name)
                        .execute(&mut tx)
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                    read_back(&store, &name)
                })
            })
            .collect();
        for writer in writers {
            assert_eq!(writer.await.unwrap(), 1, "read back after its commit");
        }
    }

    #[tokio::test]
    async fn a_write_not_waited_for_is_committed_all_the_same() {
        let (_dir, store) = store_with_turns().await;
        let changed = store
            .execute_write_then(query("INSERT INTO turns (writer) VALUES ('early')"), |_| {
                false
            })
            .await
            .unwrap();
        assert_eq!(changed, 1);
        // No other write follows: the batch must not be left open.
        tokio::time::timeout(Duration::from_secs(5), async {
            while read_back(&store, "early") == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the write was committed without anyone waiting for it");
    }

    #[tokio::test]
    async fn a_write_waits_for_its_commit_when_its_outcome_asks_for_it() {
        let (_dir, store) = store_with_turns().await;
        let insert = "INSERT INTO turns (writer) SELECT 'key' \
                      WHERE NOT EXISTS (SELECT 1 FROM turns WHERE writer = 'key')";
        // Both queue behind an open writer, so they share its batch.
        let first_writer = writer_that_wrote(&store, "first").await;
        let spawn_insert = |store: &Store| {
            let store = store.clone();
            tokio::spawn(async move {
                let inserted = store
                    .execute_write_then(query(insert), |inserted| inserted != 1)
                    .await
                    .unwrap();
                // Read through another connection at once, with no await in between.
                (inserted, read_back(&store, "key"))
            })
        };
        let first = spawn_insert(&store);
        until_queued(&store, 0).await;
        let repeat = spawn_insert(&store);
        until_queued(&store, 1).await;
        first_writer.commit().await.unwrap();
        // The first insert is not waited for: its row may not be committed when it returns.
        assert_eq!(first.await.unwrap().0, 1);
        // The repeat finds that row in the open batch, so it waits for the batch's commit.
        let (repeated, seen) = repeat.await.unwrap();
        assert_eq!(repeated, 0);
        assert_eq!(
            seen, 1,
            "the repeat returned before the row it found was committed"
        );
    }

    #[tokio::test]
    async fn nothing_can_be_written_through_a_reading_connection() {
        let (_dir, store) = store_with_turns().await;
        let reads = store.sqlite_reads().unwrap();
        let refused =
            reads.read(|conn| conn.execute("INSERT INTO turns (writer) VALUES ('r')", []));
        assert!(refused.is_err(), "a write through a reader: {refused:?}");
        // The refused read gave its connection back, ready for the next read.
        assert_eq!(read_back(&store, "r"), 0);
        assert_eq!(reads.idle().len(), 1);
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM turns")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(count, 0);
    }

    #[tokio::test]
    async fn a_transaction_held_for_its_answer_commits_with_the_answer_and_not_before() {
        let (_dir, store) = store_with_turns().await;
        let s = store.clone();
        holding_answers(async move {
            let action = writer_that_wrote(&s, "action").await;
            action.commit_with_answer().await.unwrap();
            assert_eq!(read_back(&s, "action"), 0, "committed before its answer");
            let mut held = take_held().expect("the action's transaction is held");
            query("INSERT INTO turns (writer) VALUES ('answer')")
                .execute(&mut held)
                .await
                .unwrap();
            held.commit().await.unwrap();
        })
        .await;
        assert_eq!(read_back(&store, "action"), 1);
        assert_eq!(read_back(&store, "answer"), 1);
    }

    #[tokio::test]
    async fn a_held_transaction_whose_answer_is_never_written_is_rolled_back() {
        let (_dir, store) = store_with_turns().await;
        let s = store.clone();
        holding_answers(async move {
            let action = writer_that_wrote(&s, "action").await;
            action.commit_with_answer().await.unwrap();
            drop(take_held());
        })
        .await;
        // The turn was given back: another writer gets it.
        writer_that_wrote(&store, "next")
            .await
            .commit()
            .await
            .unwrap();
        assert_eq!(read_back(&store, "action"), 0);
        assert_eq!(read_back(&store, "next"), 1);
    }

    #[tokio::test]
    async fn outside_a_keyed_request_a_commit_with_answer_commits_at_once() {
        let (_dir, store) = store_with_turns().await;
        let action = writer_that_wrote(&store, "action").await;
        action.commit_with_answer().await.unwrap();
        assert_eq!(read_back(&store, "action"), 1);
        assert!(take_held().is_none());
    }

    #[tokio::test]
    async fn a_write_after_a_held_transaction_commits_it_first_instead_of_waiting_forever() {
        let (_dir, store) = store_with_turns().await;
        let s = store.clone();
        holding_answers(async move {
            writer_that_wrote(&s, "first")
                .await
                .commit_with_answer()
                .await
                .unwrap();
            let second = tokio::time::timeout(Duration::from_secs(5), s.begin_write())
                .await
                .expect("the second write waited for the turn its own task held")
                .unwrap();
            assert_eq!(read_back(&s, "first"), 1);
            assert!(take_held().is_none());
            drop(second);
            tokio::time::timeout(
                Duration::from_secs(5),
                s.execute_write(query("INSERT INTO turns (writer) VALUES ('third')")),
            )
            .await
            .expect("a single statement after a commit waits for no held turn")
            .unwrap();
        })
        .await;
        assert_eq!(read_back(&store, "third"), 1);
    }
}
