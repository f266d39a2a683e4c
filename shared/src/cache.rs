//! A small bounded map whose entries expire: what ingest keeps sources in and the API
//! keeps orgs-by-key in, so a burst of requests costs one store lookup.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// Entries beyond this are dropped wholesale: ids are random, so probing made-up ones
/// must not grow the map without bound.
const MAX_ENTRIES: usize = 10_000;

/// Values kept for `ttl`.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// An empty cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: RwLock::new(HashMap::new()) }
    }

    /// The value under `key`, if present and fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    /// Keep `value` under `key` from now.
    pub fn put(&self, key: K, value: V) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Forget `key`.
    pub fn remove(&self, key: &K) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    /// Forget every entry whose value `stale` says is out of date.
    pub fn remove_where(&self, stale: impl Fn(&V) -> bool) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).retain(|_, (_, v)| !stale(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_removed() {
        let c = TtlCache::new(Duration::from_millis(30));
        c.put("a", 1);
        assert_eq!(c.get(&"a"), Some(1));
        c.remove(&"a");
        assert_eq!(c.get(&"a"), None);
        c.put("b", 2);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&"b"), None, "stale entries are not served");
    }
}
