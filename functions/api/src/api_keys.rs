//! `/v1/api-keys`: an org's own keys. A second key lets an org rotate without downtime;
//! a revoked key stops working at once in `hookline dev` and within the key cache's TTL
//! (`HOOKLINE_SOURCE_CACHE_SECS`) on AWS, where each api instance caches what it looked up.

use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::orgs::NewKey;
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::{ApiKey, ApiKeyId, ApiKeyRecord, KeyScope, OrgId};
use serde::Serialize;
use std::sync::Arc;

/// The most keys an org may hold at once.
pub const MAX_KEYS_PER_ORG: usize = 10;

/// A key as listed: never the key, never its hash.
#[derive(Debug, Serialize)]
pub struct KeyView {
    id: ApiKeyId,
    prefix: String,
    created_at: DateTime<Utc>,
    last_used_on: Option<NaiveDate>,
}

/// The org's keys.
#[derive(Debug, Serialize)]
pub struct KeyList {
    data: Vec<KeyView>,
}

/// The org's API keys (not its portal sessions, which are keys of a narrower scope).
async fn org_keys<S: ApiState, Q, C>(api: &Api<S, Q, C>, org: &OrgId) -> Result<Vec<ApiKeyRecord>, ApiError> {
    let mut keys = api.store.list_api_keys(org).await?;
    keys.retain(|k| k.scope == KeyScope::Org);
    Ok(keys)
}

pub(crate) async fn create<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
) -> Result<(StatusCode, ApiJson<NewKey>), ApiError> {
    if org_keys(&api, &org.id).await?.len() >= MAX_KEYS_PER_ORG {
        return Err(ApiError::LimitExceeded(format!(
            "an org holds at most {MAX_KEYS_PER_ORG} API keys; revoke one first"
        )));
    }
    let key = ApiKey::generate();
    let record = ApiKeyRecord::new(&key, &org.id, api.clock.now());
    api.store.add_api_key(&record).await?;
    tracing::info!(org = %org.id, key = %record.id, "api key created");
    Ok((StatusCode::CREATED, ApiJson(NewKey::of(&key, record))))
}

pub(crate) async fn list<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
) -> Result<ApiJson<KeyList>, ApiError> {
    let keys = org_keys(&api, &org.id).await?;
    Ok(ApiJson(KeyList {
        data: keys
            .into_iter()
            .map(|k| KeyView { id: k.id, prefix: k.prefix, created_at: k.created_at, last_used_on: k.last_used_on })
            .collect(),
    }))
}

pub(crate) async fn delete<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id: ApiKeyId = id.parse().map_err(|_| ApiError::NotFound("api key"))?;
    let keys = org_keys(&api, &org.id).await?;
    if !keys.iter().any(|k| k.id == id) {
        return Err(ApiError::NotFound("api key"));
    }
    if keys.len() == 1 {
        return Err(ApiError::Conflict("this is the org's last API key; create another first".into()));
    }
    let gone = api.store.delete_api_key(&org.id, &id).await?.ok_or(ApiError::NotFound("api key"))?;
    api.keys.remove(&gone.hash);
    tracing::info!(org = %org.id, key = %id, "api key revoked");
    Ok(StatusCode::NO_CONTENT)
}
