//! The database thread: group commits, the checkpoint thread, and schema migrations.

use super::*;

async fn bodies(db: &LocalDb) -> Vec<String> {
    db.call(|c| c.prepare("SELECT body FROM ops_events ORDER BY id")?.query_map([], |r| r.get(0))?.collect())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failed_operation_undoes_only_its_own_writes() {
    let db = LocalDb::in_memory().unwrap();
    let insert = |c: &Connection, body: &str| c.execute("INSERT INTO ops_events (at_ms, body) VALUES (1, ?1)", [body]);
    // Sent together, so they can share one group and its commit.
    let (kept, undone, partial) = tokio::join!(
        db.call(move |c| insert(c, "kept")),
        db.call_atomic(move |c| {
            insert(c, "undone")?;
            c.execute("INSERT INTO no_such_table VALUES (1)", [])
        }),
        db.call(move |c| {
            insert(c, "stays: not atomic")?;
            c.execute("INSERT INTO no_such_table VALUES (1)", [])
        }),
    );
    assert!(kept.is_ok());
    assert!(undone.is_err() && partial.is_err());
    assert_eq!(bodies(&db).await, vec!["kept".to_owned(), "stays: not atomic".to_owned()]);
}

#[tokio::test]
async fn the_checkpoint_thread_copies_commits_into_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = LocalDb::open(&path).unwrap();
    // About 1 MB: far below the WAL size at which the database thread checkpoints
    // by itself, so only the checkpoint thread can write it to the database file.
    for _ in 0..10 {
        db.call(|c| {
            let mut insert = c.prepare_cached("INSERT INTO ops_events (at_ms, body) VALUES (1, ?1)")?;
            for _ in 0..100 {
                insert.execute(["x".repeat(1000)])?;
            }
            Ok(())
        })
        .await
        .unwrap();
    }
    let file_len = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while file_len() < 1_000_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(file_len() >= 1_000_000, "the database file holds {} bytes", file_len());
}

#[tokio::test]
async fn answers_come_after_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = LocalDb::open(&path).unwrap();
    let writes = (0..50).map(|i| {
        let db = db.clone();
        async move { db.call(move |c| c.execute("INSERT INTO ops_events (at_ms, body) VALUES (?1, 'x')", [i])).await }
    });
    for w in futures::future::join_all(writes).await {
        w.unwrap();
    }
    // Another connection sees every answered write: each was committed before its answer.
    let other = Connection::open(&path).unwrap();
    let n: i64 = other.query_row("SELECT COUNT(*) FROM ops_events", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 50);
}

#[test]
fn a_database_from_before_schema_versions_is_brought_up_to_date_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // As an early version left it: API keys without their record, the old queue index.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE api_keys (hash TEXT PRIMARY KEY, org_id TEXT NOT NULL);
             INSERT INTO api_keys VALUES ('h1', 'org_1');
             CREATE TABLE queue_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
                 body TEXT NOT NULL, visible_ms INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0,
                 lease INTEGER NOT NULL DEFAULT 0);
             CREATE INDEX queue_messages_visible ON queue_messages (queue, visible_ms);",
        )
        .unwrap();
    }
    drop(LocalDb::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    let org: String = conn.query_row("SELECT org_id FROM api_keys WHERE body IS NULL", [], |r| r.get(0)).unwrap();
    assert_eq!(org, "org_1", "the old key is kept, with room for its record");
    let old_index: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'queue_messages_visible'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(old_index, 0);

    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = LocalDb::open(&path).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");
}

#[test]
fn events_and_attempts_from_before_retention_are_kept_without_an_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    {
        // Schema version 3: events and attempts without `expires_ms`.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, type TEXT NOT NULL,
                 created_ms INTEGER NOT NULL, body TEXT NOT NULL);
             INSERT INTO events VALUES ('evt_1', 'org_1', 'a.b', 1, '{}');
             CREATE TABLE attempts (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, endpoint_id TEXT NOT NULL,
                 event_id TEXT NOT NULL, status TEXT NOT NULL, created_ms INTEGER NOT NULL, body TEXT NOT NULL);
             INSERT INTO attempts VALUES ('atm_1', 'org_1', 'ep_1', 'evt_1', 'delivered', 2, '{}');
             PRAGMA user_version = 3;",
        )
        .unwrap();
    }
    drop(LocalDb::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    for table in ["events", "attempts"] {
        let (rows, expiring): (i64, i64) = conn
            .query_row(&format!("SELECT count(*), count(expires_ms) FROM {table}"), [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((rows, expiring), (1, 0), "{table}: the old row is kept and never expires");
    }
}
