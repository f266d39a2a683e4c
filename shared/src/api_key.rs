//! Org API keys: the key given once to its owner, the hash the store keeps, and the
//! record listed to the org (never the key).

use crate::domain::Secret;
use crate::ids::{ApiKeyId, OrgId};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// An org API key as given to its owner once: `hk_<random>`. Only its SHA-256 is stored.
#[derive(Clone)]
pub struct ApiKey(Secret);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(redacted)")
    }
}

impl ApiKey {
    /// A new random key with 192 bits of entropy.
    pub fn generate() -> Self {
        Self::random("hk_")
    }

    /// A new random portal token (`hkp_`), as strong as a key.
    pub fn generate_portal() -> Self {
        Self::random("hkp_")
    }

    fn random(prefix: &str) -> Self {
        let bytes: [u8; 24] = rand::rng().random();
        Self(Secret::new(format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// The key text, to return to its owner exactly once.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The stored form of the key.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(self.0.expose())
    }
}

/// The SHA-256 of an API key, hex encoded: what the store keeps and looks keys up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyHash(String);

impl KeyHash {
    /// Hash a presented key.
    pub fn of(key: &str) -> Self {
        Self(hex::encode(Sha256::digest(key.as_bytes())))
    }

    /// A hash as the store kept it.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a key reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    /// Every route of its org: an org API key.
    #[default]
    Org,
    /// Only the org's endpoints and their deliveries: a customer portal session.
    Portal,
}

impl KeyScope {
    fn is_org(&self) -> bool {
        *self == KeyScope::Org
    }
}

/// An org's key as stored: its hash and what the org may see of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Its id, derived from the hash.
    pub id: ApiKeyId,
    /// The org it authenticates.
    pub org_id: OrgId,
    /// The stored form of the key.
    pub hash: KeyHash,
    /// The key's first characters, so its owner can tell keys apart.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The last day (UTC) it authenticated a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_on: Option<NaiveDate>,
    /// What it reaches.
    #[serde(default, skip_serializing_if = "KeyScope::is_org")]
    pub scope: KeyScope,
    /// When it stops working (portal sessions); `None`: when revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    /// The record of a new key of `org`.
    pub fn new(key: &ApiKey, org: &OrgId, now: DateTime<Utc>) -> Self {
        let hash = key.hash();
        Self {
            id: ApiKeyRecord::id_of(&hash),
            org_id: org.clone(),
            prefix: key.expose().chars().take(KEY_PREFIX_LEN).collect(),
            hash,
            created_at: now,
            last_used_on: None,
            scope: KeyScope::Org,
            expires_at: None,
        }
    }

    /// The record of a portal session of `org` with token `key`, until `expires_at`.
    pub fn portal(key: &ApiKey, org: &OrgId, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> Self {
        Self { scope: KeyScope::Portal, expires_at: Some(expires_at), ..Self::new(key, org, now) }
    }

    /// Whether it works at `now`.
    pub fn live_at(&self, now: DateTime<Utc>) -> bool {
        live_at(self.expires_at, now)
    }

    /// The id of the key with this hash.
    pub fn id_of(hash: &KeyHash) -> ApiKeyId {
        ApiKeyId::derived(&[b"api-key", hash.as_str().as_bytes()])
    }

    /// The record of a key stored before keys had records: only its hash is known.
    pub fn legacy(hash: KeyHash, org: &OrgId, created_at: DateTime<Utc>) -> Self {
        Self {
            id: Self::id_of(&hash),
            org_id: org.clone(),
            hash,
            prefix: "hk_".into(),
            created_at,
            last_used_on: None,
            scope: KeyScope::Org,
            expires_at: None,
        }
    }
}

/// Whether a key that expires at `expires_at` (never: `None`) works at `now`.
pub fn live_at(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    expires_at.is_none_or(|e| e > now)
}

/// How many characters of a key its record keeps: `hk_` and five of its 32 random ones.
const KEY_PREFIX_LEN: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_random_and_hash_stably() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("hk_"));
        assert_eq!(a.hash(), KeyHash::of(a.expose()));
        assert_eq!(a.hash().as_str().len(), 64);
    }

    #[test]
    fn a_record_keeps_no_more_of_the_key_than_its_prefix() {
        let key = ApiKey::generate();
        let org = OrgId::new();
        let rec = ApiKeyRecord::new(&key, &org, Utc::now());
        assert_eq!(rec.prefix, key.expose()[..8]);
        assert_eq!(rec.id, ApiKeyRecord::id_of(&key.hash()));
        assert!(!serde_json::to_string(&rec).unwrap().contains(&key.expose()[8..]));
    }
}
