//! Sources as ingest needs them: loaded once, with their [`Verifier`] prepared, and kept
//! for a short TTL so the hot path touches no database.

use crate::domain::Source;
use crate::error::StoreError;
use crate::ids::SourceId;
use crate::ports::SourceStore;
use crate::signature::Verifier;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A source and its prepared signature check.
#[derive(Debug)]
pub struct PreparedSource {
    /// The source.
    pub source: Source,
    /// Its check.
    pub verifier: Verifier,
}

/// Entries beyond this are dropped wholesale: ids are random, so an attacker probing
/// made-up ids must not grow the cache without bound.
const MAX_ENTRIES: usize = 10_000;

type Entry = (Instant, Option<Arc<PreparedSource>>);

/// A read-through cache of prepared sources.
#[derive(Debug)]
pub struct SourceCache<S> {
    store: S,
    ttl: Duration,
    entries: RwLock<HashMap<SourceId, Entry>>,
}

impl<S: SourceStore> SourceCache<S> {
    /// Cache `store`'s sources for `ttl` (also the time an unknown id stays unknown).
    pub fn new(store: S, ttl: Duration) -> Self {
        Self { store, ttl, entries: RwLock::new(HashMap::new()) }
    }

    /// The source `id`, from the cache when fresh.
    pub async fn get(&self, id: &SourceId) -> Result<Option<Arc<PreparedSource>>, StoreError> {
        if let Some((at, entry)) = self.entries.read().unwrap_or_else(|e| e.into_inner()).get(id) {
            if at.elapsed() < self.ttl {
                return Ok(entry.clone());
            }
        }
        let loaded = self.store.get_source(id).await?.and_then(|source| {
            match Verifier::new(&source.provider, &source.secrets) {
                Ok(verifier) => Some(Arc::new(PreparedSource { source, verifier })),
                Err(e) => {
                    // Secrets are validated on write, so this is stored data gone bad.
                    tracing::error!(source = %id, error = %e, "source has unusable secrets");
                    None
                }
            }
        });
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(id.clone(), (Instant::now(), loaded.clone()));
        Ok(loaded)
    }

    /// Forget `id`, so the next request loads it afresh (called when it changes).
    pub fn invalidate(&self, id: &SourceId) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}
