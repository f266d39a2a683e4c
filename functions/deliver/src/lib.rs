//! `deliver`: one signed POST per job, every attempt logged, retries by the endpoint's
//! policy, auto-disable for endpoints that keep failing.
//!
//! An endpoint's failure is a logged attempt, never a handler error: only
//! infrastructure failures (store, queue, timer) fail a message, so SQS retries just
//! those (partial batch response).

use chrono::{DateTime, Utc};
use hookline_shared::delivery::{
    capped_body, Attempt, AttemptStatus, Continuation, Deliveries, DeliveryJob, DisablePolicy, Endpoint,
    EndpointStatus, Payload, RetryPolicy, TimerPayload, Urgency, RESPONSE_READ_CAP,
};
use hookline_shared::dispatch::send_event;
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
    pub async fn deliver(&self, job: DeliveryJob) -> Result<Option<Attempt>, DeliverError> {
        let Some(endpoint) = self.store.get_endpoint(&job.org_id, &job.endpoint_id).await? else {
            tracing::info!(endpoint = %job.endpoint_id, event = %job.payload.id, "endpoint deleted; job dropped");
            return Ok(None);
        };
        let now = self.clock.now();
        let mut attempt = Attempt {
            id: AttemptId::new(),
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
        };
        if let EndpointStatus::Disabled { disabled_reason, .. } = &endpoint.status {
            attempt.error = Some(format!("endpoint disabled: {disabled_reason}"));
            attempt.job = Some(job);
            self.store.insert_attempt(&attempt).await?;
            return Ok(Some(attempt));
        }
        let policy = self.policies.for_urgency(endpoint.urgency);
        let result =
            send_event(&self.http, &endpoint, &job.payload, endpoint.urgency, policy.timeout, RESPONSE_READ_CAP, now)
                .await;
        let mut retry_after = None;
        let mut continuation = None;
        let retryable = match result {
            Ok(res) => {
                attempt.response_code = Some(res.status);
                if (200..300).contains(&res.status) {
                    continuation = Continuation::from_answer(&res.body);
                }
                attempt.response_body = Some(capped_body(res.body));
                attempt.duration_ms = res.duration.as_millis() as u64;
                retry_after = res.retry_after;
                match res.status {
                    200..=299 => {
                        attempt.status = AttemptStatus::Delivered;
                        false
                    }
                    410 => {
                        attempt.error = Some("endpoint answered 410 Gone".into());
                        self.disable(endpoint.clone(), "endpoint answered 410 Gone", now).await?;
                        false
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
        if attempt.status == AttemptStatus::Delivered {
            if let Some(next) = continuation {
                if let Err(why) = self.continue_chain(&job, endpoint.urgency, next, now, &attempt.id).await? {
                    tracing::warn!(endpoint = %job.endpoint_id, event = %job.payload.id, reason = %why, "continuation stopped");
                    attempt.error = Some(format!("continuation stopped: {why}"));
                }
            }
            if endpoint.failure != Default::default() {
                let mut ep = endpoint;
                ep.failure = Default::default();
                self.store.put_endpoint(&ep).await?;
            }
        } else if retryable {
            let first = job.first_attempt_at.unwrap_or(now);
            let delay = policy.delay_after(job.attempt, retry_after);
            let next_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            if policy.may_retry(job.attempt, first, next_at) {
                attempt.status = AttemptStatus::Retrying;
                attempt.next_attempt_at = Some(next_at);
                let next = DeliveryJob { attempt: job.attempt + 1, first_attempt_at: Some(first), ..job };
                self.schedule_retry(next, endpoint.urgency, delay, next_at, &attempt.id).await?;
            } else {
                attempt.status = AttemptStatus::Exhausted;
                attempt.job = Some(DeliveryJob { attempt: 1, first_attempt_at: None, ..job });
                self.exhausted(endpoint, &attempt, now).await?;
            }
        } else {
            // Failed for good (410, refused address): keep the job for replay.
            attempt.job = Some(DeliveryJob { attempt: 1, first_attempt_at: None, ..job });
        }
        self.store.insert_attempt(&attempt).await?;
        Ok(Some(attempt))
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
        let next_job = DeliveryJob {
            org_id: job.org_id.clone(),
            endpoint_id: job.endpoint_id.clone(),
            attempt: 1,
            first_attempt_at: None,
            payload,
        };
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

    async fn exhausted(
        &self,
        mut endpoint: Endpoint,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), DeliverError> {
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
        endpoint.failure.consecutive_exhausted += 1;
        let since = *endpoint.failure.failing_since.get_or_insert(now);
        let rule = self.policies.disable;
        let long_enough = (now - since).to_std().unwrap_or_default() >= rule.after;
        if long_enough && endpoint.failure.consecutive_exhausted >= rule.min_exhausted {
            let reason = format!(
                "no successful delivery since {} and {} events exhausted in a row",
                since.to_rfc3339(),
                endpoint.failure.consecutive_exhausted
            );
            self.disable(endpoint, &reason, now).await
        } else {
            self.store.put_endpoint(&endpoint).await?;
            Ok(())
        }
    }

    async fn disable(&self, mut endpoint: Endpoint, reason: &str, now: DateTime<Utc>) -> Result<(), DeliverError> {
        endpoint.status = EndpointStatus::Disabled { disabled_reason: reason.to_owned(), disabled_at: now };
        endpoint.updated_at = now;
        self.store.put_endpoint(&endpoint).await?;
        self.ops
            .emit(&OpsEvent {
                kind: "endpoint.disabled".into(),
                org_id: endpoint.org_id.clone(),
                endpoint_id: endpoint.id.clone(),
                event_id: None,
                reason: reason.to_owned(),
                at: now,
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_shared::delivery::{EndpointSecret, FailureState, Payload};
    use hookline_shared::local::{LocalDb, LocalOps, LocalStore, LocalTimer};
    use hookline_shared::memory::MemoryQueue;
    use hookline_shared::outbound::{NetworkPolicy, ReqwestSender, SystemLookup};
    use hookline_shared::ports::ManualClock;
    use hookline_shared::{EndpointId, EventId, OrgId};
    use std::sync::Arc;

    type TestDeliver = Deliver<LocalStore, MemoryQueue, LocalTimer, ReqwestSender, LocalOps, ManualClock>;

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
        let deliver = Deliver::new(
            store.clone(),
            queues.clone(),
            timer.clone(),
            http,
            ops.clone(),
            ManualClock::at(now),
            policies,
        );
        let job = DeliveryJob {
            org_id: endpoint.org_id.clone(),
            endpoint_id: endpoint.id.clone(),
            attempt: 1,
            first_attempt_at: None,
            payload: Payload::new(EventId::new(), "a.b".into(), now, serde_json::json!({})),
        };
        Setup { deliver, store, queues, timer, ops, job, endpoint }
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
        let a = s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
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
}
