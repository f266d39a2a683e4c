//! `POST /v1/webhooks/{id}/call`: deliver now and return the endpoint's answer, tried
//! again by the real-time rule while its budget lasts, every try logged.

use super::{load, CALL_RESPONSE_CAP};
use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::{Api, ApiState};
use axum::extract::State;
use hookline_shared::delivery::{realtime, Payload};
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::{validate_event_type, EventId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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
        let state = if ep.is_paused() { "paused" } else { "disabled" };
        return Err(ApiError::Unprocessable(format!("the webhook is {state}")));
    }
    validate_event_type(&body.event_type).map_err(ApiError::BadRequest)?;
    let payload = Payload::new(EventId::new(), body.event_type, api.clock.now(), body.data);
    let http = &*api.handoffs.http;
    let log = |n, res| {
        let (api, org, ep, payload) = (&api, &org, &ep, &payload);
        async move { api.log_direct(org, ep, payload, n, &res).await.map(|_| ()) }
    };
    let called = realtime::call(http, &ep, &payload, CALL_RESPONSE_CAP, || api.clock.now(), log).await?;
    match called.last {
        Ok(r) => Ok(ApiJson(CallResult {
            event_id: payload.id,
            status: r.status,
            body: serde_json::from_str(&r.body).unwrap_or(serde_json::Value::String(r.body)),
            attempts: called.tries,
        })),
        Err(e) => Err(ApiError::BadGateway(format!("the endpoint did not answer after {} tries: {e}", called.tries))),
    }
}
