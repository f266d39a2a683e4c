//! The database's schema: the tables a new database gets, and the changes an older one
//! is brought up to date by, each once.

use super::unavailable;
use crate::error::StoreError;
use rusqlite::Connection;

/// The tables, as a new database gets them (migration 1).
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS orgs (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    hash TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    body TEXT
);
CREATE INDEX IF NOT EXISTS api_keys_by_org ON api_keys (org_id);
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
CREATE TABLE IF NOT EXISTS queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    lease INTEGER NOT NULL DEFAULT 0
);
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

/// One change to the schema.
type Migration = fn(&Connection) -> rusqlite::Result<()>;

/// The schema's changes, in order. A database keeps how many it has had in
/// `PRAGMA user_version`, and opening it runs the rest, each once, in one transaction.
/// Each is also safe on a database made before versions were kept (version 0, with
/// some of the changes already made), which is why they check before they change.
pub(super) const MIGRATIONS: &[Migration] = &[
    // 1. Every table (`IF NOT EXISTS`, so an unversioned database keeps its rows).
    |conn| conn.execute_batch(SCHEMA),
    // 2. API keys gained a record (id, prefix, created, last used); older rows have none
    //    until they are next used.
    |conn| add_column(conn, "api_keys", "body TEXT"),
    // 3. Queue leases and due times moved to memory (see queue.rs); this index only
    //    cost writes.
    |conn| conn.execute_batch("DROP INDEX IF EXISTS queue_messages_visible"),
    // 4. Events and attempts expire (retention); rows from before keep no expiry.
    |conn| {
        add_column(conn, "events", "expires_ms INTEGER")?;
        add_column(conn, "attempts", "expires_ms INTEGER")?;
        conn.execute_batch(
            "CREATE INDEX IF NOT EXISTS events_expiry ON events (expires_ms) WHERE expires_ms IS NOT NULL;
             CREATE INDEX IF NOT EXISTS attempts_expiry ON attempts (expires_ms) WHERE expires_ms IS NOT NULL;",
        )
    },
    // 5. Ordered delivery's lanes and streams' counters (see store/lanes.rs).
    |conn| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS lanes (lane TEXT NOT NULL, position TEXT NOT NULL, job TEXT NOT NULL,
                 expires_ms INTEGER, PRIMARY KEY (lane, position)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, next INTEGER NOT NULL) WITHOUT ROWID;",
        )
    },
    // 6. Rejection diagnostics: each source's ring of records and its counter (see
    //    store/rejections.rs).
    |conn| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS rejections (source_id TEXT NOT NULL, slot INTEGER NOT NULL,
                 at_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, record TEXT NOT NULL,
                 PRIMARY KEY (source_id, slot)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS rejection_counters (source_id TEXT PRIMARY KEY, window_s INTEGER NOT NULL,
                 in_window INTEGER NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID;",
        )
    },
];

/// Add a column (`name TYPE`) unless the table has it.
fn add_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<()> {
    let name = column.split_whitespace().next().unwrap_or(column);
    let has = conn.query_row("SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", [table, name], |r| {
        r.get::<_, i64>(0)
    })? > 0;
    if !has {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column}"))?;
    }
    Ok(())
}

/// Bring a database up to the last of [`MIGRATIONS`]; refuse one made by a later version.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(unavailable)?;
    let done = tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).map_err(unavailable)?;
    let done = usize::try_from(done).unwrap_or(usize::MAX);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Unavailable(format!(
            "the database is at schema version {done}, newer than this build's {}; use a newer hookline",
            MIGRATIONS.len()
        )));
    }
    for m in &MIGRATIONS[done..] {
        m(&tx).map_err(unavailable)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64).map_err(unavailable)?;
    tx.commit().map_err(unavailable)
}
