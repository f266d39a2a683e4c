//! `/v1/events`: publish, list, get.

use crate::auth::{EndpointAuth, OrgAuth};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::page::{page_limit, PageView};
use crate::webhooks::AttemptView;
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hookline_shared::config::MAX_EVENT_DATA_BYTES;
use hookline_shared::delivery::{ordered_group, OrderingKey};
use hookline_shared::ports::{Clock, EventQuery, Queue};
use hookline_shared::{validate_event_type, Event, EventId, InboxMessage, PublishRequest};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Body of `POST /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default = "empty_object", deserialize_with = "hookline_shared::json::event_data")]
    data: serde_json::Value,
    /// Events with the same key reach each endpoint one at a time, in publish order.
    #[serde(default, deserialize_with = "crate::error::not_null")]
    ordering_key: Option<OrderingKey>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// Answer to a publish.
#[derive(Debug, Serialize)]
pub struct Published {
    id: EventId,
}

/// Query of `GET /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// Oldest first, from this time on (for following new events); newest first without.
    after: Option<chrono::DateTime<chrono::Utc>>,
}

/// An event as the API shows it (without the org id, which is the caller's).
#[derive(Debug, Serialize)]
pub struct EventView {
    id: EventId,
    #[serde(rename = "type")]
    event_type: String,
    data: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<hookline_shared::SourceId>,
    created_at: chrono::DateTime<chrono::Utc>,
    /// When its data was fetched back from the provider's API (fetch-back sources only).
    #[serde(skip_serializing_if = "Option::is_none")]
    fetched_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it and its attempts are deleted (`null` for one kept from before retention).
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Delivery attempts, on `GET /v1/events/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<Vec<AttemptView>>,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: e.id,
            event_type: e.event_type,
            data: e.data,
            source: e.source,
            created_at: e.created_at,
            fetched_at: e.fetched_at,
            expires_at: e.expires_at,
            attempts: None,
        }
    }
}

pub(crate) async fn publish<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Publish>,
) -> Result<(StatusCode, ApiJson<Published>), ApiError> {
    validate_event_type(&body.event_type).map_err(ApiError::BadRequest)?;
    // Re-serialised data grows by at most about 4.5×, so small requests are not measured.
    let sent = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if sent.is_none_or(|n| n > MAX_EVENT_DATA_BYTES / 5)
        && serde_json::to_string(&body.data).map_or(true, |d| d.len() > MAX_EVENT_DATA_BYTES)
    {
        return Err(ApiError::TooLarge);
    }
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 256)
                .ok_or_else(|| ApiError::BadRequest("Idempotency-Key: must be 1-256 visible characters".into()))?,
        ),
    };
    // A retried publish with the same key gets the same id; verify drops the copy.
    let id = match idempotency_key {
        Some(k) => EventId::derived(&[org.id.as_str().as_bytes(), k.as_bytes()]),
        None => EventId::new(),
    };
    // One stream per org and key: the queue keeps it in the order published.
    let group = body.ordering_key.as_ref().map(|k| ordered_group(&org.id, k));
    let message = InboxMessage::Publish(PublishRequest {
        event_id: id.clone(),
        org_id: org.id,
        event_type: body.event_type,
        data: body.data,
        received_at: api.clock.now(),
        id_from_key: idempotency_key.is_some(),
        ordering_key: body.ordering_key.clone(),
    });
    let encoded = serde_json::to_string(&message).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    match (&group, &api.ordered_inbox) {
        (None, _) => api.inbox.send(&encoded, Duration::ZERO).await?,
        (Some(group), Some(ordered)) => ordered.send_in_order(&encoded, group, id.as_str()).await?,
        (Some(_), None) => {
            return Err(ApiError::Unprocessable(
                "ordering_key: ordered delivery is not set up in this deployment".into(),
            ))
        }
    }
    Ok((StatusCode::ACCEPTED, ApiJson(Published { id })))
}

pub(crate) async fn list<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<PageView<EventView>>, ApiError> {
    let limit = page_limit(q.limit)?;
    let query = EventQuery { limit, cursor: q.cursor, event_type: q.event_type, from: q.after };
    let page = api.store.list_events(&org.id, &query).await?;
    Ok(ApiJson(PageView::of(page, EventView::from)))
}

/// An event with its attempts. A portal session sees only events that were delivered to
/// the org's endpoints (not what its sources received and routed nowhere).
pub(crate) async fn get<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, portal }: EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<EventView>, ApiError> {
    let id: EventId = id.parse().map_err(|_| ApiError::NotFound("event"))?;
    let event = api.store.get_event(&org.id, &id).await?.ok_or(ApiError::NotFound("event"))?;
    let attempts = api.store.list_event_attempts(&org.id, &id).await?;
    if portal && attempts.is_empty() {
        return Err(ApiError::NotFound("event"));
    }
    let mut view = EventView::from(event);
    view.attempts = Some(attempts.into_iter().map(AttemptView::from).collect());
    Ok(ApiJson(view))
}
