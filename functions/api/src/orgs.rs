//! `/v1/orgs` (operator only): create an org; replace all of an org's keys with a new one.

use crate::auth::OperatorAuth;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::{ApiKey, ApiKeyId, ApiKeyRecord, Org, OrgId, Plan};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Body of `POST /v1/orgs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    name: String,
    #[serde(default = "default_plan")]
    plan: Plan,
}

fn default_plan() -> Plan {
    Plan::Free
}

/// The created org, with its API key (shown only here).
#[derive(Debug, Serialize)]
pub struct CreatedOrg {
    id: OrgId,
    name: String,
    plan: Plan,
    created_at: DateTime<Utc>,
    api_key: String,
}

pub(crate) async fn create<S: ApiState, Q: Queue + 'static, C: Clock>(
    _: OperatorAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiJson(body): ApiJson<CreateOrg>,
) -> Result<(StatusCode, ApiJson<CreatedOrg>), ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::BadRequest("name: must be 1-200 characters".into()));
    }
    let org = Org { id: OrgId::new(), name: name.to_owned(), plan: body.plan, created_at: api.clock.now() };
    let key = ApiKey::generate();
    api.store.create_org(&org, &ApiKeyRecord::new(&key, &org.id, org.created_at)).await?;
    tracing::info!(org = %org.id, "org created");
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedOrg {
            id: org.id,
            name: org.name,
            plan: org.plan,
            created_at: org.created_at,
            api_key: key.expose().to_owned(),
        }),
    ))
}

/// A new key, shown only in this answer.
#[derive(Debug, Serialize)]
pub struct NewKey {
    id: ApiKeyId,
    prefix: String,
    created_at: DateTime<Utc>,
    api_key: String,
}

impl NewKey {
    pub(crate) fn of(key: &ApiKey, record: ApiKeyRecord) -> Self {
        Self { id: record.id, prefix: record.prefix, created_at: record.created_at, api_key: key.expose().to_owned() }
    }
}

/// `POST /v1/orgs/{id}/rotate-key`: the operator's way back in for an org whose keys
/// leaked or were lost. Every key of the org is revoked and one new key is returned.
pub(crate) async fn rotate_key<S: ApiState, Q: Queue + 'static, C: Clock>(
    _: OperatorAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, ApiJson<NewKey>), ApiError> {
    let org_id: OrgId = id.parse().map_err(|_| ApiError::NotFound("org"))?;
    let org = api.store.get_org(&org_id).await?.ok_or(ApiError::NotFound("org"))?;
    let key = ApiKey::generate();
    let record = ApiKeyRecord::new(&key, &org.id, api.clock.now());
    // The new key first, so the org is never left without one.
    api.store.add_api_key(&record).await?;
    for old in api.store.list_api_keys(&org.id).await?.into_iter().filter(|k| k.id != record.id) {
        if let Some(gone) = api.store.delete_api_key(&org.id, &old.id).await? {
            api.keys.remove(&gone.hash);
        }
    }
    tracing::info!(org = %org.id, key = %record.id, "org keys rotated");
    Ok((StatusCode::CREATED, ApiJson(NewKey::of(&key, record))))
}
