//! The database: one connection type over PostgreSQL and SQLite, chosen at
//! run time from `DATABASE_URL`; the pool; embedded migrations; and
//! [`Db::read`] and [`Db::write`], the only ways request code reaches a
//! connection, which keep diesel's blocking calls off the async workers.
//!
//! Backend differences live here and in the few query functions that match
//! on [`DbConnection`]; everything else is written once against diesel's DSL.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{ResponseError, web};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::sync::OwnedSemaphorePermit;

use crate::config::DatabaseUrl;
use crate::error::ApiError;

/// A connection to whichever backend `DATABASE_URL` names.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Arbitrary but fixed: serialises migrations of several processes starting
/// at once against one PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x616e_7468_6f6c;

/// Why the database could not be set up at start-up.
#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("cannot run migrations: {0}")]
    Migrate(String),
}

/// Opens connections of exactly the configured kind. diesel's generic manager
/// would try each backend in turn and, with PostgreSQL down, quietly open a
/// SQLite file named after the URL.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    /// PostgreSQL's `statement_timeout` for every connection, so that no
    /// statement holds one for long; `None` for migrations, which may take
    /// as long as they take. (SQLite's equivalent is [`sqlite_deadline`].)
    statement_timeout: Option<Duration>,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = DbSetupError;

    fn connect(&self) -> Result<DbConnection, DbSetupError> {
        let connect_err = |e: ConnectionError| DbSetupError::Connect(e.to_string());
        let setup_err = |e: diesel::result::Error| DbSetupError::Connect(e.to_string());
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url).map_err(connect_err)?;
                if let Some(timeout) = self.statement_timeout {
                    conn.batch_execute(&format!("SET statement_timeout = {}", timeout.as_millis()))
                        .map_err(setup_err)?;
                }
                Ok(DbConnection::Pg(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                create_private(path)?;
                let path = path.to_str().ok_or_else(|| DbSetupError::Connect("the SQLite path is not UTF-8".into()))?;
                sqlite_deadline::install()?;
                let mut conn = SqliteConnection::establish(path).map_err(connect_err)?;
                // busy_timeout must come before journal_mode: switching to WAL
                // itself needs the lock that other connections may hold.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000;
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(setup_err)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbSetupError> {
        conn.ping().map_err(|e| DbSetupError::Connect(e.to_string()))
    }

    /// Checked as a connection goes back to the pool, which then drops it:
    /// a panic mid-query, a transaction left open, or one that
    /// [`forget_if_dead`] marked.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// After a failed request: if its connection no longer answers (PostgreSQL
/// restarted, the network dropped it), marks it broken so the pool drops it
/// and opens a fresh one, instead of handing it to the next request. Checking
/// here, and not at every checkout, spares each request a round trip.
fn forget_if_dead(conn: &mut DbConnection) {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    if conn.ping().is_ok() {
        return;
    }
    tracing::warn!("a database connection stopped answering; replacing it");
    let status = match conn {
        DbConnection::Pg(pg) => AnsiTransactionManager::transaction_manager_status_mut(pg),
        DbConnection::Sqlite(sqlite) => AnsiTransactionManager::transaction_manager_status_mut(sqlite),
    };
    status.set_in_error();
}

/// Runs `f` on `conn`, holding the connection's `turn` until the work is
/// done (even if the client has gone meanwhile).
fn with_connection<T>(
    pool: &DbPool,
    _turn: OwnedSemaphorePermit,
    mut conn: PooledDbConnection,
    asked: Instant,
    sqlite_budget: Option<Duration>,
    f: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let state = pool.state();
    crate::metrics::pool_checkout(asked.elapsed(), state.connections, state.idle_connections);
    let _deadline = sqlite_budget.map(sqlite_deadline::start);
    let outcome = f(&mut conn);
    if outcome.as_ref().is_err_and(|err| err.status_code().is_server_error()) {
        forget_if_dead(&mut conn);
    }
    outcome
}

/// Creates a new SQLite file readable by its owner only: it holds the token
/// signing and voter-hash keys. SQLite gives the WAL and shared-memory files
/// the database file's permissions.
fn create_private(path: &std::path::Path) -> Result<(), DbSetupError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(DbSetupError::Connect(format!("cannot create {}: {err}", path.display()))),
    }
}

pub type DbPool = Pool<ConnectionManager>;
pub type PooledDbConnection = PooledConnection<ConnectionManager>;

/// What a committed write changed of what readers see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicChange {
    /// Anything: stories, tags, related links, moderators' deletions of votes.
    Everything,
    /// One story's rating figures, and nothing else: a reader's vote
    /// ([`Db::vote`]).
    RatingOf(i64),
}

/// Called after a write that changes what readers see has committed.
pub type PublicWriteHook = Arc<dyn Fn(PublicChange) + Send + Sync>;

/// What readers' votes return: they name the stories whose rating figures
/// they changed, which is all [`Db::vote`] reports when they commit.
pub trait RatedStories {
    fn rated_stories(&self) -> Vec<i64>;
}

/// SQLite has no statement timeout. It has a progress handler, which it calls
/// every few thousand steps of a running statement and which may interrupt
/// it. diesel 2.3 does not hand out a connection's raw handle, so an
/// auto-extension — which SQLite runs on every connection the process opens —
/// installs the handler; the handler reads the deadline of the thread running
/// the statement, which [`Db::read`] sets around a request's reads. Without
/// one (writes, the CLI, start-up, migrations) it never interrupts.
mod sqlite_deadline {
    use std::cell::Cell;
    use std::ffi::{c_char, c_int, c_void};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use libsqlite3_sys as ffi;

    use super::DbSetupError;

    /// Steps of SQLite's virtual machine between two looks at the clock: a
    /// few microseconds of work.
    const STEPS: c_int = 1000;

    thread_local! {
        static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    }

    /// Registers the auto-extension, once per process.
    pub fn install() -> Result<(), DbSetupError> {
        static REGISTERED: OnceLock<c_int> = OnceLock::new();
        let code = *REGISTERED.get_or_init(|| {
            // A connection is only ever used by one thread at a time (diesel's
            // connections are `!Sync`; the pool lends each to one request), so
            // SQLite need not lock each connection around every call: those
            // locks were 7 % of an uncached list's CPU. It must precede
            // SQLite's initialization (which registering below performs);
            // called later it fails harmlessly and SQLite stays serialized.
            // SAFETY: a plain integer option, before any connection exists.
            unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MULTITHREAD) };
            // SAFETY: `on_open` has the signature SQLite calls an auto-extension
            // with, and as a function it lives as long as the process.
            unsafe { ffi::sqlite3_auto_extension(Some(on_open)) }
        });
        if code == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(DbSetupError::Connect(format!("cannot register SQLite's progress handler (code {code})")))
        }
    }

    unsafe extern "C" fn on_open(
        db: *mut ffi::sqlite3,
        _error: *mut *mut c_char,
        _api: *const ffi::sqlite3_api_routines,
    ) -> c_int {
        // SAFETY: SQLite passes the connection it is opening; the handler
        // uses no data pointer.
        unsafe { ffi::sqlite3_progress_handler(db, STEPS, Some(past_deadline), std::ptr::null_mut()) };
        ffi::SQLITE_OK
    }

    /// Non-zero interrupts the statement: it fails with SQLITE_INTERRUPT
    /// ("interrupted"). Never panics: it is called from C.
    extern "C" fn past_deadline(_: *mut c_void) -> c_int {
        let past = DEADLINE.try_with(|deadline| deadline.get().is_some_and(|at| Instant::now() >= at));
        c_int::from(past.unwrap_or(false))
    }

    /// This thread's statements are interrupted once `budget` has passed,
    /// until the guard drops.
    pub fn start(budget: Duration) -> Deadline {
        DEADLINE.set(Some(Instant::now() + budget));
        Deadline(())
    }

    pub struct Deadline(());

    impl Drop for Deadline {
        fn drop(&mut self) {
            DEADLINE.set(None);
        }
    }
}

/// How long a request waits for a database connection before it is 503.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// How long a costly read waits for its turn before it is turned away…
const COSTLY_READ_WAIT: Duration = Duration::from_millis(250);
/// …and what it is told then.
pub(crate) const NO_TURN: &str = "too many searches and rankings are running; try again shortly";

/// What a read may cost: [`Db::read_costing`] lets only so many costly ones
/// run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// One story, a page of the newest: a few index lookups.
    Plain,
    /// A search, a ranking or count over every story: up to the statement
    /// timeout, and anyone may ask for one.
    High,
}

/// The shared handle to the database.
#[derive(Clone)]
pub struct Db {
    manager: ConnectionManager,
    pool: DbPool,
    /// Turns for [`Cost::High`] reads: half the pool (at least one), so that
    /// however many arrive, the other half is left for plain reads.
    costly_reads: Arc<tokio::sync::Semaphore>,
    /// One per pooled connection: requests wait here, on the async workers,
    /// for a connection to be free before they take a blocking thread.
    /// Waiting in the pool instead held a thread each (64 of them at 64
    /// connections, each with its allocator arena and stack) and woke them
    /// all in turn as connections came back.
    connections: Arc<tokio::sync::Semaphore>,
    /// SQLite: how long a request's reads may run ([`sqlite_deadline`]).
    sqlite_budget: Option<Duration>,
    /// SQLite takes one writer at a time; writers of this process queue
    /// here, in order, instead of in SQLite's busy handler, which sleeps in
    /// growing steps and makes the slowest write wait hundreds of ms.
    sqlite_writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Told of every committed [`Content`] write and what it changed, so
    /// caches of what readers saw know they are stale (the response cache
    /// hands it in).
    on_public_write: Option<PublicWriteHook>,
}

/// What a write transaction may change, as the type of its connection:
/// mutating queries take a [`Tx`] of one of these, so they cannot run
/// outside [`Db::write`] (or [`Db::vote`]), and only [`Content`] writes
/// reach the caches of public responses: all of them empty the caches,
/// except a vote, whose result names the one story it changed.
pub trait WriteScope {
    const CHANGES_PUBLIC_OUTPUT: bool;
}

/// Writes that change what readers see: stories, ratings, related links.
pub enum Content {}

/// Writes readers never see: editor accounts, login throttling, keys.
pub enum Internal {}

impl WriteScope for Content {
    const CHANGES_PUBLIC_OUTPUT: bool = true;
}

impl WriteScope for Internal {
    const CHANGES_PUBLIC_OUTPUT: bool = false;
}

/// A connection inside a write transaction of scope `S`. It reads like any
/// connection (it dereferences to one); only code holding a `Tx` may write.
pub struct Tx<'c, S: WriteScope> {
    conn: &'c mut DbConnection,
    _scope: PhantomData<S>,
}

impl<S: WriteScope> Deref for Tx<'_, S> {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        self.conn
    }
}

impl<S: WriteScope> DerefMut for Tx<'_, S> {
    fn deref_mut(&mut self) -> &mut DbConnection {
        self.conn
    }
}

impl<S: WriteScope> Tx<'_, S> {
    /// Runs `f` in a savepoint: a failure inside (losing a race to insert,
    /// say) rolls back only what `f` did.
    pub fn savepoint<T, E>(&mut self, f: impl FnOnce(&mut Tx<'_, S>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        self.conn.transaction(|conn| f(&mut Tx { conn, _scope: PhantomData }))
    }
}

impl Db {
    /// Builds the pool and checks one connection, so a wrong URL or a server
    /// that is down stops start-up with the real cause. No statement runs
    /// longer than `statement_timeout` (on SQLite: no request's work, see
    /// [`Db::read`]).
    pub fn connect(url: &DatabaseUrl, pool_size: u32, statement_timeout: Duration) -> Result<Self, DbSetupError> {
        let manager = ConnectionManager { url: url.clone(), statement_timeout: Some(statement_timeout) };
        manager.connect()?;
        let pool = Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(POOL_WAIT)
            // A query per checkout cost every request a round trip; dead
            // connections are found when they fail instead (`forget_if_dead`).
            .test_on_check_out(false)
            .build(manager.clone())
            .map_err(|e| DbSetupError::Connect(e.to_string()))?;
        let sqlite = matches!(url, DatabaseUrl::Sqlite(_));
        let sqlite_writer = sqlite.then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Self {
            manager,
            pool,
            costly_reads: Arc::new(tokio::sync::Semaphore::new((pool_size as usize / 2).max(1))),
            connections: Arc::new(tokio::sync::Semaphore::new(pool_size as usize)),
            sqlite_budget: sqlite.then_some(statement_timeout),
            sqlite_writer,
            on_public_write: None,
        })
    }

    /// Calls `hook` after every committed [`Content`] write.
    pub fn on_public_write(mut self, hook: PublicWriteHook) -> Self {
        self.on_public_write = Some(hook);
        self
    }

    /// A connection for code that is already off the async workers (the CLI,
    /// start-up).
    pub fn conn(&self) -> Result<PooledDbConnection, DbSetupError> {
        self.pool.get().map_err(|e| DbSetupError::Connect(e.to_string()))
    }

    /// Runs `f` with a pooled connection. A pool that cannot hand out a
    /// connection means the database is unreachable: 503, not 500. On SQLite,
    /// `f`'s statements are interrupted once the statement timeout has passed
    /// since it began (503 too).
    ///
    /// On SQLite a plain read runs right here, on the async worker, when a
    /// connection is free at once: it is a few index lookups in this process,
    /// CPU work of tens of microseconds like the JSON it becomes, and handing
    /// it to a blocking thread and back cost more than the query (a third of
    /// the CPU of an uncached read went to the kernel waking threads).
    /// PostgreSQL reads wait on the network, and costly reads
    /// ([`Db::read_costing`]) may run long: those go to the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        if self.sqlite_budget.is_some()
            && let Ok(turn) = self.connections.clone().try_acquire_owned()
            && let Some(conn) = self.pool.try_get()
        {
            return with_connection(&self.pool, turn, conn, Instant::now(), self.sqlite_budget, f);
        }
        self.on_blocking_pool(self.sqlite_budget, f).await
    }

    /// Runs `f` with a pooled connection on the blocking thread pool, its
    /// SQLite statements interrupted once `sqlite_budget` has passed.
    async fn on_blocking_pool<T, F>(&self, sqlite_budget: Option<Duration>, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let Ok(Ok(turn)) = actix_web::rt::time::timeout(POOL_WAIT, self.connections.clone().acquire_owned()).await
        else {
            return Err(ApiError::unavailable(anyhow::anyhow!("no database connection was free for {POOL_WAIT:?}")));
        };
        let pool = self.pool.clone();
        web::block(move || {
            let asked = Instant::now();
            let conn = pool.get().map_err(ApiError::unavailable)?;
            with_connection(&pool, turn, conn, asked, sqlite_budget, f)
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// [`Db::read`], but a [`Cost::High`] read first waits its turn: when
    /// every turn is taken for longer than a moment, it is 503 with
    /// `Retry-After` rather than a connection taken from plain reads.
    pub async fn read_costing<T, F>(&self, cost: Cost, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        if cost == Cost::Plain {
            return self.read(f).await;
        }
        let turn = actix_web::rt::time::timeout(COSTLY_READ_WAIT, self.costly_reads.clone().acquire_owned()).await;
        let Ok(Ok(turn)) = turn else {
            return Err(ApiError::Overloaded(NO_TURN));
        };
        // The turn goes with the work, and ends with it even if the client
        // has gone meanwhile: leaving cannot make room for more.
        self.on_blocking_pool(self.sqlite_budget, move |conn| {
            let _turn = turn;
            f(conn)
        })
        .await
    }

    /// Runs `f` in a write transaction on the blocking pool: the only way
    /// request code changes data. The scope `S` is the closure's: whatever
    /// the queries it calls need.
    pub async fn write<S, T, F>(&self, f: F) -> Result<T, ApiError>
    where
        S: WriteScope,
        F: FnOnce(&mut Tx<'_, S>) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let written = self.in_write_transaction(f).await?;
        self.committed::<S>(PublicChange::Everything);
        Ok(written)
    }

    /// [`Db::write`] for readers' votes: once they commit, only the stories
    /// their result names count as changed, so caches keep what does not
    /// show those stories' rating figures.
    pub async fn vote<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: RatedStories + Send + 'static,
        F: FnOnce(&mut Tx<'_, Content>) -> Result<T, ApiError> + Send + 'static,
    {
        let voted = self.in_write_transaction(f).await?;
        for story in voted.rated_stories() {
            self.committed::<Content>(PublicChange::RatingOf(story));
        }
        Ok(voted)
    }

    async fn in_write_transaction<S, T, F>(&self, f: F) -> Result<T, ApiError>
    where
        S: WriteScope,
        F: FnOnce(&mut Tx<'_, S>) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let _turn = match &self.sqlite_writer {
            Some(writer) => Some(writer.lock().await),
            None => None,
        };
        // Not interrupted on SQLite: an interrupted write can end its
        // transaction under diesel's transaction manager, and writes are
        // short and already taken one at a time. (PostgreSQL's statement
        // timeout still applies, and cancels cleanly.)
        self.on_blocking_pool(None, |conn| in_transaction(conn, f)).await
    }

    /// [`Db::write`] for code that is already off the async workers (the CLI,
    /// start-up).
    pub fn write_now<S, T, F>(&self, f: F) -> Result<T, ApiError>
    where
        S: WriteScope,
        F: FnOnce(&mut Tx<'_, S>) -> Result<T, ApiError>,
    {
        let mut conn = self.pool.get().map_err(ApiError::unavailable)?;
        let written = in_transaction(&mut conn, f)?;
        self.committed::<S>(PublicChange::Everything);
        Ok(written)
    }

    fn committed<S: WriteScope>(&self, change: PublicChange) {
        if let (true, Some(hook)) = (S::CHANGES_PUBLIC_OUTPUT, &self.on_public_write) {
            hook(change);
        }
    }

    /// Applies pending migrations of the matching tree, on a connection of
    /// their own without the statement timeout: building an index on a large
    /// table, or waiting for another process's migrations, may take longer.
    pub fn migrate(&self) -> Result<(), DbSetupError> {
        let mut conn = ConnectionManager { statement_timeout: None, ..self.manager.clone() }.connect()?;
        run_migrations(&mut conn)
    }
}

fn in_transaction<S: WriteScope, T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut Tx<'_, S>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    write_transaction(conn, |conn| f(&mut Tx { conn, _scope: PhantomData }))
}

/// Runs `f` in a transaction that, on SQLite, takes the write lock up front
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes
/// fails with SQLITE_BUSY when another writer got in between, whereas an
/// immediate one waits its turn on `busy_timeout`. On PostgreSQL it is an
/// ordinary transaction. Nested transactions inside `f` become savepoints.
fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConnection::Sqlite(sqlite) = conn else {
        return conn.transaction(f);
    };
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    // The multi-connection's transaction manager delegates to the inner
    // connection's, so `f` sees the transaction we just opened.
    let outcome = f(conn);
    let finish = match (&outcome, conn) {
        (Ok(_), DbConnection::Sqlite(sqlite)) => AnsiTransactionManager::commit_transaction(sqlite),
        (Err(_), DbConnection::Sqlite(sqlite)) => AnsiTransactionManager::rollback_transaction(sqlite),
        (_, DbConnection::Pg(_)) => Ok(()),
    };
    finish?;
    outcome
}

/// Applies the pending migrations for the connection's backend. Re-runs are
/// no-ops; on PostgreSQL an advisory lock makes concurrent starts wait their turn.
pub fn run_migrations(conn: &mut DbConnection) -> Result<(), DbSetupError> {
    let migrate_err = |e: Box<dyn std::error::Error + Send + Sync>| DbSetupError::Migrate(e.to_string());
    match conn {
        DbConnection::Pg(pg) => {
            let sql_err = |e: diesel::result::Error| DbSetupError::Migrate(e.to_string());
            pg.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})")).map_err(sql_err)?;
            let outcome = pg.run_pending_migrations(PG_MIGRATIONS).map(drop).map_err(migrate_err);
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})")).map_err(sql_err)?;
            outcome
        }
        DbConnection::Sqlite(sqlite) => sqlite.run_pending_migrations(SQLITE_MIGRATIONS).map(drop).map_err(migrate_err),
    }
}

/// Whether a statement failed on a unique index: a race with another insert.
pub fn is_unique_violation(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(err, Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

/// Whether the database cancelled a statement for running too long:
/// PostgreSQL's `query_canceled` (SQLSTATE 57014) or SQLite's interrupt from
/// [`sqlite_deadline`]. diesel keeps the SQLSTATE to itself (it maps a few
/// codes to kinds, the rest to `Unknown`), so the message tells; PostgreSQL
/// writes it in English unless the server's `lc_messages` says otherwise.
fn was_cancelled(kind: &diesel::result::DatabaseErrorKind, message: &str) -> bool {
    matches!(kind, diesel::result::DatabaseErrorKind::Unknown)
        && (message.starts_with("canceling statement due to statement timeout") || message == "interrupted")
}

/// Whether PostgreSQL failed this transaction to break a lock cycle
/// (`deadlock_detected`, SQLSTATE 40P01, known by its message as above) or a
/// serialization conflict with another one: the request was sound, and sent
/// again it goes through. Writers take their locks in one order so that
/// neither should happen; if one does, the client is told to retry.
fn lost_to_a_concurrent_write(kind: &diesel::result::DatabaseErrorKind, message: &str) -> bool {
    use diesel::result::DatabaseErrorKind;
    matches!(kind, DatabaseErrorKind::SerializationFailure)
        || (matches!(kind, DatabaseErrorKind::Unknown) && message.starts_with("deadlock detected"))
}

/// Diesel's failures, as the API reports them. Connection-level failures mean
/// the database went away under us, and a statement cancelled for running too
/// long means it is busy: 503 either way.
impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::DatabaseError(kind, info) if was_cancelled(&kind, info.message()) => {
                ApiError::Overloaded("the query ran too long and was cancelled; try again later, or ask for less")
            }
            Error::NotFound => ApiError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::Conflict("this conflicts with an existing resource".into())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) | Error::BrokenTransactionManager => {
                ApiError::unavailable(err)
            }
            // Logged with its cause (a lock order to fix), answered 503 with Retry-After.
            Error::DatabaseError(ref kind, ref info) if lost_to_a_concurrent_write(kind, info.message()) => {
                ApiError::unavailable(err)
            }
            other => ApiError::internal(other),
        }
    }
}

/// Timestamps are stored in UTC at microsecond precision, the finer of what
/// both backends keep, so a value reads back exactly as written.
pub fn now() -> chrono::NaiveDateTime {
    truncate(chrono::Utc::now().naive_utc())
}

/// A time as the database will keep it (microseconds).
pub fn truncate(time: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    time.trunc_subsecs(6)
}

/// A value in a state column that no variant names: the data or the code is
/// wrong, so reading fails loudly instead of guessing.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {value:?} stored in the database")]
pub struct UnknownStoredValue {
    pub(crate) what: &'static str,
    pub(crate) value: String,
}

/// Declares how an enum is stored as text: `as_str` for writing,
/// `TryFrom<String>` for reading (diesel's `deserialize_as = String`), and
/// `From<Self> for String` (diesel's `serialize_as = String`).
macro_rules! stored_as_text {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::db::UnknownStoredValue;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                match value.as_str() {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::db::UnknownStoredValue { what: stringify!($name), value }),
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_owned()
            }
        }
    };
}
pub(crate) use stored_as_text;

#[cfg(test)]
mod tests {
    use crate::editors::Role;
    use crate::stories::StoredStatus;

    /// The migrations' CHECK constraints keep unknown states out of the
    /// tables; if one got in anyway (a newer schema, an older binary),
    /// reading it fails loudly instead of guessing "draft" or "editor".
    #[test]
    fn unknown_stored_states_fail_loudly() {
        assert_eq!(StoredStatus::try_from("archived".to_owned()).unwrap(), StoredStatus::Archived);
        let err = StoredStatus::try_from("pending".to_owned()).unwrap_err();
        assert_eq!(err.to_string(), r#"unknown StoredStatus "pending" stored in the database"#);
        assert!(Role::try_from("superuser".to_owned()).is_err());
        assert_eq!(String::from(Role::Admin), "admin");
    }

    /// A transaction PostgreSQL failed to break a deadlock or a serialization
    /// conflict is a 503 to retry, not a 500; other unknown errors stay 500.
    #[test]
    fn a_write_lost_to_a_concurrent_one_is_503() {
        use actix_web::ResponseError;
        use diesel::result::{DatabaseErrorKind, Error};
        let status = |kind, message: &str| {
            crate::error::ApiError::from(Error::DatabaseError(kind, Box::new(message.to_owned()))).status_code()
        };
        let unavailable = actix_web::http::StatusCode::SERVICE_UNAVAILABLE;
        assert_eq!(status(DatabaseErrorKind::Unknown, "deadlock detected"), unavailable);
        assert_eq!(status(DatabaseErrorKind::SerializationFailure, "could not serialize access"), unavailable);
        assert_eq!(status(DatabaseErrorKind::Unknown, "division by zero").as_u16(), 500);
    }
}
