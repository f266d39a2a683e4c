//! What can be done to a webhook besides editing it: a test delivery, its logs, a
//! secret rotation, a replay of what it missed, and enabling it again.

use super::{
    all_attempts, change, load, parse_id, queue_jobs, set_status, AttemptView, WebhookView, API_REQUEST_TIMEOUT,
    ROTATION_GRACE,
};
use crate::auth::EndpointAuth;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::page::{page_limit, PageView};
use crate::{Api, ApiState};
use axum::extract::State;
use chrono::{DateTime, Utc};
use hookline_shared::delivery::{
    filter_matches, send_event, validate_filters, Attempt, AttemptStatus, DeliveryJob, Endpoint, EndpointSecret,
    EndpointStatus, FailureState, Payload, SendOptions, RESPONSE_BODY_CAP,
};
use hookline_shared::ports::{AttemptQuery, Clock, Queue};
use hookline_shared::{EventId, Org};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) async fn test<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, .. }: EndpointAuth,
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
        &*api.handoffs.http,
        &ep,
        &payload,
        SendOptions::direct(ep.urgency, API_REQUEST_TIMEOUT, RESPONSE_BODY_CAP),
        now,
    )
    .await;
    Ok(ApiJson(api.log_direct(&org, &ep, &payload, 1, &res).await?.into()))
}

/// Query of `GET /v1/webhooks/{id}/logs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    status: Option<AttemptStatus>,
    /// Only attempts made at or after this time.
    since: Option<DateTime<Utc>>,
}

pub(crate) async fn logs<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, .. }: EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> Result<ApiJson<PageView<AttemptView>>, ApiError> {
    let ep = load(&api, &org, &id).await?;
    let limit = page_limit(q.limit)?;
    let page = api
        .store
        .list_attempts(
            &org.id,
            &ep.id,
            &AttemptQuery { limit, cursor: q.cursor, statuses: q.status.into_iter().collect(), since: q.since },
        )
        .await?;
    Ok(ApiJson(PageView::of(page, AttemptView::from)))
}

pub(crate) async fn rotate_secret<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, .. }: EndpointAuth,
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
    /// Failed and exhausted deliveries from this time on.
    #[serde(default, deserialize_with = "crate::error::not_null")]
    since: Option<DateTime<Utc>>,
    /// Or this one event, whatever became of it, if it was delivered to the endpoint before.
    #[serde(default, deserialize_with = "crate::error::not_null")]
    event_id: Option<EventId>,
    /// Only attempts made before this time.
    #[serde(default, deserialize_with = "crate::error::not_null")]
    until: Option<DateTime<Utc>>,
    /// Only events of these types (patterns as in a filter).
    #[serde(default, deserialize_with = "crate::error::not_null")]
    types: Option<Vec<String>>,
}

impl Replay {
    /// Check the bounds before anything is read.
    fn validate(&self) -> Result<(), ApiError> {
        match (&self.since, &self.event_id) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => return Err(ApiError::BadRequest("give `since` or `event_id`, not both".into())),
        }
        if self.event_id.is_some() && (self.until.is_some() || self.types.is_some()) {
            return Err(ApiError::BadRequest("`until` and `types` go with `since`".into()));
        }
        if self.until.zip(self.since).is_some_and(|(u, s)| u <= s) {
            return Err(ApiError::BadRequest("until: must be after `since`".into()));
        }
        if let Some(types) = &self.types {
            validate_filters(types).map_err(|e| ApiError::BadRequest(format!("types: {e}")))?;
        }
        Ok(())
    }

    /// Whether a failed attempt falls within the bounds (`since` is the query's).
    fn covers(&self, a: &Attempt) -> bool {
        self.until.is_none_or(|u| a.created_at < u)
            && self.types.as_ref().is_none_or(|t| t.iter().any(|f| filter_matches(f, &a.event_type)))
    }
}

/// Answer to a replay: how many deliveries it queued.
#[derive(Debug, Serialize)]
pub struct Replayed {
    replayed: usize,
}

pub(crate) async fn replay<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, .. }: EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Replay>,
) -> Result<ApiJson<Replayed>, ApiError> {
    body.validate()?;
    let ep = load(&api, &org, &id).await?;
    // One job per event, sent in the order the events were made.
    let mut jobs: BTreeMap<(DateTime<Utc>, EventId), DeliveryJob> = BTreeMap::new();
    if let Some(event_id) = &body.event_id {
        let job = one_event(&api, &org, &ep, event_id).await?;
        jobs.insert((job.payload.created_at, event_id.clone()), job);
    }
    if let Some(since) = body.since {
        let failed =
            all_attempts(&api, &org, &ep.id, vec![AttemptStatus::Failed, AttemptStatus::Exhausted], Some(since));
        for a in failed.await?.into_iter().filter(|a| body.covers(a)) {
            if let Some(job) = a.job {
                jobs.entry((job.payload.created_at, a.event_id)).or_insert(job);
            }
        }
    }
    // A new series of attempts, logged apart from the ones it replays.
    let replay = ulid::Ulid::new().to_string();
    let jobs = jobs.into_values().map(|j| DeliveryJob { replay: Some(replay.clone()), ..j.for_replay() });
    Ok(ApiJson(Replayed { replayed: queue_jobs(&api, ep.urgency, jobs).await? }))
}

/// The job that delivers `event` to `ep` again: the one a failed attempt kept, else one
/// made from the stored event. Only for an event that went to the endpoint before.
async fn one_event<S: ApiState, Q, C>(
    api: &Api<S, Q, C>,
    org: &Org,
    ep: &Endpoint,
    event_id: &EventId,
) -> Result<DeliveryJob, ApiError> {
    let attempts = api.store.list_event_attempts(&org.id, event_id).await?;
    let mine: Vec<Attempt> = attempts.into_iter().filter(|a| a.endpoint_id == ep.id).collect();
    if mine.is_empty() {
        return Err(ApiError::NotFound("delivery of this event to this webhook"));
    }
    if let Some(job) = mine.into_iter().rev().find_map(|a| a.job) {
        return Ok(job);
    }
    let event = api.store.get_event(&org.id, event_id).await?.ok_or(ApiError::NotFound("event"))?;
    let payload = Payload::new(event.id, event.event_type, event.created_at, event.data);
    Ok(DeliveryJob::first(org.id.clone(), ep.id.clone(), event.expires_at, payload))
}

pub(crate) async fn enable<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, .. }: EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    let ep = set_status(&api, &org, &id, |ep, _| {
        ep.status = EndpointStatus::Active;
        ep.failure = FailureState::default();
        true
    })
    .await?;
    Ok(ApiJson(WebhookView::of(ep, false)))
}
