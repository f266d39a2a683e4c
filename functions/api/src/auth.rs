//! Who is calling: an org (by its API key) or the operator.

use crate::error::ApiError;
use crate::{Api, ApiState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::web::presented_key;
use hookline_shared::{ApiKeyRecord, KeyHash, Org};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The calling org.
#[derive(Debug, Clone)]
pub struct OrgAuth(pub Org);

impl<S, Q, C> FromRequestParts<Arc<Api<S, Q, C>>> for OrgAuth
where
    S: ApiState,
    Q: Queue + 'static,
    C: Clock,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api<S, Q, C>>) -> Result<Self, ApiError> {
        let key = presented_key(&parts.headers).ok_or(ApiError::Unauthorized)?;
        let hash = KeyHash::of(key);
        if let Some(org) = api.keys.get(&hash) {
            return Ok(OrgAuth(org));
        }
        let (org, record) = api.store.org_for_key(&hash).await?.ok_or(ApiError::Unauthorized)?;
        // The last day a key was used: written at most once a day per key and instance.
        let today = api.clock.now().date_naive();
        if record.last_used_on != Some(today)
            && !api.store.update_api_key(&ApiKeyRecord { last_used_on: Some(today), ..record }).await?
        {
            // Revoked between the lookup and now.
            return Err(ApiError::Unauthorized);
        }
        api.keys.put(hash, org.clone());
        Ok(OrgAuth(org))
    }
}

/// The operator (holder of `HOOKLINE_OPERATOR_KEY`).
#[derive(Debug, Clone, Copy)]
pub struct OperatorAuth;

impl<S, Q, C> FromRequestParts<Arc<Api<S, Q, C>>> for OperatorAuth
where
    S: ApiState,
    Q: Queue + 'static,
    C: Clock,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api<S, Q, C>>) -> Result<Self, ApiError> {
        let expected = api.operator_key_digest.as_ref().ok_or(ApiError::Unauthorized)?;
        let key = presented_key(&parts.headers).ok_or(ApiError::Unauthorized)?;
        // Compare digests so neither content nor length leaks through timing.
        let got: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if bool::from(got.ct_eq(expected)) {
            Ok(OperatorAuth)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}
