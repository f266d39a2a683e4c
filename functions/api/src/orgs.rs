//! `POST /v1/orgs` (operator only).

use crate::auth::OperatorAuth;
use crate::error::{ApiError, ApiJson};
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::{ApiKey, Org, OrgId, Plan};
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
    api.store.create_org(&org, &key.hash()).await?;
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
