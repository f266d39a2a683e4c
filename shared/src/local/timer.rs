//! The local timer table: the stand-in for EventBridge Scheduler.

use super::{now_ms, LocalDb};
use crate::error::MessagingError;
use crate::ids::ScheduleId;
use crate::ports::Timer;
use crate::schedule::Job;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

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

    /// Up to `max` timers due by now, earliest first.
    pub async fn due(&self, max: usize) -> Result<Vec<DueTimer>, MessagingError> {
        Ok(self
            .db
            .call(move |conn| {
                conn.prepare_cached(
                    "SELECT key, payload, due_ms FROM timers WHERE due_ms <= ?1 ORDER BY due_ms LIMIT ?2",
                )?
                .query_map(params![now_ms(), max as i64], |r| {
                    let due_ms: i64 = r.get(2)?;
                    Ok(DueTimer {
                        key: r.get(0)?,
                        payload: r.get(1)?,
                        due: DateTime::from_timestamp_millis(due_ms).unwrap_or_default(),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .await?)
    }

    /// Remove a fired timer, unless it was moved to a later time meanwhile (a recurring
    /// job's next run, or an update): that timer still has to fire.
    pub async fn remove_fired(&self, timer: &DueTimer) -> Result<(), MessagingError> {
        let (key, due_ms) = (timer.key.clone(), timer.due.timestamp_millis());
        self.db
            .call(move |conn| {
                conn.prepare_cached("DELETE FROM timers WHERE key = ?1 AND due_ms = ?2")?.execute(params![key, due_ms])
            })
            .await?;
        Ok(())
    }

    /// How many timers are pending.
    pub async fn pending(&self) -> Result<u64, MessagingError> {
        Ok(self.db.call(|conn| conn.query_row("SELECT COUNT(*) FROM timers", [], |r| r.get(0))).await?)
    }
}

/// A timer that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    /// Its name.
    pub key: String,
    /// What it carries.
    pub payload: String,
    /// When it was due.
    pub due: DateTime<Utc>,
}

#[async_trait]
impl Timer for LocalTimer {
    async fn fire_at(&self, key: &str, at: DateTime<Utc>, payload: &str) -> Result<(), MessagingError> {
        let (key, at_ms, payload) = (key.to_owned(), at.timestamp_millis(), payload.to_owned());
        self.db
            .call(move |conn| {
                conn.prepare_cached("INSERT OR REPLACE INTO timers (key, due_ms, payload) VALUES (?1, ?2, ?3)")?
                    .execute(params![key, at_ms, payload])
            })
            .await?;
        Ok(())
    }

    async fn arm(&self, job: &Job, payload: &str) -> Result<(), MessagingError> {
        match job.next_run_at {
            Some(at) => self.fire_at(job.id.as_str(), at, payload).await,
            None => self.disarm(&job.id).await,
        }
    }

    async fn disarm(&self, id: &ScheduleId) -> Result<(), MessagingError> {
        let id = id.to_string();
        self.db.call(move |conn| conn.execute("DELETE FROM timers WHERE key = ?1", [id])).await?;
        Ok(())
    }

    async fn rearm(&self, job: &Job, next: DateTime<Utc>, payload: &str) -> Result<(), MessagingError> {
        self.fire_at(job.id.as_str(), next, payload).await
    }
}
