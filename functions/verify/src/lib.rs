//! `verify`: turn an accepted request from `inbox` into a new, genuine event.
//!
//! For each message: derive the dedupe key (per provider) and the event's id from it,
//! record the event with one conditional write (the record is the dedupe claim), then
//! route it: one delivery job per matching endpoint. A copy whose event is already
//! recorded is a duplicate and dropped, unless the message itself is being received
//! again: an earlier receive may have recorded the event and stopped before routing, so
//! it routes again rather than lose deliveries. Deliveries are at-least-once, and
//! receivers dedupe by `webhook-id`.

use hookline_shared::batch::{ConsumeError, Message, MessageHandler};
use hookline_shared::cache::TtlCache;
use hookline_shared::delivery::{Deliveries, DeliveryJob, Endpoint, LanePlace, OrderingKey, Payload, Urgency};
use hookline_shared::ports::{EndpointStore, EventStore, LaneStore, OrgStore, Queue, RejectionStore, SourceStore};
use hookline_shared::provider_api::stripe::StripeApi;
use hookline_shared::{Event, EventId, InboundRequest, InboxMessage, OrgId, Retention, MAX_HOPS};
use std::sync::Arc;

mod event;
mod fetch_back;

use event::published_event;
pub use event::{dedupe_key, inbound_event, provider_type, INVALID_TYPE};

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new event was recorded.
    Recorded(EventId),
    /// The event had been recorded before; this copy was dropped.
    Duplicate(EventId),
    /// The event had been recorded by an earlier receive of this message, which may
    /// have stopped before routing it; it was routed again.
    Rerouted(EventId),
    /// Its source fetches events back, and the provider does not know the id it
    /// claimed: kept as a rejection, not recorded or routed.
    Unconfirmed(String),
}

/// Why a message could not be processed (it stays on the queue).
pub type VerifyError = ConsumeError;

/// The verify handler, generic over the store pieces it needs.
#[derive(Debug, Clone)]
pub struct Verify<S, Q> {
    store: S,
    deliveries: Deliveries<Q>,
    /// How long events are kept unless their org says otherwise.
    retention: Retention,
    /// Orgs' retentions, read once in a while rather than for every event.
    org_retention: Arc<TtlCache<OrgId, Retention>>,
    /// Events of sources with a provider API key are fetched back through it.
    fetch_back: Arc<fetch_back::FetchBack<S>>,
}

/// The store pieces verify uses.
pub trait VerifyStore:
    EventStore + EndpointStore + OrgStore + LaneStore + SourceStore + RejectionStore + Clone
{
}
impl<T: EventStore + EndpointStore + OrgStore + LaneStore + SourceStore + RejectionStore + Clone> VerifyStore for T {}

impl<S: VerifyStore, Q: Queue> MessageHandler for Verify<S, Q> {
    async fn handle_message(&self, message: Message<'_>) -> Result<(), ConsumeError> {
        self.handle_received(message).await.map(|_| ())
    }
}

impl<S: VerifyStore, Q: Queue> Verify<S, Q> {
    /// A handler recording into `store`, routing onto `deliveries`, as the default
    /// configuration says.
    pub fn new(store: S, deliveries: Deliveries<Q>) -> Self {
        Self::with_config(store, deliveries, &hookline_shared::Config::default())
    }

    /// A handler keeping events for the configured retention unless their org has its
    /// own (both reread after `source_cache_ttl`), fetching back from the configured
    /// Stripe API.
    pub fn with_config(store: S, deliveries: Deliveries<Q>, config: &hookline_shared::Config) -> Self {
        let stripe = StripeApi::new(&config.stripe_api_base);
        Self {
            fetch_back: Arc::new(fetch_back::FetchBack::new(store.clone(), stripe, config.source_cache_ttl)),
            store,
            deliveries,
            retention: config.retention,
            org_retention: Arc::new(TtlCache::new(config.source_cache_ttl)),
        }
    }

    /// How long `org`'s events are kept.
    async fn retention_of(&self, org: &OrgId) -> Result<Retention, VerifyError> {
        if let Some(r) = self.org_retention.get(org) {
            return Ok(r);
        }
        let r = match self.store.get_org(org).await? {
            Some(o) => Retention::of_org(&o, self.retention),
            None => self.retention,
        };
        self.org_retention.put(org.clone(), r);
        Ok(r)
    }

    /// Process an inbox message body received for the first time.
    pub async fn handle(&self, body: &str) -> Result<Outcome, VerifyError> {
        self.handle_received(Message::first(body)).await
    }

    /// Process one inbox message, and log what became of its event.
    pub async fn handle_received(&self, message: Message<'_>) -> Result<Outcome, VerifyError> {
        let outcome = self.outcome(message).await?;
        match &outcome {
            Outcome::Recorded(e) => tracing::info!(event = %e, "event recorded"),
            Outcome::Duplicate(e) => tracing::info!(event = %e, "duplicate dropped"),
            Outcome::Rerouted(e) => tracing::info!(event = %e, "event routed again on a repeated receive"),
            Outcome::Unconfirmed(id) => {
                tracing::warn!(claimed = %id, "the provider does not know the event: not recorded")
            }
        }
        Ok(outcome)
    }

    async fn outcome(&self, message: Message<'_>) -> Result<Outcome, VerifyError> {
        let msg: InboxMessage = serde_json::from_str(message.body).map_err(ConsumeError::malformed)?;
        let ordering_key = match &msg {
            InboxMessage::Publish(p) => p.ordering_key.clone(),
            InboxMessage::Inbound(r) => r.ordering_key.clone(),
        };
        let event = match msg {
            InboxMessage::Inbound(req) => {
                let echoed = self.echoed_event(&req).await?;
                let mut event = inbound_event(&req)?;
                if let Some(earlier) = echoed {
                    event.hops = event.hops.max(earlier.hops.saturating_add(1));
                }
                if req.fetch_back && req.fetched_at.is_none() {
                    let now = chrono::Utc::now();
                    if let fetch_back::Confirmed::Unknown(id) = self.fetch_back.confirm(&req, &mut event, now).await? {
                        return Ok(Outcome::Unconfirmed(id));
                    }
                }
                event
            }
            InboxMessage::Publish(p) => published_event(p),
        };
        let event =
            Event { expires_at: Some(self.retention_of(&event.org_id).await?.expires_at(event.created_at)), ..event };
        self.record(event, message, ordering_key).await
    }

    /// The org's own event that a request carries as its `webhook-id`: one of our
    /// deliveries came back in, perhaps through a relay that dropped the hops header.
    async fn echoed_event(&self, req: &InboundRequest) -> Result<Option<Event>, VerifyError> {
        let Some(id) = req.header("webhook-id").and_then(|id| id.parse::<EventId>().ok()) else { return Ok(None) };
        Ok(self.store.get_event(&req.org_id, &id).await?)
    }

    /// One job per endpoint of the org whose filter matches, batched per queue.
    /// Disabled endpoints get theirs too: deliver keeps them as `failed` for replay.
    /// An event with an ordering key (and its place in the key's stream) joins each
    /// endpoint's lane for the key, and only a job that stands first there is sent now.
    async fn route(&self, event: &Event) -> Result<usize, VerifyError> {
        if event.hops >= MAX_HOPS {
            tracing::warn!(event = %event.id, hops = event.hops, "a delivery loop: recorded, not delivered again");
            return Ok(0);
        }
        let endpoints = self.store.list_endpoints(&event.org_id).await?;
        let matching: Vec<&Endpoint> = endpoints.iter().filter(|ep| ep.wants(&event.event_type)).collect();
        if matching.is_empty() {
            return Ok(0);
        }
        // Serialized once for every endpoint, not once per endpoint.
        let payload = Payload::new(event.id.clone(), event.event_type.clone(), event.created_at, event.data.clone());
        let payload = serde_json::value::to_raw_value(&payload).map_err(ConsumeError::malformed)?;
        let mut urgent = Vec::new();
        let mut regular = Vec::new();
        for ep in matching {
            let place = event.ordering.as_ref();
            let (org, hops, expires_at) = (&event.org_id, event.hops, event.expires_at);
            let body = DeliveryJob::first_attempt_body(org, &ep.id, hops, expires_at, place, &payload)
                .map_err(ConsumeError::malformed)?;
            if place.is_some() && !self.first_in_lane(&body).await? {
                continue;
            }
            match ep.urgency {
                Urgency::Regular => regular.push(body),
                Urgency::Urgent | Urgency::RealTime => urgent.push(body),
            }
        }
        if !urgent.is_empty() {
            self.deliveries.queue(Urgency::Urgent).send_batch(&urgent).await?;
        }
        if !regular.is_empty() {
            self.deliveries.queue(Urgency::Regular).send_batch(&regular).await?;
        }
        Ok(urgent.len() + regular.len())
    }

    /// Record, then route. The event's id follows from its dedupe key (or is the one the
    /// publisher was given), so the conditional insert is the dedupe claim as well.
    /// An event with an ordering key takes the next place in its org's stream for the
    /// key first: verify reads a key's events in publish order, one at a time, so places
    /// follow publish order. The place is recorded with the event, so a repeat routes by
    /// the same place.
    async fn record(
        &self,
        mut event: Event,
        message: Message<'_>,
        ordering_key: Option<OrderingKey>,
    ) -> Result<Outcome, VerifyError> {
        if let Some(key) = ordering_key {
            let place = self.store.next_in_stream(&event.org_id, &key).await?;
            event.ordering = Some(LanePlace::new(key, place));
        }
        if self.store.insert_event(&event).await? {
            self.route(&event).await?;
            return Ok(Outcome::Recorded(event.id));
        }
        if !message.redelivered() {
            return Ok(Outcome::Duplicate(event.id));
        }
        // Route what was recorded, which may differ from this copy (its hops, its time).
        let recorded = self.store.get_event(&event.org_id, &event.id).await?.unwrap_or(event);
        self.route(&recorded).await?;
        Ok(Outcome::Rerouted(recorded.id))
    }

    /// Put an ordered job in its lane; whether it stands first, so goes now.
    async fn first_in_lane(&self, body: &str) -> Result<bool, VerifyError> {
        let job: DeliveryJob = serde_json::from_str(body).map_err(ConsumeError::malformed)?;
        Ok(self.store.join_lane(&job).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use hookline_shared::delivery::{Endpoint, EndpointStatus};
    use hookline_shared::local::{LocalDb, LocalStore};
    use hookline_shared::memory::MemoryQueue;
    use hookline_shared::ports::EventQuery;

    use hookline_shared::{Body, DedupeBy, OrgId, PublishRequest, SourceId};

    type TestVerify = Verify<LocalStore, MemoryQueue>;

    fn verify() -> (TestVerify, LocalStore) {
        let (v, store, _) = verify_with_queues();
        (v, store)
    }

    fn verify_with_queues() -> (TestVerify, LocalStore, Deliveries<MemoryQueue>) {
        let store = LocalStore::new(LocalDb::in_memory().unwrap());
        let queues = Deliveries { urgent: MemoryQueue::new(), regular: MemoryQueue::new() };
        (Verify::new(store.clone(), queues.clone()), store, queues)
    }

    fn inbound(provider: &str, headers: &[(&str, &str)], body: &str) -> InboundRequest {
        InboundRequest {
            source_id: SourceId::derived(&[b"s"]),
            org_id: OrgId::derived(&[b"o"]),
            source_name: "src".into(),
            provider: provider.into(),
            received_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            body: Body::from_bytes(body.as_bytes()),
            dedupe: DedupeBy::Provider,
            ordering_key: None,
            fetch_back: false,
            fetched_at: None,
        }
    }

    fn msg(req: InboundRequest) -> String {
        serde_json::to_string(&InboxMessage::Inbound(req)).unwrap()
    }

    #[test]
    fn dedupe_keys_per_provider() {
        let body = r#"{"id":"evt_stripe","type":"x"}"#;
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        let key = |p: &str, h: &[(&str, &str)]| dedupe_key(&inbound(p, h, body), Some(&json), body.as_bytes());
        assert_eq!(key("stripe", &[]), "id:evt_stripe");
        assert_eq!(key("standard", &[("webhook-id", "msg_1")]), "id:msg_1");
        assert_eq!(key("standard", &[("svix-id", "msg_2")]), "id:msg_2");
        assert_eq!(key("github", &[("x-github-delivery", "d1")]), "id:d1");
        assert_eq!(key("shopify", &[("x-shopify-webhook-id", "w1")]), "id:w1");
        assert_eq!(key("hmac", &[("idempotency-key", "ik")]), "id:ik");
        assert_eq!(key("github", &[("idempotency-key", "ik")]), "id:ik", "falls back when the provider id is absent");
        let hashed = key("none", &[]);
        assert!(hashed.starts_with("sha256:") && hashed.len() == 7 + 64);
        // A source set to dedupe by body ignores every header.
        let by_body = |p: &str, h: &[(&str, &str)]| {
            let req = InboundRequest { dedupe: DedupeBy::Body, ..inbound(p, h, body) };
            dedupe_key(&req, Some(&json), body.as_bytes())
        };
        assert_eq!(by_body("github", &[("x-github-delivery", "d1")]), hashed);
        assert_eq!(by_body("shopify", &[("x-shopify-webhook-id", "w2"), ("idempotency-key", "ik")]), hashed);
        assert_eq!(by_body("stripe", &[]), hashed);
    }

    #[test]
    fn event_types_per_provider() {
        let t = |p: &str, h: &[(&str, &str)], body: &str| {
            let json = serde_json::from_str::<serde_json::Value>(body).ok();
            provider_type(&inbound(p, h, body), json.as_ref())
        };
        assert_eq!(t("stripe", &[], r#"{"type":"invoice.paid"}"#), "invoice.paid");
        assert_eq!(t("standard", &[], r#"{"type":"email.sent"}"#), "email.sent");
        assert_eq!(t("github", &[("x-github-event", "issues")], r#"{"action":"opened"}"#), "issues.opened");
        assert_eq!(t("github", &[("x-github-event", "push")], r#"{"ref":"main"}"#), "push");
        assert_eq!(t("shopify", &[("x-shopify-topic", "orders/create")], "{}"), "orders/create");
        assert_eq!(t("hmac", &[], r#"{"type":7}"#), "received");
        assert_eq!(t("none", &[], "not json"), "received");
        assert_eq!(t("stripe", &[], r#"{"type":"a b"}"#), INVALID_TYPE);
        assert_eq!(t("stripe", &[], r#"{"type":"x?y@evil.example/"}"#), INVALID_TYPE);
        assert_eq!(t("shopify", &[("x-shopify-topic", "orders/create")], "{}"), "orders/create");
    }

    #[tokio::test]
    async fn duplicates_are_dropped_and_non_json_is_kept_raw() {
        let (v, store) = verify();
        let m = msg(inbound("none", &[("idempotency-key", "k")], "\u{1F600} not json"));
        let Outcome::Recorded(id) = v.handle(&m).await.unwrap() else { panic!("first is new") };
        assert_eq!(v.handle(&m).await.unwrap(), Outcome::Duplicate(id.clone()));
        let e = store.get_event(&OrgId::derived(&[b"o"]), &id).await.unwrap().unwrap();
        assert_eq!(e.event_type, "src.received");
        assert!(e.data["raw"].is_string());
    }

    /// A receive that recorded the event and stopped before routing it leaves the event
    /// recorded: another copy is a duplicate, but the same message coming back routes it.
    #[tokio::test]
    async fn an_event_recorded_but_not_routed_is_routed_when_its_message_comes_back() {
        let (v, store, queues) = verify_with_queues();
        let org = OrgId::derived(&[b"o"]);
        store.create_endpoint(&endpoint(&org, &["*"], Urgency::Regular, true), None).await.unwrap();
        let req = inbound("stripe", &[], r#"{"id":"evt_crash","type":"a.b"}"#);
        let event = inbound_event(&req).unwrap();
        assert!(store.insert_event(&event).await.unwrap(), "recorded, then the receive stopped");
        let m = msg(req);
        assert_eq!(v.handle(&m).await.unwrap(), Outcome::Duplicate(event.id.clone()));
        assert!(queues.regular.is_empty(), "a provider's repeat routes nothing");
        let again = Message { body: &m, receive_count: 2 };
        assert_eq!(v.handle_received(again).await.unwrap(), Outcome::Rerouted(event.id.clone()));
        let jobs = queues.regular.take();
        assert_eq!(jobs.len(), 1, "the message that came back routes its event");
        let job: DeliveryJob = serde_json::from_str(&jobs[0].0).unwrap();
        assert_eq!(job.payload.id, event.id);
        let page = store.list_events(&org, &EventQuery { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(page.items.len(), 1, "recorded once");
    }

    #[tokio::test]
    async fn publish_uses_the_given_id_once() {
        let (v, store) = verify();
        let p = PublishRequest {
            event_id: EventId::new(),
            org_id: OrgId::new(),
            event_type: "user.created".into(),
            data: serde_json::json!({"id": 1}),
            received_at: Utc::now(),
            id_from_key: false,
            ordering_key: None,
        };
        let m = serde_json::to_string(&InboxMessage::Publish(p.clone())).unwrap();
        assert_eq!(v.handle(&m).await.unwrap(), Outcome::Recorded(p.event_id.clone()));
        assert_eq!(v.handle(&m).await.unwrap(), Outcome::Duplicate(p.event_id.clone()));
        let page = store.list_events(&p.org_id, &EventQuery { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(page.items.len(), 1);
    }

    #[tokio::test]
    async fn batch_reports_only_failed_ids() {
        let (v, _) = verify();
        let good = msg(inbound("none", &[], "{}"));
        let records = [("a", good.as_str()), ("b", "garbage"), ("c", "{\"kind\":\"other\"}")];
        let records = records.map(|(id, body)| (id, Message::first(body)));
        let v = &v;
        let failed = hookline_shared::batch::process(records, |m| v.handle_message(m)).await;
        assert_eq!(failed, ["b", "c"]);
    }

    fn endpoint(org: &OrgId, events: &[&str], urgency: Urgency, active: bool) -> Endpoint {
        let now = Utc::now();
        let events = events.iter().map(|e| (*e).to_owned()).collect();
        let status = if active {
            EndpointStatus::Active
        } else {
            EndpointStatus::Disabled { disabled_reason: "test".into(), disabled_at: now }
        };
        Endpoint { urgency, status, ..Endpoint::new(org.clone(), "https://example.com/hook".into(), events, now) }
    }

    #[tokio::test]
    async fn routes_one_job_per_matching_endpoint_by_urgency() {
        let (v, store, queues) = verify_with_queues();
        let org = OrgId::derived(&[b"o"]);
        let eps = [
            endpoint(&org, &["src.*"], Urgency::Regular, true),
            endpoint(&org, &["src.invoice.paid"], Urgency::Urgent, true),
            endpoint(&org, &["other.*"], Urgency::Regular, true),
            endpoint(&org, &["*"], Urgency::Regular, false),
            endpoint(&OrgId::new(), &["*"], Urgency::Regular, true),
        ];
        for ep in &eps {
            store.create_endpoint(ep, None).await.unwrap();
        }
        let m = msg(inbound("stripe", &[], r#"{"id":"evt_9","type":"invoice.paid"}"#));
        v.handle(&m).await.unwrap();
        let jobs = |q: &MemoryQueue| -> Vec<DeliveryJob> {
            q.take().iter().map(|(b, _)| serde_json::from_str(b).unwrap()).collect()
        };
        let urgent = jobs(&queues.urgent);
        let regular = jobs(&queues.regular);
        assert_eq!(urgent.iter().map(|j| &j.endpoint_id).collect::<Vec<_>>(), [&eps[1].id]);
        let mut reg: Vec<_> = regular.iter().map(|j| j.endpoint_id.clone()).collect();
        reg.sort();
        let mut expected = vec![eps[0].id.clone(), eps[3].id.clone()];
        expected.sort();
        assert_eq!(reg, expected, "the disabled endpoint gets its job too (kept as failed)");
        assert!(urgent.iter().chain(&regular).all(|j| j.attempt == 1 && j.payload.event_type == "src.invoice.paid"));
        // A duplicate routes nothing.
        v.handle(&m).await.unwrap();
        assert!(queues.urgent.is_empty() && queues.regular.is_empty());
    }
}
