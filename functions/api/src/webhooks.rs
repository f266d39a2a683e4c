//! `/v1/webhooks`: endpoints that receive events, their logs, secrets, replay and
//! real-time calls.

use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hookline_shared::delivery::{
    capped_body, parse_endpoint_url, send_event, Attempt, AttemptStatus, DeliveryJob, Endpoint, EndpointSecret,
    EndpointStatus, FailureState, Outcome, Payload, RetryPolicy, RetryRule, SendOptions, Urgency, RESPONSE_BODY_CAP,
};
use hookline_shared::endpoint_update::update_endpoint;
use hookline_shared::outbound::{points_at, OutboundResponse, SendError};
use hookline_shared::ports::{AttemptQuery, Clock, Queue};
use hookline_shared::signature::standard;
use hookline_shared::{validate_event_type, validate_filter, AttemptId, EndpointId, EventId, Org, Secret};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a rotated-out secret keeps signing.
const ROTATION_GRACE: chrono::Duration = chrono::Duration::hours(24);
/// Headers an endpoint may not set: they carry the signature and Hookline's own data.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-request-id",
    "transfer-encoding",
    "connection",
];
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
        }
    }
}

fn parse_id(id: &str) -> Result<EndpointId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound("webhook"))
}

async fn load<S: ApiState, Q, C>(api: &Api<S, Q, C>, org: &Org, id: &str) -> Result<Endpoint, ApiError> {
    api.store.get_endpoint(&org.id, &parse_id(id)?).await?.ok_or(ApiError::NotFound("webhook"))
}

/// How the API sends a request of its own (a test, a handshake, a real-time call): the
/// event starts there, so it has been through no delivery yet.
fn api_send(urgency: Urgency, timeout: Duration, max_response_bytes: usize) -> SendOptions {
    SendOptions { urgency, timeout, max_response_bytes, hops: 0 }
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
    if events.is_empty() || events.len() > 100 {
        return Err(ApiError::BadRequest("events: give 1-100 event types or patterns (`invoice.*`, `*`)".into()));
    }
    for e in events {
        validate_filter(e).map_err(|m| ApiError::BadRequest(format!("events: {m}")))?;
    }
    Ok(())
}

fn validate_headers(headers: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| ApiError::BadRequest(format!("headers: `{k}` is not a valid header name")))?;
        if RESERVED_HEADERS.contains(&name.as_str()) || name.as_str().starts_with("x-hookline-") {
            return Err(ApiError::BadRequest(format!("headers: `{k}` is set by Hookline")));
        }
        http::HeaderValue::from_str(v)
            .map_err(|_| ApiError::BadRequest(format!("headers: the value of `{k}` is not valid")))?;
    }
    Ok(())
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

    /// POST `hello` with a random magic; the endpoint must echo it, and may return its filter.
    async fn handshake(&self, ep: &Endpoint) -> Result<Option<Vec<String>>, ApiError> {
        let magic = hex::encode(rand::rng().random::<[u8; 16]>());
        let now = self.clock.now();
        let payload = Payload::new(EventId::new(), "hello".into(), now, serde_json::json!({ "magic": magic }));
        let res = send_event(
            &*self.outbound.http,
            ep,
            &payload,
            api_send(Urgency::RealTime, API_REQUEST_TIMEOUT, 64 * 1024),
            now,
        )
        .await
        .map_err(|e| ApiError::Unprocessable(format!("handshake failed: {e}")))?;
        if !(200..300).contains(&res.status) {
            return Err(ApiError::Unprocessable(format!("handshake failed: endpoint answered {}", res.status)));
        }
        let reply: serde_json::Value = serde_json::from_str(&res.body)
            .map_err(|_| ApiError::Unprocessable("handshake failed: the answer is not JSON".into()))?;
        if reply.get("magic").and_then(|m| m.as_str()) != Some(magic.as_str()) {
            return Err(ApiError::Unprocessable("handshake failed: the answer does not echo `magic`".into()));
        }
        match reply.get("events") {
            None => Ok(None),
            Some(v) => {
                let events: Vec<String> = serde_json::from_value(v.clone()).map_err(|_| {
                    ApiError::Unprocessable("handshake failed: `events` is not a list of strings".into())
                })?;
                validate_filters(&events).map_err(|e| ApiError::Unprocessable(format!("handshake failed: {e}")))?;
                Ok(Some(events))
            }
        }
    }

    async fn log_single(
        &self,
        ep: &Endpoint,
        payload: &Payload,
        n: u32,
        res: &Result<OutboundResponse, SendError>,
    ) -> Result<Attempt, ApiError> {
        let (status, code, body, duration, error) = match res {
            Ok(r) if (200..300).contains(&r.status) => {
                (AttemptStatus::Delivered, Some(r.status), Some(r.body.clone()), r.duration, None)
            }
            Ok(r) => (
                AttemptStatus::Failed,
                Some(r.status),
                Some(r.body.clone()),
                r.duration,
                Some(format!("endpoint answered {}", r.status)),
            ),
            Err(e) => (AttemptStatus::Failed, None, None, Duration::ZERO, Some(e.to_string())),
        };
        let attempt = Attempt {
            id: AttemptId::new(),
            org_id: ep.org_id.clone(),
            endpoint_id: ep.id.clone(),
            event_id: payload.id.clone(),
            event_type: payload.event_type.clone(),
            status,
            response_code: code,
            response_body: body.map(capped_body),
            duration_ms: duration.as_millis() as u64,
            error,
            attempt: n,
            next_attempt_at: None,
            created_at: self.clock.now(),
            job: None,
            follow_up_pending: false,
        };
        self.store.insert_attempt(&attempt).await?;
        Ok(attempt)
    }
}

pub(crate) async fn create<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    host: CalledAs,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, ApiJson<WebhookView>), ApiError> {
    api.validate_url(&body.url, &host)?;
    // With a handshake the endpoint may supply its own filter.
    if !body.handshake || !body.events.is_empty() {
        validate_filters(&body.events)?;
    }
    validate_headers(&body.headers)?;
    let secret = match body.secret {
        Some(s) => {
            if !s.expose().starts_with("whsec_") {
                return Err(ApiError::BadRequest("secret: must be `whsec_` followed by base64".into()));
            }
            standard::decode_secret(s.expose()).map_err(|e| ApiError::BadRequest(format!("secret: {}", e.0)))?;
            EndpointSecret { secret: s, expires_at: None }
        }
        None => EndpointSecret::generate(),
    };
    let now = api.clock.now();
    let urgency = match body.urgency {
        Some(Urgency::RealTime) => return Err(ApiError::BadRequest("urgency: `regular` or `urgent`".into())),
        u => u.unwrap_or_default(),
    };
    let mut ep = Endpoint {
        description: body.description,
        secrets: vec![secret],
        headers: body.headers,
        urgency,
        handshake: body.handshake,
        ..Endpoint::new(org.id.clone(), body.url, body.events, now)
    };
    if ep.handshake {
        if let Some(events) = api.handshake(&ep).await? {
            ep.events = events;
        }
        if ep.events.is_empty() {
            return Err(ApiError::Unprocessable("handshake returned no `events` and none were given".into()));
        }
    }
    let limit = api.webhook_limits.of(org.plan);
    if !api.store.create_endpoint(&ep, limit).await? {
        return Err(ApiError::LimitExceeded(format!(
            "the {:?} plan allows {} webhooks; upgrade to add more",
            org.plan,
            limit.unwrap_or_default()
        )));
    }
    tracing::info!(endpoint = %ep.id, org = %org.id, "webhook created");
    Ok((StatusCode::CREATED, ApiJson(WebhookView::of(ep, true))))
}

pub(crate) async fn list<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
) -> Result<ApiJson<WebhookList>, ApiError> {
    let eps = api.store.list_endpoints(&org.id).await?;
    Ok(ApiJson(WebhookList { data: eps.into_iter().map(|e| WebhookView::of(e, false)).collect() }))
}

pub(crate) async fn get<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    Ok(ApiJson(WebhookView::of(load(&api, &org, &id).await?, false)))
}

impl UpdateWebhook {
    /// Check every field given, before anything is read or written.
    fn validate<S: ApiState, Q: Queue + 'static, C: Clock>(
        &self,
        api: &Api<S, Q, C>,
        host: &CalledAs,
    ) -> Result<(), ApiError> {
        if let Some(url) = &self.url {
            api.validate_url(url, host)?;
        }
        if let Some(events) = &self.events {
            validate_filters(events)?;
        }
        if let Some(h) = &self.headers {
            validate_headers(h)?;
        }
        if self.urgency == Some(Urgency::RealTime) {
            return Err(ApiError::BadRequest("urgency: `regular` or `urgent`".into()));
        }
        Ok(())
    }

    /// Apply the fields given to `ep`. A new URL starts with a clean failure record:
    /// the old URL's failures say nothing about it.
    fn apply(&self, ep: &mut Endpoint) {
        if let Some(url) = self.url.as_ref().filter(|u| **u != ep.url) {
            ep.url = url.clone();
            ep.failure = FailureState::default();
        }
        if let Some(events) = &self.events {
            ep.events = events.clone();
        }
        if let Some(d) = &self.description {
            ep.description = d.clone();
        }
        if let Some(h) = &self.headers {
            ep.headers = h.clone();
        }
        if let Some(u) = self.urgency {
            ep.urgency = u;
        }
        if let Some(h) = self.handshake {
            ep.handshake = h;
        }
    }
}

/// Change a stored endpoint of `org` without undoing a concurrent change; 404 when it is gone.
async fn change<S: ApiState, Q, C>(
    api: &Api<S, Q, C>,
    org: &Org,
    id: &EndpointId,
    change: impl FnMut(&mut Endpoint) -> bool,
) -> Result<Endpoint, ApiError> {
    update_endpoint(&api.store, &org.id, id, change).await?.endpoint().ok_or(ApiError::NotFound("webhook"))
}

pub(crate) async fn update<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    host: CalledAs,
    ApiJson(body): ApiJson<UpdateWebhook>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    body.validate(&api, &host)?;
    let stored = load(&api, &org, &id).await?;
    let mut edited = stored.clone();
    body.apply(&mut edited);
    // The handshake runs once, against the endpoint as edited; its filter is then
    // applied with the rest of the edit.
    let handshake_events =
        if edited.handshake && edited.url != stored.url { api.handshake(&edited).await? } else { None };
    let now = api.clock.now();
    let ep = change(&api, &org, &stored.id, |ep| {
        body.apply(ep);
        if let Some(events) = &handshake_events {
            ep.events = events.clone();
        }
        ep.updated_at = now;
        true
    })
    .await?;
    Ok(ApiJson(WebhookView::of(ep, false)))
}

pub(crate) async fn delete<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if !api.store.delete_endpoint(&org.id, &parse_id(&id)?).await? {
        return Err(ApiError::NotFound("webhook"));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn test<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<AttemptView>, ApiError> {
    let ep = load(&api, &org, &id).await?;
    let now = api.clock.now();
    let payload = Payload::new(
        EventId::new(),
        "webhook.test".into(),
        now,
        serde_json::json!({ "message": "a test delivery from Hookline", "endpoint_id": ep.id }),
    );
    let res = send_event(
        &*api.outbound.http,
        &ep,
        &payload,
        api_send(ep.urgency, API_REQUEST_TIMEOUT, RESPONSE_BODY_CAP),
        now,
    )
    .await;
    Ok(ApiJson(api.log_single(&ep, &payload, 1, &res).await?.into()))
}

/// Query of `GET /v1/webhooks/{id}/logs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    status: Option<AttemptStatus>,
}

/// A page of attempts.
#[derive(Debug, Serialize)]
pub struct AttemptList {
    data: Vec<AttemptView>,
    next_cursor: Option<String>,
}

pub(crate) async fn logs<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> Result<ApiJson<AttemptList>, ApiError> {
    let ep = load(&api, &org, &id).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest("limit: must be between 1 and 100".into()));
    }
    let page = api
        .store
        .list_attempts(
            &org.id,
            &ep.id,
            &AttemptQuery { limit, cursor: q.cursor, statuses: q.status.into_iter().collect(), since: None },
        )
        .await?;
    Ok(ApiJson(AttemptList {
        data: page.items.into_iter().map(AttemptView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

pub(crate) async fn rotate_secret<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    let now = api.clock.now();
    let new_secret = EndpointSecret::generate();
    let ep = change(&api, &org, &parse_id(&id)?, |ep| {
        // The current secret keeps signing for the grace period; older ones that expired go.
        ep.secrets.retain(|s| s.expires_at.is_none_or(|e| e > now));
        for s in ep.secrets.iter_mut().filter(|s| s.expires_at.is_none()) {
            s.expires_at = Some(now + ROTATION_GRACE);
        }
        ep.secrets.push(new_secret.clone());
        ep.updated_at = now;
        true
    })
    .await?;
    Ok(ApiJson(WebhookView::of(ep, true)))
}

/// Body of `POST /v1/webhooks/{id}/replay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    since: DateTime<Utc>,
}

/// Answer to a replay.
#[derive(Debug, Serialize)]
pub struct Replayed {
    replayed: usize,
}

pub(crate) async fn replay<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Replay>,
) -> Result<ApiJson<Replayed>, ApiError> {
    let ep = load(&api, &org, &id).await?;
    let mut jobs: BTreeMap<EventId, DeliveryJob> = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = api
            .store
            .list_attempts(
                &org.id,
                &ep.id,
                &AttemptQuery {
                    limit: 100,
                    cursor,
                    statuses: vec![AttemptStatus::Failed, AttemptStatus::Exhausted],
                    since: Some(body.since),
                },
            )
            .await?;
        for a in page.items {
            if let Some(job) = a.job {
                jobs.entry(a.event_id).or_insert(job);
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // A new series of attempts, logged apart from the ones it replays.
    let replay = ulid::Ulid::new().to_string();
    let bodies: Vec<String> = jobs
        .into_values()
        .map(|j| serde_json::to_string(&DeliveryJob { replay: Some(replay.clone()), ..j.for_replay() }))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    api.outbound.deliveries.queue(ep.urgency).send_batch(&bodies).await?;
    Ok(ApiJson(Replayed { replayed: bodies.len() }))
}

pub(crate) async fn enable<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    let now = api.clock.now();
    let ep = change(&api, &org, &parse_id(&id)?, |ep| {
        ep.status = EndpointStatus::Active;
        ep.failure = FailureState::default();
        ep.updated_at = now;
        true
    })
    .await?;
    Ok(ApiJson(WebhookView::of(ep, false)))
}

/// Body of `POST /v1/webhooks/{id}/call`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default = "empty", deserialize_with = "hookline_shared::json::event_data")]
    data: serde_json::Value,
}

fn empty() -> serde_json::Value {
    serde_json::json!({})
}

/// The endpoint's answer to a real-time call.
#[derive(Debug, Serialize)]
pub struct CallResult {
    event_id: EventId,
    status: u16,
    body: serde_json::Value,
    attempts: u32,
}

pub(crate) async fn call<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Call>,
) -> Result<ApiJson<CallResult>, ApiError> {
    let ep = load(&api, &org, &id).await?;
    if !ep.is_active() {
        return Err(ApiError::Unprocessable("the webhook is disabled".into()));
    }
    validate_event_type(&body.event_type).map_err(ApiError::BadRequest)?;
    let policy = RetryPolicy::for_urgency(Urgency::RealTime);
    let started = tokio::time::Instant::now();
    let payload = Payload::new(EventId::new(), body.event_type, api.clock.now(), body.data);
    let mut n = 0;
    loop {
        n += 1;
        let remaining = policy.give_up_after.saturating_sub(started.elapsed());
        let how = api_send(Urgency::RealTime, remaining.min(policy.timeout), CALL_RESPONSE_CAP);
        let res = send_event(&*api.outbound.http, &ep, &payload, how, api.clock.now()).await;
        api.log_single(&ep, &payload, n, &res).await?;
        let retryable = RetryRule::RealTime.judge(&res) == Outcome::Retry;
        let delay = policy.delay_after(n, res.as_ref().ok().and_then(|r| r.retry_after));
        let out_of_budget = started.elapsed() + delay >= policy.give_up_after || n >= policy.max_attempts;
        if !retryable || out_of_budget {
            return match res {
                Ok(r) => Ok(ApiJson(CallResult {
                    event_id: payload.id,
                    status: r.status,
                    body: serde_json::from_str(&r.body).unwrap_or(serde_json::Value::String(r.body)),
                    attempts: n,
                })),
                Err(e) => Err(ApiError::BadGateway(format!("the endpoint did not answer after {n} tries: {e}"))),
            };
        }
        tokio::time::sleep(delay).await;
    }
}
