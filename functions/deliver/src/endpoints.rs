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
