//! The local timer table (the stand-in for EventBridge Scheduler) and the local sink
//! for operational events.

use super::{now_ms, unavailable, LocalDb};
use crate::error::QueueError;
use crate::ports::{OpsEvent, OpsSink, Timer};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

fn err(e: rusqlite::Error) -> QueueError {
    QueueError::Unavailable(unavailable(e).to_string())
}

/// Durable timers, fired by `hookline dev`'s timer loop.
#[derive(Debug, Clone)]
pub struct LocalTimer {
    db: LocalDb,
}

impl LocalTimer {
    /// Timers in `db`.
    pub fn new(db: LocalDb) -> Self {
        Self { db }
    }

    /// Up to `max` timers due by now: (key, payload), earliest first.
    pub fn due(&self, max: usize) -> Result<Vec<(String, String)>, QueueError> {
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare_cached("SELECT key, payload FROM timers WHERE due_ms <= ?1 ORDER BY due_ms LIMIT ?2")
            .map_err(err)?;
        let rows = stmt
            .query_map(params![now_ms(), max as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err);
        rows
    }

    /// Remove a fired timer.
    pub fn remove(&self, key: &str) -> Result<(), QueueError> {
        self.db.lock().execute("DELETE FROM timers WHERE key = ?1", [key]).map_err(err)?;
        Ok(())
    }

    /// How many timers are pending.
    pub fn pending(&self) -> Result<u64, QueueError> {
        self.db.lock().query_row("SELECT COUNT(*) FROM timers", [], |r| r.get(0)).map_err(err)
    }
}

#[async_trait]
impl Timer for LocalTimer {
    async fn fire_at(&self, key: &str, at: DateTime<Utc>, payload: &str) -> Result<(), QueueError> {
        self.db
            .lock()
            .prepare_cached("INSERT OR REPLACE INTO timers (key, due_ms, payload) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![key, at.timestamp_millis(), payload]))
            .map_err(err)?;
        Ok(())
    }
}

/// Operational events, logged and kept in the local database.
#[derive(Debug, Clone)]
pub struct LocalOps {
    db: LocalDb,
}

impl LocalOps {
    /// Events in `db`.
    pub fn new(db: LocalDb) -> Self {
        Self { db }
    }

    /// Every event emitted, oldest first.
    pub fn all(&self) -> Result<Vec<OpsEvent>, QueueError> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare_cached("SELECT body FROM ops_events ORDER BY id").map_err(err)?;
        let rows =
            stmt.query_map([], |r| r.get::<_, String>(0)).map_err(err)?.collect::<Result<Vec<_>, _>>().map_err(err)?;
        rows.iter().map(|b| serde_json::from_str(b).map_err(|e| QueueError::Unavailable(e.to_string()))).collect()
    }
}

#[async_trait]
impl OpsSink for LocalOps {
    async fn emit(&self, event: &OpsEvent) -> Result<(), QueueError> {
        tracing::warn!(kind = %event.kind, org = %event.org_id, endpoint = %event.endpoint_id, reason = %event.reason, "operational event");
        let body = serde_json::to_string(event).map_err(|e| QueueError::Unavailable(e.to_string()))?;
        self.db
            .lock()
            .execute("INSERT INTO ops_events (at_ms, body) VALUES (?1, ?2)", params![event.at.timestamp_millis(), body])
            .map_err(err)?;
        Ok(())
    }
}
