//! `/v1/sources`: where providers send webhooks. Secrets are write-only.

use crate::auth::OrgAuth;
use crate::error::{ApiError, ApiJson, ApiPath, KnownFields, Strict};
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hookline_shared::delivery::OrderingPointer;
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::rejection::RejectedRequest;
use hookline_shared::signature::Verifier;
use hookline_shared::{validate_source_name, DedupeBy, FetchBack, FetchBackState, Provider, Secret, Source, SourceId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Body of `POST /v1/sources`: name, provider, secrets, `dedupe`, and the provider's
/// options (`tolerance_secs`; for `hmac`: `header`, `encoding`, `prefix`; for `token`:
/// `header`). A flattened enum cannot refuse unknown fields itself: [`Strict`] does.
#[derive(Debug, Deserialize)]
pub struct CreateSource {
    name: String,
    #[serde(flatten)]
    provider: Provider,
    #[serde(default)]
    secrets: Vec<Secret>,
    #[serde(default)]
    dedupe: DedupeBy,
    /// Where its JSON bodies hold the ordering key of their events.
    #[serde(default)]
    ordering_key: Option<OrderingPointer>,
    /// The provider API key to fetch each event back with (Stripe).
    #[serde(default)]
    fetch_back: Option<FetchBack>,
}

impl KnownFields for CreateSource {
    fn known_fields(&self) -> Vec<&'static str> {
        [&["name", "provider", "secrets", "dedupe", "ordering_key", "fetch_back"], self.provider.option_names()]
            .concat()
    }
}

/// Fetch-back as the API shows it: the key only as a hint, and what the provider last
/// said of it when that was a refusal (or the first success after one).
#[derive(Debug, Serialize)]
pub struct FetchBackView {
    api_key: String,
    state: Option<FetchBackState>,
}

/// A source as the API shows it: secrets only as hints.
#[derive(Debug, Serialize)]
pub struct SourceView {
    id: SourceId,
    name: String,
    #[serde(flatten)]
    provider: Provider,
    secrets: Vec<String>,
    dedupe: DedupeBy,
    ordering_key: Option<OrderingPointer>,
    fetch_back: Option<FetchBackView>,
    ingest_url: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A list of sources.
#[derive(Debug, Serialize)]
pub struct SourceList {
    data: Vec<SourceView>,
}

impl<S, Q, C> Api<S, Q, C> {
    fn view(&self, s: Source) -> SourceView {
        SourceView {
            ingest_url: format!("{}/in/{}", self.public_url, s.id),
            id: s.id,
            name: s.name,
            provider: s.provider,
            secrets: s.secrets.iter().map(Secret::hint).collect(),
            dedupe: s.dedupe,
            ordering_key: s.ordering_key,
            fetch_back: s.fetch_back.map(|f| FetchBackView { api_key: f.api_key.hint(), state: s.fetch_back_state }),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// Check a source's name, provider options and secrets together.
fn validate(s: &Source) -> Result<(), ApiError> {
    validate_source_name(&s.name).map_err(ApiError::BadRequest)?;
    s.provider.check_options().map_err(ApiError::BadRequest)?;
    if s.secrets.len() > 10 {
        return Err(ApiError::BadRequest("secrets: at most 10 at once".into()));
    }
    if s.secrets.iter().any(|k| k.expose().is_empty() || k.expose().len() > 512) {
        return Err(ApiError::BadRequest("secrets: each must be 1-512 characters".into()));
    }
    Verifier::new(&s.provider, &s.secrets).map_err(|e| ApiError::BadRequest(format!("secrets: {}", e.0)))?;
    if let Some(f) = &s.fetch_back {
        if !matches!(s.provider, Provider::Stripe { .. }) {
            return Err(ApiError::BadRequest("fetch_back: only a stripe source can fetch its events back".into()));
        }
        let key = f.api_key.expose();
        let well_formed = (key.starts_with("rk_") || key.starts_with("sk_"))
            && key.len() <= 255
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !well_formed {
            return Err(ApiError::BadRequest(
                "fetch_back.api_key: a Stripe API key, `rk_…` (a restricted key that can read events) or `sk_…`".into(),
            ));
        }
    }
    Ok(())
}

fn parse_id(id: &str) -> Result<SourceId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound("source"))
}

pub(crate) async fn create<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiJson(Strict(body)): ApiJson<Strict<CreateSource>>,
) -> Result<(StatusCode, ApiJson<SourceView>), ApiError> {
    let now = api.clock.now();
    let source = Source {
        dedupe: body.dedupe,
        ordering_key: body.ordering_key,
        fetch_back: body.fetch_back,
        ..Source::new(org.id, body.name, body.provider, body.secrets, now)
    };
    validate(&source)?;
    api.store.put_source(&source).await?;
    tracing::info!(source = %source.id, provider = source.provider.name(), "source created");
    Ok((StatusCode::CREATED, ApiJson(api.view(source))))
}

pub(crate) async fn list<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
) -> Result<ApiJson<SourceList>, ApiError> {
    let sources = api.store.list_sources(&org.id).await?;
    Ok(ApiJson(SourceList { data: sources.into_iter().map(|s| api.view(s)).collect() }))
}

pub(crate) async fn load<S: ApiState, Q, C>(
    api: &Api<S, Q, C>,
    org: &hookline_shared::Org,
    id: &str,
) -> Result<Source, ApiError> {
    let id = parse_id(id)?;
    match api.store.get_source(&id).await? {
        Some(s) if s.org_id == org.id => Ok(s),
        // Another org's source is indistinguishable from none.
        _ => Err(ApiError::NotFound("source")),
    }
}

pub(crate) async fn get<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<SourceView>, ApiError> {
    Ok(ApiJson(api.view(load(&api, &org, &id).await?)))
}

/// Body of `PATCH /v1/sources/{id}`: any of `name`, `secrets`, `dedupe`, `provider` and
/// options. Options without `provider` adjust the current provider's options; options the
/// resulting provider does not take are refused.
#[derive(Debug, Deserialize)]
pub struct UpdateSource {
    name: Option<String>,
    secrets: Option<Vec<Secret>>,
    dedupe: Option<DedupeBy>,
    #[serde(default, deserialize_with = "crate::error::nullable")]
    ordering_key: Option<Option<OrderingPointer>>,
    #[serde(default, deserialize_with = "crate::error::nullable")]
    fetch_back: Option<Option<FetchBack>>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

pub(crate) async fn update<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateSource>,
) -> Result<ApiJson<SourceView>, ApiError> {
    let mut source = load(&api, &org, &id).await?;
    if let Some(name) = body.name {
        source.name = name;
    }
    if let Some(secrets) = body.secrets {
        source.secrets = secrets;
    }
    if let Some(pointer) = body.ordering_key {
        source.ordering_key = pointer;
    }
    if let Some(fetch_back) = body.fetch_back {
        // A new key has not been refused yet.
        source.fetch_back_state = None;
        source.fetch_back = fetch_back;
    }
    if let Some(dedupe) = body.dedupe {
        source.dedupe = dedupe;
    }
    if !body.rest.is_empty() {
        let options: Vec<String> = body.rest.keys().filter(|k| *k != "provider").cloned().collect();
        // A new provider replaces the options; options alone merge into the current ones.
        let mut merged = if body.rest.contains_key("provider") {
            serde_json::Map::new()
        } else {
            match serde_json::to_value(&source.provider) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            }
        };
        merged.extend(body.rest);
        source.provider = serde_json::from_value(serde_json::Value::Object(merged))
            .map_err(|e| ApiError::BadRequest(format!("provider: {e}")))?;
        if let Some(k) = options.iter().find(|k| !source.provider.option_names().contains(&k.as_str())) {
            return Err(ApiError::BadRequest(format!("unknown field `{k}` for provider `{}`", source.provider.name())));
        }
    }
    source.updated_at = api.clock.now();
    validate(&source)?;
    api.store.put_source(&source).await?;
    api.source_changed(&source.id);
    Ok(ApiJson(api.view(source)))
}

/// A source's most recent refused requests, newest first.
#[derive(Debug, Serialize)]
pub struct RejectionList {
    data: Vec<RejectedRequest>,
}

pub(crate) async fn rejections<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<RejectionList>, ApiError> {
    let source = load(&api, &org, &id).await?;
    let records = api.store.list_rejections(&source.id, api.clock.now()).await?;
    Ok(ApiJson(RejectionList { data: records }))
}

pub(crate) async fn delete<S: ApiState, Q: Queue + 'static, C: Clock>(
    OrgAuth(org): OrgAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    if !api.store.delete_source(&org.id, &id).await? {
        return Err(ApiError::NotFound("source"));
    }
    api.source_changed(&id);
    Ok(StatusCode::NO_CONTENT)
}
