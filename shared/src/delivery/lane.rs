//! Ordered delivery: the deliveries of one ordering key to one endpoint form a lane.
//! A lane's deliveries go out one at a time in the order their events were published:
//! only the job standing first is on a queue, and when it is done (delivered, exhausted
//! or failed) it leaves the lane and sends the one behind it.
//!
//! Joining writes, then reads who stands first; leaving deletes, then reads who stands
//! first. Both read after their own write, so whichever of a join and a leave comes
//! second sees the other's change: the job behind is sent at least once (twice at most,
//! and its attempt id makes the repeat a no-op).

use crate::ids::{EndpointId, OrgId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The longest ordering key, in characters.
pub const MAX_ORDERING_KEY: usize = 256;

/// What orders a stream of events, e.g. a customer id: events with the same key reach
/// each endpoint one at a time, in publish order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderingKey(String);

impl OrderingKey {
    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short stable name for the key (its SHA-256), for queue groups and store keys,
    /// whose lengths are bounded.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl TryFrom<String> for OrderingKey {
    type Error = String;

    fn try_from(key: String) -> Result<Self, String> {
        let n = key.chars().count();
        if n == 0 || n > MAX_ORDERING_KEY || key.chars().any(char::is_control) {
            return Err(format!("must be 1-{MAX_ORDERING_KEY} characters, none of them a control character"));
        }
        Ok(Self(key))
    }
}

impl From<OrderingKey> for String {
    fn from(k: OrderingKey) -> Self {
        k.0
    }
}

/// Where in an inbound JSON body a source finds its events' ordering key: a JSON
/// pointer such as `/data/object/customer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderingPointer(String);

impl OrderingPointer {
    /// The key at the pointer in `body`: a string as it is, a number or a boolean as
    /// written; `None` when the body has nothing usable there.
    pub fn key_in(&self, body: &serde_json::Value) -> Option<OrderingKey> {
        let key = match body.pointer(&self.0)? {
            serde_json::Value::String(s) => s.clone(),
            v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => v.to_string(),
            _ => return None,
        };
        OrderingKey::try_from(key).ok()
    }
}

impl TryFrom<String> for OrderingPointer {
    type Error = String;

    fn try_from(p: String) -> Result<Self, String> {
        if !p.starts_with('/') || p.len() > MAX_ORDERING_KEY {
            return Err(format!(
                "must be a JSON pointer such as /data/object/customer, at most {MAX_ORDERING_KEY} bytes"
            ));
        }
        Ok(Self(p))
    }
}

impl From<OrderingPointer> for String {
    fn from(p: OrderingPointer) -> Self {
        p.0
    }
}

/// The ordered stream (a FIFO queue's message group) of `org`'s events keyed `key`.
pub fn ordered_group(org: &OrgId, key: &OrderingKey) -> String {
    format!("{org}#{}", key.digest())
}

/// A job's place in its endpoint's lane for an ordering key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanePlace {
    /// The ordering key.
    pub key: OrderingKey,
    /// Where the event stands in its key's stream: its sequence number there, zero-padded
    /// (see [`LanePlace::position_of`]) so that text order is number order.
    pub position: String,
}

impl LanePlace {
    /// The place of the event numbered `sequence` in `key`'s stream.
    pub fn new(key: OrderingKey, sequence: u128) -> Self {
        Self { key, position: Self::position_of(sequence) }
    }

    /// A sequence number as a position.
    pub fn position_of(sequence: u128) -> String {
        format!("{sequence:040}")
    }

    /// The lane this place is in, for `endpoint`.
    pub fn lane(&self, endpoint: &EndpointId) -> String {
        format!("{endpoint}#{}", self.key.digest())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ordering_key_is_short_printable_text() {
        assert!(OrderingKey::try_from("cus_42".to_owned()).is_ok());
        assert!(OrderingKey::try_from(String::new()).is_err());
        assert!(OrderingKey::try_from("a\nb".to_owned()).is_err());
        assert!(OrderingKey::try_from("é".repeat(256)).is_ok());
        assert!(OrderingKey::try_from("x".repeat(257)).is_err());
    }

    #[test]
    fn a_pointer_finds_a_string_or_number_key_and_nothing_else() {
        let p = OrderingPointer::try_from("/data/object/customer".to_owned()).unwrap();
        let key = |v: serde_json::Value| p.key_in(&v).map(|k| k.as_str().to_owned());
        assert_eq!(key(serde_json::json!({"data": {"object": {"customer": "cus_42"}}})), Some("cus_42".into()));
        assert_eq!(key(serde_json::json!({"data": {"object": {"customer": 42}}})), Some("42".into()));
        assert_eq!(key(serde_json::json!({"data": {"object": {"customer": null}}})), None);
        assert_eq!(key(serde_json::json!({"data": {"object": {"customer": ""}}})), None);
        assert_eq!(key(serde_json::json!({"data": {}})), None);
        assert!(OrderingPointer::try_from("data.object".to_owned()).is_err());
    }

    #[test]
    fn positions_sort_as_their_numbers() {
        let (a, b) = (LanePlace::position_of(9), LanePlace::position_of(10));
        assert!(a < b, "{a} < {b}");
        assert!(LanePlace::position_of(u128::MAX).len() <= 40);
    }
}
