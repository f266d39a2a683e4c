//! Endpoints on the local store, the cache of each org's list that routing and
//! delivery read for every event, and the send slots of rate-limited endpoints.

use super::LocalStore;
use crate::delivery::Endpoint;
use crate::error::StoreError;
use crate::ids::{EndpointId, OrgId};
use crate::ports::EndpointStore;
use async_trait::async_trait;
use std::sync::Arc;

/// Each org's endpoints as last read, since routing and delivery read them for every
/// event. Every endpoint write goes through this process's store, which drops the org's
/// entry once the write is committed, so the cache never serves a committed change late.
#[derive(Debug, Default)]
pub(crate) struct EndpointCache {
    inner: std::sync::Mutex<CachedLists>,
}

/// A generation bumped by every write, and the lists read since.
#[derive(Debug, Default)]
struct CachedLists {
    generation: u64,
    lists: std::collections::HashMap<OrgId, Arc<Vec<Endpoint>>>,
}

impl EndpointCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CachedLists> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached list, or the generation a fresh read must be stored under.
    fn get(&self, org: &OrgId) -> Result<Arc<Vec<Endpoint>>, u64> {
        let inner = self.lock();
        inner.lists.get(org).cloned().ok_or(inner.generation)
    }

    /// Keep a list read at generation `seen`, unless a write came in between.
    fn put(&self, org: OrgId, seen: u64, list: Arc<Vec<Endpoint>>) {
        let mut inner = self.lock();
        if inner.generation == seen {
            inner.lists.insert(org, list);
        }
    }

    /// Forget `org`'s list after a write (whether or not it committed).
    fn invalidate(&self, org: &OrgId) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.lists.remove(org);
    }
}

impl LocalStore {
    /// An org's endpoints, oldest first, from the cache when it has them.
    async fn endpoints(&self, org: &OrgId) -> Result<Arc<Vec<Endpoint>>, StoreError> {
        let seen = match self.db.endpoints.get(org) {
            Ok(list) => return Ok(list),
            Err(generation) => generation,
        };
        let list: Arc<Vec<Endpoint>> = Arc::new(
            self.sealed_bodies(
                "SELECT body FROM endpoints WHERE org_id = ?1 ORDER BY created_ms, id",
                [org.to_string()],
            )
            .await?,
        );
        self.db.endpoints.put(org.clone(), seen, list.clone());
        Ok(list)
    }
}

#[async_trait]
impl EndpointStore for LocalStore {
    async fn create_endpoint(&self, ep: &Endpoint, limit: Option<usize>) -> Result<bool, StoreError> {
        let limit = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let written = self
            .execute(
                "INSERT INTO endpoints (id, org_id, created_ms, body)
                 SELECT ?1, ?2, ?3, ?4 WHERE (SELECT COUNT(*) FROM endpoints WHERE org_id = ?2) < ?5",
                (
                    ep.id.to_string(),
                    ep.org_id.to_string(),
                    ep.created_at.timestamp_millis(),
                    self.db.sealer.seal_record(ep).await?,
                    limit,
                ),
            )
            .await;
        self.db.endpoints.invalidate(&ep.org_id);
        Ok(written? > 0)
    }

    async fn put_endpoint_if(&self, ep: &Endpoint, version: u64) -> Result<bool, StoreError> {
        let written = self
            .execute(
                "UPDATE endpoints SET body = ?3
                 WHERE id = ?1 AND org_id = ?2 AND IFNULL(json_extract(body, '$.version'), 0) = ?4",
                (ep.id.to_string(), ep.org_id.to_string(), self.db.sealer.seal_record(ep).await?, version as i64),
            )
            .await;
        self.db.endpoints.invalidate(&ep.org_id);
        Ok(written? > 0)
    }

    async fn get_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        Ok(self.endpoints(org).await?.iter().find(|ep| &ep.id == id).cloned())
    }

    async fn list_endpoints(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError> {
        Ok(self.endpoints(org).await?.to_vec())
    }

    async fn delete_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<bool, StoreError> {
        let deleted = self
            .execute("DELETE FROM endpoints WHERE id = ?1 AND org_id = ?2", [id.to_string(), org.to_string()])
            .await;
        self.db.endpoints.invalidate(org);
        Ok(deleted? > 0)
    }
}

#[async_trait]
impl crate::ports::SlotStore for LocalStore {
    async fn claim_slot(
        &self,
        endpoint: &EndpointId,
        interval: std::time::Duration,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        let mut slots = self.db.slots.lock().map_err(|_| StoreError::Unavailable("slots lock poisoned".into()))?;
        let next = slots.get(endpoint).copied();
        let (slot, next) = crate::delivery::rate::claim(next, now.timestamp_micros(), interval.as_micros() as i64);
        slots.insert(endpoint.clone(), next);
        Ok(chrono::DateTime::from_timestamp_micros(slot).unwrap_or(now))
    }
}
