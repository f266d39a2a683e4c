//! Fetch-back: an event from a source with a Stripe API key is asked of Stripe by its
//! id before it is recorded. Stripe's copy becomes the event's data (it proves the id
//! is real and is Stripe's current view); an id Stripe does not know is recorded as a
//! rejection for the source's owner and not routed; an unavailable API or a refused key
//! leaves the message to be retried, and a refused key is shown on the source.

use crate::VerifyError;
use chrono::{DateTime, Utc};
use hookline_shared::batch::ConsumeError;
use hookline_shared::ports::{RejectionStore, SourceStore};
use hookline_shared::provider_api::stripe::StripeApi;
use hookline_shared::provider_api::Fetched;
use hookline_shared::rejection::{Reason, RejectedRequest, WriteBudget};
use hookline_shared::source_cache::SourceCache;
use hookline_shared::{Event, FetchBackState, InboundRequest, KeyStatus, Source};

/// What fetch-back made of an event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Confirmed {
    /// Its data is now the provider's copy (or its source no longer fetches back).
    Yes,
    /// The provider does not know the id it claimed.
    Unknown(String),
}

/// Fetch-back's sources (for their keys) and the provider's API.
#[derive(Debug)]
pub(crate) struct FetchBack<S> {
    sources: SourceCache<S>,
    stripe: StripeApi,
    rejection_writes: WriteBudget,
}

impl<S: SourceStore + RejectionStore> FetchBack<S> {
    pub(crate) fn new(store: S, stripe: StripeApi, cache_ttl: std::time::Duration) -> Self {
        Self { sources: SourceCache::new(store, cache_ttl), stripe, rejection_writes: WriteBudget::default() }
    }

    /// Ask the provider for `event`, made from `req`, and take its copy.
    pub(crate) async fn confirm(
        &self,
        req: &InboundRequest,
        event: &mut Event,
        now: DateTime<Utc>,
    ) -> Result<Confirmed, VerifyError> {
        let Some(prepared) = self.sources.get(&req.source_id).await? else { return Ok(Confirmed::Yes) };
        let source = &prepared.source;
        let Some(fetch_back) = &source.fetch_back else { return Ok(Confirmed::Yes) };
        let id = event.data.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let fetched =
            self.stripe.event(&fetch_back.api_key, &id).await.map_err(|e| ConsumeError::Upstream(e.to_string()))?;
        match fetched {
            Fetched::Found(copy) if copy.get("id").and_then(|v| v.as_str()) == Some(id.as_str()) => {
                self.note(source, KeyStatus::Ok, None, now).await?;
                event.data = copy;
                event.fetched_at = Some(now);
                Ok(Confirmed::Yes)
            }
            Fetched::Found(_) | Fetched::NotFound => {
                self.reject(source, req, &id, now).await;
                Ok(Confirmed::Unknown(id))
            }
            Fetched::Refused(status, message) => {
                self.note(source, status, Some(message), now).await?;
                Err(ConsumeError::Upstream(format!("Stripe refused the fetch-back key of {} ({status:?})", source.id)))
            }
        }
    }

    /// Record what the key's status is now, when it changed.
    async fn note(
        &self,
        source: &Source,
        status: KeyStatus,
        message: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        let known = source.fetch_back_state.as_ref().map(|s| s.status);
        // A key never refused needs no record of being fine.
        if known == Some(status) || (known.is_none() && status == KeyStatus::Ok) {
            return Ok(());
        }
        self.sources.store().set_fetch_back_state(&source.id, &FetchBackState { status, at: now, message }).await?;
        self.sources.invalidate(&source.id);
        Ok(())
    }

    /// Keep an `unknown_event_id` record for the source's owner (within the budget).
    async fn reject(&self, source: &Source, req: &InboundRequest, id: &str, now: DateTime<Utc>) {
        if !self.rejection_writes.allow(&source.id, now) {
            return;
        }
        let headers: http::HeaderMap = req
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.parse::<http::HeaderName>().ok()?, v.parse().ok()?)))
            .collect();
        let body = req.body.to_bytes().unwrap_or_default();
        let (at, size) = (req.received_at, body.len() as u64);
        let mut record = RejectedRequest::new(source, at, Reason::UnknownEventId, &headers, size, Some(&body));
        record.event_id = Some(id.chars().take(255).collect());
        if let Err(e) = self.sources.store().record_rejection(&record).await {
            tracing::warn!(source = %source.id, error = %e, "could not record a rejection");
        }
    }
}
