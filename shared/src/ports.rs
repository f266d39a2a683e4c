//! Ports: the narrow traits the handlers see the world through. The `local` and `aws`
//! adapters implement them; the conformance suite holds both to the same behaviour.

use crate::api_key::ApiKeyRecord;
use crate::api_key::KeyHash;
use crate::delivery::{Attempt, AttemptStatus, DeliveryJob, Endpoint, OrderingKey};
use crate::domain::{Event, Org, Source};
use crate::error::{MessagingError, StoreError};
use crate::ids::{ApiKeyId, AttemptId, EndpointId, EventId, OrgId, ScheduleId, SourceId};
use crate::schedule::Job;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Organisations and their API keys (`subscriptions` table). Keys are kept as hashes.
#[async_trait]
pub trait OrgStore: Send + Sync {
    /// Store a new org with its first API key.
    async fn create_org(&self, org: &Org, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// An org by id.
    async fn get_org(&self, id: &OrgId) -> Result<Option<Org>, StoreError>;
    /// Replace an org's record while it exists; false when it does not.
    async fn update_org(&self, org: &Org) -> Result<bool, StoreError>;
    /// The org an API key belongs to, and the key's record.
    async fn org_for_key(&self, key: &KeyHash) -> Result<Option<(Org, ApiKeyRecord)>, StoreError>;
    /// Add a new key to its org.
    async fn add_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Replace a key's record (the last day it was used) only while the key exists: a
    /// key revoked meanwhile stays revoked. False when it is gone.
    async fn update_api_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError>;
    /// An org's keys, oldest first.
    async fn list_api_keys(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revoke a key of `org`; its record, or `None` when it has no such key.
    async fn delete_api_key(&self, org: &OrgId, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError>;
}

/// Inbound sources (`subscriptions` table).
#[async_trait]
pub trait SourceStore: Send + Sync {
    /// Create or replace a source.
    async fn put_source(&self, source: &Source) -> Result<(), StoreError>;
    /// A source by id, whatever its org (ingest knows only the id).
    async fn get_source(&self, id: &SourceId) -> Result<Option<Source>, StoreError>;
    /// All sources of an org, oldest first.
    async fn list_sources(&self, org: &OrgId) -> Result<Vec<Source>, StoreError>;
    /// Delete a source of `org`; false when it does not exist there.
    async fn delete_source(&self, org: &OrgId, id: &SourceId) -> Result<bool, StoreError>;
    /// Record what fetch-back learned of the source's key, changing nothing else (a
    /// source deleted meanwhile is left deleted).
    async fn set_fetch_back_state(
        &self,
        id: &SourceId,
        state: &crate::domain::FetchBackState,
    ) -> Result<(), StoreError>;
}

/// A page of a newest-first listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Build a page from up to `limit + 1` items fetched newest first: the extra item
    /// only says there is more, and the cursor points after the last item kept.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> (i64, &str)) -> Self {
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|i| {
                let (ms, id) = key(i);
                cursor::encode(ms, id)
            })
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

/// What to list of an org's events.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// At most this many (1–100).
    pub limit: usize,
    /// Continue after this cursor.
    pub cursor: Option<String>,
    /// Only events of this exact type.
    pub event_type: Option<String>,
    /// Oldest first, from this time on (a follower's listing); newest first when `None`.
    /// The cursor then continues forward.
    pub from: Option<DateTime<Utc>>,
}

/// Events (`logs` table).
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Record an event unless one with its id exists; true when it was new.
    async fn insert_event(&self, event: &Event) -> Result<bool, StoreError>;
    /// An event of `org` by id.
    async fn get_event(&self, org: &OrgId, id: &EventId) -> Result<Option<Event>, StoreError>;
    /// An org's events, newest first (or oldest first from [`EventQuery::from`]).
    async fn list_events(&self, org: &OrgId, query: &EventQuery) -> Result<Page<Event>, StoreError>;
}

/// Webhook endpoints (`subscriptions` table).
#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Create a new endpoint unless its org already holds `limit` (`None`: no limit);
    /// false then. The check and the write are one atomic step, so concurrent creates
    /// never pass the limit.
    async fn create_endpoint(&self, endpoint: &Endpoint, limit: Option<usize>) -> Result<bool, StoreError>;
    /// Replace an endpoint only while it exists with `version` stored; false when it
    /// changed or is gone (never creates one). Use [`crate::endpoint_update::update_endpoint`].
    async fn put_endpoint_if(&self, endpoint: &Endpoint, version: u64) -> Result<bool, StoreError>;
    /// An endpoint of `org`.
    async fn get_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<Option<Endpoint>, StoreError>;
    /// All endpoints of an org, oldest first.
    async fn list_endpoints(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError>;
    /// Delete an endpoint of `org`; false when it does not exist there.
    async fn delete_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<bool, StoreError>;
}

/// What to list of an endpoint's attempts.
#[derive(Debug, Clone, Default)]
pub struct AttemptQuery {
    /// At most this many (1–100).
    pub limit: usize,
    /// Continue after this cursor.
    pub cursor: Option<String>,
    /// Only attempts with one of these statuses (all when empty).
    pub statuses: Vec<AttemptStatus>,
    /// Only attempts made at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// Delivery attempts (`logs` table).
#[async_trait]
pub trait AttemptStore: Send + Sync {
    /// Log an attempt unless one with its id is logged; true when it was new.
    async fn insert_attempt(&self, attempt: &Attempt) -> Result<bool, StoreError>;
    /// Log an attempt, replacing one with its id.
    async fn put_attempt(&self, attempt: &Attempt) -> Result<(), StoreError>;
    /// An attempt of `org` at `event` by id (the event is part of where it is kept).
    async fn get_attempt(&self, org: &OrgId, event: &EventId, id: &AttemptId) -> Result<Option<Attempt>, StoreError>;
    /// An endpoint's attempts, newest first.
    async fn list_attempts(
        &self,
        org: &OrgId,
        endpoint: &EndpointId,
        query: &AttemptQuery,
    ) -> Result<Page<Attempt>, StoreError>;
    /// Every attempt of one event, oldest first.
    async fn list_event_attempts(&self, org: &OrgId, event: &EventId) -> Result<Vec<Attempt>, StoreError>;
}

/// What to list of an org's scheduled jobs.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    /// At most this many (1–100).
    pub limit: usize,
    /// Continue after this cursor.
    pub cursor: Option<String>,
    /// Only jobs with this key.
    pub key: Option<String>,
    /// Only the recurring jobs of this name.
    pub recurring: Option<String>,
}

/// Scheduled jobs (`subscriptions` table).
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Create a job, or replace it whatever its stored version.
    async fn put_job(&self, job: &Job) -> Result<(), StoreError>;
    /// Replace a job only while its stored version is still `version`; false when it
    /// changed or is gone (a concurrent update or cancel won).
    async fn put_job_if(&self, job: &Job, version: u64) -> Result<bool, StoreError>;
    /// A job of `org`.
    async fn get_job(&self, org: &OrgId, id: &ScheduleId) -> Result<Option<Job>, StoreError>;
    /// An org's jobs, newest first.
    async fn list_jobs(&self, org: &OrgId, query: &JobQuery) -> Result<Page<Job>, StoreError>;
    /// Delete a job of `org`; false when it does not exist there.
    async fn delete_job(&self, org: &OrgId, id: &ScheduleId) -> Result<bool, StoreError>;
}

/// The send slots of rate-limited endpoints, shared by every deliver worker so a limit
/// holds across them (`logs` table). Only an endpoint with a limit claims slots.
#[async_trait]
pub trait SlotStore: Send + Sync {
    /// Claim `endpoint`'s next send slot by [`crate::delivery::rate::claim`], slots
    /// `interval` apart: when its delivery may go. Concurrent claims get distinct slots.
    async fn claim_slot(
        &self,
        endpoint: &EndpointId,
        interval: Duration,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError>;
}

/// Ordered delivery's lanes (see [`crate::delivery::LanePlace`]): the jobs of one
/// ordering key to one endpoint, sent one at a time (`logs` table).
#[async_trait]
pub trait LaneStore: Send + Sync {
    /// Put `job` in its lane; true when it stands first there, so is to be sent now. A
    /// job outside any lane always is.
    async fn join_lane(&self, job: &DeliveryJob) -> Result<bool, StoreError>;
    /// Take `job`, done, out of its lane; the job that stands first after it, to send next.
    async fn leave_lane(&self, job: &DeliveryJob) -> Result<Option<DeliveryJob>, StoreError>;
    /// The next place in `org`'s stream of events keyed `key`: a number greater than any
    /// it gave before (an atomic counter).
    async fn next_in_stream(&self, org: &OrgId, key: &OrderingKey) -> Result<u128, StoreError>;
}

/// Rejection diagnostics (see [`crate::rejection`]): each source's most recent refused
/// requests, at most `rejection::KEPT`, written at most `rejection::PER_SECOND` a second.
#[async_trait]
pub trait RejectionStore: Send + Sync {
    /// Keep `record` in its source's ring, over the oldest there, unless this second's
    /// writes for the source are used up; whether it was kept.
    async fn record_rejection(&self, record: &crate::rejection::RejectedRequest) -> Result<bool, StoreError>;
    /// The source's records that have not expired at `now`, newest first.
    async fn list_rejections(
        &self,
        source: &SourceId,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::rejection::RejectedRequest>, StoreError>;
}

/// Every store piece at once, for handlers that need several.
pub trait Store:
    OrgStore
    + SourceStore
    + EventStore
    + EndpointStore
    + AttemptStore
    + ScheduleStore
    + SlotStore
    + LaneStore
    + RejectionStore
    + Clone
    + 'static
{
}
impl<T> Store for T where
    T: OrgStore
        + SourceStore
        + EventStore
        + EndpointStore
        + AttemptStore
        + ScheduleStore
        + SlotStore
        + LaneStore
        + RejectionStore
        + Clone
        + 'static
{
}

/// A queue's producer side: what handlers use.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Send one message, visible after `delay` (at most 15 minutes).
    async fn send(&self, body: &str, delay: Duration) -> Result<(), MessagingError>;

    /// Send several messages with no delay; backends batch them (SQS: 10 a call).
    async fn send_batch(&self, bodies: &[String]) -> Result<(), MessagingError> {
        for b in bodies {
            self.send(b, Duration::ZERO).await?;
        }
        Ok(())
    }

    /// Send one message of the ordered stream `group` on a FIFO queue, which hands out a
    /// group's messages one at a time, in the order they were sent, the next only once
    /// the one before is acknowledged. `dedup` names the message: SQS drops a second send
    /// of the same name within five minutes. A queue without groups sends it plainly.
    async fn send_in_order(&self, body: &str, group: &str, dedup: &str) -> Result<(), MessagingError> {
        let _ = (group, dedup);
        self.send(body, Duration::ZERO).await
    }
}

#[async_trait]
impl<T: Queue + ?Sized> Queue for std::sync::Arc<T> {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), MessagingError> {
        (**self).send(body, delay).await
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<(), MessagingError> {
        (**self).send_batch(bodies).await
    }

    async fn send_in_order(&self, body: &str, group: &str, dedup: &str) -> Result<(), MessagingError> {
        (**self).send_in_order(body, group, dedup).await
    }
}

pub use crate::timer_payload::TimerPayload;

/// A durable timer: hands `payload` to the `schedule` handler when due. One-shot timers
/// carry waits longer than a queue delay can hold; a scheduled job's timer follows the
/// job's `at`, `cron` or `rate` (Scheduler evaluates it in AWS; `hookline dev` moves its
/// row to the next run after each one).
#[async_trait]
pub trait Timer: Send + Sync {
    /// Arrange for `payload` to fire at `at`; `key` names the timer (idempotent per key).
    async fn fire_at(&self, key: &str, at: DateTime<Utc>, payload: &str) -> Result<(), MessagingError>;
    /// Create or replace the timer of a scheduled job (named by its id).
    async fn arm(&self, job: &Job, payload: &str) -> Result<(), MessagingError>;
    /// Remove a scheduled job's timer; a timer that is already gone is not an error.
    async fn disarm(&self, id: &ScheduleId) -> Result<(), MessagingError>;
    /// After a run: point the job's timer at its next run. Scheduler recurs by itself,
    /// so only the local timer table needs this.
    async fn rearm(&self, job: &Job, next: DateTime<Utc>, payload: &str) -> Result<(), MessagingError>;
}

#[async_trait]
impl<T: Timer + ?Sized> Timer for std::sync::Arc<T> {
    async fn fire_at(&self, key: &str, at: DateTime<Utc>, payload: &str) -> Result<(), MessagingError> {
        (**self).fire_at(key, at, payload).await
    }

    async fn arm(&self, job: &Job, payload: &str) -> Result<(), MessagingError> {
        (**self).arm(job, payload).await
    }

    async fn disarm(&self, id: &ScheduleId) -> Result<(), MessagingError> {
        (**self).disarm(id).await
    }

    async fn rearm(&self, job: &Job, next: DateTime<Utc>, payload: &str) -> Result<(), MessagingError> {
        (**self).rearm(job, next, payload).await
    }
}

/// An operational event for the operator: `endpoint.disabled`, `attempt.exhausted`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OpsEvent {
    /// `endpoint.disabled` or `attempt.exhausted`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The org.
    pub org_id: OrgId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// The event, for `attempt.exhausted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Where operational events go: the operator's EventBridge bus in AWS, the log locally.
#[async_trait]
pub trait OpsSink: Send + Sync {
    /// Emit one event.
    async fn emit(&self, event: &OpsEvent) -> Result<(), MessagingError>;
}

/// A message leased from a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The message id, stable across receives.
    pub message_id: String,
    /// Pass to [`QueueConsumer::ack`]; valid for this lease only.
    pub receipt: String,
    /// The body as sent.
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// A queue's consumer side: used by the runtime (`hookline dev`'s pollers, tests),
/// never by handlers. In Lambda the event source mapping plays this part.
#[async_trait]
pub trait QueueConsumer: Send + Sync {
    /// Lease up to `max` visible messages for `visibility`.
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, MessagingError>;
    /// Delete a processed message.
    async fn ack(&self, receipt: &str) -> Result<(), MessagingError>;

    /// Delete several processed messages (backends may do it in one call).
    async fn ack_many(&self, receipts: &[&str]) -> Result<(), MessagingError> {
        for r in receipts {
            self.ack(r).await?;
        }
        Ok(())
    }
}

/// The time, as the handlers see it.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that tests set by hand.
#[derive(Debug, Clone)]
pub struct ManualClock(std::sync::Arc<std::sync::Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock showing `t`.
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(t)))
    }

    /// Move the clock.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The opaque cursor of event listings: the last item's time and id.
pub mod cursor {
    use base64::Engine as _;

    /// Encode (created_at in ms, id).
    pub fn encode(ms: i64, id: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{ms}:{id}"))
    }

    /// Decode a cursor; `None` when it was not made by [`encode`].
    pub fn decode(c: &str) -> Option<(i64, String)> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (ms, id) = s.split_once(':')?;
        Some((ms.parse().ok()?, id.to_owned()))
    }
}
