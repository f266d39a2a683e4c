//! Domain types: organisations, API keys, sources and events.

use crate::ids::{EventId, OrgId, SourceId};
use crate::provider::Provider;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A tenant's plan; it bounds how many webhooks the org may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// No outbound webhooks.
    Free,
    /// A few outbound webhooks.
    Starter,
    /// Unlimited.
    Pro,
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Org {
    /// Its id.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Its plan.
    pub plan: Plan,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// How many days its events and their attempts are kept, when not the deployment's
    /// default (`HOOKLINE_RETENTION_DAYS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
}

/// A secret value (source signing secret, token, API key). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself: call only where it is used, never to log or return it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A hint safe to show: the scheme prefix (if any) and the last four characters
    /// of a long secret, e.g. `whsec_…k3Zq`; short secrets show nothing of themselves.
    pub fn hint(&self) -> String {
        let s = &self.0;
        let prefix = s.find('_').filter(|i| *i <= 8).map(|i| &s[..=i]).unwrap_or("");
        let chars: Vec<char> = s.chars().collect();
        if chars.len() >= 20 {
            let tail: String = chars[chars.len() - 4..].iter().collect();
            format!("{prefix}…{tail}")
        } else {
            format!("{prefix}…")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// What a source's events are deduplicated by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DedupeBy {
    /// The provider's delivery id where it has one (Stripe's event id, `webhook-id`,
    /// `X-GitHub-Delivery`, `X-Shopify-Webhook-Id`), else `Idempotency-Key`, else the body.
    #[default]
    Provider,
    /// The SHA-256 of the signed body only. For senders whose delivery-id header is not
    /// signed: a replayed body is one event whatever headers come with it.
    Body,
}

impl DedupeBy {
    /// The default, left out of stored records.
    pub fn is_default(&self) -> bool {
        *self == DedupeBy::Provider
    }
}

/// An inbound source: where a provider sends its webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Its id; the ingest URL is `/in/{id}`.
    pub id: SourceId,
    /// The owning org.
    pub org_id: OrgId,
    /// A short name, also the first segment of its events' types (`stripe.invoice.paid`).
    pub name: String,
    /// Signature scheme and options.
    #[serde(flatten)]
    pub provider: Provider,
    /// Active secrets (several during a rotation).
    pub secrets: Vec<Secret>,
    /// What its events are deduplicated by.
    #[serde(default, skip_serializing_if = "DedupeBy::is_default")]
    pub dedupe: DedupeBy,
    /// Where its JSON bodies hold their ordering key, if its events are ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<crate::delivery::OrderingPointer>,
    /// The provider's API key to fetch each event back with (Stripe only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_back: Option<FetchBack>,
    /// What fetch-back last learned of that key, when it was refused or then accepted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_back_state: Option<FetchBackState>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Source {
    /// A new source with a fresh id, deduplicated by its provider's default.
    pub fn new(org_id: OrgId, name: String, provider: Provider, secrets: Vec<Secret>, now: DateTime<Utc>) -> Self {
        Self {
            id: SourceId::new(),
            org_id,
            name,
            provider,
            secrets,
            dedupe: DedupeBy::default(),
            ordering_key: None,
            fetch_back: None,
            fetch_back_state: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Fetch-back: each event a source receives is asked of the provider's API by its id,
/// which proves the id is real and gives the provider's current copy.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchBack {
    /// An API key that can read events (for Stripe a restricted key, `rk_…`, with read
    /// access to Events). Sealed like the source's secrets, never shown.
    pub api_key: Secret,
}

impl fmt::Debug for FetchBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FetchBack(key redacted)")
    }
}

/// Whether the provider's API took the fetch-back key when last asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Accepted.
    Ok,
    /// Refused as unknown or revoked (401).
    Unauthorized,
    /// Known but without read access to events (403).
    Forbidden,
}

/// What fetch-back last learned of its key; recorded when it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchBackState {
    /// The key's status.
    pub status: KeyStatus,
    /// When it was learned.
    pub at: DateTime<Utc>,
    /// The provider's own words, for a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A source name: 1–64 characters of `a-z 0-9 _ -`, starting with a letter, because it
/// becomes the first segment of event types.
pub fn validate_source_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err("name must be 1-64 characters of a-z, 0-9, _ or -, starting with a letter".into())
    }
}

/// The longest event type.
pub const EVENT_TYPE_MAX: usize = 256;

/// True for the bytes an event type may hold: ASCII letters and digits, `.`, `_`, `-`,
/// `:` and `/` (Shopify's `orders/create`). Nothing that could end a URL path, a header
/// or a filter pattern.
pub fn is_event_type_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/')
}

/// An event type: 1–256 of ASCII letters, digits, `.`, `_`, `-`, `:` and `/`, starting
/// with a letter or digit (so no type is a `.` or `..` path segment).
pub fn validate_event_type(t: &str) -> Result<(), String> {
    let starts_well = t.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if starts_well && t.len() <= EVENT_TYPE_MAX && t.bytes().all(is_event_type_byte) {
        Ok(())
    } else {
        Err(format!(
            "type must be 1-{EVENT_TYPE_MAX} characters of A-Z, a-z, 0-9, `.`, `_`, `-`, `:` and `/`, starting with a letter or digit"
        ))
    }
}

/// An endpoint's filter: `*`, an event type, or an event type's prefix followed by `.*`.
pub fn validate_filter(f: &str) -> Result<(), String> {
    let exact = f.strip_suffix(".*").unwrap_or(f);
    if f == "*" || validate_event_type(exact).is_ok() {
        Ok(())
    } else {
        Err(format!("`{f}` is not `*`, an event type, or an event type followed by `.*`"))
    }
}

/// An event: something a provider sent or an app published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Its id.
    pub id: EventId,
    /// The owning org.
    pub org_id: OrgId,
    /// Its type, e.g. `stripe.invoice.paid`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload as JSON.
    pub data: serde_json::Value,
    /// The source it came in through; `None` when published through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceId>,
    /// When Hookline accepted it.
    pub created_at: DateTime<Utc>,
    /// When its data was fetched back from the provider's API (its copy replacing the
    /// body that was sent); `None` for an event kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<DateTime<Utc>>,
    /// How many Hookline deliveries it came through: 0 for an event from a provider or
    /// an app, more for one a Hookline delivery fed back in (a loop).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hops: u32,
    /// When it and its attempts are deleted (`None`: recorded before retention, kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// For an event published with an ordering key: the key and the event's place in
    /// the org's stream for it, which every endpoint's lane orders by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<crate::delivery::LanePlace>,
}

/// For `skip_serializing_if`: a count of zero is left out of stored records.
pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An event that has come through this many Hookline deliveries is recorded but not
/// delivered again: an endpoint that feeds Hookline its own events (directly, or through
/// a relay) stops there instead of looping forever.
pub const MAX_HOPS: u32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_and_hint_hide_the_secret() {
        let s = Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        assert_eq!(format!("{s:?}"), "Secret(redacted)");
        assert_eq!(s.hint(), "whsec_…b7oD");
        assert_eq!(Secret::new("short").hint(), "…");
    }

    #[test]
    fn names_and_types_are_validated() {
        assert!(validate_source_name("stripe").is_ok());
        assert!(validate_source_name("Stripe").is_err());
        assert!(validate_source_name("").is_err());
        assert!(validate_source_name("a b").is_err());
        assert!(validate_event_type("invoice.paid").is_ok());
        assert!(validate_event_type("has space").is_err());
        assert!(validate_event_type("orders/create").is_ok());
        for bad in ["a?b", "a#b", "a@b", "a%2f", "a\\b", "*", "a.*", "é", "..", ".a", "/a", &"a".repeat(257)] {
            assert!(validate_event_type(bad).is_err(), "{bad}");
        }
        for good in ["*", "invoice.*", "invoice.paid", "orders/create"] {
            assert!(validate_filter(good).is_ok(), "{good}");
        }
        for bad in ["", "**", "a*", "*.b", "a.*.*", "a b.*"] {
            assert!(validate_filter(bad).is_err(), "{bad}");
        }
        assert!(validate_event_type("").is_err());
    }
}
