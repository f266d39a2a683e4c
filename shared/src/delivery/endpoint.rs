//! Endpoints: where events are delivered, how urgently, signed with which secrets,
//! filtered by which event types, and how they have been failing.

use super::{DisablePolicy, RateLimit, RetryPolicy, RetryRule, RetrySchedule, SignatureScheme};
use crate::domain::{validate_filter, Secret};
use crate::ids::{EndpointId, OrgId};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How urgently an endpoint's deliveries go out: its own queue and retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    /// 30 s limit, retries 1 s → 4 h, give up after 48 h.
    #[default]
    Regular,
    /// Own queue, 30 s limit, retries 1 s → 5 min, give up after 1 h.
    Urgent,
    /// Synchronous inside an API call (`/call`): 10 s budget, 100 ms then 1 s, 5 tries.
    RealTime,
}

impl Urgency {
    /// The name used in headers and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Regular => "regular",
            Urgency::Urgent => "urgent",
            Urgency::RealTime => "real-time",
        }
    }
}

/// An endpoint signing secret; during a rotation the previous one signs until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointSecret {
    /// `whsec_<base64>`.
    pub secret: Secret,
    /// When a rotated-out secret stops signing; `None` for the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl EndpointSecret {
    /// A new random `whsec_` secret (24 bytes).
    pub fn generate() -> Self {
        let bytes: [u8; 24] = rand::rng().random();
        Self {
            secret: Secret::new(format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))),
            expires_at: None,
        }
    }
}

/// Whether an endpoint receives deliveries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EndpointStatus {
    /// Receiving.
    Active,
    /// Not receiving until enabled again; deliveries are kept as `failed` for replay.
    Disabled {
        /// Why.
        disabled_reason: String,
        /// When.
        disabled_at: DateTime<Utc>,
    },
    /// Paused by its owner: deliveries are held (not attempted, not failed) until it
    /// resumes, then sent in order.
    Paused {
        /// Since when.
        paused_at: DateTime<Utc>,
    },
}

/// How an endpoint has been failing, for the auto-disable rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureState {
    /// Events in a row whose deliveries were exhausted.
    #[serde(default)]
    pub consecutive_exhausted: u32,
    /// The first exhausted delivery of the current streak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
}

/// A webhook endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Its id.
    pub id: EndpointId,
    /// The owning org.
    pub org_id: OrgId,
    /// Where to POST; may contain `:name`, replaced by the event type.
    pub url: String,
    /// Event types it receives: exact types or `prefix.*`; `*` is everything.
    pub events: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Signing secrets, current last.
    pub secrets: Vec<EndpointSecret>,
    /// Extra headers sent with every delivery.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Regular or urgent.
    #[serde(default)]
    pub urgency: Urgency,
    /// Whether a URL change must pass the `hello` handshake.
    #[serde(default)]
    pub handshake: bool,
    /// Its own retry delays, in place of its urgency's policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<RetrySchedule>,
    /// The most deliveries per second it is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// How its deliveries are signed.
    #[serde(default, skip_serializing_if = "SignatureScheme::is_standard")]
    pub signature: SignatureScheme,
    /// Whether a 4xx answer other than 408 and 429 is retried (false: it fails the
    /// delivery for good, kept for replay).
    #[serde(default = "yes")]
    pub retry_4xx: bool,
    /// Disabled once this many events in a row are exhausted, at once; `None`: the
    /// deliver policy's rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_after_exhausted: Option<u32>,
    /// Active or disabled.
    #[serde(flatten)]
    pub status: EndpointStatus,
    /// Failure streak.
    #[serde(default)]
    pub failure: FailureState,
    /// Set on a listen session: deliveries are held for its client to pull, not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<super::ListenLease>,
    /// Bumped by every change: a change is written only over the version it was made
    /// from, so a slow delivery's bookkeeping never undoes an edit made meanwhile.
    #[serde(default)]
    pub version: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// A new active endpoint of `org_id` with a generated secret and the regular urgency.
    pub fn new(org_id: OrgId, url: String, events: Vec<String>, now: DateTime<Utc>) -> Self {
        Self {
            id: EndpointId::new(),
            org_id,
            url,
            events,
            description: String::new(),
            secrets: vec![EndpointSecret::generate()],
            headers: BTreeMap::new(),
            urgency: Urgency::Regular,
            handshake: false,
            retry_schedule: None,
            rate_limit: None,
            signature: SignatureScheme::Standard,
            retry_4xx: true,
            disable_after_exhausted: None,
            status: EndpointStatus::Active,
            failure: FailureState::default(),
            listen: None,
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// True when `event_type` passes this endpoint's filter.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|f| filter_matches(f, event_type))
    }

    /// The retry policy of its deliveries: its own schedule over `base` (its urgency's
    /// policy), or `base`.
    pub fn retry_policy<'a>(&self, base: &'a RetryPolicy) -> std::borrow::Cow<'a, RetryPolicy> {
        match &self.retry_schedule {
            Some(s) => std::borrow::Cow::Owned(s.policy(base)),
            None => std::borrow::Cow::Borrowed(base),
        }
    }

    /// Which answers its queued deliveries try again.
    pub fn retry_rule(&self) -> RetryRule {
        if self.retry_4xx {
            RetryRule::Queued
        } else {
            RetryRule::QueuedFinal4xx
        }
    }

    /// When it is disabled for failing: its own count of exhausted events, or `base`.
    pub fn disable_policy(&self, base: DisablePolicy) -> DisablePolicy {
        match self.disable_after_exhausted {
            Some(n) => DisablePolicy { after: std::time::Duration::ZERO, min_exhausted: n },
            None => base,
        }
    }

    /// Whether its deliveries are held.
    pub fn is_paused(&self) -> bool {
        matches!(self.status, EndpointStatus::Paused { .. })
    }

    /// True unless disabled or paused.
    pub fn is_active(&self) -> bool {
        matches!(self.status, EndpointStatus::Active)
    }

    /// The secrets that sign at `now`: the current one and any rotated-out one still in its grace period.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> impl Iterator<Item = &Secret> {
        self.secrets.iter().filter(move |s| s.expires_at.is_none_or(|e| e > now)).map(|s| &s.secret)
    }

    /// The URL for one event type: `:name` in the path replaced by the type,
    /// percent-encoded, so no event type can reach the host, the query or the fragment.
    /// A `:name` anywhere else (refused when the URL is set) is never substituted.
    pub fn url_for(&self, event_type: &str) -> String {
        if !self.url.contains(NAME_PLACEHOLDER) {
            return self.url.clone();
        }
        let Ok(mut url) = url::Url::parse(&self.url.replace(NAME_PLACEHOLDER, NAME_TOKEN)) else {
            return self.url.clone();
        };
        // Types are checked where they enter; one that slipped through never reaches a URL.
        let name = if crate::domain::validate_event_type(event_type).is_ok() { event_type } else { "invalid_type" };
        let path = url.path().replace(NAME_TOKEN, &percent_encode(name));
        url.set_path(&path);
        url.into()
    }
}

fn yes() -> bool {
    true
}

/// The placeholder an endpoint URL's path may hold, replaced by each event's type.
pub const NAME_PLACEHOLDER: &str = ":name";
/// Stands in for the placeholder while a URL is parsed: valid in a host name and a path,
/// and unchanged by the parser's lower-casing.
const NAME_TOKEN: &str = "hooklinename0placeholder";

/// Check that an endpoint URL holds `:name` only in its path; the parsed URL, with the
/// placeholder left as a token, for the caller's other checks.
pub fn parse_endpoint_url(url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(&url.replace(NAME_PLACEHOLDER, NAME_TOKEN)).map_err(|e| e.to_string())?;
    let in_path = parsed.path().matches(NAME_TOKEN).count();
    if url.matches(NAME_PLACEHOLDER).count() != in_path {
        return Err("`:name` may appear only in the URL's path".into());
    }
    Ok(parsed)
}

/// Percent-encode everything but the unreserved characters (RFC 3986).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An endpoint's filter: 1 to 100 event types or patterns (`invoice.*`, `*`).
pub fn validate_filters(events: &[String]) -> Result<(), String> {
    if events.is_empty() || events.len() > 100 {
        return Err("give 1-100 event types or patterns (`invoice.*`, `*`)".into());
    }
    events.iter().try_for_each(|e| validate_filter(e))
}

/// `invoice.paid` matches `invoice.paid`, `invoice.*` and `*`.
pub fn filter_matches(filter: &str, event_type: &str) -> bool {
    if filter == "*" || filter == event_type {
        return true;
    }
    match filter.strip_suffix(".*") {
        Some(prefix) => {
            event_type.len() > prefix.len() + 1
                && event_type.starts_with(prefix)
                && event_type.as_bytes()[prefix.len()] == b'.'
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::signature_headers;

    #[test]
    fn the_event_type_reaches_only_the_path() {
        let ep = |url: &str| Endpoint { url: url.into(), ..endpoint_at("https://x.example/") };
        for t in ["evil.example/", "a@evil.example", "x?y=1#f", "../../admin", "..", "a%2f", "a/../../b"] {
            let url = url::Url::parse(&ep("https://hooks.example/in/:name?k=1").url_for(t)).unwrap();
            assert_eq!(url.host_str(), Some("hooks.example"), "{t}");
            assert_eq!(url.query(), Some("k=1"), "{t}");
            assert_eq!(url.path_segments().unwrap().count(), 2, "{t}: {url}");
        }
        // A placeholder outside the path is refused when set, and never substituted.
        for bad in [
            "https://:name.hooks.example/",
            "https://hooks.example/?t=:name",
            "https://u::name@h.example/",
            "https://h.example/#:name",
        ] {
            assert!(parse_endpoint_url(bad).is_err(), "{bad}");
            assert!(!ep(bad).url_for("evil.example/").contains("evil"), "{bad}");
        }
        assert!(parse_endpoint_url("https://hooks.example/:name/x/:name").is_ok());
        assert_eq!(ep("https://h.example/a").url_for("b"), "https://h.example/a");
    }

    fn endpoint_at(url: &str) -> Endpoint {
        Endpoint::new(OrgId::new(), url.into(), vec!["*".into()], Utc::now())
    }

    #[test]
    fn filters() {
        assert!(filter_matches("invoice.paid", "invoice.paid"));
        assert!(filter_matches("invoice.*", "invoice.paid"));
        assert!(filter_matches("stripe.*", "stripe.invoice.paid"));
        assert!(filter_matches("*", "anything"));
        assert!(!filter_matches("invoice.*", "invoice"));
        assert!(!filter_matches("invoice.*", "invoices.paid"));
        assert!(!filter_matches("invoice.paid", "invoice.paid.late"));
    }

    #[test]
    fn rotation_signs_with_both_secrets_until_expiry() {
        let now = Utc::now();
        let ep = Endpoint {
            secrets: vec![
                EndpointSecret {
                    secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                    expires_at: Some(now + chrono::Duration::hours(24)),
                },
                EndpointSecret { secret: Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"), expires_at: None },
            ],
            ..Endpoint::new(OrgId::new(), "https://example.com/hooks/:name".into(), vec!["*".into()], now)
        };
        assert_eq!(ep.signing_secrets(now).count(), 2);
        assert_eq!(ep.signing_secrets(now + chrono::Duration::hours(25)).count(), 1);
        assert_eq!(ep.url_for("user.created"), "https://example.com/hooks/user.created");
        assert_eq!(ep.url_for("orders/create"), "https://example.com/hooks/orders%2Fcreate");
        let secrets: Vec<&str> = ep.signing_secrets(now).map(Secret::expose).collect();
        let headers = signature_headers(
            &ep.signature,
            &secrets,
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        )
        .unwrap();
        let sig = &headers.iter().find(|(k, _)| k == "webhook-signature").unwrap().1;
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }
}
