//! Create, read, change and delete webhooks.

use super::{
    change, load, parse_id, validate_conventions, validate_filters, validate_headers, CalledAs, CreateWebhook,
    UpdateWebhook, WebhookList, WebhookView,
};
use crate::auth::EndpointAuth;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::{Api, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::delivery::{Endpoint, EndpointSecret, FailureState, Urgency};
use hookline_shared::ports::{Clock, Queue};
use std::sync::Arc;

pub(crate) async fn create<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, .. }: EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    host: CalledAs,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, ApiJson<WebhookView>), ApiError> {
    api.validate_url(&body.url, &host)?;
    // With a handshake the endpoint may supply its own filter.
    if !body.handshake || !body.events.is_empty() {
        validate_filters(&body.events)?;
    }
    validate_headers(&body.headers)?;
    // Checked with the scheme it signs under, below.
    let secret = body.secret.map_or_else(EndpointSecret::generate, |s| EndpointSecret { secret: s, expires_at: None });
    let now = api.clock.now();
    let urgency = match body.urgency {
        Some(Urgency::RealTime) => return Err(ApiError::BadRequest("urgency: `regular` or `urgent`".into())),
        u => u.unwrap_or_default(),
    };
    let mut ep = Endpoint {
        description: body.description,
        secrets: vec![secret],
        headers: body.headers,
        urgency,
        handshake: body.handshake,
        retry_schedule: body.retry_schedule,
        rate_limit: body.rate_limit,
        signature: body.signature,
        retry_4xx: body.retry_4xx.unwrap_or(true),
        disable_after_exhausted: body.disable_after_exhausted,
        ..Endpoint::new(org.id.clone(), body.url, body.events, now)
    };
    validate_conventions(&ep)?;
    if ep.handshake {
        if let Some(events) = api.handshake(&ep).await? {
            ep.events = events;
        }
        if ep.events.is_empty() {
            return Err(ApiError::Unprocessable("handshake returned no `events` and none were given".into()));
        }
    }
    api.create_within_plan(&org, &ep).await?;
    tracing::info!(endpoint = %ep.id, org = %org.id, "webhook created");
    Ok((StatusCode::CREATED, ApiJson(WebhookView::of(ep, true))))
}

pub(crate) async fn list<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, .. }: EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
) -> Result<ApiJson<WebhookList>, ApiError> {
    let eps = api.store.list_endpoints(&org.id).await?;
    // Listen sessions are the CLI's, not the org's webhooks (`/v1/listen-sessions`).
    let eps = eps.into_iter().filter(|e| e.listen.is_none());
    Ok(ApiJson(WebhookList { data: eps.map(|e| WebhookView::of(e, false)).collect() }))
}

pub(crate) async fn get<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, .. }: EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    Ok(ApiJson(WebhookView::of(load(&api, &org, &id).await?, false)))
}

impl UpdateWebhook {
    /// Check every field given, before anything is read or written.
    fn validate<S: ApiState, Q: Queue + 'static, C: Clock>(
        &self,
        api: &Api<S, Q, C>,
        host: &CalledAs,
    ) -> Result<(), ApiError> {
        if let Some(url) = &self.url {
            api.validate_url(url, host)?;
        }
        if let Some(events) = &self.events {
            validate_filters(events)?;
        }
        if let Some(h) = &self.headers {
            validate_headers(h)?;
        }
        if self.urgency == Some(Urgency::RealTime) {
            return Err(ApiError::BadRequest("urgency: `regular` or `urgent`".into()));
        }
        Ok(())
    }

    /// Apply the fields given to `ep`. A new URL starts with a clean failure record:
    /// the old URL's failures say nothing about it.
    fn apply(&self, ep: &mut Endpoint) {
        if let Some(url) = self.url.as_ref().filter(|u| **u != ep.url) {
            ep.url = url.clone();
            ep.failure = FailureState::default();
        }
        if let Some(events) = &self.events {
            ep.events = events.clone();
        }
        if let Some(d) = &self.description {
            ep.description = d.clone();
        }
        if let Some(h) = &self.headers {
            ep.headers = h.clone();
        }
        if let Some(u) = self.urgency {
            ep.urgency = u;
        }
        if let Some(h) = self.handshake {
            ep.handshake = h;
        }
        if let Some(s) = &self.retry_schedule {
            ep.retry_schedule = s.clone();
        }
        if let Some(r) = self.rate_limit {
            ep.rate_limit = r;
        }
        if let Some(s) = &self.signature {
            ep.signature = s.clone();
        }
        if let Some(r) = self.retry_4xx {
            ep.retry_4xx = r;
        }
        if let Some(n) = self.disable_after_exhausted {
            ep.disable_after_exhausted = n;
        }
    }
}

pub(crate) async fn update<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, .. }: EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
    host: CalledAs,
    ApiJson(body): ApiJson<UpdateWebhook>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    body.validate(&api, &host)?;
    let stored = load(&api, &org, &id).await?;
    let mut edited = stored.clone();
    body.apply(&mut edited);
    validate_conventions(&edited)?;
    // The handshake runs once, against the endpoint as edited; its filter is then
    // applied with the rest of the edit.
    let handshake_events =
        if edited.handshake && edited.url != stored.url { api.handshake(&edited).await? } else { None };
    let now = api.clock.now();
    let ep = change(&api, &org, &stored.id, |ep| {
        body.apply(ep);
        if let Some(events) = &handshake_events {
            ep.events = events.clone();
        }
        ep.updated_at = now;
        true
    })
    .await?;
    Ok(ApiJson(WebhookView::of(ep, false)))
}

pub(crate) async fn delete<S: ApiState, Q: Queue + 'static, C: Clock>(
    EndpointAuth { org, .. }: EndpointAuth,
    State(api): State<Arc<Api<S, Q, C>>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if !api.store.delete_endpoint(&org.id, &parse_id(&id)?).await? {
        return Err(ApiError::NotFound("webhook"));
    }
    Ok(StatusCode::NO_CONTENT)
}
