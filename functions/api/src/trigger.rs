//! `POST /v1/sources/{id}/trigger`: a request signed with the source's own stored secret,
//! as its provider would sign it, run through the inbound path itself (ingest's check
//! and queueing, then verify's dedupe, record and routing), so what it becomes is what
//! the provider's request would become. `hookline trigger --source` sends its fixtures here.

use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::sources::load;
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use hookline_ingest::Accepted;
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::signature::sign_as::provider_headers;
use hookline_shared::{EventId, Provider};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Body of a trigger.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The request body: a string is sent as it is, anything else as its JSON.
    body: serde_json::Value,
    /// Headers the provider sends beside its signature (GitHub's `X-GitHub-Event`,
    /// Shopify's `X-Shopify-Topic`); the signature's own are added.
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// What a trigger became.
#[derive(Debug, Serialize)]
pub struct Triggered {
    /// The event it is recorded as, shortly (a repeat of a provider id: the first one).
    event_id: EventId,
    #[serde(rename = "type")]
    event_type: String,
}

pub(crate) async fn trigger<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<Trigger>,
) -> Result<(StatusCode, ApiJson<Triggered>), ApiError> {
    let source = load(&api, &org, &id).await?;
    let inbound = api.inbound.as_ref().ok_or_else(|| {
        ApiError::Unprocessable("trigger: the inbound path is not wired to the API in this deployment".into())
    })?;
    if matches!(source.provider, Provider::Twilio { .. }) {
        return Err(ApiError::Unprocessable(
            "trigger: Twilio signs the URL it sends to; send to the ingest URL (`hookline trigger --url`)".into(),
        ));
    }
    let body = match req.body {
        serde_json::Value::String(s) => s.into_bytes(),
        other => serde_json::to_vec(&other).map_err(|e| ApiError::BadRequest(format!("body: {e}")))?,
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    for (k, v) in &req.headers {
        let (name, value) = crate::webhooks::header(k, v)?;
        headers.insert(name, value);
    }
    let secret = source.secrets.last().map(|s| s.expose()).unwrap_or_default();
    let now = api.clock.now().timestamp();
    let signed = provider_headers(&source.provider, secret, &body, None, now).map_err(ApiError::Unprocessable)?;
    for (k, v) in signed {
        let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| ApiError::Unavailable(e.to_string()))?;
        headers.insert(name, http::HeaderValue::from_str(&v).map_err(|e| ApiError::Unavailable(e.to_string()))?);
    }
    let target = format!("/in/{}", source.id);
    match inbound.accept(source.id.as_str(), &target, &headers, &body).await? {
        Accepted::Queued(request) => {
            let event =
                hookline_verify::inbound_event(&request).map_err(|e| ApiError::Unprocessable(format!("body: {e}")))?;
            Ok((StatusCode::ACCEPTED, ApiJson(Triggered { event_id: event.id, event_type: event.event_type })))
        }
        Accepted::Challenge(_) => Err(ApiError::Unprocessable(
            "body: a Slack url_verification is answered with its challenge, not recorded".into(),
        )),
    }
}
