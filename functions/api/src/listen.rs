//! `/v1/listen-sessions`: endpoints whose deliveries a client pulls (`hookline listen`)
//! instead of being sent them, so a server that a deployed stack cannot reach (a
//! developer's laptop) still gets them. Its client long-polls for what is pending,
//! forwards each request as it is given, signed, and reports the answer, which becomes
//! the attempt's log. A session nobody polls expires (`shared/src/delivery/listen.rs`).

use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::webhooks::AttemptView;
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hookline_shared::delivery::{
    capped_body, signed_request, validate_filters, Attempt, AttemptStatus, Endpoint, ListenLease, Urgency,
    RESPONSE_BODY_CAP,
};
use hookline_shared::endpoint_update::update_endpoint;
use hookline_shared::ports::{AttemptQuery, Clock, Queue};
use hookline_shared::{AttemptId, EndpointId, EventId, Org};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The longest a poll waits for a delivery (API Gateway ends a request at 29 s).
const MAX_WAIT_SECS: u64 = 20;
/// How often a waiting poll looks again: a delivery waits at most this long for its
/// client, and a waiting poll costs a query of the store each time.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// The most deliveries one poll hands out.
const PER_POLL: usize = 25;

/// Body of `POST /v1/listen-sessions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenSession {
    /// Event types to receive (filters as a webhook's); everything when absent.
    #[serde(default, deserialize_with = "crate::error::not_null")]
    events: Option<Vec<String>>,
}

/// A session as its client sees it; `secret` signs what it is handed.
#[derive(Debug, Serialize)]
pub struct SessionView {
    id: EndpointId,
    events: Vec<String>,
    secret: String,
    expires_at: DateTime<Utc>,
}

/// Query of `GET /v1/listen-sessions/{id}/deliveries`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollQuery {
    /// Seconds to wait for a delivery when none is pending (0 to 20, default 20).
    wait: Option<u64>,
}

/// A delivery for the client to forward: exactly the request `deliver` would send.
#[derive(Debug, Serialize)]
pub struct PendingDelivery {
    id: AttemptId,
    event_id: EventId,
    event_type: String,
    created_at: DateTime<Utc>,
    headers: BTreeMap<String, String>,
    body: String,
}

/// Deliveries pending, oldest first.
#[derive(Debug, Serialize)]
pub struct Pending {
    data: Vec<PendingDelivery>,
    expires_at: DateTime<Utc>,
}

/// Body of `POST /v1/listen-sessions/{id}/deliveries/{attempt}`: what the client's
/// server answered (`response_code`), or why it did not (`error`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answered {
    event_id: EventId,
    #[serde(default)]
    response_code: Option<u16>,
    #[serde(default)]
    response_body: Option<String>,
    duration_ms: u64,
    #[serde(default)]
    error: Option<String>,
}

pub(crate) async fn open<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiJson(body): ApiJson<OpenSession>,
) -> Result<(StatusCode, ApiJson<SessionView>), ApiError> {
    let events = body.events.unwrap_or_else(|| vec!["*".to_owned()]);
    validate_filters(&events).map_err(|m| ApiError::BadRequest(format!("events: {m}")))?;
    let now = api.clock.now();
    // Sessions whose clients went away without closing them count toward the plan's
    // webhooks until removed: the next session removes them.
    for ep in api.store.list_endpoints(&org.id).await? {
        if ep.listen.is_some_and(|l| l.expired(now)) {
            api.store.delete_endpoint(&org.id, &ep.id).await?;
        }
    }
    let mut ep = Endpoint::new(org.id.clone(), String::new(), events, now);
    ep.url = format!("listen:{}", ep.id);
    ep.description = "listen session".to_owned();
    ep.listen = Some(ListenLease::from(now));
    // A session is a delivery target like any other, within the plan's webhooks.
    api.create_within_plan(&org, &ep).await?;
    tracing::info!(endpoint = %ep.id, org = %org.id, "listen session opened");
    let secret = ep.secrets.last().map(|s| s.secret.expose().to_owned()).unwrap_or_default();
    let expires_at = ep.listen.map_or(now, |l| l.expires_at);
    Ok((StatusCode::CREATED, ApiJson(SessionView { id: ep.id, events: ep.events, secret, expires_at })))
}

/// The session `id` of `org`, its lease renewed when due; 404 for anything else,
/// an expired session included.
async fn renewed<S: ApiState, Q, C: Clock>(api: &Api<S, Q, C>, org: &Org, id: &str) -> Result<Endpoint, ApiError> {
    let id: EndpointId = id.parse().map_err(|_| ApiError::NotFound("listen session"))?;
    let now = api.clock.now();
    let ep = api.store.get_endpoint(&org.id, &id).await?.ok_or(ApiError::NotFound("listen session"))?;
    let lease = ep.listen.filter(|l| !l.expired(now)).ok_or(ApiError::NotFound("listen session"))?;
    if !lease.wants_renewal(now) {
        return Ok(ep);
    }
    let changed = update_endpoint(&api.store, &org.id, &id, |ep| {
        let live = ep.listen.is_some_and(|l| !l.expired(now));
        if live {
            ep.listen = Some(ListenLease::from(now));
        }
        live
    })
    .await?;
    changed
        .endpoint()
        .filter(|ep| ep.listen.is_some_and(|l| !l.expired(now)))
        .ok_or(ApiError::NotFound("listen session"))
}

pub(crate) async fn poll<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PollQuery>,
) -> Result<ApiJson<Pending>, ApiError> {
    let wait = q.wait.unwrap_or(MAX_WAIT_SECS);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::BadRequest(format!("wait: 0 to {MAX_WAIT_SECS} seconds")));
    }
    let ep = renewed(&api, &org, &id).await?;
    let expires_at = ep.listen.map_or_else(|| api.clock.now(), |l| l.expires_at);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let query = AttemptQuery { limit: PER_POLL, cursor: None, statuses: vec![AttemptStatus::Pending], since: None };
        let mut page = api.store.list_attempts(&org.id, &ep.id, &query).await?.items;
        if !page.is_empty() || tokio::time::Instant::now() >= deadline {
            // The listing is newest first; the client forwards oldest first.
            page.reverse();
            let now = api.clock.now();
            let data = page.iter().filter_map(|a| to_forward(&ep, a, now)).collect();
            return Ok(ApiJson(Pending { data, expires_at }));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The signed request of a pending attempt, as of `now` (its signature's time).
fn to_forward(ep: &Endpoint, a: &Attempt, now: DateTime<Utc>) -> Option<PendingDelivery> {
    let job = a.job.as_ref()?;
    let how = job.send(Urgency::Regular, Duration::from_secs(30), RESPONSE_BODY_CAP);
    let req = signed_request(ep, &job.payload, how, now).ok()?;
    Some(PendingDelivery {
        id: a.id.clone(),
        event_id: a.event_id.clone(),
        event_type: a.event_type.clone(),
        created_at: job.payload.created_at,
        headers: req.headers.into_iter().collect(),
        body: String::from_utf8_lossy(&req.body).into_owned(),
    })
}

pub(crate) async fn answer<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath((id, attempt)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Answered>,
) -> Result<ApiJson<AttemptView>, ApiError> {
    let ep = renewed(&api, &org, &id).await?;
    let attempt: AttemptId = attempt.parse().map_err(|_| ApiError::NotFound("delivery"))?;
    let mut logged = api
        .store
        .get_attempt(&org.id, &body.event_id, &attempt)
        .await?
        .filter(|a| a.endpoint_id == ep.id)
        .ok_or(ApiError::NotFound("delivery"))?;
    if logged.status != AttemptStatus::Pending {
        return Err(ApiError::Conflict("delivery: its answer was reported already".into()));
    }
    let delivered = body.response_code.is_some_and(|c| (200..300).contains(&c));
    logged.status = if delivered { AttemptStatus::Delivered } else { AttemptStatus::Failed };
    logged.response_code = body.response_code;
    logged.response_body = body.response_body.map(capped_body);
    logged.duration_ms = body.duration_ms;
    logged.error = match (body.error, body.response_code) {
        (Some(e), _) => Some(e.chars().take(500).collect()),
        (None, Some(c)) if !delivered => Some(format!("local server answered {c}")),
        (None, Some(_)) => None,
        (None, None) => Some("no answer from the local server".to_owned()),
    };
    if delivered {
        logged.job = None;
    }
    api.store.put_attempt(&logged).await?;
    Ok(ApiJson(logged.into()))
}

pub(crate) async fn close<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id: EndpointId = id.parse().map_err(|_| ApiError::NotFound("listen session"))?;
    match api.store.get_endpoint(&org.id, &id).await? {
        Some(ep) if ep.listen.is_some() => {
            api.store.delete_endpoint(&org.id, &id).await?;
            tracing::info!(endpoint = %id, org = %org.id, "listen session closed");
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(ApiError::NotFound("listen session")),
    }
}
