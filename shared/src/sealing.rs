//! Secrets at rest. Endpoint and source secrets, and the headers an endpoint is sent
//! with (often credentials), are sealed (AES-256-GCM) before a store writes them, so a table export or a copy of the database file does not give them
//! away. On AWS the key is a KMS data key (envelope encryption: each sealed value
//! carries its data key encrypted under the stack's KMS key, see `aws::KmsKeys`); in
//! `hookline dev` it is a key file beside the database.
//!
//! A sealed value is `hl1.<key ref>.<base64url(nonce ‖ ciphertext ‖ tag)>`, bound to the
//! id of the record it belongs to, so it cannot be moved onto another record.

use crate::error::StoreError;
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom as _, SystemRandom};
use std::sync::Arc;

const PREFIX: &str = "hl1";
/// The fields of a record that are sealed (as the domain types name them), and the one
/// that holds them sealed when stored.
const PLAIN_FIELDS: [&str; 3] = ["secrets", "headers", "fetch_back"];
const SEALED_FIELD: &str = "sealed";

/// A 256-bit data key.
#[derive(Clone)]
pub struct DataKey(Arc<LessSafeKey>);

impl DataKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| corrupt("a data key must be 32 bytes"))?;
        Ok(Self(Arc::new(LessSafeKey::new(key))))
    }

    /// 32 fresh random bytes.
    pub fn random_bytes() -> Result<[u8; 32], StoreError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| unavailable("no randomness for a key"))?;
        Ok(bytes)
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(redacted)")
    }
}

/// Where data keys come from.
#[async_trait]
pub trait KeySource: Send + Sync + std::fmt::Debug {
    /// The key to seal with now, and the reference that finds it again (no `.` in it).
    async fn current(&self) -> Result<(String, DataKey), StoreError>;
    /// The key a reference names.
    async fn key_for(&self, reference: &str) -> Result<DataKey, StoreError>;
}

/// One fixed key, named `local` (the key file of `hookline dev`, a random one in tests).
#[derive(Debug, Clone)]
pub struct FixedKey(DataKey);

impl FixedKey {
    /// The key of `bytes`.
    pub fn new(bytes: &[u8]) -> Result<Self, StoreError> {
        Ok(Self(DataKey::from_bytes(bytes)?))
    }
}

#[async_trait]
impl KeySource for FixedKey {
    async fn current(&self) -> Result<(String, DataKey), StoreError> {
        Ok(("local".into(), self.0.clone()))
    }

    async fn key_for(&self, reference: &str) -> Result<DataKey, StoreError> {
        match reference {
            "local" => Ok(self.0.clone()),
            _ => Err(corrupt("sealed with a key this store does not have")),
        }
    }
}

/// Seals and opens secrets with the keys of a [`KeySource`].
#[derive(Debug, Clone)]
pub struct Sealer(Arc<dyn KeySource>);

impl Sealer {
    /// A sealer using `keys`.
    pub fn new(keys: impl KeySource + 'static) -> Self {
        Self(Arc::new(keys))
    }

    /// Seal `plain`, bound to `context` (the id of the record it belongs to).
    pub async fn seal(&self, plain: &[u8], context: &str) -> Result<String, StoreError> {
        let (reference, key) = self.0.current().await?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| unavailable("no randomness for a nonce"))?;
        let mut data = plain.to_vec();
        key.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| unavailable("sealing failed"))?;
        Ok(format!("{PREFIX}.{reference}.{}", B64.encode([&nonce[..], &data].concat())))
    }

    /// Open what [`Sealer::seal`] sealed for `context`.
    pub async fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, StoreError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(PREFIX), Some(reference), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(corrupt("not a sealed value"));
        };
        let key = self.0.key_for(reference).await?;
        let mut data = B64.decode(data).map_err(|_| corrupt("sealed value is not base64"))?;
        if data.len() < NONCE_LEN {
            return Err(corrupt("sealed value too short"));
        }
        let nonce = Nonce::try_assume_unique_for_key(&data[..NONCE_LEN]).map_err(|_| corrupt("bad nonce"))?;
        let plain = key
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data[NONCE_LEN..])
            .map_err(|_| corrupt("sealed value does not open with its key and record"))?;
        Ok(plain.to_vec())
    }

    /// `record` as stored: its `secrets`, `headers` and `fetch_back` sealed together into `sealed`,
    /// bound to its `id`.
    pub async fn seal_record<T: serde::Serialize>(&self, record: &T) -> Result<String, StoreError> {
        let mut value = serde_json::to_value(record).map_err(|e| corrupt(&e.to_string()))?;
        let serde_json::Value::Object(fields) = &mut value else {
            return Err(corrupt("a record is a JSON object"));
        };
        let context = fields.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let hidden: serde_json::Map<String, serde_json::Value> =
            PLAIN_FIELDS.iter().filter_map(|f| Some(((*f).to_owned(), fields.remove(*f)?))).collect();
        let plain = serde_json::to_vec(&hidden).map_err(|e| corrupt(&e.to_string()))?;
        let sealed = self.seal(&plain, &context).await?;
        fields.insert(SEALED_FIELD.into(), serde_json::Value::String(sealed));
        serde_json::to_string(&value).map_err(|e| corrupt(&e.to_string()))
    }

    /// A record from what [`Sealer::seal_record`] stored. One stored before sealing (its
    /// fields in plain) reads as it is, and is sealed when next written.
    pub async fn open_record<T: serde::de::DeserializeOwned>(&self, stored: &str) -> Result<T, StoreError> {
        let mut value: serde_json::Value = serde_json::from_str(stored).map_err(|e| corrupt(&e.to_string()))?;
        if let serde_json::Value::Object(fields) = &mut value {
            if let Some(serde_json::Value::String(sealed)) = fields.remove(SEALED_FIELD) {
                let context = fields.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                let plain = self.open(&sealed, &context).await?;
                let hidden: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&plain).map_err(|e| corrupt(&e.to_string()))?;
                fields.extend(hidden);
            }
        }
        serde_json::from_value(value).map_err(|e| corrupt(&e.to_string()))
    }

    /// Several records, in order, opened a few at a time: records sealed by different
    /// processes carry different data keys, and a cold process fetches each key once, so
    /// a listing waits for about one fetch rather than one per key in turn.
    pub async fn open_records<T: serde::de::DeserializeOwned>(
        &self,
        stored: impl IntoIterator<Item = String>,
    ) -> Result<Vec<T>, StoreError> {
        use futures::{StreamExt as _, TryStreamExt as _};
        futures::stream::iter(stored)
            .map(|row| async move { self.open_record(&row).await })
            .buffered(OPEN_AT_ONCE)
            .try_collect()
            .await
    }
}

/// Records [`Sealer::open_records`] opens at once.
const OPEN_AT_ONCE: usize = 16;

fn corrupt(why: &str) -> StoreError {
    StoreError::Corrupt(why.to_owned())
}

fn unavailable(why: &str) -> StoreError {
    StoreError::Unavailable(why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sealer() -> Sealer {
        Sealer::new(FixedKey::new(&DataKey::random_bytes().unwrap()).unwrap())
    }

    /// Keys `a` to `h`, each fetched slowly; counts fetches at once.
    #[derive(Debug, Default)]
    struct SlowKeys {
        open: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl KeySource for SlowKeys {
        async fn current(&self) -> Result<(String, DataKey), StoreError> {
            Ok(("a".into(), DataKey::from_bytes(&[b'a'; 32])?))
        }

        async fn key_for(&self, reference: &str) -> Result<DataKey, StoreError> {
            use std::sync::atomic::Ordering::SeqCst;
            let now = self.open.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            self.open.fetch_sub(1, SeqCst);
            DataKey::from_bytes(&[reference.as_bytes()[0]; 32])
        }
    }

    #[tokio::test]
    async fn a_listing_fetches_its_keys_at_once_and_keeps_its_order() {
        let mut stored = Vec::new();
        for (i, k) in "abcdefgh".chars().enumerate() {
            let sealer = Sealer::new(FixedKey::new(&[k as u8; 32]).unwrap());
            let record = json!({"id": format!("ep_{i}"), "secrets": [format!("s{i}")]});
            // Each as if sealed by another process, under its own key.
            stored.push(sealer.seal_record(&record).await.unwrap().replace(".local.", &format!(".{k}.")));
        }
        let keys = Arc::new(SlowKeys::default());
        let reader = Sealer(keys.clone());
        let opened: Vec<serde_json::Value> = reader.open_records(stored).await.unwrap();
        let ids: Vec<&str> = opened.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["ep_0", "ep_1", "ep_2", "ep_3", "ep_4", "ep_5", "ep_6", "ep_7"]);
        assert_eq!(opened[5]["secrets"], json!(["s5"]));
        assert_eq!(keys.most.load(std::sync::atomic::Ordering::SeqCst), 8, "all eight keys fetched at once");
    }

    #[tokio::test]
    async fn records_keep_their_secrets_sealed_and_bound_to_their_id() {
        let s = sealer();
        let record = json!({
            "id": "ep_1",
            "url": "https://x",
            "secrets": [{"secret": "whsec_top"}],
            "headers": {"authorization": "Bearer tok"}
        });
        let stored = s.seal_record(&record).await.unwrap();
        assert!(!stored.contains("whsec_top") && !stored.contains("tok"), "{stored}");
        assert!(stored.contains("\"sealed\":\"hl1.local."), "{stored}");
        assert_eq!(s.open_record::<serde_json::Value>(&stored).await.unwrap(), record);

        // Moved onto another record, or opened with another key, it does not open.
        let moved = stored.replace("ep_1", "ep_2");
        assert!(matches!(s.open_record::<serde_json::Value>(&moved).await, Err(StoreError::Corrupt(_))));
        assert!(matches!(sealer().open_record::<serde_json::Value>(&stored).await, Err(StoreError::Corrupt(_))));
        // A record from before sealing reads as it was.
        let plain = record.to_string();
        assert_eq!(s.open_record::<serde_json::Value>(&plain).await.unwrap(), record);
        for bad in ["x", "hl1.local", "hl1.local.!!", "hl1.local.AAAA", "hl1.other.AAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            assert!(s.open(bad, "ep_1").await.is_err(), "{bad}");
        }
    }
}
