//! Prefixed, typed identifiers (`org_…`, `src_…`, `evt_…`).
//!
//! Every id is a prefix plus a 26-character ULID in Crockford base32, so ids are
//! URL-safe, sortable by creation time when random, and impossible to mix up
//! between resource kinds at compile time.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use ulid::Ulid;

/// An id string that does not have the expected prefix or body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id: expected `{prefix}` followed by 26 base32 characters")]
pub struct InvalidId {
    /// Which kind of id was expected (for the error message).
    pub kind: &'static str,
    /// The prefix that kind of id carries.
    pub prefix: &'static str,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new random, time-ordered id.
            pub fn new() -> Self {
                Self(format!("{}{}", $prefix, Ulid::new()))
            }

            /// A deterministic id derived from `parts`: the same parts always give
            /// the same id, which is how retries and duplicates collapse onto one record.
            pub fn derived(parts: &[&[u8]]) -> Self {
                Self(format!("{}{}", $prefix, derive_ulid(parts)))
            }

            /// Like [`Self::derived`], but ordered by `at` as a new id made then would be:
            /// ids derived for things made in time order are written to an index's end
            /// rather than all over it.
            pub fn derived_at(at: chrono::DateTime<chrono::Utc>, parts: &[&[u8]]) -> Self {
                let random = derive_ulid(parts).random();
                Self(format!("{}{}", $prefix, Ulid::from_parts(at.timestamp_millis().max(0) as u64, random)))
            }

            /// The id as a string slice, prefix included.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let err = InvalidId { kind: $kind, prefix: $prefix };
                let body = s.strip_prefix($prefix).ok_or(err.clone())?;
                // Ulid parsing is case-insensitive; store the canonical (upper) form.
                let ulid = Ulid::from_string(body).map_err(|_| err)?;
                Ok(Self(format!("{}{}", $prefix, ulid)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

fn derive_ulid(parts: &[&[u8]]) -> Ulid {
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    Ulid::from_bytes(b)
}

prefixed_id!(
    /// An organisation: the tenant every resource belongs to.
    OrgId, "org_", "org"
);
prefixed_id!(
    /// An inbound source: a provider sending webhooks to `/in/{id}`.
    SourceId, "src_", "source"
);
prefixed_id!(
    /// An event, received from a provider or published by an app.
    EventId, "evt_", "event"
);
prefixed_id!(
    /// A webhook endpoint: where events are delivered.
    EndpointId, "ep_", "endpoint"
);
prefixed_id!(
    /// One delivery attempt of an event to an endpoint.
    AttemptId, "atm_", "attempt"
);
prefixed_id!(
    /// An org's API key (its record; the key itself is never stored).
    ApiKeyId, "key_", "api key"
);
prefixed_id!(
    /// A scheduled job: one-off, cron or rate, or a recurring job per thing.
    ScheduleId, "sch_", "schedule"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_have_prefix_and_parse_back() {
        let id = EventId::new();
        assert!(id.as_str().starts_with("evt_"));
        assert_eq!(id.as_str().len(), 4 + 26);
        assert_eq!(id.as_str().parse::<EventId>().unwrap(), id);
    }

    #[test]
    fn wrong_prefix_or_body_is_rejected() {
        let src = SourceId::new();
        assert!(src.as_str().parse::<OrgId>().is_err());
        assert!("evt_short".parse::<EventId>().is_err());
        assert!("evt_01ARZ3NDEKTSV4RRFFQ69G5FA!".parse::<EventId>().is_err());
    }

    #[test]
    fn lower_case_input_is_canonicalised() {
        let id = OrgId::new();
        let lower = id.as_str().to_ascii_lowercase();
        assert_eq!(lower.parse::<OrgId>().unwrap(), id);
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = EventId::derived(&[b"org_1", b"key"]);
        assert_eq!(a, EventId::derived(&[b"org_1", b"key"]));
        assert_ne!(a, EventId::derived(&[b"org_1k", b"ey"]));
        assert_ne!(a, EventId::derived(&[b"org_2", b"key"]));
    }

    #[test]
    fn ids_derived_at_a_time_are_stable_and_ordered_by_it() {
        let (early, late) = (chrono::Utc::now(), chrono::Utc::now() + chrono::Duration::milliseconds(1));
        let a = AttemptId::derived_at(early, &[b"event", b"1"]);
        assert_eq!(a, AttemptId::derived_at(early, &[b"event", b"1"]));
        assert_ne!(a, AttemptId::derived_at(early, &[b"event", b"2"]));
        assert!(a < AttemptId::derived_at(late, &[b"event", b"0"]), "a later time sorts later");
    }

    #[test]
    fn serde_round_trip_validates() {
        let id = SourceId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<SourceId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<SourceId>("\"evt_01ARZ3NDEKTSV4RRFFQ69G5FAV\"").is_err());
    }
}
