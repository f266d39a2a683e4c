//! Pausing a webhook: its deliveries are held, neither attempted nor failed, and a
//! resume sends them in the order their events were made.

use super::{load, set_status, WebhookView};
use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::{Api, ApiState};
use axum::extract::State;
use chrono::{DateTime, Utc};
use hookline_shared::delivery::{AttemptStatus, DeliveryJob, EndpointStatus};
use hookline_shared::ports::{AttemptQuery, Clock, Queue};
use hookline_shared::AttemptId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) async fn pause<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    let ep = set_status(&api, &org, &id, |ep, now| {
        let pausing = !ep.is_paused();
        if pausing {
            ep.status = EndpointStatus::Paused { paused_at: now };
        }
        pausing
    })
    .await?;
    Ok(ApiJson(WebhookView::of(ep, false)))
}

/// Answer to a resume: the webhook, and how many held deliveries it sent on.
#[derive(Debug, Serialize)]
pub struct Resumed {
    #[serde(flatten)]
    webhook: WebhookView,
    resumed: usize,
}

pub(crate) async fn resume<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Resumed>, ApiError> {
    if !load(&api, &org, &id).await?.is_paused() {
        return Err(ApiError::Conflict("the webhook is not paused".into()));
    }
    let ep = set_status(&api, &org, &id, |ep, _| {
        ep.status = EndpointStatus::Active;
        true
    })
    .await?;
    // Held after this listing (by a `deliver` that read the endpoint paused just
    // before) is sent by its hold's own copy; sent twice, a copy finds it logged.
    let mut held: BTreeMap<(DateTime<Utc>, AttemptId), DeliveryJob> = BTreeMap::new();
    let mut cursor = None;
    loop {
        let query = AttemptQuery { limit: 100, cursor, statuses: vec![AttemptStatus::Held], since: None };
        let page = api.store.list_attempts(&org.id, &ep.id, &query).await?;
        for a in page.items {
            if let Some(job) = a.job {
                held.insert((job.payload.created_at, a.id), DeliveryJob { held: true, ..job });
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let bodies: Vec<String> = held
        .into_values()
        .map(|j| serde_json::to_string(&j))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    api.handoffs.deliveries.queue(ep.urgency).send_batch(&bodies).await?;
    Ok(ApiJson(Resumed { webhook: WebhookView::of(ep, false), resumed: bodies.len() }))
}
