//! Rejection diagnostics: why a source's requests were refused, kept for its owner.
//!
//! The sender only ever gets a plain 401 (or 413); the owner reads the reason at
//! `GET /v1/sources/{id}/rejections`. A record holds what helps find the cause (a
//! reason code, the header names present, the body's size and hash, the clock skew,
//! the hints of the secrets tried) and never the body, a secret or a signature. A source
//! keeps at most [`KEPT`] records, for [`KEEP_DAYS`] days, and at most [`PER_SECOND`] a
//! second are written, so a flood of bad requests costs a few writes a second and can
//! never fill the store.

use crate::domain::{Secret, Source};
use crate::ids::SourceId;
use crate::signature::Rejection;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The most records a source keeps: each new one past it replaces the oldest.
pub const KEPT: u64 = 100;
/// How long a record is kept.
pub const KEEP_DAYS: i64 = 7;
/// The most records written for one source in one second; more are not kept.
pub const PER_SECOND: u32 = 5;

/// Why a request was refused, as its owner reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The signature header (or another the scheme needs) was absent.
    MissingSignature,
    /// A header the scheme needs could not be parsed.
    MalformedSignature,
    /// The signed timestamp was further from the receiving clock than the tolerance.
    TimestampOutsideTolerance,
    /// Well-formed signatures, none made with an active secret: a wrong secret, or a
    /// body changed on the way (a proxy re-encoding it).
    NoMatchingSecret,
    /// The body was over the size limit.
    BodyTooLarge,
    /// The provider's API does not know the event id the request claimed (fetch-back).
    UnknownEventId,
}

/// One refused request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedRequest {
    /// The source it was sent to.
    pub source_id: SourceId,
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// Why it was refused.
    pub reason: Reason,
    /// The header the reason is about (`stripe-signature`), where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// For a timestamp outside the tolerance: now − the signed time, in seconds
    /// (negative when the sender's clock is ahead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew_secs: Option<i64>,
    /// The names of the headers it came with, lower case and sorted.
    pub headers: Vec<String>,
    /// The body's size in bytes (as declared, for a body refused before it was read).
    pub body_size: u64,
    /// The body's SHA-256 in hex, when it was read: compare it with the sender's copy to
    /// see whether something changed it on the way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// For `no_matching_secret`: the secrets tried, by their hints (`whsec_…b7oD`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets_tried: Vec<String>,
    /// For `unknown_event_id`: the id the provider did not know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// When it is deleted.
    pub expires_at: DateTime<Utc>,
}

impl RejectedRequest {
    /// The record of a request to `source` refused for `reason`, arriving at `at` with
    /// `headers` and a body of `body_size` bytes (`body` when it was read).
    pub fn new(
        source: &Source,
        at: DateTime<Utc>,
        reason: Reason,
        headers: &http::HeaderMap,
        body_size: u64,
        body: Option<&[u8]>,
    ) -> Self {
        let mut names: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
        names.sort();
        names.dedup();
        Self {
            source_id: source.id.clone(),
            at,
            reason,
            header: None,
            skew_secs: None,
            headers: names,
            body_size,
            body_sha256: body.map(|b| hex::encode(Sha256::digest(b))),
            secrets_tried: Vec::new(),
            event_id: None,
            expires_at: at + chrono::Duration::days(KEEP_DAYS),
        }
    }

    /// The record of a request whose signature check failed with `rejection`.
    pub fn of_signature(
        source: &Source,
        at: DateTime<Utc>,
        rejection: &Rejection,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Self {
        let (reason, header) = match rejection {
            Rejection::MissingHeader(h) => (Reason::MissingSignature, Some(*h)),
            Rejection::MalformedHeader(h) => (Reason::MalformedSignature, Some(*h)),
            Rejection::StaleTimestamp { .. } => (Reason::TimestampOutsideTolerance, None),
            Rejection::NoMatchingSignature => (Reason::NoMatchingSecret, None),
        };
        let mut r = Self::new(source, at, reason, headers, body.len() as u64, Some(body));
        r.header = header.map(str::to_owned);
        if let Rejection::StaleTimestamp { age_secs } = rejection {
            r.skew_secs = Some(*age_secs);
        }
        if reason == Reason::NoMatchingSecret {
            r.secrets_tried = source.secrets.iter().map(Secret::hint).collect();
        }
        r
    }
}

/// A per-second budget of writes for each key, kept in one process: the cheap first
/// gate in front of the store's own (`PER_SECOND` a second).
#[derive(Debug, Default)]
pub struct WriteBudget(std::sync::Mutex<std::collections::HashMap<SourceId, (i64, u32)>>);

/// Keys remembered before the budget starts over.
const BUDGET_KEYS: usize = 10_000;

impl WriteBudget {
    /// Whether one more write for `source` fits in the second of `now`.
    pub fn allow(&self, source: &SourceId, now: DateTime<Utc>) -> bool {
        let Ok(mut seen) = self.0.lock() else { return false };
        if seen.len() >= BUDGET_KEYS {
            seen.clear();
        }
        let second = now.timestamp();
        let entry = seen.entry(source.clone()).or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        entry.1 += 1;
        entry.1 <= PER_SECOND
    }
}

/// Where a new record goes given the store's counter for its source (`window`, the
/// second of the last write, `in_window`, the writes in it, `seq`, the writes so far):
/// the counter after it and the slot (0..KEPT) it overwrites, or `None` when this
/// second's writes are used up.
pub fn next_slot(counter: Option<(i64, u32, u64)>, now: DateTime<Utc>) -> Option<((i64, u32, u64), u64)> {
    let second = now.timestamp();
    let (window, in_window, seq) = counter.unwrap_or((second, 0, 0));
    let in_window = if window == second { in_window } else { 0 };
    if in_window >= PER_SECOND {
        return None;
    }
    let seq = seq + 1;
    Some(((second, in_window + 1, seq), seq % KEPT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrgId, Provider};

    fn source() -> Source {
        let secrets =
            vec![Secret::new("whsec_aaaaaaaaaaaaaaaaaaaa1234"), Secret::new("whsec_bbbbbbbbbbbbbbbbbbbb5678")];
        Source::new(OrgId::new(), "stripe".into(), Provider::Stripe { tolerance_secs: None }, secrets, Utc::now())
    }

    #[test]
    fn a_record_says_why_without_the_body_a_secret_or_a_signature() {
        let mut h = http::HeaderMap::new();
        h.insert("stripe-signature", "t=1,v1=deadbeef".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        let at = Utc::now();
        let r = RejectedRequest::of_signature(&source(), at, &Rejection::NoMatchingSignature, &h, b"{\"secret\":1}");
        assert_eq!(r.reason, Reason::NoMatchingSecret);
        assert_eq!(r.headers, ["content-type", "stripe-signature"]);
        assert_eq!(r.secrets_tried, ["whsec_…1234", "whsec_…5678"]);
        assert_eq!((r.body_size, r.body_sha256.as_deref().map(str::len)), (12, Some(64)));
        assert_eq!(r.expires_at - at, chrono::Duration::days(7));
        let text = serde_json::to_string(&r).unwrap();
        for hidden in ["deadbeef", "aaaaaaaa", "{\\\"secret"] {
            assert!(!text.contains(hidden), "{hidden} in {text}");
        }
        let stale =
            RejectedRequest::of_signature(&source(), at, &Rejection::StaleTimestamp { age_secs: -612 }, &h, b"");
        assert_eq!(
            (stale.reason, stale.skew_secs, stale.secrets_tried.len()),
            (Reason::TimestampOutsideTolerance, Some(-612), 0)
        );
        let missing =
            RejectedRequest::of_signature(&source(), at, &Rejection::MissingHeader("stripe-signature"), &h, b"");
        assert_eq!((missing.reason, missing.header.as_deref()), (Reason::MissingSignature, Some("stripe-signature")));
    }

    #[test]
    fn the_store_keeps_a_ring_of_slots_and_a_few_writes_a_second() {
        let t0: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let mut counter = None;
        let mut slots = Vec::new();
        while let Some((c, slot)) = next_slot(counter, t0) {
            counter = Some(c);
            slots.push(slot);
        }
        assert_eq!(slots, [1, 2, 3, 4, 5], "five in one second");
        let t1 = t0 + chrono::Duration::milliseconds(1500);
        assert_eq!(next_slot(counter, t1), Some(((t1.timestamp(), 1, 6), 6)), "the next second has room");
        assert_eq!(next_slot(Some((0, 0, 199)), t0).map(|(_, s)| s), Some(0), "the slots wrap at 100");
    }

    #[test]
    fn the_process_budget_allows_a_few_a_second_per_source() {
        let budget = WriteBudget::default();
        let (a, b) = (SourceId::new(), SourceId::new());
        let t0 = Utc::now();
        let allowed = (0..100).filter(|_| budget.allow(&a, t0)).count();
        assert_eq!(allowed, PER_SECOND as usize);
        assert!(budget.allow(&b, t0), "another source has its own");
        assert!(budget.allow(&a, t0 + chrono::Duration::seconds(1)));
    }
}
