//! The inbox message: what `ingest` and the publish API hand `verify` through the
//! `inbox` queue, and how a request body is kept on it.

use crate::domain::DedupeBy;
use crate::ids::{EventId, OrgId, SourceId};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What `ingest` and the publish API put on the `inbox` queue for `verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboxMessage {
    /// A provider's request that passed the signature check, kept as received.
    Inbound(InboundRequest),
    /// An event published by an app through `POST /v1/events`.
    Publish(PublishRequest),
}

/// A raw accepted provider request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundRequest {
    /// The source it arrived on.
    pub source_id: SourceId,
    /// The source's org.
    pub org_id: OrgId,
    /// The source's name when it was accepted (first segment of the event type).
    pub source_name: String,
    /// The source's provider name (`stripe`, `github`, …).
    pub provider: String,
    /// When ingest accepted it.
    pub received_at: DateTime<Utc>,
    /// The headers `verify` needs (lower-case names), never credentials.
    pub headers: Vec<(String, String)>,
    /// The body: UTF-8 text as is, anything else base64-encoded.
    pub body: Body,
    /// The source's dedupe setting when it was accepted.
    #[serde(default, skip_serializing_if = "DedupeBy::is_default")]
    pub dedupe: DedupeBy,
    /// Its ordering key, found where its source says (see `delivery/lane.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<crate::delivery::OrderingKey>,
    /// Its source fetches each event back from the provider's API (verify loads the
    /// source for the key only then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fetch_back: bool,
    /// The body is already the provider's copy, fetched from its API then (a back-fill):
    /// it is not fetched again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<DateTime<Utc>>,
}

/// The id of the event a source's request becomes, from its dedupe key: the same key on
/// the same source is the same event (so a repeat, or a back-fill of an event that
/// arrived, finds it).
pub fn inbound_event_id(source: &SourceId, dedupe_key: &str) -> EventId {
    EventId::derived(&[source.as_str().as_bytes(), dedupe_key.as_bytes()])
}

/// The dedupe key of a request that carries the provider's own delivery or event id.
pub fn provider_dedupe_key(id: &str) -> String {
    format!("id:{id}")
}

impl InboundRequest {
    /// The first value of a header (names are stored lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A request body, kept compact on the queue: text stays text, binary becomes base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// A UTF-8 body.
    Text(String),
    /// Any other body, base64.
    Base64(String),
}

impl Body {
    /// Wrap raw bytes: text as is, unless quoting it in JSON would make it larger than
    /// base64 would (control characters quote as six bytes each), so a body's queued
    /// form is never more than 4/3 of its size.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(s) if quoted_len(s) <= bytes.len().div_ceil(3) * 4 => Body::Text(s.to_owned()),
            _ => Body::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    /// The raw bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        match self {
            Body::Text(s) => Ok(s.as_bytes().to_vec()),
            Body::Base64(b) => base64::engine::general_purpose::STANDARD.decode(b),
        }
    }
}

/// The length of `s` quoted as a JSON string, quotes left out.
fn quoted_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// An event's data as it is kept: the body's JSON as sent, or `{"raw": "<base64>"}` for
/// a body that is not JSON.
pub fn event_data(raw: &[u8]) -> serde_json::Value {
    serde_json::from_slice(raw)
        .unwrap_or_else(|_| serde_json::json!({ "raw": base64::engine::general_purpose::STANDARD.encode(raw) }))
}

/// True when a body's kept form ([`event_data`]) is larger than an event may hold.
/// Re-serialised JSON can grow (a number such as `1e15` is written out in full, up to
/// about 4.5 times its text), so bodies under a fifth of the limit are never measured.
pub fn too_large_to_keep(raw: &[u8]) -> bool {
    raw.len() > crate::config::MAX_EVENT_DATA_BYTES / 5
        && event_data(raw).to_string().len() > crate::config::MAX_EVENT_DATA_BYTES
}

/// An event published by an app, accepted but not yet recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishRequest {
    /// The id already returned to the caller.
    pub event_id: EventId,
    /// The publishing org.
    pub org_id: OrgId,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Payload.
    pub data: serde_json::Value,
    /// When the API accepted it.
    pub received_at: DateTime<Utc>,
    /// The id is derived from the caller's key (`Idempotency-Key`, a scheduled run), so
    /// a repeat may come after its dedupe key expired and must still find the event.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub id_from_key: bool,
    /// Its ordering key: it reaches each endpoint after the org's earlier events with
    /// the same key (see `delivery/lane.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<crate::delivery::OrderingKey>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trips_text_and_binary() {
        assert_eq!(Body::from_bytes(b"{}"), Body::Text("{}".into()));
        // Text that would quote six times larger goes as base64 (and still round-trips).
        let controls = [0x01u8; 300];
        assert!(matches!(Body::from_bytes(&controls), Body::Base64(_)));
        assert_eq!(Body::from_bytes(&controls).to_bytes().unwrap(), controls);
        assert_eq!(Body::from_bytes(b"a\"quoted\" line\n"), Body::Text("a\"quoted\" line\n".into()));
        assert!(serde_json::to_string(&Body::from_bytes(&[b'"'; 3000])).unwrap().len() <= 4000 + 20);
        let bin = [0xff, 0x00, 0x80];
        assert!(matches!(Body::from_bytes(&bin), Body::Base64(_)));
        assert_eq!(Body::from_bytes(&bin).to_bytes().unwrap(), bin);
    }

    #[test]
    fn bodies_whose_kept_form_is_too_large_are_found() {
        let limit = crate::config::MAX_EVENT_DATA_BYTES;
        assert!(!too_large_to_keep(&vec![b'x'; crate::config::MAX_BODY_LIMIT]), "base64 of the cap fits");
        // 60,000 numbers of 4 characters each, each written out as 18.
        let numbers = format!("[{}1]", "1e15,".repeat(60_000));
        assert!(numbers.len() < limit && too_large_to_keep(numbers.as_bytes()));
        assert!(!too_large_to_keep(format!("[{}1]", "1e15,".repeat(10_000)).as_bytes()));
        assert_eq!(event_data(b"not json"), serde_json::json!({"raw": "bm90IGpzb24="}));
    }
}
