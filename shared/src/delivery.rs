//! Outbound delivery: endpoints, delivery jobs, attempts, retry policies, filters and
//! the signing of what Hookline sends.

use crate::domain::Secret;
use crate::ids::{AttemptId, EndpointId, EventId, OrgId, ScheduleId};
use crate::signature::standard;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

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
    /// Active or disabled.
    #[serde(flatten)]
    pub status: EndpointStatus,
    /// Failure streak.
    #[serde(default)]
    pub failure: FailureState,
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
            status: EndpointStatus::Active,
            failure: FailureState::default(),
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// True when `event_type` passes this endpoint's filter.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|f| filter_matches(f, event_type))
    }

    /// True unless disabled.
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

/// The event as delivered to endpoints (and carried inside a job, so deliver reads no event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// `evt_…`; also the `webhook-id` header, so receivers can dedupe.
    pub id: EventId,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// The data.
    pub data: serde_json::Value,
    /// For a continuation: the chain it belongs to (the first event's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<String>,
    /// For a continuation: 1 for the first continuation, 2 for the next, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u64>,
}

impl Payload {
    /// A payload for a new event (not part of a chain).
    pub fn new(id: EventId, event_type: String, created_at: DateTime<Utc>, data: serde_json::Value) -> Self {
        Self { id, event_type, created_at, data, chain_id: None, iteration: None }
    }
}

/// One delivery to do: what `verify` (and replay, retries, timers) put on a deliveries queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryJob {
    /// The org.
    pub org_id: OrgId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the first attempt was made (for the give-up rule); `None` before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt_at: Option<DateTime<Utc>>,
    /// Set by a replay: a new series of attempts for an event its endpoint had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// The event's [`crate::domain::Event::hops`].
    #[serde(default, skip_serializing_if = "crate::domain::is_zero")]
    pub hops: u32,
    /// How often this attempt was put back because its endpoint had as many requests
    /// open as it may (each time it waits longer); not an attempt, so not logged.
    #[serde(default, skip_serializing_if = "crate::domain::is_zero")]
    pub deferred: u32,
    /// What to send.
    pub payload: Payload,
}

impl DeliveryJob {
    /// The first attempt of `payload` to an endpoint.
    pub fn first(org_id: OrgId, endpoint_id: EndpointId, payload: Payload) -> Self {
        Self { org_id, endpoint_id, attempt: 1, first_attempt_at: None, replay: None, hops: 0, deferred: 0, payload }
    }

    /// How this job's request is sent.
    pub fn send(&self, urgency: Urgency, timeout: Duration, max_response_bytes: usize) -> crate::dispatch::SendOptions {
        crate::dispatch::SendOptions { urgency, timeout, max_response_bytes, hops: self.hops }
    }

    /// The id of this job's attempt: the same job always logs under the same id, so a
    /// repeat of it (a queue's redelivery, a retry after a crash) is recognised. It sorts
    /// by the event's time, so attempts are written near the end of the id index.
    pub fn attempt_id(&self) -> AttemptId {
        AttemptId::derived_at(
            self.payload.created_at,
            &[
                b"attempt",
                self.payload.id.as_str().as_bytes(),
                self.endpoint_id.as_str().as_bytes(),
                self.replay.as_deref().unwrap_or_default().as_bytes(),
                &self.attempt.to_be_bytes(),
            ],
        )
    }

    /// The job kept on a failed or exhausted attempt, for replay: a first attempt again.
    pub fn for_replay(self) -> Self {
        Self { attempt: 1, first_attempt_at: None, deferred: 0, ..self }
    }

    /// The queue body of a first attempt, from a payload serialized once for every
    /// endpoint an event fans out to (serializing it per endpoint was most of routing's
    /// cost). The same JSON as serializing the job itself with `attempt: 1`.
    pub fn first_attempt_body(
        org_id: &OrgId,
        endpoint_id: &EndpointId,
        hops: u32,
        payload: &serde_json::value::RawValue,
    ) -> serde_json::Result<String> {
        #[derive(Serialize)]
        struct FirstAttempt<'a> {
            org_id: &'a OrgId,
            endpoint_id: &'a EndpointId,
            attempt: u32,
            #[serde(skip_serializing_if = "crate::domain::is_zero")]
            hops: u32,
            payload: &'a serde_json::value::RawValue,
        }
        serde_json::to_string(&FirstAttempt { org_id, endpoint_id, attempt: 1, hops, payload })
    }
}

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// 2xx.
    Delivered,
    /// Failed with no retry (disabled endpoint, 410, refused address).
    Failed,
    /// Failed; another attempt is scheduled.
    Retrying,
    /// Failed and the policy gave up.
    Exhausted,
}

impl AttemptStatus {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Delivered => "delivered",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Retrying => "retrying",
            AttemptStatus::Exhausted => "exhausted",
        }
    }
}

/// Response bodies are kept up to this many bytes.
pub const RESPONSE_BODY_CAP: usize = 4096;
/// Response bodies are read up to this many bytes (a continuation's data may be longer
/// than what the log keeps).
pub const RESPONSE_READ_CAP: usize = 64 * 1024;

/// A response body cut to [`RESPONSE_BODY_CAP`] on a character boundary, for the log.
pub fn capped_body(mut body: String) -> String {
    if body.len() > RESPONSE_BODY_CAP {
        let mut cut = RESPONSE_BODY_CAP;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    body
}

/// What an endpoint asks for when it answers a delivery with
/// `{"continue": {"data": {…}, "delay"?: "30s"}}`: the same event type again, with new data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Continuation {
    /// The next iteration's data.
    #[serde(default = "empty_object")]
    pub data: serde_json::Value,
    /// How long to wait first (`30s`, `5 minutes`, `2h`, `1d`).
    #[serde(default)]
    pub delay: Option<String>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

impl Continuation {
    /// The continuation a 2xx answer asks for, if any.
    pub fn from_answer(body: &str) -> Option<Self> {
        // Most answers are `{}` or a short acknowledgement: a substring test spares
        // parsing them on every successful delivery.
        if !body.contains("\"continue\"") {
            return None;
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "continue")]
            next: Option<Continuation>,
        }
        serde_json::from_str::<Answer>(body).ok()?.next
    }

    /// The delay, parsed; at most 30 days.
    pub fn delay(&self) -> Result<Duration, String> {
        let Some(text) = self.delay.as_deref().map(str::trim) else { return Ok(Duration::ZERO) };
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (n, unit) = text.split_at(split);
        let n: u64 = n.parse().map_err(|_| format!("delay '{text}' must start with a whole number"))?;
        let unit_secs = match unit.trim() {
            "" | "s" | "sec" | "second" | "seconds" => 1,
            "m" | "min" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            u => return Err(format!("delay '{text}' has an unknown unit '{u}' (s, m, h or d)")),
        };
        let d = Duration::from_secs(n.saturating_mul(unit_secs));
        if d > Duration::from_secs(30 * 86_400) {
            return Err(format!("delay '{text}' is longer than 30 days"));
        }
        Ok(d)
    }
}

/// One logged delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its id.
    pub id: AttemptId,
    /// The org.
    pub org_id: OrgId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// The event.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: String,
    /// Delivered, failed, retrying, exhausted.
    pub status: AttemptStatus,
    /// The endpoint's status code, if it answered.
    pub response_code: Option<u16>,
    /// The start of its response body (capped).
    pub response_body: Option<String>,
    /// How long the request took.
    pub duration_ms: u64,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the next attempt is due (for `retrying`).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the attempt was made.
    pub created_at: DateTime<Utc>,
    /// The job, kept for failed and exhausted attempts so replay can send it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<DeliveryJob>,
    /// Logged, but what follows from it (the retry, the next iteration, the endpoint's
    /// failure record) may not be done yet: a repeat of the job does it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub follow_up_pending: bool,
}

/// When to retry and when to give up.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before attempt n+1 after attempt n fails (the last one repeats).
    pub delays: Vec<Duration>,
    /// No retry is scheduled after this much time since the first attempt.
    pub give_up_after: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Maximum number of attempts (real-time calls bound tries, not time).
    pub max_attempts: u32,
    /// ± this fraction of jitter on every delay.
    pub jitter: f64,
}

impl RetryPolicy {
    /// The policy of an urgency class (DESIGN §7).
    pub fn for_urgency(u: Urgency) -> Self {
        let s = Duration::from_secs;
        match u {
            Urgency::Regular => Self {
                delays: vec![s(1), s(5), s(30), s(120), s(600), s(1800), s(3600), s(7200), s(14400)],
                give_up_after: s(48 * 3600),
                timeout: s(30),
                max_attempts: u32::MAX,
                jitter: 0.2,
            },
            Urgency::Urgent => Self {
                delays: vec![s(1), s(5), s(15), s(60), s(300)],
                give_up_after: s(3600),
                timeout: s(30),
                max_attempts: u32::MAX,
                jitter: 0.2,
            },
            Urgency::RealTime => Self {
                delays: vec![Duration::from_millis(100), s(1)],
                give_up_after: s(10),
                timeout: s(10),
                max_attempts: 5,
                jitter: 0.1,
            },
        }
    }

    /// The delay after failed attempt `attempt` (1-based), jittered, raised to a
    /// `Retry-After` the endpoint asked for (bounded by the longest delay of the policy).
    pub fn delay_after(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let base =
            self.delays.get(attempt.saturating_sub(1) as usize).or(self.delays.last()).copied().unwrap_or_default();
        let jittered = if self.jitter > 0.0 {
            base.mul_f64(1.0 + rand::rng().random_range(-self.jitter..=self.jitter))
        } else {
            base
        };
        let cap = self.delays.iter().max().copied().unwrap_or_default();
        match retry_after {
            Some(r) => jittered.max(r.min(cap)),
            None => jittered,
        }
    }

    /// Whether another attempt may follow failed attempt `attempt` made at `now`.
    pub fn may_retry(&self, attempt: u32, first_attempt_at: DateTime<Utc>, next_at: DateTime<Utc>) -> bool {
        attempt < self.max_attempts && (next_at - first_attempt_at).to_std().unwrap_or_default() <= self.give_up_after
    }
}

/// When an endpoint that keeps failing is disabled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DisablePolicy {
    /// Failing for at least this long (no success in between)…
    pub after: Duration,
    /// …and at least this many events exhausted in a row.
    pub min_exhausted: u32,
}

impl Default for DisablePolicy {
    fn default() -> Self {
        Self { after: Duration::from_secs(5 * 24 * 3600), min_exhausted: 5 }
    }
}

/// The headers that sign one delivery (Standard Webhooks): id, timestamp, and one
/// `v1,` signature per signing secret, space-separated.
pub fn signature_headers(
    secrets: impl Iterator<Item = impl AsRef<str>>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], crate::signature::SecretFormatError> {
    let sigs = secrets.map(|s| standard::sign(s.as_ref(), msg_id, timestamp, body)).collect::<Result<Vec<_>, _>>()?;
    Ok([
        ("webhook-id", msg_id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", sigs.join(" ")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_attempt_body_is_the_job_serialized() {
        let payload = Payload::new(
            EventId::new(),
            "invoice.paid".into(),
            Utc::now(),
            serde_json::json!({"amount": 12, "note": "a \"quoted\" line\n"}),
        );
        for hops in [0, 2] {
            let job = DeliveryJob { hops, ..DeliveryJob::first(OrgId::new(), EndpointId::new(), payload.clone()) };
            let raw = serde_json::value::to_raw_value(&payload).unwrap();
            let body = DeliveryJob::first_attempt_body(&job.org_id, &job.endpoint_id, hops, &raw).unwrap();
            assert_eq!(body, serde_json::to_string(&job).unwrap());
            assert_eq!(serde_json::from_str::<DeliveryJob>(&body).unwrap(), job);
        }
    }

    #[test]
    fn continuations_are_read_from_answers_that_ask_for_one() {
        assert_eq!(Continuation::from_answer("{}"), None);
        assert_eq!(Continuation::from_answer("not json, continue"), None);
        assert_eq!(Continuation::from_answer(r#"{"continue": null}"#), None);
        let c = Continuation::from_answer(r#"{"ok": true, "continue": {"data": {"page": 2}, "delay": "5m"}}"#).unwrap();
        assert_eq!(c.data, serde_json::json!({"page": 2}));
        assert_eq!(c.delay(), Ok(Duration::from_secs(300)));
        let bare = Continuation::from_answer(r#"{"continue": {}}"#).unwrap();
        assert_eq!((bare.delay(), bare.data), (Ok(Duration::ZERO), serde_json::json!({})));
    }

    #[test]
    fn continuation_delays_parse_with_units_and_a_bound() {
        let delay = |d: &str| Continuation { data: serde_json::json!({}), delay: Some(d.into()) }.delay();
        assert_eq!(delay("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(delay("45"), Ok(Duration::from_secs(45)));
        assert_eq!(delay("2 hours"), Ok(Duration::from_secs(7200)));
        assert_eq!(delay("1d"), Ok(Duration::from_secs(86_400)));
        assert!(delay("31 days").unwrap_err().contains("longer than 30 days"));
        assert!(delay("5 fortnights").unwrap_err().contains("unknown unit"));
        assert!(delay("soon").unwrap_err().contains("whole number"));
    }

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
    fn delays_follow_the_policy_with_bounded_jitter_and_retry_after() {
        let p = RetryPolicy::for_urgency(Urgency::Regular);
        for _ in 0..100 {
            let d = p.delay_after(1, None).as_secs_f64();
            assert!((0.8..=1.2).contains(&d), "{d}");
            let d = p.delay_after(50, None).as_secs_f64();
            assert!((14400.0 * 0.8..=14400.0 * 1.2).contains(&d));
        }
        // Retry-After raises the delay, but never beyond the policy's longest step.
        assert!(p.delay_after(1, Some(Duration::from_secs(120))) >= Duration::from_secs(120));
        assert_eq!(p.delay_after(1, Some(Duration::from_secs(10 * 86400))), Duration::from_secs(14400));
    }

    #[test]
    fn give_up_rules() {
        let t0 = Utc::now();
        let urgent = RetryPolicy::for_urgency(Urgency::Urgent);
        assert!(urgent.may_retry(3, t0, t0 + chrono::Duration::minutes(59)));
        assert!(!urgent.may_retry(3, t0, t0 + chrono::Duration::minutes(61)));
        let rt = RetryPolicy::for_urgency(Urgency::RealTime);
        assert!(rt.may_retry(4, t0, t0 + chrono::Duration::seconds(2)));
        assert!(!rt.may_retry(5, t0, t0 + chrono::Duration::seconds(2)));
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
        let [_, _, (_, sig)] = signature_headers(
            ep.signing_secrets(now).map(Secret::expose),
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        )
        .unwrap();
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }
}

/// The two delivery queues, picked by an endpoint's urgency.
#[derive(Debug, Clone)]
pub struct Deliveries<Q> {
    /// `deliveries-urgent`.
    pub urgent: Q,
    /// `deliveries-regular`.
    pub regular: Q,
}

impl<Q> Deliveries<Q> {
    /// The queue for `urgency` (real-time never queues; it rides with urgent if asked).
    pub fn queue(&self, urgency: Urgency) -> &Q {
        match urgency {
            Urgency::Regular => &self.regular,
            Urgency::Urgent | Urgency::RealTime => &self.urgent,
        }
    }
}

/// What a timer carries back to the `schedule` function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimerPayload {
    /// A delivery retry due at `due_at`.
    Delivery {
        /// When the attempt is due (the timer fires up to a minute before).
        due_at: DateTime<Utc>,
        /// Urgency (which queue).
        urgency: Urgency,
        /// The job.
        job: DeliveryJob,
    },
    /// A run of a scheduled job.
    Job {
        /// Owner.
        org_id: OrgId,
        /// The job.
        schedule_id: ScheduleId,
        /// The version the timer was set for: a changed or cancelled job does not run.
        version: u64,
        /// The run's due time. In AWS this is Scheduler's `<aws.scheduler.scheduled-time>`
        /// placeholder, filled in at each invocation; `hookline dev` passes the row's time.
        #[serde(default)]
        scheduled_time: Option<String>,
    },
}

impl TimerPayload {
    /// The payload of a scheduled job's timer.
    pub fn for_job(job: &crate::schedule::Job) -> String {
        let payload = TimerPayload::Job {
            org_id: job.org_id.clone(),
            schedule_id: job.id.clone(),
            version: job.version,
            scheduled_time: Some("<aws.scheduler.scheduled-time>".into()),
        };
        // A tagged enum of ids, numbers and strings always serialises.
        serde_json::to_string(&payload).unwrap_or_default()
    }
}
