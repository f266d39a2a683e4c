//! The store ports on SQLite. Records are kept as JSON next to the columns they are
//! queried by.

use super::{corrupt, unavailable, LocalDb};
use crate::delivery::{Attempt, Endpoint};
use crate::domain::{Event, KeyHash, Org, Source};
use crate::error::StoreError;
use crate::ids::{EndpointId, EventId, OrgId, ScheduleId, SourceId};
use crate::ports::{
    cursor, AttemptQuery, AttemptStore, Claim, EndpointStore, EventQuery, EventStore, IdempotencyStore, JobQuery,
    OrgStore, Page, ScheduleStore, SourceStore,
};
use crate::schedule::Job;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use std::time::Duration;

/// The local store.
#[derive(Debug, Clone)]
pub struct LocalStore {
    db: LocalDb,
}

impl LocalStore {
    /// A store on `db`.
    pub fn new(db: LocalDb) -> Self {
        Self { db }
    }

    /// Run a query whose one column is a JSON record, and decode every row.
    fn bodies<T: serde::de::DeserializeOwned>(&self, sql: &str, args: &[&str]) -> Result<Vec<T>, StoreError> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        rows.iter().map(|b| from_json(b)).collect()
    }
}

impl LocalStore {
    /// The record `id` of `org` in `table` (a fixed table name, never input).
    fn owned<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        id: &str,
        org: &OrgId,
    ) -> Result<Option<T>, StoreError> {
        let conn = self.db.lock();
        let body: Option<String> = conn
            .prepare_cached(&format!("SELECT body FROM {table} WHERE id = ?1 AND org_id = ?2"))
            .and_then(|mut s| s.query_row([id, org.as_str()], |r| r.get(0)).optional())
            .map_err(unavailable)?;
        body.map(|b| from_json(&b)).transpose()
    }
}

/// Where a newest-first page starts: after the cursor's (time, id), or at the top.
fn page_start(cursor_text: Option<&String>) -> Result<(i64, String), StoreError> {
    match cursor_text {
        Some(c) => cursor::decode(c).ok_or(StoreError::InvalidCursor),
        None => Ok((i64::MAX, String::new())),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(corrupt)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(corrupt)
}

#[async_trait]
impl OrgStore for LocalStore {
    async fn create_org(&self, org: &Org, key: &KeyHash) -> Result<(), StoreError> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(unavailable)?;
        tx.execute("INSERT INTO orgs (id, body) VALUES (?1, ?2)", params![org.id.as_str(), to_json(org)?])
            .map_err(unavailable)?;
        tx.execute("INSERT INTO api_keys (hash, org_id) VALUES (?1, ?2)", params![key.as_str(), org.id.as_str()])
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)
    }

    async fn org_for_key(&self, key: &KeyHash) -> Result<Option<Org>, StoreError> {
        let conn = self.db.lock();
        let body: Option<String> = conn
            .prepare_cached("SELECT o.body FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.hash = ?1")
            .and_then(|mut s| s.query_row([key.as_str()], |r| r.get(0)).optional())
            .map_err(unavailable)?;
        body.map(|b| from_json(&b)).transpose()
    }
}

#[async_trait]
impl SourceStore for LocalStore {
    async fn put_source(&self, source: &Source) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute(
                "INSERT INTO sources (id, org_id, created_ms, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![
                    source.id.as_str(),
                    source.org_id.as_str(),
                    source.created_at.timestamp_millis(),
                    to_json(source)?
                ],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_source(&self, id: &SourceId) -> Result<Option<Source>, StoreError> {
        let conn = self.db.lock();
        let body: Option<String> = conn
            .prepare_cached("SELECT body FROM sources WHERE id = ?1")
            .and_then(|mut s| s.query_row([id.as_str()], |r| r.get(0)).optional())
            .map_err(unavailable)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn list_sources(&self, org: &OrgId) -> Result<Vec<Source>, StoreError> {
        self.bodies("SELECT body FROM sources WHERE org_id = ?1 ORDER BY created_ms, id", &[org.as_str()])
    }

    async fn delete_source(&self, org: &OrgId, id: &SourceId) -> Result<bool, StoreError> {
        let n = self
            .db
            .lock()
            .execute("DELETE FROM sources WHERE id = ?1 AND org_id = ?2", params![id.as_str(), org.as_str()])
            .map_err(unavailable)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl EventStore for LocalStore {
    async fn insert_event(&self, event: &Event) -> Result<bool, StoreError> {
        let n = self
            .db
            .lock()
            .execute(
                "INSERT INTO events (id, org_id, type, created_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO NOTHING",
                params![
                    event.id.as_str(),
                    event.org_id.as_str(),
                    event.event_type,
                    event.created_at.timestamp_millis(),
                    to_json(event)?
                ],
            )
            .map_err(unavailable)?;
        Ok(n > 0)
    }

    async fn get_event(&self, org: &OrgId, id: &EventId) -> Result<Option<Event>, StoreError> {
        self.owned("events", id.as_str(), org)
    }

    async fn list_events(&self, org: &OrgId, q: &EventQuery) -> Result<Page<Event>, StoreError> {
        let (after_ms, after_id) = page_start(q.cursor.as_ref())?;
        let limit = q.limit.clamp(1, 100);
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT body FROM events
                 WHERE org_id = ?1 AND (?2 IS NULL OR type = ?2)
                   AND (created_ms < ?3 OR (created_ms = ?3 AND (?4 = '' OR id < ?4)))
                 ORDER BY created_ms DESC, id DESC LIMIT ?5",
            )
            .map_err(unavailable)?;
        let bodies = stmt
            .query_map(params![org.as_str(), q.event_type, after_ms, after_id, (limit + 1) as i64], |r| {
                r.get::<_, String>(0)
            })
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        let items: Vec<Event> = bodies.iter().map(|b| from_json(b)).collect::<Result<_, _>>()?;
        Ok(Page::from_overfetch(items, limit, |e| (e.created_at.timestamp_millis(), e.id.as_str())))
    }
}

#[async_trait]
impl IdempotencyStore for LocalStore {
    async fn claim(&self, key: &str, value: &str, ttl: Duration, now: DateTime<Utc>) -> Result<Claim, StoreError> {
        let now_s = now.timestamp();
        let expires = now_s + ttl.as_secs() as i64;
        let conn = self.db.lock();
        // One statement: insert, or take over an expired key; otherwise leave it alone.
        let changed = conn
            .prepare_cached(
                "INSERT INTO idempotency (key, value, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
                 WHERE idempotency.expires_at <= ?4",
            )
            .and_then(|mut s| s.execute(params![key, value, expires, now_s]))
            .map_err(unavailable)?;
        if changed > 0 {
            return Ok(Claim::New);
        }
        let existing: String = conn
            .prepare_cached("SELECT value FROM idempotency WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)))
            .map_err(unavailable)?;
        Ok(Claim::Existing(existing))
    }
}

#[async_trait]
impl EndpointStore for LocalStore {
    async fn put_endpoint(&self, ep: &Endpoint) -> Result<(), StoreError> {
        let body = to_json(ep)?;
        self.db
            .lock()
            .prepare_cached(
                "INSERT INTO endpoints (id, org_id, created_ms, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            )
            .and_then(|mut s| {
                s.execute(params![ep.id.as_str(), ep.org_id.as_str(), ep.created_at.timestamp_millis(), body])
            })
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        self.owned("endpoints", id.as_str(), org)
    }

    async fn list_endpoints(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError> {
        self.bodies("SELECT body FROM endpoints WHERE org_id = ?1 ORDER BY created_ms, id", &[org.as_str()])
    }

    async fn delete_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<bool, StoreError> {
        let n = self
            .db
            .lock()
            .execute("DELETE FROM endpoints WHERE id = ?1 AND org_id = ?2", params![id.as_str(), org.as_str()])
            .map_err(unavailable)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl AttemptStore for LocalStore {
    async fn insert_attempt(&self, a: &Attempt) -> Result<(), StoreError> {
        let body = to_json(a)?;
        self.db
            .lock()
            .prepare_cached(
                "INSERT OR REPLACE INTO attempts (id, org_id, endpoint_id, event_id, status, created_ms, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    a.id.as_str(),
                    a.org_id.as_str(),
                    a.endpoint_id.as_str(),
                    a.event_id.as_str(),
                    a.status.as_str(),
                    a.created_at.timestamp_millis(),
                    body
                ])
            })
            .map_err(unavailable)?;
        Ok(())
    }

    async fn list_attempts(
        &self,
        org: &OrgId,
        endpoint: &EndpointId,
        q: &AttemptQuery,
    ) -> Result<Page<Attempt>, StoreError> {
        let (after_ms, after_id) = page_start(q.cursor.as_ref())?;
        // Statuses as ",a,b," so one prepared statement serves every filter.
        let statuses: String = if q.statuses.is_empty() {
            String::new()
        } else {
            format!(",{},", q.statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","))
        };
        let since = q.since.map_or(i64::MIN, |t| t.timestamp_millis());
        let limit = q.limit.clamp(1, 100);
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT body FROM attempts
                 WHERE endpoint_id = ?1 AND org_id = ?2
                   AND (?3 = '' OR instr(?3, ',' || status || ',') > 0)
                   AND created_ms >= ?4
                   AND (created_ms < ?5 OR (created_ms = ?5 AND (?6 = '' OR id < ?6)))
                 ORDER BY created_ms DESC, id DESC LIMIT ?7",
            )
            .map_err(unavailable)?;
        let bodies = stmt
            .query_map(
                params![endpoint.as_str(), org.as_str(), statuses, since, after_ms, after_id, (limit + 1) as i64],
                |r| r.get::<_, String>(0),
            )
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        let items: Vec<Attempt> = bodies.iter().map(|b| from_json(b)).collect::<Result<_, _>>()?;
        Ok(Page::from_overfetch(items, limit, |a| (a.created_at.timestamp_millis(), a.id.as_str())))
    }

    async fn list_event_attempts(&self, org: &OrgId, event: &EventId) -> Result<Vec<Attempt>, StoreError> {
        self.bodies(
            "SELECT body FROM attempts WHERE event_id = ?1 AND org_id = ?2 ORDER BY created_ms, id",
            &[event.as_str(), org.as_str()],
        )
    }
}

#[async_trait]
impl ScheduleStore for LocalStore {
    async fn put_job(&self, job: &Job) -> Result<(), StoreError> {
        let body = to_json(job)?;
        self.db
            .lock()
            .prepare_cached(
                "INSERT OR REPLACE INTO schedules (id, org_id, key, recurring, version, created_ms, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    job.id.as_str(),
                    job.org_id.as_str(),
                    job.key,
                    job.recurring.as_ref().map(|r| r.name.as_str()),
                    job.version as i64,
                    job.created_at.timestamp_millis(),
                    body
                ])
            })
            .map_err(unavailable)?;
        Ok(())
    }

    async fn put_job_if(&self, job: &Job, version: u64) -> Result<bool, StoreError> {
        let body = to_json(job)?;
        let n = self
            .db
            .lock()
            .prepare_cached(
                "UPDATE schedules SET key = ?3, version = ?4, body = ?5 WHERE id = ?1 AND org_id = ?2 AND version = ?6",
            )
            .and_then(|mut s| {
                s.execute(params![
                    job.id.as_str(),
                    job.org_id.as_str(),
                    job.key,
                    job.version as i64,
                    body,
                    version as i64
                ])
            })
            .map_err(unavailable)?;
        Ok(n > 0)
    }

    async fn get_job(&self, org: &OrgId, id: &ScheduleId) -> Result<Option<Job>, StoreError> {
        self.owned("schedules", id.as_str(), org)
    }

    async fn list_jobs(&self, org: &OrgId, q: &JobQuery) -> Result<Page<Job>, StoreError> {
        let (after_ms, after_id) = page_start(q.cursor.as_ref())?;
        let limit = q.limit.clamp(1, 100);
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT body FROM schedules
                 WHERE org_id = ?1 AND (?2 IS NULL OR key = ?2) AND (?3 IS NULL OR recurring = ?3)
                   AND (created_ms < ?4 OR (created_ms = ?4 AND (?5 = '' OR id < ?5)))
                 ORDER BY created_ms DESC, id DESC LIMIT ?6",
            )
            .map_err(unavailable)?;
        let bodies = stmt
            .query_map(params![org.as_str(), q.key, q.recurring, after_ms, after_id, (limit + 1) as i64], |r| {
                r.get::<_, String>(0)
            })
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        let items: Vec<Job> = bodies.iter().map(|b| from_json(b)).collect::<Result<_, _>>()?;
        Ok(Page::from_overfetch(items, limit, |j| (j.created_at.timestamp_millis(), j.id.as_str())))
    }

    async fn delete_job(&self, org: &OrgId, id: &ScheduleId) -> Result<bool, StoreError> {
        let n = self
            .db
            .lock()
            .execute("DELETE FROM schedules WHERE id = ?1 AND org_id = ?2", params![id.as_str(), org.as_str()])
            .map_err(unavailable)?;
        Ok(n > 0)
    }
}
