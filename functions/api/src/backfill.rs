//! `POST /v1/sources/{id}/backfill`: fetch what the provider has and Hookline does not,
//! and feed it through the normal inbound path, so dedupe makes a repeat harmless.
//!
//! Stripe: the events created since `since`, listed with the source's fetch-back key;
//! each one not recorded yet goes on the inbox as Stripe's own copy. GitHub: the hook's
//! deliveries since `since`, listed with a token given in the request; each one not
//! recorded yet is redelivered by GitHub, signed, to the source. An event is known when
//! the event its provider id would become is recorded (`shared/src/inbox.rs`).

use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson};
use crate::sources::load;
use crate::{Api, ApiState};
use axum::extract::State;
use chrono::{DateTime, Utc};
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::provider_api::github::{GithubApi, HookPath};
use hookline_shared::provider_api::stripe::StripeApi;
use hookline_shared::provider_api::{Fetched, Unavailable};
use hookline_shared::{
    inbound_event_id, provider_dedupe_key, Body, Config, DedupeBy, InboundRequest, InboxMessage, Org, Provider, Secret,
    Source,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The most events one back-fill looks at: Stripe lists newest first, so a larger gap
/// is filled by calls with a later `since` first.
const MAX_FOUND: usize = 10_000;

/// The providers' APIs.
#[derive(Debug, Clone)]
pub(crate) struct ProviderApis {
    stripe: Option<StripeApi>,
    github: Option<GithubApi>,
}

impl ProviderApis {
    pub(crate) fn new(config: &Config) -> Self {
        // A client fails to build only without TLS roots; back-fill then answers 503.
        Self {
            stripe: StripeApi::new(&config.stripe_api_base).ok(),
            github: GithubApi::new(&config.github_api_base).ok(),
        }
    }
}

/// Body of `POST /v1/sources/{id}/backfill`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    since: DateTime<Utc>,
    /// GitHub: a token that can read and redeliver the hook's deliveries. Used for this
    /// request only, never kept.
    #[serde(default)]
    token: Option<Secret>,
    /// GitHub: the webhook, `repos/{owner}/{repo}/hooks/{id}` or `orgs/{org}/hooks/{id}`.
    #[serde(default)]
    hook: Option<String>,
}

/// What a back-fill found.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BackfillResult {
    /// Events (or deliveries) the provider has since `since`.
    found: usize,
    /// Of those, the ones Hookline did not have: queued (Stripe) or redelivered (GitHub).
    new: usize,
    /// Of those, the ones already recorded.
    known: usize,
    /// Whether it stopped at the most one call looks at.
    truncated: bool,
}

pub(crate) async fn backfill<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    crate::error::ApiPath(id): crate::error::ApiPath<String>,
    ApiJson(body): ApiJson<BackfillRequest>,
) -> Result<ApiJson<BackfillResult>, ApiError> {
    let source = load(&api, &org, &id).await?;
    let now = api.clock.now();
    if body.since >= now {
        return Err(ApiError::BadRequest("since: must be in the past".into()));
    }
    if source.dedupe == DedupeBy::Body {
        return Err(ApiError::BadRequest(
            "a source deduped by body cannot tell what it has: back-fill needs `dedupe: provider`".into(),
        ));
    }
    let result = match &source.provider {
        Provider::Stripe { .. } => {
            if body.token.is_some() || body.hook.is_some() {
                return Err(ApiError::BadRequest(
                    "token, hook: for a github source only; stripe uses its fetch_back key".into(),
                ));
            }
            stripe(&api, &org, &source, body.since, now).await?
        }
        Provider::Github => {
            let token = body.token.ok_or_else(|| ApiError::BadRequest("token: required for a github source".into()))?;
            let hook = body.hook.ok_or_else(|| ApiError::BadRequest("hook: required for a github source".into()))?;
            let hook = HookPath::parse(&hook).map_err(ApiError::BadRequest)?;
            github(&api, &org, &source, &token, &hook, body.since).await?
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "back-fill works for stripe and github sources, not {}",
                other.name()
            )))
        }
    };
    tracing::info!(source = %source.id, found = result.found, new = result.new, "back-fill");
    Ok(ApiJson(result))
}

/// A provider's answer as the API's: its refusal of the key is the caller's to fix.
fn provider_answer<T>(answer: Result<Fetched<T>, Unavailable>, what: &str) -> Result<Option<T>, ApiError> {
    match answer.map_err(|e| ApiError::Unavailable(e.to_string()))? {
        Fetched::Found(v) => Ok(Some(v)),
        Fetched::NotFound => Ok(None),
        Fetched::Refused(status, message) => Err(ApiError::Unprocessable(format!(
            "{what} refused the key ({}): {message}",
            serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
        ))),
    }
}

async fn is_recorded<S: ApiState, Q, C>(
    api: &Api<S, Q, C>,
    org: &Org,
    source: &Source,
    provider_id: &str,
) -> Result<bool, ApiError> {
    let id = inbound_event_id(&source.id, &provider_dedupe_key(provider_id));
    Ok(api.store.get_event(&org.id, &id).await?.is_some())
}

async fn stripe<S: ApiState, Q: Queue, C: Clock>(
    api: &Api<S, Q, C>,
    org: &Org,
    source: &Source,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<BackfillResult, ApiError> {
    let key = source.fetch_back.as_ref().map(|f| f.api_key.clone()).ok_or_else(|| {
        ApiError::BadRequest("a stripe source back-fills with its fetch_back key: set one first".into())
    })?;
    let client = api.providers.stripe.as_ref().ok_or_else(|| ApiError::Unavailable("no Stripe client".into()))?;
    let mut result = BackfillResult::default();
    let mut after: Option<String> = None;
    loop {
        let answer = client.events_since(&key, since, after.as_deref()).await;
        let Some(page) = provider_answer(answer, "Stripe")? else { break };
        let mut queued = Vec::new();
        for event in &page.data {
            let Some(id) = event.get("id").and_then(|v| v.as_str()) else { continue };
            result.found += 1;
            if is_recorded(api, org, source, id).await? {
                result.known += 1;
                continue;
            }
            result.new += 1;
            queued.push(inbound_message(source, event, now)?);
        }
        // Stripe lists newest first; the oldest go first.
        queued.reverse();
        if !queued.is_empty() {
            api.inbox.send_batch(&queued).await?;
        }
        after = page.data.last().and_then(|e| e.get("id")).and_then(|v| v.as_str()).map(str::to_owned);
        if !page.has_more || after.is_none() {
            break;
        }
        if result.found >= MAX_FOUND {
            result.truncated = true;
            break;
        }
    }
    Ok(result)
}

/// Stripe's copy of an event as the inbox carries a provider's request: fetched already.
fn inbound_message(source: &Source, event: &serde_json::Value, now: DateTime<Utc>) -> Result<String, ApiError> {
    let body = serde_json::to_vec(event).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let message = InboxMessage::Inbound(InboundRequest {
        source_id: source.id.clone(),
        org_id: source.org_id.clone(),
        source_name: source.name.clone(),
        provider: source.provider.name().to_owned(),
        received_at: now,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Body::from_bytes(&body),
        dedupe: source.dedupe,
        ordering_key: None,
        fetch_back: true,
        fetched_at: Some(now),
    });
    serde_json::to_string(&message).map_err(|e| ApiError::Unavailable(e.to_string()))
}

async fn github<S: ApiState, Q, C>(
    api: &Api<S, Q, C>,
    org: &Org,
    source: &Source,
    token: &Secret,
    hook: &HookPath,
    since: DateTime<Utc>,
) -> Result<BackfillResult, ApiError> {
    let client = api.providers.github.as_ref().ok_or_else(|| ApiError::Unavailable("no GitHub client".into()))?;
    let mut result = BackfillResult::default();
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    'pages: loop {
        let answer = client.deliveries(token, hook, cursor.as_deref()).await;
        let Some(page) = provider_answer(answer, "GitHub")? else {
            return Err(ApiError::Unprocessable("GitHub does not know that hook".into()));
        };
        for delivery in &page.deliveries {
            if delivery.delivered_at < since {
                break 'pages;
            }
            // A delivery and its redeliveries share their guid: one event.
            if !seen.insert(delivery.guid.clone()) {
                continue;
            }
            result.found += 1;
            if is_recorded(api, org, source, &delivery.guid).await? {
                result.known += 1;
                continue;
            }
            provider_answer(client.redeliver(token, hook, delivery.id).await, "GitHub")?;
            result.new += 1;
            if result.found >= MAX_FOUND {
                result.truncated = true;
                break 'pages;
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(result)
}
