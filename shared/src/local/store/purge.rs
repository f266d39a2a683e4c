//! Retention in `hookline dev`: expired events and attempts are deleted a small batch
//! at a time, so the database thread never holds deliveries up for long.

use super::LocalStore;
use crate::error::StoreError;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::sync::watch;

/// Rows deleted per statement.
const PURGE_BATCH: usize = 500;

impl LocalStore {
    /// Delete up to `batch` attempts and up to `batch` events that expired by `now`; how
    /// many rows went.
    pub async fn purge_expired(&self, now: DateTime<Utc>, batch: usize) -> Result<usize, StoreError> {
        let mut purged = 0;
        for sql in PURGES {
            purged += self.execute(sql, (now.timestamp_millis(), batch as i64)).await?;
        }
        Ok(purged)
    }
}

/// One statement per table: attempts first, so none outlives its event; then lane
/// places left by a job that never finished (its endpoint deleted meanwhile), and
/// rejection records.
const PURGES: [&str; 4] = [
    "DELETE FROM attempts WHERE rowid IN (SELECT rowid FROM attempts WHERE expires_ms <= ?1 LIMIT ?2)",
    "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE expires_ms <= ?1 LIMIT ?2)",
    "DELETE FROM lanes WHERE (lane, position) IN
       (SELECT lane, position FROM lanes WHERE expires_ms <= ?1 LIMIT ?2)",
    "DELETE FROM rejections WHERE (source_id, slot) IN
       (SELECT source_id, slot FROM rejections WHERE expires_ms <= ?1 LIMIT ?2)",
];

/// Purge expired records every `every` until `stop`: batch after batch while there is a
/// backlog, each its own short write among the deliveries' writes.
pub async fn purge_loop(store: LocalStore, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        match store.purge_expired(Utc::now(), PURGE_BATCH).await {
            Ok(n) if n > 0 => {
                tracing::debug!(rows = n, "expired records purged");
                if n >= PURGE_BATCH {
                    tokio::task::yield_now().await;
                    continue;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not purge expired records"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{Attempt, DeliveryJob, Payload};
    use crate::ids::{EndpointId, EventId, OrgId};
    use crate::local::LocalDb;
    use crate::ports::{AttemptStore, EventStore};
    use crate::Event;

    async fn record(store: &LocalStore, org: &OrgId, expires_at: Option<DateTime<Utc>>) -> EventId {
        let event = Event {
            id: EventId::new(),
            org_id: org.clone(),
            event_type: "a.b".into(),
            data: serde_json::json!({}),
            source: None,
            created_at: Utc::now(),
            hops: 0,
            fetched_at: None,
            expires_at,
            ordering: None,
        };
        store.insert_event(&event).await.unwrap();
        let payload = Payload::new(event.id.clone(), "a.b".into(), event.created_at, event.data.clone());
        let job = DeliveryJob::first(org.clone(), EndpointId::new(), expires_at, payload);
        store.insert_attempt(&Attempt::of_job(&job, Utc::now())).await.unwrap();
        event.id
    }

    #[tokio::test]
    async fn only_what_expired_is_purged_a_batch_at_a_time() {
        let store = LocalStore::new(LocalDb::in_memory().unwrap());
        let org = OrgId::new();
        let now = Utc::now();
        let mut expired = Vec::new();
        for _ in 0..3 {
            expired.push(record(&store, &org, Some(now - chrono::Duration::seconds(1))).await);
        }
        let later = record(&store, &org, Some(now + chrono::Duration::days(1))).await;
        let forever = record(&store, &org, None).await;

        assert_eq!(store.purge_expired(now, 2).await.unwrap(), 4, "two attempts and two events");
        assert_eq!(store.purge_expired(now, 2).await.unwrap(), 2);
        assert_eq!(store.purge_expired(now, 2).await.unwrap(), 0);
        for id in &expired {
            assert!(store.get_event(&org, id).await.unwrap().is_none());
            assert!(store.list_event_attempts(&org, id).await.unwrap().is_empty());
        }
        for id in [&later, &forever] {
            assert!(store.get_event(&org, id).await.unwrap().is_some());
            assert_eq!(store.list_event_attempts(&org, id).await.unwrap().len(), 1);
        }
    }
}
