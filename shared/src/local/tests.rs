//! The database thread: group commits and the checkpoint thread.

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
