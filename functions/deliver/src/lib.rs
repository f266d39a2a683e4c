//! `deliver`: one signed POST per job, every attempt logged, retries by the endpoint's
//! policy, auto-disable for endpoints that keep failing.
//!
//! An endpoint's failure is a logged attempt, never a handler error: only
//! infrastructure failures (store, queue, timer) fail a message, so SQS retries just
//! those (partial batch response).

use chrono::{DateTime, Utc};
use hookline_shared::batch::{ConsumeError, Message, MessageHandler};
use hookline_shared::delivery::{
    capped_body, send_event, Attempt, AttemptStatus, Continuation, Deliveries, DeliveryJob, DisablePolicy, Endpoint,
    EndpointStatus, FailureState, Outcome, Payload, RetryPolicy, Urgency, MAX_QUEUE_DELAY, RESPONSE_READ_CAP,
    TIMER_LEAD,
};
use hookline_shared::outbound::HttpSender;
use hookline_shared::ports::{
    AttemptStore, Clock, EndpointStore, EventStore, LaneStore, OpsEvent, OpsSink, Queue, SlotStore, Timer, TimerPayload,
};
use hookline_shared::retention::same_retention;
use hookline_shared::{AttemptId, Event, EventId};
use std::time::Duration;

mod endpoints;
mod gate;
mod health;
mod hold;
mod lane;
mod listen;
mod rate;

use endpoints::EndpointCache;
use gate::{deferral_delay, EndpointGate};
use health::Health;

/// Why a job could not be processed (it stays on the queue).
pub type DeliverError = ConsumeError;

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
    /// Requests one endpoint may have open at once in one process; its jobs past that
    /// are put back on their queue for a moment, so a slow endpoint cannot hold every
    /// slot of the handler. Unbounded by default: a Lambda handles one small batch at
    /// a time, and the template bounds `deliver`'s concurrency.
    pub max_open_per_endpoint: usize,
    /// How long an endpoint read is reused (zero, the default: read per delivery).
    pub endpoint_cache_ttl: Duration,
}

impl Default for Policies {
    fn default() -> Self {
        Self {
            regular: RetryPolicy::for_urgency(Urgency::Regular),
            urgent: RetryPolicy::for_urgency(Urgency::Urgent),
            disable: DisablePolicy::default(),
            max_chain_iterations: 10_000,
            max_open_per_endpoint: usize::MAX,
            endpoint_cache_ttl: Duration::ZERO,
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
    gate: EndpointGate,
    endpoints: EndpointCache,
}

impl<S, Q, T, H, O, C> MessageHandler for Deliver<S, Q, T, H, O, C>
where
    S: EndpointStore + AttemptStore + EventStore + SlotStore + LaneStore,
    Q: Queue,
    T: Timer,
    H: HttpSender,
    O: OpsSink,
    C: Clock,
{
    async fn handle_message(&self, message: Message<'_>) -> Result<(), ConsumeError> {
        self.handle(message.body).await.map(|_| ())
    }
}

impl<S, Q, T, H, O, C> Deliver<S, Q, T, H, O, C>
where
    S: EndpointStore + AttemptStore + EventStore + SlotStore + LaneStore,
    Q: Queue,
    T: Timer,
    H: HttpSender,
    O: OpsSink,
    C: Clock,
{
    /// A handler on these ports with these policies.
    pub fn new(store: S, queues: Deliveries<Q>, timer: T, http: H, ops: O, clock: C, policies: Policies) -> Self {
        let gate = EndpointGate::new(policies.max_open_per_endpoint);
        let endpoints = EndpointCache::new(policies.endpoint_cache_ttl);
        Self { store, queues, timer, http, ops, clock, policies, gate, endpoints }
    }

    /// Process one job from a deliveries queue.
    pub async fn handle(&self, body: &str) -> Result<Option<Attempt>, DeliverError> {
        let job: DeliveryJob = serde_json::from_str(body).map_err(ConsumeError::malformed)?;
        self.deliver(job).await
    }

    /// Attempt one delivery; `None` when the endpoint no longer exists, or has as many
    /// requests open as it may, or its rate limit's next slot is a while off (the job is
    /// put back on its queue to wait). A paused endpoint's job is held: the `held` entry.
    ///
    /// The attempt is logged under an id derived from the job before anything follows
    /// from it (the retry, the next iteration, the endpoint's failure record), so a
    /// repeat of the job (a queue's redelivery, or a retry after a failure) finds it:
    /// logged and followed up, the repeat stops; logged but not followed up (a crash in
    /// between), the repeat's outcome replaces it and is followed up. No repeat starts a
    /// second retry chain.
    pub async fn deliver(&self, mut job: DeliveryJob) -> Result<Option<Attempt>, DeliverError> {
        let Some(mut endpoint) = self.endpoints.get(&self.store, &job.org_id, &job.endpoint_id).await? else {
            tracing::info!(endpoint = %job.endpoint_id, event = %job.payload.id, "endpoint deleted; job dropped");
            self.leave_lane(&job, Urgency::Regular).await?;
            return Ok(None);
        };
        if let Some(lease) = endpoint.listen {
            return self.keep_for_listener(&job, lease).await;
        }
        if endpoint.is_paused() {
            // A pause is read fresh: the jobs a resume sends must not wait out the cache.
            self.endpoints.forget(&job.org_id, &job.endpoint_id);
            match self.endpoints.get(&self.store, &job.org_id, &job.endpoint_id).await? {
                Some(fresh) if fresh.is_paused() => return self.hold(&job, fresh.urgency).await.map(Some),
                Some(fresh) => endpoint = fresh,
                None => return Ok(None),
            }
        }
        if job.held {
            if let Some(made) = self.made_since_held(&job).await? {
                tracing::info!(attempt = %made.id, "a held job already sent since; dropped");
                return Ok(Some(made));
            }
        }
        if let Some(limit) = endpoint.rate_limit {
            if !self.wait_for_slot(&mut job, limit, endpoint.urgency).await? {
                return Ok(None);
            }
        }
        let Some(pass) = self.gate.enter(&endpoint.id) else {
            self.defer(job, endpoint.urgency).await?;
            return Ok(None);
        };
        let (mut attempt, next) = self.attempt(&job, &endpoint).await;
        drop(pass);
        let done = !matches!(next, FollowUp::Retry { .. });
        attempt.follow_up_pending = !matches!(next, FollowUp::Nothing) || (done && job.lane.is_some());
        if !self.store.insert_attempt(&attempt).await? {
            match self.store.get_attempt(&attempt.org_id, &attempt.event_id, &attempt.id).await? {
                Some(logged) if !logged.follow_up_pending => {
                    tracing::info!(attempt = %attempt.id, "a repeat of a job already done; dropped");
                    return Ok(Some(logged));
                }
                _ => self.store.put_attempt(&attempt).await?,
            }
        }
        if attempt.follow_up_pending {
            self.follow_up(&job, &endpoint, &mut attempt, next).await?;
            if done {
                self.leave_lane(&job, endpoint.urgency).await?;
            }
            attempt.follow_up_pending = false;
            self.store.put_attempt(&attempt).await?;
        }
        Ok(Some(attempt))
    }

    /// Send the job (unless its endpoint is disabled) and say what follows from the answer.
    async fn attempt(&self, job: &DeliveryJob, endpoint: &Endpoint) -> (Attempt, FollowUp) {
        let now = self.clock.now();
        let mut attempt = Attempt::of_job(job, now);
        if let EndpointStatus::Disabled { disabled_reason, .. } = &endpoint.status {
            attempt.error = Some(format!("endpoint disabled: {disabled_reason}"));
            attempt.job = Some(job.clone().for_replay());
            return (attempt, FollowUp::Nothing);
        }
        let policy = endpoint.retry_policy(self.policies.for_urgency(endpoint.urgency));
        let how = job.send(endpoint.urgency, policy.timeout, RESPONSE_READ_CAP);
        let result = send_event(&self.http, endpoint, &job.payload, how, now).await;
        let outcome = endpoint.retry_rule().judge(&result);
        let (mut retry_after, mut continuation) = (None, None);
        match result {
            Ok(res) => {
                attempt.response_code = Some(res.status);
                attempt.duration_ms = res.duration.as_millis() as u64;
                retry_after = res.retry_after;
                match outcome {
                    Outcome::Delivered => continuation = Continuation::from_answer(&res.body),
                    Outcome::Gone => attempt.error = Some("endpoint answered 410 Gone".into()),
                    _ => attempt.error = Some(format!("endpoint answered {}", res.status)),
                }
                attempt.response_body = Some(capped_body(res.body));
            }
            Err(e) => attempt.error = Some(e.to_string()),
        }
        match outcome {
            Outcome::Delivered => {
                attempt.status = AttemptStatus::Delivered;
                let next = match continuation {
                    Some(c) => FollowUp::Continue(c),
                    None if endpoint.failure != FailureState::default() => FollowUp::Recovered,
                    None => FollowUp::Nothing,
                };
                (attempt, next)
            }
            Outcome::Gone => {
                attempt.job = Some(job.clone().for_replay());
                (attempt, FollowUp::Gone)
            }
            Outcome::Final => {
                // Failed for good (a refused address): keep the job for replay.
                attempt.job = Some(job.clone().for_replay());
                (attempt, FollowUp::Nothing)
            }
            Outcome::Retry => Self::retry_or_exhaust(job, attempt, &policy, retry_after, now),
        }
    }

    /// The next attempt by `policy`, or exhaustion when the policy gives up.
    fn retry_or_exhaust(
        job: &DeliveryJob,
        mut attempt: Attempt,
        policy: &RetryPolicy,
        retry_after: Option<Duration>,
        now: DateTime<Utc>,
    ) -> (Attempt, FollowUp) {
        let first = job.first_attempt_at.unwrap_or(now);
        let delay = policy.delay_after(job.attempt, retry_after);
        let next_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
        if policy.may_retry(job.attempt, first, next_at) {
            attempt.status = AttemptStatus::Retrying;
            attempt.next_attempt_at = Some(next_at);
            let next = DeliveryJob {
                attempt: job.attempt + 1,
                first_attempt_at: Some(first),
                deferred: 0,
                slot_at: None,
                held: false,
                ..job.clone()
            };
            (attempt, FollowUp::Retry { next: Box::new(next), delay, next_at })
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
                self.schedule_retry(*next, endpoint.urgency, delay, next_at, &attempt.id).await?;
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
        // Kept as long after it as the event that started the chain.
        let expires_at = same_retention(job.payload.created_at, job.expires_at, now);
        self.store
            .insert_event(&Event {
                id: payload.id.clone(),
                org_id: job.org_id.clone(),
                event_type: payload.event_type.clone(),
                data: payload.data.clone(),
                source: None,
                created_at: now,
                hops: job.hops,
                fetched_at: None,
                expires_at,
                ordering: None,
            })
            .await?;
        let first = DeliveryJob::first(job.org_id.clone(), job.endpoint_id.clone(), expires_at, payload);
        let next_job = DeliveryJob { hops: job.hops, ..first };
        let due_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
        self.schedule_retry(next_job, urgency, delay, due_at, key).await?;
        Ok(Ok(()))
    }

    /// Put a job back to wait for its endpoint to have fewer requests open; it waits
    /// longer each time, so a held endpoint's backlog costs the queue little.
    async fn defer(&self, mut job: DeliveryJob, urgency: Urgency) -> Result<(), DeliverError> {
        job.deferred += 1;
        let body = serde_json::to_string(&job).map_err(ConsumeError::malformed)?;
        self.queues.queue(urgency).send(&body, deferral_delay(job.deferred)).await?;
        Ok(())
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
            let body = serde_json::to_string(&job).map_err(ConsumeError::malformed)?;
            self.queues.queue(urgency).send(&body, delay).await?;
        } else {
            let fire_at = due_at - chrono::Duration::from_std(TIMER_LEAD).unwrap_or_default();
            let payload = serde_json::to_string(&TimerPayload::Delivery { due_at, urgency, job: Box::new(job) })
                .map_err(ConsumeError::malformed)?;
            self.timer.fire_at(key.as_str(), fire_at, &payload).await?;
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
    Retry { next: Box<DeliveryJob>, delay: Duration, next_at: DateTime<Utc> },
    /// The endpoint asked for another iteration (and its failure streak, if any, ends).
    Continue(Continuation),
    /// Delivered after failures: the endpoint's failure streak ends.
    Recovered,
    /// 410: the endpoint is disabled.
    Gone,
    /// The policy gave up: the operator hears of it, and the streak grows.
    Exhausted,
}
