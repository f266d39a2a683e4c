//! The store ports on SQLite. Records are kept as JSON next to the columns they are
//! queried by.

use super::{corrupt, LocalDb};
use crate::delivery::Attempt;
use crate::domain::{Event, Source};
use crate::error::StoreError;
use crate::ids::{AttemptId, EndpointId, EventId, OrgId, ScheduleId, SourceId};
use crate::ports::{
    cursor, AttemptQuery, AttemptStore, EventQuery, EventStore, JobQuery, Page, ScheduleStore, SourceStore,
};
use crate::schedule::Job;
use async_trait::async_trait;
use rusqlite::OptionalExtension;

mod endpoints;
mod keys;
mod lanes;
mod purge;
mod rejections;

pub use purge::purge_loop;

pub(crate) use endpoints::EndpointCache;

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

    /// The one column of every row a query finds: JSON records.
    async fn rows<P: rusqlite::Params + Send + 'static>(
        &self,
        sql: &'static str,
        args: P,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .db
            .call(move |conn| {
                conn.prepare_cached(sql)?.query_map(args, |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()
            })
            .await?)
    }

    /// Run a query whose one column is a JSON record, and decode every row.
    async fn bodies<T: serde::de::DeserializeOwned, P: rusqlite::Params + Send + 'static>(
        &self,
        sql: &'static str,
        args: P,
    ) -> Result<Vec<T>, StoreError> {
        self.rows(sql, args).await?.iter().map(|b| from_json(b)).collect()
    }

    /// Like [`LocalStore::bodies`], for records whose secrets are sealed.
    async fn sealed_bodies<T: serde::de::DeserializeOwned, P: rusqlite::Params + Send + 'static>(
        &self,
        sql: &'static str,
        args: P,
    ) -> Result<Vec<T>, StoreError> {
        self.db.sealer.open_records(self.rows(sql, args).await?).await
    }

    /// Run one statement; the number of rows it changed.
    async fn execute<P: rusqlite::Params + Send + 'static>(
        &self,
        sql: &'static str,
        args: P,
    ) -> Result<usize, StoreError> {
        Ok(self.db.call(move |conn| conn.prepare_cached(sql)?.execute(args)).await?)
    }

    /// The one JSON record a query finds, decoded.
    async fn body<T: serde::de::DeserializeOwned, P: rusqlite::Params + Send + 'static>(
        &self,
        sql: &'static str,
        args: P,
    ) -> Result<Option<T>, StoreError> {
        let body: Option<String> =
            self.db.call(move |conn| conn.prepare_cached(sql)?.query_row(args, |r| r.get(0)).optional()).await?;
        body.map(|b| from_json(&b)).transpose()
    }
}

impl LocalStore {
    /// The record `id` of `org` by `sql` (`SELECT body … WHERE id = ?1 AND org_id = ?2`).
    async fn owned<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
        id: &str,
        org: &OrgId,
    ) -> Result<Option<T>, StoreError> {
        self.body(sql, [id.to_owned(), org.to_string()]).await
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
impl SourceStore for LocalStore {
    async fn put_source(&self, source: &Source) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO sources (id, org_id, created_ms, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            (
                source.id.to_string(),
                source.org_id.to_string(),
                source.created_at.timestamp_millis(),
                self.db.sealer.seal_record(source).await?,
            ),
        )
        .await?;
        Ok(())
    }

    async fn get_source(&self, id: &SourceId) -> Result<Option<Source>, StoreError> {
        Ok(self.sealed_bodies("SELECT body FROM sources WHERE id = ?1", [id.to_string()]).await?.pop())
    }

    async fn list_sources(&self, org: &OrgId) -> Result<Vec<Source>, StoreError> {
        self.sealed_bodies("SELECT body FROM sources WHERE org_id = ?1 ORDER BY created_ms, id", [org.to_string()])
            .await
    }

    async fn delete_source(&self, org: &OrgId, id: &SourceId) -> Result<bool, StoreError> {
        let n = self
            .execute("DELETE FROM sources WHERE id = ?1 AND org_id = ?2", [id.to_string(), org.to_string()])
            .await?;
        Ok(n > 0)
    }

    async fn set_fetch_back_state(
        &self,
        id: &SourceId,
        state: &crate::domain::FetchBackState,
    ) -> Result<(), StoreError> {
        // The state is a plain field of the stored record, beside its sealed ones.
        self.execute(
            "UPDATE sources SET body = json_set(body, '$.fetch_back_state', json(?2)) WHERE id = ?1",
            (id.to_string(), to_json(state)?),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl EventStore for LocalStore {
    async fn insert_event(&self, event: &Event) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "INSERT INTO events (id, org_id, type, created_ms, body, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO NOTHING",
                (
                    event.id.to_string(),
                    event.org_id.to_string(),
                    event.event_type.clone(),
                    event.created_at.timestamp_millis(),
                    to_json(event)?,
                    event.expires_at.map(|t| t.timestamp_millis()),
                ),
            )
            .await?;
        Ok(n > 0)
    }

    async fn get_event(&self, org: &OrgId, id: &EventId) -> Result<Option<Event>, StoreError> {
        self.owned("SELECT body FROM events WHERE id = ?1 AND org_id = ?2", id.as_str(), org).await
    }

    async fn list_events(&self, org: &OrgId, q: &EventQuery) -> Result<Page<Event>, StoreError> {
        let limit = q.limit.clamp(1, 100);
        let items: Vec<Event> = match q.from {
            None => {
                let (before_ms, before_id) = page_start(q.cursor.as_ref())?;
                self.bodies(
                    "SELECT body FROM events
                     WHERE org_id = ?1 AND (?2 IS NULL OR type = ?2)
                       AND (created_ms < ?3 OR (created_ms = ?3 AND (?4 = '' OR id < ?4)))
                     ORDER BY created_ms DESC, id DESC LIMIT ?5",
                    (org.to_string(), q.event_type.clone(), before_ms, before_id, (limit + 1) as i64),
                )
                .await?
            }
            Some(from) => {
                // Every id sorts after '', so no cursor starts at `from` itself.
                let (after_ms, after_id) = match &q.cursor {
                    Some(c) => cursor::decode(c).ok_or(StoreError::InvalidCursor)?,
                    None => (from.timestamp_millis(), String::new()),
                };
                self.bodies(
                    "SELECT body FROM events
                     WHERE org_id = ?1 AND (?2 IS NULL OR type = ?2)
                       AND (created_ms > ?3 OR (created_ms = ?3 AND id > ?4))
                     ORDER BY created_ms, id LIMIT ?5",
                    (org.to_string(), q.event_type.clone(), after_ms, after_id, (limit + 1) as i64),
                )
                .await?
            }
        };
        Ok(Page::from_overfetch(items, limit, |e| (e.created_at.timestamp_millis(), e.id.as_str())))
    }
}

/// How an attempt is written.
#[derive(Debug, Clone, Copy)]
enum AttemptWrite {
    /// Only when no attempt has its id.
    IfNew,
    /// Whatever is there.
    Replace,
}

impl LocalStore {
    async fn write_attempt(&self, a: &Attempt, how: AttemptWrite) -> Result<usize, StoreError> {
        let sql = match how {
            AttemptWrite::IfNew => {
                "INSERT OR IGNORE INTO attempts (id, org_id, endpoint_id, event_id, status, created_ms, body, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            }
            AttemptWrite::Replace => {
                "INSERT OR REPLACE INTO attempts (id, org_id, endpoint_id, event_id, status, created_ms, body, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            }
        };
        self.execute(
            sql,
            (
                a.id.to_string(),
                a.org_id.to_string(),
                a.endpoint_id.to_string(),
                a.event_id.to_string(),
                a.status.as_str(),
                a.created_at.timestamp_millis(),
                to_json(a)?,
                a.expires_at.map(|t| t.timestamp_millis()),
            ),
        )
        .await
    }
}

#[async_trait]
impl AttemptStore for LocalStore {
    async fn insert_attempt(&self, a: &Attempt) -> Result<bool, StoreError> {
        Ok(self.write_attempt(a, AttemptWrite::IfNew).await? > 0)
    }

    async fn put_attempt(&self, a: &Attempt) -> Result<(), StoreError> {
        self.write_attempt(a, AttemptWrite::Replace).await.map(|_| ())
    }

    async fn get_attempt(&self, org: &OrgId, event: &EventId, id: &AttemptId) -> Result<Option<Attempt>, StoreError> {
        let sql = "SELECT body FROM attempts WHERE id = ?1 AND org_id = ?2 AND event_id = ?3";
        self.body(sql, [id.to_string(), org.to_string(), event.to_string()]).await
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
        let items: Vec<Attempt> = self
            .bodies(
                "SELECT body FROM attempts
                 WHERE endpoint_id = ?1 AND org_id = ?2
                   AND (?3 = '' OR instr(?3, ',' || status || ',') > 0)
                   AND created_ms >= ?4
                   AND (created_ms < ?5 OR (created_ms = ?5 AND (?6 = '' OR id < ?6)))
                 ORDER BY created_ms DESC, id DESC LIMIT ?7",
                (endpoint.to_string(), org.to_string(), statuses, since, after_ms, after_id, (limit + 1) as i64),
            )
            .await?;
        Ok(Page::from_overfetch(items, limit, |a| (a.created_at.timestamp_millis(), a.id.as_str())))
    }

    async fn list_event_attempts(&self, org: &OrgId, event: &EventId) -> Result<Vec<Attempt>, StoreError> {
        self.bodies(
            "SELECT body FROM attempts WHERE event_id = ?1 AND org_id = ?2 ORDER BY created_ms, id",
            [event.to_string(), org.to_string()],
        )
        .await
    }
}

#[async_trait]
impl ScheduleStore for LocalStore {
    async fn put_job(&self, job: &Job) -> Result<(), StoreError> {
        self.execute(
            "INSERT OR REPLACE INTO schedules (id, org_id, key, recurring, version, created_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            (
                job.id.to_string(),
                job.org_id.to_string(),
                job.key.clone(),
                job.recurring.as_ref().map(|r| r.name.clone()),
                job.version as i64,
                job.created_at.timestamp_millis(),
                to_json(job)?,
            ),
        )
        .await?;
        Ok(())
    }

    async fn put_job_if(&self, job: &Job, version: u64) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "UPDATE schedules SET key = ?3, version = ?4, body = ?5 WHERE id = ?1 AND org_id = ?2 AND version = ?6",
                (
                    job.id.to_string(),
                    job.org_id.to_string(),
                    job.key.clone(),
                    job.version as i64,
                    to_json(job)?,
                    version as i64,
                ),
            )
            .await?;
        Ok(n > 0)
    }

    async fn get_job(&self, org: &OrgId, id: &ScheduleId) -> Result<Option<Job>, StoreError> {
        self.owned("SELECT body FROM schedules WHERE id = ?1 AND org_id = ?2", id.as_str(), org).await
    }

    async fn list_jobs(&self, org: &OrgId, q: &JobQuery) -> Result<Page<Job>, StoreError> {
        let (after_ms, after_id) = page_start(q.cursor.as_ref())?;
        let limit = q.limit.clamp(1, 100);
        let items: Vec<Job> = self
            .bodies(
                "SELECT body FROM schedules
                 WHERE org_id = ?1 AND (?2 IS NULL OR key = ?2) AND (?3 IS NULL OR recurring = ?3)
                   AND (created_ms < ?4 OR (created_ms = ?4 AND (?5 = '' OR id < ?5)))
                 ORDER BY created_ms DESC, id DESC LIMIT ?6",
                (org.to_string(), q.key.clone(), q.recurring.clone(), after_ms, after_id, (limit + 1) as i64),
            )
            .await?;
        Ok(Page::from_overfetch(items, limit, |j| (j.created_at.timestamp_millis(), j.id.as_str())))
    }

    async fn delete_job(&self, org: &OrgId, id: &ScheduleId) -> Result<bool, StoreError> {
        let n = self
            .execute("DELETE FROM schedules WHERE id = ?1 AND org_id = ?2", [id.to_string(), org.to_string()])
            .await?;
        Ok(n > 0)
    }
}
