//! Sources as ingest needs them: loaded once, with their [`Verifier`] prepared, and kept
//! for a short TTL so the hot path touches no database.

use crate::cache::TtlCache;
use crate::domain::Source;
use crate::error::StoreError;
use crate::ids::SourceId;
use crate::ports::SourceStore;
use crate::signature::Verifier;
use std::sync::Arc;
use std::time::Duration;

/// A source and its prepared signature check.
#[derive(Debug)]
pub struct PreparedSource {
    /// The source.
    pub source: Source,
    /// Its check.
    pub verifier: Verifier,
}

/// A read-through cache of prepared sources.
#[derive(Debug)]
pub struct SourceCache<S> {
    store: S,
    // An unknown id is cached too (as `None`), so repeated probes cost one lookup.
    entries: TtlCache<SourceId, Option<Arc<PreparedSource>>>,
}

impl<S: SourceStore> SourceCache<S> {
    /// Cache `store`'s sources for `ttl` (also the time an unknown id stays unknown).
    pub fn new(store: S, ttl: Duration) -> Self {
        Self { store, entries: TtlCache::new(ttl) }
    }

    /// The source `id`, from the cache when fresh.
    pub async fn get(&self, id: &SourceId) -> Result<Option<Arc<PreparedSource>>, StoreError> {
        if let Some(entry) = self.entries.get(id) {
            return Ok(entry);
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
        self.entries.put(id.clone(), loaded.clone());
        Ok(loaded)
    }

    /// The store it reads through.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Forget `id`, so the next request loads it afresh (called when it changes).
    pub fn invalidate(&self, id: &SourceId) {
        self.entries.remove(id);
    }
}
