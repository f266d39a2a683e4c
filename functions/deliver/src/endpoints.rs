//! Endpoints as `deliver` reads them. In Lambda through a cache that keeps each one for a
//! few seconds, so a burst of deliveries to one endpoint costs one read rather than one
//! each; a change (a new URL, a disable) reaches every container within that time, and
//! the container that disables an endpoint sees it at once. Concurrent misses for one
//! endpoint (a batch of its deliveries) wait for a single read. In `hookline dev`, uncached.

use hookline_shared::cache::TtlCache;
use hookline_shared::delivery::Endpoint;
use hookline_shared::ports::EndpointStore;
use hookline_shared::{EndpointId, OrgId, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Key = (OrgId, EndpointId);

/// A read-through endpoint cache (or none).
#[derive(Debug, Default)]
pub struct EndpointCache {
    entries: Option<TtlCache<Key, Option<Endpoint>>>,
    /// One lock per endpoint being read, so its concurrent misses make one read.
    loading: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

/// Locks beyond this are dropped wholesale (a held one lives on with its holder).
const MAX_LOCKS: usize = 10_000;

impl EndpointCache {
    /// Keep endpoints for `ttl` (zero: no cache).
    pub fn new(ttl: Duration) -> Self {
        Self { entries: (!ttl.is_zero()).then(|| TtlCache::new(ttl)), loading: Mutex::default() }
    }

    /// Endpoint `id` of `org` (a deleted one is remembered as gone too).
    pub async fn get<S: EndpointStore>(
        &self,
        store: &S,
        org: &OrgId,
        id: &EndpointId,
    ) -> Result<Option<Endpoint>, StoreError> {
        let Some(cache) = &self.entries else { return store.get_endpoint(org, id).await };
        let key = (org.clone(), id.clone());
        if let Some(hit) = cache.get(&key) {
            return Ok(hit);
        }
        let lock = {
            let mut loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
            if loading.len() >= MAX_LOCKS {
                loading.clear();
            }
            loading.entry(key.clone()).or_default().clone()
        };
        let _reading = lock.lock().await;
        if let Some(hit) = cache.get(&key) {
            return Ok(hit);
        }
        let endpoint = store.get_endpoint(org, id).await?;
        cache.put(key, endpoint.clone());
        Ok(endpoint)
    }

    /// Read endpoint `id` afresh next time (this container changed it).
    pub fn forget(&self, org: &OrgId, id: &EndpointId) {
        if let Some(c) = &self.entries {
            c.remove(&(org.clone(), id.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use hookline_shared::local::{LocalDb, LocalStore};

    #[tokio::test]
    async fn a_cached_endpoint_is_served_until_it_expires_or_is_forgotten() {
        let store = LocalStore::new(LocalDb::in_memory().unwrap());
        let ep = Endpoint::new(OrgId::new(), "https://a.example/hook".into(), vec!["*".into()], Utc::now());
        store.create_endpoint(&ep, None).await.unwrap();
        let (cached, uncached) = (EndpointCache::new(Duration::from_secs(60)), EndpointCache::new(Duration::ZERO));
        assert_eq!(cached.get(&store, &ep.org_id, &ep.id).await.unwrap().unwrap().url, ep.url);

        let moved = Endpoint { url: "https://b.example/hook".into(), version: ep.version + 1, ..ep.clone() };
        assert!(store.put_endpoint_if(&moved, ep.version).await.unwrap());
        let url = |e: Option<Endpoint>| e.unwrap().url;
        assert_eq!(url(cached.get(&store, &ep.org_id, &ep.id).await.unwrap()), ep.url, "kept within its time");
        assert_eq!(url(uncached.get(&store, &ep.org_id, &ep.id).await.unwrap()), moved.url, "zero: read each time");
        cached.forget(&ep.org_id, &ep.id);
        assert_eq!(url(cached.get(&store, &ep.org_id, &ep.id).await.unwrap()), moved.url, "read afresh");
        let other_org = OrgId::new();
        assert!(cached.get(&store, &other_org, &ep.id).await.unwrap().is_none(), "another org's id is not found");
    }
}
