//! Who is calling: an org (by its API key), a portal session of an org, or the operator.

use crate::error::ApiError;
use crate::{Api, ApiState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::web::presented_key;
use hookline_shared::{ApiKeyRecord, KeyHash, KeyScope, Org, Secret};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;

/// Reads the operator key where it is kept (an SSM parameter in AWS): `None` when there
/// is none, an error when it cannot be read now.
pub type OperatorKeySource =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Option<Secret>, String>> + Send>> + Send + Sync>;

/// The operator key's digest: given at start, or read from its source on the first
/// operator request and kept once read, so a cold start never waits for it (most never
/// see an operator request).
pub(crate) struct OperatorKey {
    digest: OnceCell<Option<[u8; 32]>>,
    source: Option<OperatorKeySource>,
}

fn digest(key: &Secret) -> [u8; 32] {
    Sha256::digest(key.expose().as_bytes()).into()
}

impl OperatorKey {
    /// The key given, or none.
    pub(crate) fn given(key: Option<&Secret>) -> Self {
        Self { digest: OnceCell::new_with(Some(key.map(digest))), source: None }
    }

    /// The key `source` reads, when first needed.
    pub(crate) fn read_from(source: OperatorKeySource) -> Self {
        Self { digest: OnceCell::new(), source: Some(source) }
    }

    /// Its digest; a failed read is not kept, the next request tries again.
    async fn digest(&self) -> Result<Option<[u8; 32]>, ApiError> {
        let read = || async {
            let Some(source) = &self.source else { return Ok(None) };
            let key = source().await.map_err(|e| ApiError::Unavailable(format!("reading the operator key: {e}")))?;
            Ok(key.as_ref().map(digest))
        };
        self.digest.get_or_try_init(read).await.copied()
    }
}

/// Who a key belongs to and what it reaches, as the key cache keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) org: Org,
    scope: KeyScope,
    expires_at: Option<DateTime<Utc>>,
}

impl Caller {
    /// The caller of this request: a key of an org that works now.
    async fn of<S: ApiState, Q: Queue + 'static, C: Clock>(
        parts: &Parts,
        api: &Api<S, Q, C>,
    ) -> Result<Self, ApiError> {
        let key = presented_key(&parts.headers).ok_or(ApiError::Unauthorized)?;
        let hash = KeyHash::of(key);
        let now = api.clock.now();
        let caller = match api.keys.get(&hash) {
            Some(caller) => caller,
            None => {
                let (org, record) = api.store.org_for_key(&hash).await?.ok_or(ApiError::Unauthorized)?;
                let caller = Caller { org, scope: record.scope, expires_at: record.expires_at };
                // The last day a key was used: written at most once a day per key and instance.
                let today = now.date_naive();
                if record.last_used_on != Some(today)
                    && !api.store.update_api_key(&ApiKeyRecord { last_used_on: Some(today), ..record }).await?
                {
                    // Revoked between the lookup and now.
                    return Err(ApiError::Unauthorized);
                }
                api.keys.put(hash, caller.clone());
                caller
            }
        };
        if !hookline_shared::api_key::live_at(caller.expires_at, now) {
            return Err(ApiError::Unauthorized);
        }
        Ok(caller)
    }
}

/// The calling org, by one of its API keys: every route of the org.
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
        let caller = Caller::of(parts, api).await?;
        match caller.scope {
            KeyScope::Org => Ok(OrgAuth(caller.org)),
            KeyScope::Portal => Err(ApiError::Forbidden),
        }
    }
}

/// The calling org by an API key or a portal session: the routes of its endpoints and
/// their deliveries.
#[derive(Debug, Clone)]
pub struct EndpointAuth {
    /// The org.
    pub org: Org,
    /// Whether the caller holds a portal session (not an org API key).
    pub portal: bool,
}

impl<S, Q, C> FromRequestParts<Arc<Api<S, Q, C>>> for EndpointAuth
where
    S: ApiState,
    Q: Queue + 'static,
    C: Clock,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api<S, Q, C>>) -> Result<Self, ApiError> {
        let caller = Caller::of(parts, api).await?;
        Ok(EndpointAuth { portal: caller.scope == KeyScope::Portal, org: caller.org })
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
        let key = presented_key(&parts.headers).ok_or(ApiError::Unauthorized)?;
        let expected = api.operator_key.digest().await?.ok_or(ApiError::Unauthorized)?;
        // Compare digests so neither content nor length leaks through timing.
        let got: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if bool::from(got.ct_eq(&expected)) {
            Ok(OperatorAuth)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn the_operator_key_is_read_on_first_use_a_failure_is_not_kept_and_a_success_is() {
        let reads = Arc::new(AtomicUsize::new(0));
        let r = reads.clone();
        let key = OperatorKey::read_from(Arc::new(move || {
            let n = r.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n == 0 {
                    Err("throttled".to_owned())
                } else {
                    Ok(Some(Secret::new("op_key")))
                }
            })
        }));
        assert_eq!(reads.load(Ordering::SeqCst), 0, "nothing read before it is needed");
        assert!(matches!(key.digest().await, Err(ApiError::Unavailable(_))));
        let want: [u8; 32] = Sha256::digest(b"op_key").into();
        assert_eq!(key.digest().await.unwrap(), Some(want));
        assert_eq!(key.digest().await.unwrap(), Some(want));
        assert_eq!(reads.load(Ordering::SeqCst), 2, "read again after the failure, then kept");
        assert_eq!(OperatorKey::given(None).digest().await.unwrap(), None);
    }
}
