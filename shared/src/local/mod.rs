//! The `local` adapters: one embedded SQLite database in WAL mode holding the store,
//! the queues and (later) the timers, so a `kill -9` loses nothing that was accepted.
//!
//! WAL with `synchronous=NORMAL` makes every committed transaction survive a process
//! crash; only an OS crash or power loss can drop the last few. That is the right
//! trade for a development server.

mod queue;
mod store;
mod timer;

pub use queue::LocalQueue;
pub use store::LocalStore;
pub use timer::{DueTimer, LocalOps, LocalTimer};

use crate::error::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS orgs (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    hash TEXT PRIMARY KEY,
    org_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sources_by_org ON sources (org_id, created_ms, id);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_org ON events (org_id, created_ms DESC, id DESC);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    lease INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_ms);
CREATE TABLE IF NOT EXISTS endpoints (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS endpoints_by_org ON endpoints (org_id, created_ms, id);
CREATE TABLE IF NOT EXISTS attempts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_by_endpoint ON attempts (endpoint_id, created_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS attempts_by_event ON attempts (event_id, created_ms, id);
CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    key TEXT,
    recurring TEXT,
    version INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS schedules_by_org ON schedules (org_id, created_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS schedules_by_key ON schedules (org_id, key) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS schedules_by_recurring ON schedules (org_id, recurring) WHERE recurring IS NOT NULL;
CREATE TABLE IF NOT EXISTS timers (
    key TEXT PRIMARY KEY,
    due_ms INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timers_due ON timers (due_ms);
CREATE TABLE IF NOT EXISTS ops_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    dead_ms INTEGER NOT NULL
);
"#;

/// The embedded database shared by the local store and queues.
#[derive(Clone)]
pub struct LocalDb {
    conn: Arc<Mutex<Connection>>,
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
        Self::init(conn)
    }

    /// A private in-memory database (unit tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;",
        )
        .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// The connection. Statements are short, so one connection behind a lock serves
    /// every task; a poisoned lock still holds a consistent SQLite handle.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
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
