//! Pausing a webhook: its deliveries are held, neither attempted nor failed, and a
//! resume sends them in the order their events were made.

use super::{all_attempts, queue_jobs, set_status, WebhookView};
use crate::auth::EndpointAuth;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::{Api, ApiState};
use axum::extract::State;
use chrono::{DateTime, Utc};
use hookline_shared::delivery::{AttemptStatus, DeliveryJob, EndpointStatus};
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::AttemptId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) async fn pause<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, .. }: EndpointAuth,
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
    EndpointAuth { org, .. }: EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Resumed>, ApiError> {
    // Checked on the endpoint as it is changed (the last read, if a concurrent change
    // made it read again).
    let mut was_paused = false;
    let ep = set_status(&api, &org, &id, |ep, _| {
        was_paused = ep.is_paused();
        if was_paused {
            ep.status = EndpointStatus::Active;
        }
        was_paused
    })
    .await?;
    if !was_paused {
        return Err(ApiError::Conflict("the webhook is not paused".into()));
    }
    // Held after this listing (by a `deliver` that read the endpoint paused just
    // before) is sent by its hold's own copy; sent twice, a copy finds it logged.
    let mut held: BTreeMap<(DateTime<Utc>, AttemptId), DeliveryJob> = BTreeMap::new();
    for a in all_attempts(&api, &org, &ep.id, vec![AttemptStatus::Held], None).await? {
        if let Some(job) = a.job {
            held.insert((job.payload.created_at, a.id), DeliveryJob { held: true, ..job });
        }
    }
    let resumed = queue_jobs(&api, ep.urgency, held.into_values()).await?;
    Ok(ApiJson(Resumed { webhook: WebhookView::of(ep, false), resumed }))
}
