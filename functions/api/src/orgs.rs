//! `/v1/orgs` (operator only): create an org; replace all of an org's keys with a new one.

use crate::auth::OperatorAuth;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::{ApiKey, ApiKeyId, ApiKeyRecord, Org, OrgId, Plan, Retention};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Body of `POST /v1/orgs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    name: String,
    #[serde(default = "default_plan")]
    plan: Plan,
    retention_days: Option<u32>,
}

fn default_plan() -> Plan {
    Plan::Free
}

/// Body of `PATCH /v1/orgs/{id}`: what is given changes; `retention_days: null` goes
/// back to the deployment's default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeOrg {
    #[serde(default, deserialize_with = "crate::error::not_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::error::not_null")]
    plan: Option<Plan>,
    #[serde(default, deserialize_with = "crate::error::nullable")]
    retention_days: Option<Option<u32>>,
}

/// An org as the operator sees it; `api_key` only when it was created.
#[derive(Debug, Serialize)]
pub struct OrgView {
    id: OrgId,
    name: String,
    plan: Plan,
    created_at: DateTime<Utc>,
    /// How many days its events and attempts are kept (its own, else the default).
    retention_days: u32,
    /// Whether that is its own retention rather than the deployment's default.
    retention_is_default: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    /// What the caller's key reaches, on `GET /v1/me` only: `org` or `portal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    access: Option<hookline_shared::KeyScope>,
}

impl OrgView {
    /// The view of `org`, whose records are kept for `retention`.
    fn of(retention: Retention, org: Org, key: Option<&ApiKey>) -> Self {
        let retention_days = retention.whole_days();
        Self {
            id: org.id,
            name: org.name,
            plan: org.plan,
            created_at: org.created_at,
            retention_days,
            retention_is_default: org.retention_days.is_none(),
            api_key: key.map(|k| k.expose().to_owned()),
            access: None,
        }
    }
}

fn valid_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::BadRequest("name: must be 1-200 characters".into()));
    }
    Ok(name.to_owned())
}

fn valid_retention(days: Option<u32>) -> Result<Option<u32>, ApiError> {
    if let Some(d) = days {
        Retention::days(d).map_err(|e| ApiError::BadRequest(format!("retention_days: {e}")))?;
    }
    Ok(days)
}

pub(crate) async fn create<S: ApiState, Q: Queue + 'static, C: Clock>(
    _: OperatorAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiJson(body): ApiJson<CreateOrg>,
) -> Result<(StatusCode, ApiJson<OrgView>), ApiError> {
    let org = Org {
        id: OrgId::new(),
        name: valid_name(&body.name)?,
        plan: body.plan,
        created_at: api.clock.now(),
        retention_days: valid_retention(body.retention_days)?,
    };
    let key = ApiKey::generate();
    api.store.create_org(&org, &ApiKeyRecord::new(&key, &org.id, org.created_at)).await?;
    tracing::info!(org = %org.id, "org created");
    Ok((StatusCode::CREATED, ApiJson(OrgView::of(api.retention_of(&org), org, Some(&key)))))
}

async fn load<S: ApiState, Q, C>(api: &Api<S, Q, C>, id: &str) -> Result<Org, ApiError> {
    let id: OrgId = id.parse().map_err(|_| ApiError::NotFound("org"))?;
    api.store.get_org(&id).await?.ok_or(ApiError::NotFound("org"))
}

pub(crate) async fn get<S: ApiState, Q: Queue + 'static, C: Clock>(
    _: OperatorAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<OrgView>, ApiError> {
    let org = load(&api, &id).await?;
    Ok(ApiJson(OrgView::of(api.retention_of(&org), org, None)))
}

/// `GET /v1/me`: the org an API key or portal session belongs to, and which of the two
/// it is (`hookline whoami`, `hookline login` checking a key, the console's sign-in).
pub(crate) async fn me<S: ApiState, Q: Queue + 'static, C: Clock>(
    crate::auth::EndpointAuth { org, portal }: crate::auth::EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
) -> Result<ApiJson<OrgView>, ApiError> {
    let access = if portal { hookline_shared::KeyScope::Portal } else { hookline_shared::KeyScope::Org };
    Ok(ApiJson(OrgView { access: Some(access), ..OrgView::of(api.retention_of(&org), org, None) }))
}

/// `PATCH /v1/orgs/{id}`. A changed retention applies to events accepted from then on
/// (within the org cache's lifetime in Lambda); what is kept keeps its expiry.
pub(crate) async fn change<S: ApiState, Q: Queue + 'static, C: Clock>(
    _: OperatorAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeOrg>,
) -> Result<ApiJson<OrgView>, ApiError> {
    let mut org = load(&api, &id).await?;
    if let Some(name) = body.name {
        org.name = valid_name(&name)?;
    }
    if let Some(plan) = body.plan {
        org.plan = plan;
    }
    if let Some(days) = body.retention_days {
        org.retention_days = valid_retention(days)?;
    }
    if !api.store.update_org(&org).await? {
        return Err(ApiError::NotFound("org"));
    }
    api.forget_org(&org.id);
    tracing::info!(org = %org.id, "org changed");
    Ok(ApiJson(OrgView::of(api.retention_of(&org), org, None)))
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
