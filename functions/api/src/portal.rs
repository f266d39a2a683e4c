//! `/v1/portal-sessions`: a link an org gives its own customer, opening the console on
//! the org's endpoints and their deliveries and nothing else. A session is a key of
//! portal scope ([`KeyScope::Portal`]) that expires; deleting it revokes it at once here
//! and within the key cache's TTL on other api instances, as for API keys.

use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use hookline_shared::delivery::parse_delay;
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::{ApiKey, ApiKeyId, ApiKeyRecord, KeyScope};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The most live portal sessions an org holds at once.
pub const MAX_PORTAL_SESSIONS: usize = 100;
/// The shortest and longest a session may last.
const LIFETIME: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(7 * 86_400));

/// Body of `POST /v1/portal-sessions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenPortal {
    /// How long the link works: `30m`, `1h`, `7d` (1 minute to 7 days; 1 hour when absent).
    #[serde(default, deserialize_with = "crate::error::not_null")]
    expires_in: Option<String>,
}

/// A new portal session. The token is part of `url` only, after `#`, which browsers do
/// not send to servers.
#[derive(Debug, Serialize)]
pub struct PortalSession {
    id: ApiKeyId,
    url: String,
    expires_at: DateTime<Utc>,
}

pub(crate) async fn open<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<OpenPortal>,
) -> Result<(StatusCode, ApiJson<PortalSession>), ApiError> {
    let lifetime = match &body.expires_in {
        None => Duration::from_secs(3600),
        Some(text) => parse_delay(text).map_err(|e| ApiError::BadRequest(format!("expires_in: {e}")))?,
    };
    if lifetime < LIFETIME.0 || lifetime > LIFETIME.1 {
        return Err(ApiError::BadRequest("expires_in: between 1m and 7d".into()));
    }
    let now = api.clock.now();
    // Expired sessions go when the org opens its next one.
    let mut live = 0;
    for s in api.store.list_api_keys(&org.id).await?.into_iter().filter(|k| k.scope == KeyScope::Portal) {
        if s.live_at(now) {
            live += 1;
        } else {
            api.store.delete_api_key(&org.id, &s.id).await?;
        }
    }
    if live >= MAX_PORTAL_SESSIONS {
        return Err(ApiError::LimitExceeded(format!(
            "an org holds at most {MAX_PORTAL_SESSIONS} live portal sessions; delete one first"
        )));
    }
    let token = ApiKey::generate_portal();
    let expires_at = now + chrono::Duration::from_std(lifetime).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let record = ApiKeyRecord::portal(&token, &org.id, now, expires_at);
    api.store.add_api_key(&record).await?;
    tracing::info!(org = %org.id, session = %record.id, "portal session opened");
    let url = format!("{}{}#portal={}", api.base_url(&headers), crate::console::ENTRY, token.expose());
    Ok((StatusCode::CREATED, ApiJson(PortalSession { id: record.id, url, expires_at })))
}

pub(crate) async fn close<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id: ApiKeyId = id.parse().map_err(|_| ApiError::NotFound("portal session"))?;
    let keys = api.store.list_api_keys(&org.id).await?;
    if !keys.iter().any(|k| k.id == id && k.scope == KeyScope::Portal) {
        return Err(ApiError::NotFound("portal session"));
    }
    let gone = api.store.delete_api_key(&org.id, &id).await?.ok_or(ApiError::NotFound("portal session"))?;
    api.keys.remove(&gone.hash);
    tracing::info!(org = %org.id, session = %id, "portal session revoked");
    Ok(StatusCode::NO_CONTENT)
}
