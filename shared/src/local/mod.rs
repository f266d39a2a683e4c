//! The `local` adapters: one embedded SQLite database in WAL mode holding the store,
//! the queues and the timers, so a `kill -9` loses nothing that was accepted.
//!
//! WAL with `synchronous=NORMAL` makes every committed transaction survive a process
//! crash; only an OS crash or power loss can drop the last few. That is the right
//! trade for a development server.

mod key_file;
mod ops;
mod queue;
pub mod runtime;
mod schema;
mod store;
mod timer;

pub use key_file::write_private;
pub use ops::LocalOps;
pub use queue::LocalQueue;
pub use store::{purge_loop, LocalStore};
pub use timer::{DueTimer, LocalTimer};

use schema::migrate;
#[cfg(test)]
use schema::MIGRATIONS;

use crate::error::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;

/// The name of the thread that owns the database connection (profilers and the load
/// tool look it up by name).
pub const DB_THREAD: &str = "hookline-db";

/// Operations committed together at most: bounds the wait of the first one.
const MAX_GROUP: usize = 512;

/// One operation for the database thread.
trait Operation: Send {
    /// Run inside the group's transaction.
    fn run(&mut self, conn: &Connection);
    /// Answer the caller, now that the group's commit (or its failure to begin) is known.
    fn finish(self: Box<Self>, committed: Result<(), DbError>);
}

/// A caller's function, its result once run, and where the answer goes.
struct Call<T, F> {
    f: Option<F>,
    /// Run inside a savepoint, so a failure after some writes undoes them all.
    atomic: bool,
    result: Option<Result<T, DbError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, DbError>>,
}

impl<T: Send, F: FnOnce(&Connection) -> rusqlite::Result<T> + Send> Operation for Call<T, F> {
    fn run(&mut self, conn: &Connection) {
        if let Some(f) = self.f.take() {
            self.result = Some(if self.atomic { in_savepoint(conn, f) } else { f(conn).map_err(DbError::from) });
        }
    }

    fn finish(self: Box<Self>, committed: Result<(), DbError>) {
        let Call { result, reply, .. } = *self;
        let answer = committed.and_then(|()| result.unwrap_or_else(|| Err(DbError("not run".into()))));
        let _ = reply.send(answer);
    }
}

type Op = Box<dyn Operation>;

/// A database failure as text, since one failed commit has to reach every operation
/// in its group.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DbError(String);

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        Self(e.to_string())
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        StoreError::Unavailable(e.0)
    }
}

impl From<DbError> for crate::error::MessagingError {
    fn from(e: DbError) -> Self {
        crate::error::MessagingError::Unavailable(e.0)
    }
}

/// The embedded database shared by the local store, queues and timers.
///
/// One thread owns the connection and runs every operation, so SQLite never blocks
/// the async runtime. It commits in groups: the operations that queued up while the
/// previous group was committing run in one transaction, each in its own savepoint,
/// and each caller hears back only after that transaction is committed. So every
/// answer is durable, a failing operation undoes only itself, and the per-commit cost
/// (the WAL append) is shared by the whole group.
#[derive(Clone)]
pub struct LocalDb {
    ops: std::sync::mpsc::Sender<Op>,
    endpoints: Arc<store::EndpointCache>,
    queues: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<queue::QueueState>>>>,
    /// The next free send slot of each rate-limited endpoint, in microseconds. In
    /// memory, like the queues' state: one process delivers from a database, and a
    /// restart only lets each limited endpoint start again from now.
    slots: Arc<std::sync::Mutex<std::collections::HashMap<crate::ids::EndpointId, i64>>>,
    /// Seals the secrets of sources and endpoints.
    sealer: crate::sealing::Sealer,
}

impl std::fmt::Debug for LocalDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalDb")
    }
}

impl LocalDb {
    /// Open (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(unavailable)?;
        let checkpoints = Connection::open(path).map_err(unavailable)?;
        Self::init(conn, Some(checkpoints), key_file::sealer_for(Some(path))?)
    }

    /// A private in-memory database (unit tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?, None, key_file::sealer_for(None)?)
    }

    /// Set up `conn` and start the database thread; `checkpoints`, a second connection to
    /// the same file, copies the WAL back into the database on its own thread.
    fn init(
        mut conn: Connection,
        checkpoints: Option<Connection>,
        sealer: crate::sealing::Sealer,
    ) -> Result<Self, StoreError> {
        // 16 MB of page cache holds the hot pages (queue ends, index leaves) with room to
        // spare; a larger one costs more than it saves, because after a B-tree rebalance
        // SQLite scans the cache's whole hash table at commit.
        // A WAL of 8,000 pages (32 MB) before the automatic checkpoint: a page rewritten
        // by many commits (a queue's tail, an index leaf) is copied back once per
        // checkpoint, so a larger WAL copies and syncs far less per write.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;
             PRAGMA cache_size=-16384; PRAGMA wal_autocheckpoint=8000;",
        )
        .map_err(unavailable)?;
        migrate(&mut conn)?;
        // Plans must not depend on bound values: otherwise SQLite re-prepares a cached
        // statement whenever a range bound (a queue's `visible_ms <= ?`) changes.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(unavailable)?;
        let (ops, rx) = std::sync::mpsc::channel();
        // The database thread signals each commit; its end (the sender dropped) stops the
        // checkpoint thread.
        let wal_grew = match checkpoints {
            Some(checkpoints) => {
                let (grew, commits) = std::sync::mpsc::sync_channel::<()>(1);
                std::thread::Builder::new()
                    .name("hookline-ckpt".into())
                    .spawn(move || run_checkpoints(checkpoints, commits))
                    .map_err(|e| StoreError::Unavailable(format!("starting the checkpoint thread: {e}")))?;
                Some(grew)
            }
            None => None,
        };
        std::thread::Builder::new()
            .name(DB_THREAD.into())
            .spawn(move || run_groups(conn, rx, wal_grew))
            .map_err(|e| StoreError::Unavailable(format!("starting the database thread: {e}")))?;
        Ok(Self { ops, endpoints: Arc::default(), queues: Arc::default(), slots: Arc::default(), sealer })
    }

    /// The in-memory side of queue `name`, shared by every handle on it.
    fn queue_state(&self, name: &str) -> Arc<queue::QueueState> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.entry(name.to_owned()).or_default().clone()
    }

    /// Run `f` on the database thread and answer once its group is committed. A failed
    /// statement undoes itself, so `f` may be one statement, or several whose partial
    /// effect is harmless; writes that must stand or fall together use [`Self::call_atomic`].
    /// `f` should only touch the database: decoding and encoding belong to the caller.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit(f, false).await
    }

    /// Like [`Self::call`], but if `f` fails, every change it made is undone.
    pub(crate) async fn call_atomic<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit(f, true).await
    }

    async fn submit<T, F>(&self, f: F, atomic: bool) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let op: Op = Box::new(Call { f: Some(f), atomic, result: None, reply });
        self.ops.send(op).map_err(|_| DbError("the database thread has stopped".into()))?;
        rx.await.map_err(|_| DbError("the database thread has stopped".into()))?
    }
}

/// Run `f` so that its failure undoes only its own changes.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, DbError> {
    conn.prepare_cached("SAVEPOINT op").and_then(|mut s| s.execute([]))?;
    let result = f(conn);
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO op").and_then(|mut s| s.execute([]))?;
    }
    conn.prepare_cached("RELEASE op").and_then(|mut s| s.execute([]))?;
    Ok(result?)
}

/// The database thread: take what is queued (up to [`MAX_GROUP`]), run it in one
/// transaction, commit, then answer. Ends when every handle is dropped.
fn run_groups(conn: Connection, rx: std::sync::mpsc::Receiver<Op>, wal_grew: Option<std::sync::mpsc::SyncSender<()>>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = rx.recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let mut committed = conn.execute_batch("BEGIN IMMEDIATE").map_err(DbError::from);
        if committed.is_ok() {
            for op in group.iter_mut() {
                op.run(&conn);
                // Some failures (a full disk, an I/O error) end the whole transaction.
                if conn.is_autocommit() {
                    break;
                }
            }
            if conn.is_autocommit() {
                committed = Err(DbError("the transaction was rolled back by a failed operation".into()));
            } else {
                committed = conn.execute_batch("COMMIT").map_err(|e| {
                    let _ = conn.execute_batch("ROLLBACK");
                    DbError::from(e)
                });
            }
        }
        if committed.is_ok() {
            if let Some(grew) = &wal_grew {
                // One pending signal is enough; the checkpoint takes every frame so far.
                let _ = grew.try_send(());
            }
        }
        if let Err(e) = &committed {
            tracing::error!(error = %e, "database transaction failed; its operations fail and are retried");
        }
        for op in group.drain(..) {
            op.finish(committed.clone());
        }
    }
}

/// The shortest time between two checkpoints: each takes what many commits wrote.
///
/// Short, because whatever this thread has not copied when the WAL reaches its limit,
/// the database thread copies and syncs itself, and every caller waits for that (the
/// README's benchmark section has the latencies measured with 100 ms and 10 ms).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// The checkpoint thread: after commits, copy the WAL's frames into the database file
/// and sync it, off the database thread, until the database thread ends. An idle
/// server commits nothing, so this thread then sleeps.
///
/// The copy and its `fsync` take milliseconds; on the database thread every caller
/// would wait for them. A passive checkpoint never blocks the writer. The writer's own
/// automatic checkpoint still runs, but finds most frames copied and synced already;
/// it finishes the rest, so the WAL can start over from its beginning.
fn run_checkpoints(conn: Connection, commits: std::sync::mpsc::Receiver<()>) {
    while commits.recv().is_ok() {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "checkpoint failed; the next one retries");
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
}

pub(crate) fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(crate) fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests;
