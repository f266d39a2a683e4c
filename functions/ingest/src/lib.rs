//! `ingest`: authenticate a provider's request, cap its size, put it on `inbox`, answer fast.
//!
//! The handler is generic over the source store and the queue; the source and its
//! prepared signature check come from a short-lived cache, so the hot path is one
//! HMAC and one queue send. A bad signature is answered 401 and the request is not kept;
//! why it was refused is logged and recorded for the source's owner
//! (`shared/src/rejection.rs`, a few records a second at most), never returned.

use axum::body::Body as AxumBody;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use hookline_shared::delivery::ordered_group;
use hookline_shared::json::within_depth;
use hookline_shared::ports::{Clock, Queue, RejectionStore, SourceStore};
use hookline_shared::rejection::{Reason, RejectedRequest, WriteBudget};
use hookline_shared::source_cache::SourceCache;
use hookline_shared::web::{body_timed_out, error_json};
use hookline_shared::{too_large_to_keep, Body, InboundRequest, InboxMessage, Provider, SourceId};
use http_body_util::{BodyExt as _, Limited};
use std::sync::Arc;
use std::time::Duration;

mod error;
use error::json_response;
pub use error::IngestError;

/// Headers kept with an accepted request: what `verify` needs for dedupe and event
/// types, plus a little context. Credentials and signatures are never kept.
pub const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "user-agent",
    "idempotency-key",
    "webhook-id",
    "webhook-timestamp",
    "svix-id",
    "svix-timestamp",
    "x-github-event",
    "x-github-delivery",
    "x-github-hook-id",
    "x-shopify-topic",
    "x-shopify-webhook-id",
    "x-shopify-shop-domain",
    "x-shopify-triggered-at",
    "x-slack-retry-num",
    "x-slack-retry-reason",
    "i-twilio-idempotency-token",
    "x-request-id",
    // A delivery of Hookline's own coming back in: counted, so a loop stops.
    "x-hookline-hops",
];

/// The ingest handler.
#[derive(Debug)]
pub struct Ingest<S, Q, C> {
    sources: Arc<SourceCache<S>>,
    inbox: Q,
    /// Where requests with an ordering key go (a FIFO queue); none: to `inbox`.
    ordered_inbox: Option<Q>,
    clock: C,
    max_body: usize,
    /// This process's share of the rejection records' writes.
    rejection_writes: WriteBudget,
    /// Whether refusals are recorded for the source's owner (not for the API's triggers,
    /// whose caller is told why at once).
    records_rejections: bool,
}

impl<S: SourceStore + RejectionStore, Q: Queue, C: Clock> Ingest<S, Q, C> {
    /// A handler reading sources through `sources` and writing to `inbox`.
    pub fn new(sources: Arc<SourceCache<S>>, inbox: Q, clock: C, max_body: usize) -> Self {
        Self {
            sources,
            inbox,
            ordered_inbox: None,
            clock,
            max_body,
            rejection_writes: WriteBudget::default(),
            records_rejections: true,
        }
    }

    /// Send requests whose source finds an ordering key in them to `queue`, a FIFO queue.
    pub fn ordered_inbox(mut self, queue: Q) -> Self {
        self.ordered_inbox = Some(queue);
        self
    }

    /// Record no refusals: for the API's triggers, whose caller hears why at once.
    pub fn without_rejection_records(mut self) -> Self {
        self.records_rejections = false;
        self
    }

    /// Accept (or refuse) one request sent to `target` (its path and query) whose body
    /// has been read.
    pub async fn accept(
        &self,
        source_id: &str,
        target: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Accepted, IngestError> {
        if body.len() > self.max_body {
            self.refuse_too_large(source_id, headers, body.len() as u64).await;
            return Err(IngestError::TooLarge(self.max_body));
        }
        let id: SourceId = source_id.parse().map_err(|_| IngestError::UnknownSource)?;
        let prepared = self.sources.get(&id).await?.ok_or(IngestError::UnknownSource)?;
        let now = self.clock.now();
        let source = &prepared.source;
        if let Err(reason) = prepared.verifier.verify(headers, target, body, now.timestamp()) {
            tracing::warn!(source = %id, reason = %reason, "signature rejected");
            self.record(&id, now, || RejectedRequest::of_signature(source, now, &reason, headers, body)).await;
            return Err(IngestError::Rejected(reason));
        }
        if too_large_to_keep(body) {
            let size = body.len() as u64;
            self.record(&id, now, || {
                RejectedRequest::new(source, now, Reason::BodyTooLarge, headers, size, Some(body))
            })
            .await;
            return Err(IngestError::TooLarge(self.max_body));
        }
        if expects_json(&source.provider) && !is_json(body) {
            tracing::warn!(source = %id, "verified body is not JSON");
            return Err(IngestError::Malformed);
        }
        if let Some(challenge) = slack_challenge(&source.provider, body) {
            return Ok(Accepted::Challenge(challenge));
        }
        // Only a source that orders its events has its body read here.
        let ordering_key = source.ordering_key.as_ref().and_then(|p| p.key_in(&serde_json::from_slice(body).ok()?));
        let request = InboundRequest {
            source_id: id,
            org_id: source.org_id.clone(),
            source_name: source.name.clone(),
            provider: source.provider.name().to_owned(),
            received_at: now,
            headers: kept_headers(headers),
            body: Body::from_bytes(body),
            dedupe: source.dedupe,
            ordering_key: ordering_key.clone(),
            fetch_back: source.fetch_back.is_some(),
            fetched_at: None,
        };
        let message = InboxMessage::Inbound(request);
        let encoded = serde_json::to_string(&message).map_err(|e| IngestError::Unavailable(e.to_string()))?;
        match (ordering_key, &self.ordered_inbox) {
            // A name per request: verify, not the queue, drops duplicates.
            (Some(key), Some(ordered)) => {
                let group = ordered_group(&source.org_id, &key);
                ordered.send_in_order(&encoded, &group, &ulid::Ulid::new().to_string()).await?;
            }
            _ => self.inbox.send(&encoded, Duration::ZERO).await?,
        }
        let InboxMessage::Inbound(request) = message else { unreachable!("built as inbound above") };
        Ok(Accepted::Queued(Box::new(request)))
    }

    /// Record that a request to `source_id` was refused as too large before its body was
    /// (all) read: `size` is what it declared, or the limit plus one.
    pub async fn refuse_too_large(&self, source_id: &str, headers: &HeaderMap, size: u64) {
        let Ok(id) = source_id.parse::<SourceId>() else { return };
        if let Ok(Some(prepared)) = self.sources.get(&id).await {
            let now = self.clock.now();
            let source = &prepared.source;
            self.record(&id, now, || RejectedRequest::new(source, now, Reason::BodyTooLarge, headers, size, None))
                .await;
        }
    }

    /// Keep the record `make` makes for the source's owner, within this process's budget
    /// and the store's (checked first, so a flood costs no hashing); a failure to keep it
    /// is logged and changes nothing for the sender.
    async fn record(&self, source: &SourceId, now: DateTime<Utc>, make: impl FnOnce() -> RejectedRequest) {
        if !self.records_rejections || !self.rejection_writes.allow(source, now) {
            return;
        }
        let record = make();
        if let Err(e) = self.sources.store().record_rejection(&record).await {
            tracing::warn!(source = %record.source_id, error = %e, "could not record a rejection");
        }
    }
}

/// The inbound path, as the API runs it for a trigger: [`Ingest::accept`] behind a
/// trait object, so the API need not know the ingest handler's store and queue types.
#[async_trait::async_trait]
pub trait AcceptInbound: Send + Sync {
    /// See [`Ingest::accept`].
    async fn accept(
        &self,
        source_id: &str,
        target: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Accepted, IngestError>;
}

#[async_trait::async_trait]
impl<S: SourceStore + RejectionStore, Q: Queue, C: Clock> AcceptInbound for Ingest<S, Q, C> {
    async fn accept(
        &self,
        source_id: &str,
        target: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Accepted, IngestError> {
        Ingest::accept(self, source_id, target, headers, body).await
    }
}

/// What became of an accepted request.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// Kept on the inbox, to become an event: what was kept.
    Queued(Box<InboundRequest>),
    /// A Slack `url_verification` handshake: answered with its challenge, not kept.
    Challenge(String),
}

/// The challenge of a signed Slack `url_verification` request, which Slack expects back
/// before it sends a new Events API URL any events.
fn slack_challenge(provider: &Provider, body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Handshake {
        r#type: String,
        challenge: String,
    }
    if !matches!(provider, Provider::Slack { .. }) {
        return None;
    }
    let h: Handshake = serde_json::from_slice(body).ok()?;
    (h.r#type == "url_verification").then_some(h.challenge)
}

/// Whether `body` is JSON that verify will read as such. Skipping a value checks neither
/// the UTF-8 of its strings nor how deep it nests, so both are checked first.
fn is_json(body: &[u8]) -> bool {
    std::str::from_utf8(body)
        .is_ok_and(|text| within_depth(text) && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok())
}

/// Providers that always send JSON: anything else from them is malformed.
fn expects_json(p: &Provider) -> bool {
    matches!(
        p,
        Provider::Stripe { .. }
            | Provider::Standard { .. }
            | Provider::Svix { .. }
            | Provider::Paddle { .. }
            | Provider::Github
            | Provider::Shopify
    )
}

fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let v = headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), v.to_owned()))
        })
        .collect()
}

/// The ingest routes: `POST /in/{source}`; any other method on it answers 405.
pub fn router<S, Q, C>(ingest: Arc<Ingest<S, Q, C>>) -> Router
where
    S: SourceStore + RejectionStore + 'static,
    Q: Queue + 'static,
    C: Clock,
{
    Router::new().route("/in/{source}", post(handle::<S, Q, C>).fallback(method_not_allowed)).with_state(ingest)
}

async fn method_not_allowed() -> Response {
    json_response(StatusCode::METHOD_NOT_ALLOWED, error_json("method_not_allowed", "use POST"))
}

async fn handle<S: SourceStore + RejectionStore, Q: Queue, C: Clock>(
    State(ingest): State<Arc<Ingest<S, Q, C>>>,
    Path(source): Path<String>,
    uri: http::Uri,
    headers: HeaderMap,
    body: AxumBody,
) -> Response {
    let max = ingest.max_body;
    // Refuse a declared oversize body before reading any of it.
    let declared =
        headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared.filter(|n| *n > max) {
        ingest.refuse_too_large(&source, &headers, n as u64).await;
        return IngestError::TooLarge(max).into_response();
    }
    let bytes = match Limited::new(body, max).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            ingest.refuse_too_large(&source, &headers, max as u64 + 1).await;
            return IngestError::TooLarge(max).into_response();
        }
        Err(e) if body_timed_out(&*e) => return IngestError::SlowBody.into_response(),
        Err(_) => return IngestError::BadBody.into_response(),
    };
    let target = uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    match ingest.accept(&source, target, &headers, &bytes).await {
        Ok(Accepted::Queued(_)) => json_response(StatusCode::OK, r#"{"ok":true}"#.to_owned()),
        Ok(Accepted::Challenge(c)) => json_response(StatusCode::OK, serde_json::json!({ "challenge": c }).to_string()),
        Err(e) => {
            if let IngestError::Unavailable(detail) = &e {
                tracing::error!(source = %source, error = %detail, "could not accept request");
            }
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use hookline_shared::local::{LocalDb, LocalStore};
    use hookline_shared::memory::MemoryQueue;
    use hookline_shared::ports::ManualClock;
    use hookline_shared::signature::{stripe, Rejection};
    use hookline_shared::{OrgId, Secret, Source};

    const SECRET: &str = "whsec_unit";

    async fn setup(max_body: usize) -> (Ingest<LocalStore, MemoryQueue, ManualClock>, MemoryQueue, Source) {
        let store = LocalStore::new(LocalDb::in_memory().unwrap());
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let source = Source::new(
            OrgId::new(),
            "stripe".into(),
            Provider::Stripe { tolerance_secs: None },
            vec![Secret::new(SECRET)],
            now,
        );
        store.put_source(&source).await.unwrap();
        let queue = MemoryQueue::new();
        let cache = Arc::new(SourceCache::new(store, Duration::from_secs(30)));
        (Ingest::new(cache, queue.clone(), ManualClock::at(now), max_body), queue, source)
    }

    fn signed(body: &[u8], ts: i64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("stripe-signature", stripe::sign(SECRET, ts, body).parse().unwrap());
        h.insert("authorization", "Bearer must-not-be-kept".parse().unwrap());
        h.insert("idempotency-key", "abc".parse().unwrap());
        h
    }

    #[tokio::test]
    async fn accepted_request_is_queued_with_only_the_kept_headers() {
        let (ingest, queue, source) = setup(1024).await;
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let accepted = ingest.accept(source.id.as_str(), "/in/src", &signed(body, 1_700_000_000), body).await;
        assert!(matches!(accepted.unwrap(), Accepted::Queued(_)));
        let sent = queue.take();
        assert_eq!(sent.len(), 1);
        let InboxMessage::Inbound(req) = serde_json::from_str(&sent[0].0).unwrap() else { panic!("inbound") };
        assert_eq!(req.source_id, source.id);
        assert_eq!(req.org_id, source.org_id);
        assert_eq!(req.provider, "stripe");
        assert_eq!(req.body.to_bytes().unwrap(), body);
        assert_eq!(req.header("idempotency-key"), Some("abc"));
        assert!(!sent[0].0.contains("must-not-be-kept"), "credentials are never queued");
        assert!(!sent[0].0.contains("stripe-signature"));
    }

    #[tokio::test]
    async fn refusals_keep_nothing() {
        let (ingest, queue, source) = setup(64).await;
        let body = br#"{"id":"evt_1"}"#;
        let id = source.id.as_str();
        let stale = signed(body, 1_700_000_000 - 301);
        assert!(matches!(
            ingest.accept(id, "/in/src", &stale, body).await,
            Err(IngestError::Rejected(Rejection::StaleTimestamp { .. }))
        ));
        assert!(matches!(
            ingest.accept(id, "/in/src", &signed(b"{}", 1_700_000_000), body).await,
            Err(IngestError::Rejected(Rejection::NoMatchingSignature))
        ));
        assert!(matches!(
            ingest.accept(id, "/in/src", &HeaderMap::new(), body).await,
            Err(IngestError::Rejected(Rejection::MissingHeader(_)))
        ));
        let big = vec![b' '; 65];
        assert!(matches!(
            ingest.accept(id, "/in/src", &signed(&big, 1_700_000_000), &big).await,
            Err(IngestError::TooLarge(64))
        ));
        assert!(matches!(
            ingest.accept("src_nope", "/in/src", &signed(body, 1_700_000_000), body).await,
            Err(IngestError::UnknownSource)
        ));
        let other = SourceId::new();
        assert!(matches!(
            ingest.accept(other.as_str(), "/in/src", &signed(body, 1_700_000_000), body).await,
            Err(IngestError::UnknownSource)
        ));
        assert!(matches!(
            ingest.accept(id, "/in/src", &signed(b"nope", 1_700_000_000), b"nope").await,
            Err(IngestError::Malformed)
        ));
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn errors_map_to_statuses_in_one_place() {
        let cases = [
            (IngestError::UnknownSource, 404),
            (IngestError::TooLarge(1), 413),
            (IngestError::Rejected(Rejection::NoMatchingSignature), 401),
            (IngestError::Malformed, 400),
            (IngestError::Unavailable("db down at 10.0.0.1".into()), 503),
        ];
        for (e, status) in cases {
            let res = e.into_response();
            assert_eq!(res.status().as_u16(), status);
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8(bytes.to_vec()).unwrap();
            assert!(!text.contains("10.0.0.1"), "internal detail leaked: {text}");
            assert!(!text.contains("NoMatchingSignature") && !text.contains("no matching"), "reason leaked: {text}");
        }
    }
}
