//! `/v1/webhooks`: endpoints that receive events. The bodies and views of the routes,
//! and the checks they share; the routes are in `endpoints` (create, read, change,
//! delete), `actions` (test, logs, rotation, replay, enable), `pause` (pause, resume) and
//! `call` (real time).

mod actions;
mod call;
mod endpoints;
mod pause;

pub(crate) use actions::{enable, logs, replay, rotate_secret, test};
pub(crate) use call::call;
pub(crate) use endpoints::{create, delete, get, list, update};
pub(crate) use pause::{pause, resume};

use crate::error::ApiError;
use crate::{Api, ApiState};
use chrono::{DateTime, Utc};
use hookline_shared::delivery::realtime;
use hookline_shared::delivery::{
    is_reserved_header, parse_endpoint_url, validate_secret, Attempt, AttemptStatus, DeliveryJob, Endpoint,
    EndpointStatus, FailureState, Payload, RateLimit, RetrySchedule, SignatureScheme, Urgency,
};
use hookline_shared::endpoint_update::update_endpoint;
use hookline_shared::outbound::{points_at, OutboundResponse, SendError};
use hookline_shared::ports::{AttemptQuery, Clock, Queue};
use hookline_shared::{AttemptId, EndpointId, EventId, Org, OrgId, Secret};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a rotated-out secret keeps signing.
const ROTATION_GRACE: chrono::Duration = chrono::Duration::hours(24);
/// The longest a request the API makes to an endpoint (`/test`, the handshake) waits;
/// `/call` keeps to the real-time policy's budget, the same 10 s. The api function's
/// timeout in `template.yaml` leaves room above it to log the attempt.
pub const API_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer a real-time call returns.
const CALL_RESPONSE_CAP: usize = 256 * 1024;

/// Body of `POST /v1/webhooks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    url: String,
    #[serde(default)]
    events: Vec<String>,
    secret: Option<Secret>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    urgency: Option<Urgency>,
    #[serde(default)]
    handshake: bool,
    #[serde(default)]
    retry_schedule: Option<RetrySchedule>,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
    #[serde(default)]
    signature: SignatureScheme,
    #[serde(default)]
    retry_4xx: Option<bool>,
    #[serde(default)]
    disable_after_exhausted: Option<u32>,
}

/// Body of `PATCH /v1/webhooks/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    url: Option<String>,
    events: Option<Vec<String>>,
    description: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    urgency: Option<Urgency>,
    handshake: Option<bool>,
    #[serde(default, deserialize_with = "crate::error::nullable")]
    retry_schedule: Option<Option<RetrySchedule>>,
    #[serde(default, deserialize_with = "crate::error::nullable")]
    rate_limit: Option<Option<RateLimit>>,
    signature: Option<SignatureScheme>,
    retry_4xx: Option<bool>,
    #[serde(default, deserialize_with = "crate::error::nullable")]
    disable_after_exhausted: Option<Option<u32>>,
}

/// An endpoint as the API shows it; `secret` only on create and rotation.
#[derive(Debug, Serialize)]
pub struct WebhookView {
    id: EndpointId,
    url: String,
    events: Vec<String>,
    description: String,
    headers: BTreeMap<String, String>,
    urgency: Urgency,
    handshake: bool,
    retry_schedule: Option<RetrySchedule>,
    rate_limit: Option<RateLimit>,
    signature: SignatureScheme,
    retry_4xx: bool,
    disable_after_exhausted: Option<u32>,
    #[serde(flatten)]
    status: EndpointStatus,
    failure: FailureState,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl WebhookView {
    fn of(ep: Endpoint, show_secret: bool) -> Self {
        let secret = show_secret.then(|| ep.secrets.iter().rev().find(|s| s.expires_at.is_none())).flatten();
        Self {
            secret: secret.map(|s| s.secret.expose().to_owned()),
            id: ep.id,
            url: ep.url,
            events: ep.events,
            description: ep.description,
            headers: ep.headers,
            urgency: ep.urgency,
            handshake: ep.handshake,
            retry_schedule: ep.retry_schedule,
            rate_limit: ep.rate_limit,
            signature: ep.signature,
            retry_4xx: ep.retry_4xx,
            disable_after_exhausted: ep.disable_after_exhausted,
            status: ep.status,
            failure: ep.failure,
            created_at: ep.created_at,
            updated_at: ep.updated_at,
        }
    }
}

/// A list of webhooks.
#[derive(Debug, Serialize)]
pub struct WebhookList {
    data: Vec<WebhookView>,
}

/// An attempt as the API shows it.
#[derive(Debug, Serialize)]
pub struct AttemptView {
    id: AttemptId,
    event_id: EventId,
    event_type: String,
    endpoint_id: EndpointId,
    status: AttemptStatus,
    response_code: Option<u16>,
    response_body: Option<String>,
    duration_ms: u64,
    error: Option<String>,
    attempt: u32,
    next_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            id: a.id,
            event_id: a.event_id,
            event_type: a.event_type,
            endpoint_id: a.endpoint_id,
            status: a.status,
            response_code: a.response_code,
            response_body: a.response_body,
            duration_ms: a.duration_ms,
            error: a.error,
            attempt: a.attempt,
            next_attempt_at: a.next_attempt_at,
            created_at: a.created_at,
            expires_at: a.expires_at,
        }
    }
}

fn parse_id(id: &str) -> Result<EndpointId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound("webhook"))
}

async fn load<S: ApiState, Q, C>(api: &Api<S, Q, C>, org: &Org, id: &str) -> Result<Endpoint, ApiError> {
    api.store.get_endpoint(&org.id, &parse_id(id)?).await?.ok_or(ApiError::NotFound("webhook"))
}

/// The `Host` a request came to.
#[derive(Debug)]
pub struct CalledAs(Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CalledAs {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
        Ok(CalledAs(host))
    }
}

fn validate_filters(events: &[String]) -> Result<(), ApiError> {
    hookline_shared::delivery::validate_filters(events).map_err(|m| ApiError::BadRequest(format!("events: {m}")))
}

/// The most events exhausted in a row an endpoint may be set to be disabled after.
const MAX_DISABLE_AFTER: u32 = 100;

/// Check what signs an endpoint's deliveries and what follows its failures, on the
/// endpoint as it would be stored: its current secret fits its scheme, its own headers
/// leave the scheme's header alone, and its disable count is in bounds.
fn validate_conventions(ep: &Endpoint) -> Result<(), ApiError> {
    if let Some(current) = ep.secrets.iter().rev().find(|s| s.expires_at.is_none()) {
        validate_secret(&ep.signature, current.secret.expose()).map_err(|e| {
            let hint = if ep.signature.is_standard() { " (rotate-secret gives the endpoint one)" } else { "" };
            ApiError::BadRequest(format!("secret: {e}{hint}"))
        })?;
    }
    if let Some(header) = ep.signature.header() {
        if ep.headers.keys().any(|k| k.eq_ignore_ascii_case(header)) {
            return Err(ApiError::BadRequest(format!("headers: `{header}` carries the signature")));
        }
    }
    if ep.disable_after_exhausted.is_some_and(|n| !(1..=MAX_DISABLE_AFTER).contains(&n)) {
        return Err(ApiError::BadRequest(format!("disable_after_exhausted: 1-{MAX_DISABLE_AFTER}")));
    }
    Ok(())
}

fn validate_headers(headers: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in headers {
        let (name, _) = header(k, v)?;
        if is_reserved_header(name.as_str()) {
            return Err(ApiError::BadRequest(format!("headers: `{k}` is set by Hookline")));
        }
    }
    Ok(())
}

/// A header given in a request body (`headers`), checked: a 400 names the one that is not valid.
pub(crate) fn header(k: &str, v: &str) -> Result<(http::HeaderName, http::HeaderValue), ApiError> {
    let name = http::HeaderName::from_bytes(k.as_bytes())
        .map_err(|_| ApiError::BadRequest(format!("headers: `{k}` is not a valid header name")))?;
    let value = http::HeaderValue::from_str(v)
        .map_err(|_| ApiError::BadRequest(format!("headers: the value of `{k}` is not valid")))?;
    Ok((name, value))
}

impl<S: ApiState, Q: Queue + 'static, C: Clock> Api<S, Q, C> {
    /// A URL must parse, use an allowed scheme and not name a forbidden address literally
    /// (names are checked again at connect time, on every delivery).
    fn validate_url(&self, url: &str, host: &CalledAs) -> Result<(), ApiError> {
        let parsed = parse_endpoint_url(url).map_err(|e| ApiError::BadRequest(format!("url: {e}")))?;
        if url.len() > 2048 {
            return Err(ApiError::BadRequest("url: at most 2048 characters".into()));
        }
        // Hookline's own addresses: the configured public URL, and the host this request
        // came to (in AWS, the API's own domain; ingest is served there too).
        let mut own: Vec<reqwest::Url> = reqwest::Url::parse(&self.public_url).into_iter().collect();
        if let Some(h) = &host.0 {
            own.extend(
                ["https", "http"].iter().filter_map(|scheme| reqwest::Url::parse(&format!("{scheme}://{h}")).ok()),
            );
        }
        if own.iter().any(|own| points_at(&parsed, own)) {
            return Err(ApiError::Unprocessable(
                "url: points at this Hookline itself; its deliveries would come back as new events".into(),
            ));
        }
        self.network.check_url(&parsed).map_err(|e| ApiError::Unprocessable(format!("url: {e}")))
    }

    /// The endpoint's handshake: the filter it gives, if any.
    async fn handshake(&self, ep: &Endpoint) -> Result<Option<Vec<String>>, ApiError> {
        realtime::handshake(&*self.handoffs.http, ep, API_REQUEST_TIMEOUT, self.clock.now())
            .await
            .map_err(|e| ApiError::Unprocessable(format!("handshake failed: {e}")))
    }

    /// Store a new endpoint (a webhook or a listen session) unless `org`'s plan holds
    /// as many as it allows already.
    pub(crate) async fn create_within_plan(&self, org: &Org, ep: &Endpoint) -> Result<(), ApiError> {
        let limit = self.webhook_limits.of(org.plan);
        if !self.store.create_endpoint(ep, limit).await? {
            return Err(ApiError::LimitExceeded(format!(
                "the {:?} plan allows {} webhooks (listen sessions count too); upgrade to add more",
                org.plan,
                limit.unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Log try `n` of a request sent at once.
    async fn log_direct(
        &self,
        org: &Org,
        ep: &Endpoint,
        payload: &Payload,
        n: u32,
        res: &Result<OutboundResponse, SendError>,
    ) -> Result<Attempt, ApiError> {
        let attempt = Attempt::of_direct(ep, payload, n, res, self.clock.now(), self.retention_of(org));
        self.store.insert_attempt(&attempt).await?;
        Ok(attempt)
    }
}

/// Change a stored endpoint of `org` without undoing a concurrent change; 404 when it is gone.
/// Set an endpoint's status by `set` (false: it is as wanted already), stamped now.
async fn set_status<S: ApiState, Q, C: Clock>(
    api: &Api<S, Q, C>,
    org: &Org,
    id: &str,
    mut set: impl FnMut(&mut Endpoint, DateTime<Utc>) -> bool,
) -> Result<Endpoint, ApiError> {
    let now = api.clock.now();
    change(api, org, &parse_id(id)?, |ep| {
        if !set(ep, now) {
            return false;
        }
        ep.updated_at = now;
        true
    })
    .await
}

/// Every attempt of endpoint `ep` with one of `statuses` made since `since`, all pages
/// of the listing, newest first.
async fn all_attempts<S: ApiState, Q, C>(
    api: &Api<S, Q, C>,
    org: &Org,
    ep: &EndpointId,
    statuses: Vec<AttemptStatus>,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Attempt>, ApiError> {
    let mut all = Vec::new();
    each_attempt(api, &org.id, ep, &statuses, since, usize::MAX, |a| all.push(a)).await?;
    Ok(all)
}

/// Hand `visit` the attempts of endpoint `ep` with one of `statuses` (any when empty)
/// made since `since`, newest first, a page at a time, up to about `max`; true when
/// more were left.
pub(crate) async fn each_attempt<S: ApiState, Q, C>(
    api: &Api<S, Q, C>,
    org: &OrgId,
    ep: &EndpointId,
    statuses: &[AttemptStatus],
    since: Option<DateTime<Utc>>,
    max: usize,
    mut visit: impl FnMut(Attempt),
) -> Result<bool, ApiError> {
    let (mut seen, mut cursor) = (0, None);
    loop {
        let query = AttemptQuery { limit: 100, cursor, statuses: statuses.to_vec(), since };
        let page = api.store.list_attempts(org, ep, &query).await?;
        seen += page.items.len();
        page.items.into_iter().for_each(&mut visit);
        match page.next_cursor {
            Some(c) if seen < max => cursor = Some(c),
            more => return Ok(more.is_some()),
        }
    }
}

/// Put `jobs` on the queue of `urgency`, in their order, batched; how many.
async fn queue_jobs<S: ApiState, Q: Queue + 'static, C>(
    api: &Api<S, Q, C>,
    urgency: Urgency,
    jobs: impl IntoIterator<Item = DeliveryJob>,
) -> Result<usize, ApiError> {
    let bodies: Vec<String> = jobs
        .into_iter()
        .map(|j| serde_json::to_string(&j))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    api.handoffs.deliveries.queue(urgency).send_batch(&bodies).await?;
    Ok(bodies.len())
}

async fn change<S: ApiState, Q, C>(
    api: &Api<S, Q, C>,
    org: &Org,
    id: &EndpointId,
    change: impl FnMut(&mut Endpoint) -> bool,
) -> Result<Endpoint, ApiError> {
    update_endpoint(&api.store, &org.id, id, change).await?.endpoint().ok_or(ApiError::NotFound("webhook"))
}
