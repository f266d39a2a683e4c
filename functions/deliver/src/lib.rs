//! `deliver`: one signed POST per job, every attempt logged, retries by the endpoint's
//! policy, auto-disable for endpoints that keep failing.
//!
//! An endpoint's failure is a logged attempt, never a handler error: only
//! infrastructure failures (store, queue, timer) fail a message, so SQS retries just
//! those (partial batch response).

use chrono::{DateTime, Utc};
use hookline_shared::delivery::{
    capped_body, Attempt, AttemptStatus, Continuation, Deliveries, DeliveryJob, DisablePolicy, Endpoint,
    EndpointStatus, FailureState, Payload, RetryPolicy, TimerPayload, Urgency, RESPONSE_READ_CAP,
};
use hookline_shared::dispatch::send_event;
use hookline_shared::endpoint_update::{update_endpoint, Updated};
use hookline_shared::outbound::{HttpSender, SendError};
use hookline_shared::ports::{AttemptStore, Clock, EndpointStore, EventStore, OpsEvent, OpsSink, Queue, Timer};
use hookline_shared::{AttemptId, Event, EventId, QueueError, StoreError};
use std::time::Duration;

#[cfg(feature = "lambda")]
pub mod lambda;

/// The longest delay a queue message can carry (SQS: 15 minutes).
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(900);
/// Timers fire this long before the attempt is due; the rest rides on a queue delay,
/// so a retry lands to the second even though Scheduler fires to the minute.
pub const TIMER_LEAD: Duration = Duration::from_secs(60);

/// Why a job could not be processed (it stays on the queue).
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// Not a delivery job.
    #[error("malformed job: {0}")]
    Malformed(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A queue, the timer or the ops sink failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Retry policies per urgency and the auto-disable rule.
#[derive(Debug, Clone)]
pub struct Policies {
    /// For `regular` endpoints.
    pub regular: RetryPolicy,
    /// For `urgent` endpoints.
    pub urgent: RetryPolicy,
    /// When an endpoint that keeps failing is disabled.
    pub disable: DisablePolicy,
    /// The longest continuation chain: iterations past it are not scheduled.
    pub max_chain_iterations: u64,
}

impl Default for Policies {
    fn default() -> Self {
        Self {
            regular: RetryPolicy::for_urgency(Urgency::Regular),
            urgent: RetryPolicy::for_urgency(Urgency::Urgent),
            disable: DisablePolicy::default(),
            max_chain_iterations: 10_000,
        }
    }
}

impl Policies {
    fn for_urgency(&self, u: Urgency) -> &RetryPolicy {
        match u {
            Urgency::Regular => &self.regular,
            _ => &self.urgent,
        }
    }
}

/// The deliver handler, generic over its ports.
#[derive(Debug)]
pub struct Deliver<S, Q, T, H, O, C> {
    store: S,
    queues: Deliveries<Q>,
    timer: T,
    http: H,
    ops: O,
    clock: C,
    policies: Policies,
}

impl<S, Q, T, H, O, C> Deliver<S, Q, T, H, O, C>
where
    S: EndpointStore + AttemptStore + EventStore,
    Q: Queue,
    T: Timer,
    H: HttpSender,
    O: OpsSink,
    C: Clock,
{
    /// A handler on these ports with these policies.
    pub fn new(store: S, queues: Deliveries<Q>, timer: T, http: H, ops: O, clock: C, policies: Policies) -> Self {
        Self { store, queues, timer, http, ops, clock, policies }
    }

    /// Process one job from a deliveries queue.
    pub async fn handle(&self, body: &str) -> Result<Option<Attempt>, DeliverError> {
        let job: DeliveryJob = serde_json::from_str(body).map_err(|e| DeliverError::Malformed(e.to_string()))?;
        self.deliver(job).await
    }

    /// Attempt one delivery; `None` when the endpoint no longer exists.
    ///
    /// The attempt is logged under an id derived from the job before anything follows
    /// from it (the retry, the next iteration, the endpoint's failure record), so a
    /// repeat of the job (a queue's redelivery, or a retry after a failure) finds it:
    /// logged and followed up, the repeat stops; logged but not followed up (a crash in
    /// between), the repeat's outcome replaces it and is followed up. No repeat starts a
    /// second retry chain.
    pub async fn deliver(&self, job: DeliveryJob) -> Result<Option<Attempt>, DeliverError> {
        let Some(endpoint) = self.store.get_endpoint(&job.org_id, &job.endpoint_id).await? else {
            tracing::info!(endpoint = %job.endpoint_id, event = %job.payload.id, "endpoint deleted; job dropped");
            return Ok(None);
        };
        let (mut attempt, next) = self.attempt(&job, &endpoint).await;
        attempt.follow_up_pending = !matches!(next, FollowUp::Nothing);
        if !self.store.insert_attempt(&attempt).await? {
            match self.store.get_attempt(&attempt.org_id, &attempt.id).await? {
                Some(logged) if !logged.follow_up_pending => {
                    tracing::info!(attempt = %attempt.id, "a repeat of a job already done; dropped");
                    return Ok(Some(logged));
                }
                _ => self.store.put_attempt(&attempt).await?,
            }
        }
        if attempt.follow_up_pending {
            self.follow_up(&job, &endpoint, &mut attempt, next).await?;
            attempt.follow_up_pending = false;
            self.store.put_attempt(&attempt).await?;
        }
        Ok(Some(attempt))
    }

    /// Send the job (unless its endpoint is disabled) and say what follows from the answer.
    async fn attempt(&self, job: &DeliveryJob, endpoint: &Endpoint) -> (Attempt, FollowUp) {
        let now = self.clock.now();
        let mut attempt = Attempt {
            id: job.attempt_id(),
            org_id: job.org_id.clone(),
            endpoint_id: job.endpoint_id.clone(),
            event_id: job.payload.id.clone(),
            event_type: job.payload.event_type.clone(),
            status: AttemptStatus::Failed,
            response_code: None,
            response_body: None,
            duration_ms: 0,
            error: None,
            attempt: job.attempt,
            next_attempt_at: None,
            created_at: now,
            job: None,
            follow_up_pending: false,
        };
        if let EndpointStatus::Disabled { disabled_reason, .. } = &endpoint.status {
            attempt.error = Some(format!("endpoint disabled: {disabled_reason}"));
            attempt.job = Some(job.clone().for_replay());
            return (attempt, FollowUp::Nothing);
        }
        let policy = self.policies.for_urgency(endpoint.urgency);
        let result =
            send_event(&self.http, endpoint, &job.payload, endpoint.urgency, policy.timeout, RESPONSE_READ_CAP, now)
                .await;
        let mut retry_after = None;
        let retryable = match result {
            Ok(res) => {
                attempt.response_code = Some(res.status);
                let continuation =
                    (200..300).contains(&res.status).then(|| Continuation::from_answer(&res.body)).flatten();
                attempt.response_body = Some(capped_body(res.body));
                attempt.duration_ms = res.duration.as_millis() as u64;
                retry_after = res.retry_after;
                match res.status {
                    200..=299 => {
                        attempt.status = AttemptStatus::Delivered;
                        let next = match continuation {
                            Some(c) => FollowUp::Continue(c),
                            None if endpoint.failure != FailureState::default() => FollowUp::Recovered,
                            None => FollowUp::Nothing,
                        };
                        return (attempt, next);
                    }
                    410 => {
                        attempt.error = Some("endpoint answered 410 Gone".into());
                        attempt.job = Some(job.clone().for_replay());
                        return (attempt, FollowUp::Gone);
                    }
                    code => {
                        attempt.error = Some(format!("endpoint answered {code}"));
                        true
                    }
                }
            }
            Err(SendError::Refused(why)) => {
                attempt.error = Some(format!("refused: {why}"));
                false
            }
            Err(e) => {
                attempt.error = Some(e.to_string());
                true
            }
        };
        if !retryable {
            // Failed for good (a refused address): keep the job for replay.
            attempt.job = Some(job.clone().for_replay());
            return (attempt, FollowUp::Nothing);
        }
        let first = job.first_attempt_at.unwrap_or(now);
        let delay = policy.delay_after(job.attempt, retry_after);
        let next_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
        if policy.may_retry(job.attempt, first, next_at) {
            attempt.status = AttemptStatus::Retrying;
            attempt.next_attempt_at = Some(next_at);
            let next = DeliveryJob { attempt: job.attempt + 1, first_attempt_at: Some(first), ..job.clone() };
            (attempt, FollowUp::Retry { next, delay, next_at })
        } else {
            attempt.status = AttemptStatus::Exhausted;
            attempt.job = Some(job.clone().for_replay());
            (attempt, FollowUp::Exhausted)
        }
    }

    /// Do what follows from a logged attempt.
    async fn follow_up(
        &self,
        job: &DeliveryJob,
        endpoint: &Endpoint,
        attempt: &mut Attempt,
        next: FollowUp,
    ) -> Result<(), DeliverError> {
        let now = attempt.created_at;
        match next {
            FollowUp::Nothing => {}
            FollowUp::Retry { next, delay, next_at } => {
                self.schedule_retry(next, endpoint.urgency, delay, next_at, &attempt.id).await?;
            }
            FollowUp::Continue(c) => {
                if let Err(why) = self.continue_chain(job, endpoint.urgency, c, now, &attempt.id).await? {
                    tracing::warn!(endpoint = %job.endpoint_id, event = %job.payload.id, reason = %why, "continuation stopped");
                    attempt.error = Some(format!("continuation stopped: {why}"));
                }
                if endpoint.failure != FailureState::default() {
                    self.note_health(endpoint, Health::Recovered, now).await?;
                }
            }
            FollowUp::Recovered => self.note_health(endpoint, Health::Recovered, now).await?,
            FollowUp::Gone => {
                self.note_health(endpoint, Health::Gone("endpoint answered 410 Gone".into()), now).await?;
            }
            FollowUp::Exhausted => {
                self.ops
                    .emit(&OpsEvent {
                        kind: "attempt.exhausted".into(),
                        org_id: endpoint.org_id.clone(),
                        endpoint_id: endpoint.id.clone(),
                        event_id: Some(attempt.event_id.clone()),
                        reason: attempt.error.clone().unwrap_or_default(),
                        at: now,
                    })
                    .await?;
                self.note_health(endpoint, Health::Exhausted, now).await?;
            }
        }
        Ok(())
    }

    /// Schedule the next iteration of a continuation chain to the same endpoint: the same
    /// event type with the endpoint's new data, after its delay. The inner error says why
    /// the chain stops here (its bound, or a bad delay); it is logged on the attempt.
    async fn continue_chain(
        &self,
        job: &DeliveryJob,
        urgency: Urgency,
        next: Continuation,
        now: DateTime<Utc>,
        key: &AttemptId,
    ) -> Result<Result<(), String>, DeliverError> {
        let iteration = job.payload.iteration.unwrap_or(0) + 1;
        let max = self.policies.max_chain_iterations;
        if iteration > max {
            return Ok(Err(format!("the chain reached its limit of {max} iterations")));
        }
        let delay = match next.delay() {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        let chain_id = job.payload.chain_id.clone().unwrap_or_else(|| job.payload.id.to_string());
        // The same iteration always gets the same id: a repeated delivery of this job
        // schedules a copy that receivers drop by `webhook-id`.
        let id = EventId::derived(&[b"chain", chain_id.as_bytes(), &iteration.to_be_bytes()]);
        let payload = Payload {
            chain_id: Some(chain_id),
            iteration: Some(iteration),
            ..Payload::new(id, job.payload.event_type.clone(), now, next.data)
        };
        self.store
            .insert_event(&Event {
                id: payload.id.clone(),
                org_id: job.org_id.clone(),
                event_type: payload.event_type.clone(),
                data: payload.data.clone(),
                source: None,
                created_at: now,
            })
            .await?;
        let next_job = DeliveryJob::first(job.org_id.clone(), job.endpoint_id.clone(), payload);
        let due_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
        self.schedule_retry(next_job, urgency, delay, due_at, key).await?;
        Ok(Ok(()))
    }

    /// Put a job back on its queue after `delay`, or on a timer when the delay is longer
    /// than a queue can hold.
    async fn schedule_retry(
        &self,
        job: DeliveryJob,
        urgency: Urgency,
        delay: Duration,
        due_at: DateTime<Utc>,
        key: &AttemptId,
    ) -> Result<(), DeliverError> {
        if delay <= MAX_QUEUE_DELAY {
            let body = serde_json::to_string(&job).map_err(|e| DeliverError::Malformed(e.to_string()))?;
            self.queues.queue(urgency).send(&body, delay).await?;
        } else {
            let fire_at = due_at - chrono::Duration::from_std(TIMER_LEAD).unwrap_or_default();
            let payload = serde_json::to_string(&TimerPayload::Delivery { due_at, urgency, job })
                .map_err(|e| DeliverError::Malformed(e.to_string()))?;
            self.timer.fire_at(key.as_str(), fire_at, &payload).await?;
        }
        Ok(())
    }

    /// Record what this delivery says about its endpoint's health on the endpoint as it
    /// is stored now, changing only the failure fields (and the status, to disable it).
    /// Nothing is recorded when the endpoint was deleted or pointed elsewhere meanwhile:
    /// an answer from an abandoned URL says nothing about the new one.
    async fn note_health(&self, sent: &Endpoint, health: Health, now: DateTime<Utc>) -> Result<(), DeliverError> {
        let rule = self.policies.disable;
        let mut disabled_for = None;
        let updated = update_endpoint(&self.store, &sent.org_id, &sent.id, |ep| {
            disabled_for = None;
            if ep.url != sent.url {
                return false;
            }
            match &health {
                Health::Recovered if ep.failure == FailureState::default() => return false,
                Health::Recovered => ep.failure = FailureState::default(),
                Health::Gone(reason) => disabled_for = Some(reason.clone()),
                Health::Exhausted => {
                    ep.failure.consecutive_exhausted += 1;
                    let since = *ep.failure.failing_since.get_or_insert(now);
                    let long_enough = (now - since).to_std().unwrap_or_default() >= rule.after;
                    if long_enough && ep.failure.consecutive_exhausted >= rule.min_exhausted {
                        disabled_for = Some(format!(
                            "no successful delivery since {} and {} events exhausted in a row",
                            since.to_rfc3339(),
                            ep.failure.consecutive_exhausted
                        ));
                    }
                }
            }
            if let Some(reason) = &disabled_for {
                if !ep.is_active() {
                    // Disabled meanwhile (by hand or by another delivery): keep its reason.
                    disabled_for = None;
                    return matches!(health, Health::Exhausted);
                }
                ep.status = EndpointStatus::Disabled { disabled_reason: reason.clone(), disabled_at: now };
                ep.updated_at = now;
            }
            true
        })
        .await?;
        if let (Updated::Written(ep), Some(reason)) = (updated, disabled_for) {
            self.ops
                .emit(&OpsEvent {
                    kind: "endpoint.disabled".into(),
                    org_id: ep.org_id.clone(),
                    endpoint_id: ep.id.clone(),
                    event_id: None,
                    reason,
                    at: now,
                })
                .await?;
        }
        Ok(())
    }
}

/// What follows from an attempt once it is logged.
#[derive(Debug)]
enum FollowUp {
    /// Nothing.
    Nothing,
    /// The next attempt, after `delay`.
    Retry { next: DeliveryJob, delay: Duration, next_at: DateTime<Utc> },
    /// The endpoint asked for another iteration (and its failure streak, if any, ends).
    Continue(Continuation),
    /// Delivered after failures: the endpoint's failure streak ends.
    Recovered,
    /// 410: the endpoint is disabled.
    Gone,
    /// The policy gave up: the operator hears of it, and the streak grows.
    Exhausted,
}

/// What one delivery says about its endpoint.
#[derive(Debug)]
enum Health {
    /// Delivered: any failure streak ends.
    Recovered,
    /// Gone for good (410): disable it at once, for this reason.
    Gone(String),
    /// One more event exhausted: the streak grows, and may disable it.
    Exhausted,
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_shared::delivery::{EndpointSecret, Payload};
    use hookline_shared::local::{LocalDb, LocalOps, LocalStore, LocalTimer};
    use hookline_shared::memory::MemoryQueue;
    use hookline_shared::outbound::{NetworkPolicy, ReqwestSender, SystemLookup};
    use hookline_shared::ports::ManualClock;
    use hookline_shared::{EndpointId, EventId, OrgId};
    use std::sync::Arc;

    type TestDeliver = Deliver<FlakyStore, MemoryQueue, LocalTimer, ReqwestSender, LocalOps, ManualClock>;

    /// The local store, whose next attempt write fails when asked to.
    #[derive(Clone)]
    struct FlakyStore {
        inner: LocalStore,
        fail_next_insert: Arc<std::sync::atomic::AtomicBool>,
    }

    #[async_trait::async_trait]
    impl AttemptStore for FlakyStore {
        async fn insert_attempt(&self, a: &Attempt) -> Result<bool, StoreError> {
            if self.fail_next_insert.swap(false, std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Unavailable("injected".into()));
            }
            self.inner.insert_attempt(a).await
        }
        async fn put_attempt(&self, a: &Attempt) -> Result<(), StoreError> {
            self.inner.put_attempt(a).await
        }
        async fn get_attempt(&self, org: &OrgId, id: &AttemptId) -> Result<Option<Attempt>, StoreError> {
            self.inner.get_attempt(org, id).await
        }
        async fn list_attempts(
            &self,
            org: &OrgId,
            endpoint: &EndpointId,
            q: &hookline_shared::ports::AttemptQuery,
        ) -> Result<hookline_shared::ports::Page<Attempt>, StoreError> {
            self.inner.list_attempts(org, endpoint, q).await
        }
        async fn list_event_attempts(&self, org: &OrgId, event: &EventId) -> Result<Vec<Attempt>, StoreError> {
            self.inner.list_event_attempts(org, event).await
        }
    }

    #[async_trait::async_trait]
    impl EndpointStore for FlakyStore {
        async fn put_endpoint(&self, ep: &Endpoint) -> Result<(), StoreError> {
            self.inner.put_endpoint(ep).await
        }
        async fn put_endpoint_if(&self, ep: &Endpoint, version: u64) -> Result<bool, StoreError> {
            self.inner.put_endpoint_if(ep, version).await
        }
        async fn get_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
            self.inner.get_endpoint(org, id).await
        }
        async fn list_endpoints(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError> {
            self.inner.list_endpoints(org).await
        }
        async fn delete_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<bool, StoreError> {
            self.inner.delete_endpoint(org, id).await
        }
    }

    #[async_trait::async_trait]
    impl EventStore for FlakyStore {
        async fn insert_event(&self, e: &Event) -> Result<bool, StoreError> {
            self.inner.insert_event(e).await
        }
        async fn get_event(&self, org: &OrgId, id: &EventId) -> Result<Option<Event>, StoreError> {
            self.inner.get_event(org, id).await
        }
        async fn list_events(
            &self,
            org: &OrgId,
            q: &hookline_shared::ports::EventQuery,
        ) -> Result<hookline_shared::ports::Page<Event>, StoreError> {
            self.inner.list_events(org, q).await
        }
    }

    /// A loopback endpoint answering every request with `status` and `retry_after`.
    async fn endpoint_answering(status: u16, retry_after: Option<&'static str>) -> String {
        let app = axum::Router::new().fallback(move || async move {
            let mut res = axum::response::Response::new(axum::body::Body::from("{}"));
            *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
            if let Some(r) = retry_after {
                res.headers_mut().insert("retry-after", r.parse().unwrap());
            }
            res
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    struct Setup {
        deliver: TestDeliver,
        store: LocalStore,
        fail_next_insert: Arc<std::sync::atomic::AtomicBool>,
        queues: Deliveries<MemoryQueue>,
        timer: LocalTimer,
        ops: LocalOps,
        job: DeliveryJob,
        endpoint: Endpoint,
    }

    async fn setup(url: String, policy: RetryPolicy) -> Setup {
        let db = LocalDb::in_memory().unwrap();
        let store = LocalStore::new(db.clone());
        let timer = LocalTimer::new(db.clone());
        let ops = LocalOps::new(db);
        let queues = Deliveries { urgent: MemoryQueue::new(), regular: MemoryQueue::new() };
        let now = Utc::now();
        let endpoint = Endpoint {
            id: EndpointId::new(),
            org_id: OrgId::new(),
            url,
            events: vec!["*".into()],
            description: String::new(),
            secrets: vec![EndpointSecret::generate()],
            headers: Default::default(),
            urgency: Urgency::Regular,
            handshake: false,
            status: EndpointStatus::Active,
            failure: FailureState::default(),
            version: 0,
            created_at: now,
            updated_at: now,
        };
        store.put_endpoint(&endpoint).await.unwrap();
        let http = ReqwestSender::new(
            NetworkPolicy { allow_http: true, allow_loopback: true, allow: vec![] },
            Arc::new(SystemLookup),
        )
        .unwrap();
        let policies = Policies { regular: policy, ..Policies::default() };
        let fail_next_insert = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let deliver = Deliver::new(
            FlakyStore { inner: store.clone(), fail_next_insert: fail_next_insert.clone() },
            queues.clone(),
            timer.clone(),
            http,
            ops.clone(),
            ManualClock::at(now),
            policies,
        );
        let job = DeliveryJob::first(
            endpoint.org_id.clone(),
            endpoint.id.clone(),
            Payload::new(EventId::new(), "a.b".into(), now, serde_json::json!({})),
        );
        Setup { deliver, store, fail_next_insert, queues, timer, ops, job, endpoint }
    }

    fn policy(delays: &[u64], give_up: u64) -> RetryPolicy {
        RetryPolicy {
            delays: delays.iter().map(|d| Duration::from_secs(*d)).collect(),
            give_up_after: Duration::from_secs(give_up),
            timeout: Duration::from_secs(5),
            max_attempts: u32::MAX,
            jitter: 0.0,
        }
    }

    #[tokio::test]
    async fn short_retry_rides_the_queue_with_retry_after() {
        let s = setup(endpoint_answering(503, Some("30")).await, policy(&[5, 600], 86400)).await;
        let a = s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
        assert_eq!((a.status, a.response_code), (AttemptStatus::Retrying, Some(503)));
        let sent = s.queues.regular.take();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1, Duration::from_secs(30), "Retry-After raised the 5 s delay");
        let next: DeliveryJob = serde_json::from_str(&sent[0].0).unwrap();
        assert_eq!((next.attempt, next.first_attempt_at), (2, Some(a.created_at)));
        assert_eq!(s.timer.pending().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn long_retry_sets_a_timer_a_minute_early() {
        let s = setup(endpoint_answering(500, None).await, policy(&[3600], 86400)).await;
        let a = s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
        assert_eq!(a.status, AttemptStatus::Retrying);
        assert!(s.queues.regular.is_empty());
        assert_eq!(s.timer.pending().await.unwrap(), 1);
        assert_eq!(a.next_attempt_at, Some(a.created_at + chrono::Duration::hours(1)));
    }

    #[tokio::test]
    async fn exhausted_and_disabled_deliveries_keep_the_job_for_replay() {
        let mut s = setup(endpoint_answering(500, None).await, policy(&[3600], 60)).await;
        let a = s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
        assert_eq!(a.status, AttemptStatus::Exhausted);
        assert_eq!(a.job.as_ref().map(|j| j.attempt), Some(1));
        assert_eq!(s.ops.all().await.unwrap()[0].kind, "attempt.exhausted");
        let ep = s.store.get_endpoint(&s.endpoint.org_id, &s.endpoint.id).await.unwrap().unwrap();
        assert_eq!(ep.failure.consecutive_exhausted, 1);

        s.endpoint.status = EndpointStatus::Disabled { disabled_reason: "by hand".into(), disabled_at: Utc::now() };
        s.store.put_endpoint(&s.endpoint).await.unwrap();
        let next_event = Payload::new(EventId::new(), "a.b".into(), Utc::now(), serde_json::json!({}));
        let a = s.deliver.deliver(DeliveryJob { payload: next_event, ..s.job.clone() }).await.unwrap().unwrap();
        assert_eq!(
            (a.status, a.response_code),
            (AttemptStatus::Failed, None),
            "nothing is sent to a disabled endpoint"
        );
        assert!(a.job.is_some());
    }

    #[tokio::test]
    async fn a_deleted_endpoint_drops_the_job_and_malformed_jobs_fail() {
        let s = setup(endpoint_answering(200, None).await, policy(&[1], 60)).await;
        s.store.delete_endpoint(&s.endpoint.org_id, &s.endpoint.id).await.unwrap();
        assert!(s.deliver.deliver(s.job.clone()).await.unwrap().is_none());
        assert!(matches!(s.deliver.handle("nope").await, Err(DeliverError::Malformed(_))));
    }

    async fn attempts_of(s: &Setup) -> Vec<Attempt> {
        s.store.list_event_attempts(&s.job.org_id, &s.job.payload.id).await.unwrap()
    }

    #[tokio::test]
    async fn a_failed_attempt_log_does_not_fork_the_retry_chain() {
        let s = setup(endpoint_answering(500, None).await, policy(&[5], 86400)).await;
        s.fail_next_insert.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(s.deliver.deliver(s.job.clone()).await.is_err(), "the message stays on its queue");
        // The queue hands the job out again.
        let a = s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
        assert_eq!(a.status, AttemptStatus::Retrying);
        assert_eq!(s.queues.regular.take().len(), 1, "exactly one retry");
        assert_eq!(attempts_of(&s).await.len(), 1);
    }

    #[tokio::test]
    async fn a_repeated_job_does_not_fork_the_retry_chain() {
        for (delays, on_queue, on_timer) in [(&[5][..], 1, 0), (&[3600][..], 0, 1)] {
            let s = setup(endpoint_answering(500, None).await, policy(delays, 86400)).await;
            let first = s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
            // The queue delivers the same message twice (at-least-once).
            let again = s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
            assert_eq!(again, first, "the repeat finds the attempt already done");
            assert_eq!(s.queues.regular.take().len(), on_queue);
            assert_eq!(s.timer.pending().await.unwrap(), on_timer);
            let logged = attempts_of(&s).await;
            assert_eq!(logged.len(), 1);
            assert!(!logged[0].follow_up_pending);
        }
    }

    #[tokio::test]
    async fn a_repeat_finishes_the_follow_up_a_crash_left_undone() {
        let s = setup(endpoint_answering(500, None).await, policy(&[5], 86400)).await;
        // A run that logged its attempt and died before scheduling the retry.
        let first = s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
        s.queues.regular.take();
        s.store.put_attempt(&Attempt { follow_up_pending: true, ..first }).await.unwrap();
        s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
        assert_eq!(s.queues.regular.take().len(), 1, "the retry is scheduled by the repeat");
        let logged = attempts_of(&s).await;
        assert_eq!(logged.len(), 1);
        assert!(!logged[0].follow_up_pending);
        // Each attempt of the chain is a new log entry; a replay starts a new series.
        let retry = DeliveryJob { attempt: 2, ..s.job.clone() };
        let replay = DeliveryJob { replay: Some("r1".into()), ..s.job.clone() };
        assert_ne!(retry.attempt_id(), s.job.attempt_id());
        assert_ne!(replay.attempt_id(), s.job.attempt_id());
    }
}
