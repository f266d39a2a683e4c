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
    inbound_event_id, provider_dedupe_key, Body, Config, DedupeBy, EventId, InboundRequest, InboxMessage, Org,
    Provider, Secret, Source,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The most events one back-fill looks at, so a call ends well inside API Gateway's
/// time limit. Providers list newest first: a larger gap is filled by calling again with
/// the answer's `next_until`.
const MAX_FOUND: usize = 1_000;

/// Events checked against the store at once.
const CHECKS_AT_ONCE: usize = 16;

/// The providers' APIs.
#[derive(Debug, Clone)]
pub(crate) struct ProviderApis {
    stripe: StripeApi,
    github: GithubApi,
}

impl ProviderApis {
    pub(crate) fn new(config: &Config) -> Self {
        Self { stripe: StripeApi::new(&config.stripe_api_base), github: GithubApi::new(&config.github_api_base) }
    }
}

/// Body of `POST /v1/sources/{id}/backfill`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    since: DateTime<Utc>,
    /// Only what is older than this (to go on from a truncated back-fill).
    #[serde(default)]
    until: Option<DateTime<Utc>>,
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
    /// When truncated: the `until` to call again with, for the older rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_until: Option<DateTime<Utc>>,
}

/// The window a back-fill covers.
#[derive(Debug, Clone, Copy)]
struct Window {
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
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
    if body.until.is_some_and(|u| u <= body.since) {
        return Err(ApiError::BadRequest("until: must be after since".into()));
    }
    let window = Window { since: body.since, until: body.until };
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
            stripe(&api, &org, &source, window, now).await?
        }
        Provider::Github => {
            let token = body.token.ok_or_else(|| ApiError::BadRequest("token: required for a github source".into()))?;
            let hook = body.hook.ok_or_else(|| ApiError::BadRequest("hook: required for a github source".into()))?;
            let hook = HookPath::parse(&hook).map_err(ApiError::BadRequest)?;
            github(&api, &org, &source, &token, &hook, window).await?
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

/// Which of `provider_ids` are recorded already, in order.
async fn recorded<S: ApiState, Q, C>(
    api: &Api<S, Q, C>,
    org: &Org,
    source: &Source,
    provider_ids: &[&str],
) -> Result<Vec<bool>, ApiError> {
    let ids: Vec<EventId> =
        provider_ids.iter().map(|p| inbound_event_id(&source.id, &provider_dedupe_key(p))).collect();
    let mut known = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHECKS_AT_ONCE) {
        let found = futures::future::try_join_all(chunk.iter().map(|id| api.store.get_event(&org.id, id))).await?;
        known.extend(found.iter().map(Option::is_some));
    }
    Ok(known)
}

async fn stripe<S: ApiState, Q: Queue, C: Clock>(
    api: &Api<S, Q, C>,
    org: &Org,
    source: &Source,
    window: Window,
    now: DateTime<Utc>,
) -> Result<BackfillResult, ApiError> {
    let key = source.fetch_back.as_ref().map(|f| f.api_key.clone()).ok_or_else(|| {
        ApiError::BadRequest("a stripe source back-fills with its fetch_back key: set one first".into())
    })?;
    let client = &api.providers.stripe;
    let mut result = BackfillResult::default();
    let mut after: Option<String> = None;
    loop {
        let answer = client.events_since(&key, window.since, window.until, after.as_deref()).await;
        let Some(page) = provider_answer(answer, "Stripe")? else { break };
        let events: Vec<(&str, &serde_json::Value)> =
            page.data.iter().filter_map(|e| Some((e.get("id")?.as_str()?, e))).take(MAX_FOUND - result.found).collect();
        let ids: Vec<&str> = events.iter().map(|(id, _)| *id).collect();
        let mut queued = Vec::new();
        for ((_, event), known) in events.iter().zip(recorded(api, org, source, &ids).await?) {
            result.found += 1;
            if known {
                result.known += 1;
            } else {
                result.new += 1;
                queued.push(inbound_message(source, event, now)?);
            }
        }
        // Stripe lists newest first; the oldest go first.
        queued.reverse();
        if !queued.is_empty() {
            api.inbox.send_batch(&queued).await?;
        }
        after = events.last().map(|(id, _)| (*id).to_owned());
        if result.found >= MAX_FOUND && (page.has_more || events.len() < page.data.len()) {
            result.truncated = true;
            // Stripe's `created` is whole seconds: go on from the oldest one seen, which
            // the next call finds known.
            let oldest = events.last().and_then(|(_, e)| e.get("created")?.as_i64());
            result.next_until = oldest.and_then(|t| DateTime::from_timestamp(t + 1, 0));
            break;
        }
        if !page.has_more || after.is_none() {
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
    window: Window,
) -> Result<BackfillResult, ApiError> {
    let client = &api.providers.github;
    let mut result = BackfillResult::default();
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let answer = client.deliveries(token, hook, cursor.as_deref()).await;
        let Some(page) = provider_answer(answer, "GitHub")? else {
            return Err(ApiError::Unprocessable("GitHub does not know that hook".into()));
        };
        let past_window = page.deliveries.iter().any(|d| d.delivered_at < window.since);
        // Newest first; a delivery and its redeliveries share their guid: one event.
        let mut fresh = Vec::new();
        for d in page.deliveries.iter().filter(|d| d.delivered_at >= window.since) {
            if window.until.is_some_and(|u| d.delivered_at >= u) || !seen.insert(d.guid.clone()) {
                continue;
            }
            if result.found + fresh.len() >= MAX_FOUND {
                result.truncated = true;
                break;
            }
            fresh.push(d);
        }
        let guids: Vec<&str> = fresh.iter().map(|d| d.guid.as_str()).collect();
        for (delivery, known) in fresh.iter().zip(recorded(api, org, source, &guids).await?) {
            result.found += 1;
            if known {
                result.known += 1;
            } else {
                provider_answer(client.redeliver(token, hook, delivery.id).await, "GitHub")?;
                result.new += 1;
            }
        }
        if result.truncated {
            result.next_until = fresh.last().map(|d| d.delivered_at);
            break;
        }
        match page.next_cursor {
            Some(next) if !past_window => cursor = Some(next),
            _ => break,
        }
    }
    Ok(result)
}
