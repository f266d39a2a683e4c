//! The deliver handler on the local store: retries on the queue or a timer, exhaustion,
//! disabled endpoints, and no second retry chain from a repeated job.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use chrono::Utc;
use hookline_deliver::{Deliver, DeliverError, Policies};
use hookline_shared::delivery::Payload;
use hookline_shared::delivery::{
    Attempt, AttemptStatus, Deliveries, DeliveryJob, Endpoint, EndpointStatus, ListenLease, RetryPolicy,
};
use hookline_shared::local::{LocalDb, LocalOps, LocalStore, LocalTimer};
use hookline_shared::memory::MemoryQueue;
use hookline_shared::outbound::{NetworkPolicy, ReqwestSender, SystemLookup};
use hookline_shared::ports::ManualClock;
use hookline_shared::ports::{AttemptStore, EndpointStore, EventStore, SlotStore};
use hookline_shared::{AttemptId, Event, StoreError};
use hookline_shared::{EndpointId, EventId, OrgId};
use std::sync::Arc;
use std::time::Duration;

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
    async fn get_attempt(&self, org: &OrgId, event: &EventId, id: &AttemptId) -> Result<Option<Attempt>, StoreError> {
        self.inner.get_attempt(org, event, id).await
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
impl SlotStore for FlakyStore {
    async fn claim_slot(
        &self,
        endpoint: &EndpointId,
        interval: Duration,
        now: chrono::DateTime<Utc>,
    ) -> Result<chrono::DateTime<Utc>, StoreError> {
        self.inner.claim_slot(endpoint, interval, now).await
    }
}

#[async_trait::async_trait]
impl EndpointStore for FlakyStore {
    async fn create_endpoint(&self, ep: &Endpoint, limit: Option<usize>) -> Result<bool, StoreError> {
        self.inner.create_endpoint(ep, limit).await
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

#[async_trait::async_trait]
impl hookline_shared::ports::LaneStore for FlakyStore {
    async fn join_lane(&self, job: &DeliveryJob) -> Result<bool, StoreError> {
        self.inner.join_lane(job).await
    }
    async fn leave_lane(&self, job: &DeliveryJob) -> Result<Option<DeliveryJob>, StoreError> {
        self.inner.leave_lane(job).await
    }
    async fn next_in_stream(
        &self,
        org: &OrgId,
        key: &hookline_shared::delivery::OrderingKey,
    ) -> Result<u128, StoreError> {
        self.inner.next_in_stream(org, key).await
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
    let endpoint = Endpoint::new(OrgId::new(), url, vec!["*".into()], now);
    store.create_endpoint(&endpoint, None).await.unwrap();
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
        None,
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
    let s = setup(endpoint_answering(500, None).await, policy(&[3600], 60)).await;
    let a = s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
    assert_eq!(a.status, AttemptStatus::Exhausted);
    assert_eq!(a.job.as_ref().map(|j| j.attempt), Some(1));
    assert_eq!(s.ops.all().await.unwrap()[0].kind, "attempt.exhausted");
    let mut ep = s.store.get_endpoint(&s.endpoint.org_id, &s.endpoint.id).await.unwrap().unwrap();
    assert_eq!(ep.failure.consecutive_exhausted, 1);

    ep.status = EndpointStatus::Disabled { disabled_reason: "by hand".into(), disabled_at: Utc::now() };
    assert!(s.store.put_endpoint_if(&ep, ep.version).await.unwrap());
    let next_event = Payload::new(EventId::new(), "a.b".into(), Utc::now(), serde_json::json!({}));
    let a = s.deliver.deliver(DeliveryJob { payload: next_event, ..s.job.clone() }).await.unwrap().unwrap();
    assert_eq!((a.status, a.response_code), (AttemptStatus::Failed, None), "nothing is sent to a disabled endpoint");
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

/// A paused endpoint's job is held, logged as `held` with a copy of the job back on its
/// queue. Once the endpoint resumes, whichever copy comes first (the hold's own, or the
/// resume's) sends it; the other finds it logged and sends nothing.
#[tokio::test]
async fn a_held_job_goes_out_once_whichever_copy_comes_first() {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let s = setup(url, policy(&[1], 60)).await;

    let paused =
        Endpoint { status: EndpointStatus::Paused { paused_at: Utc::now() }, version: 1, ..s.endpoint.clone() };
    assert!(s.store.put_endpoint_if(&paused, 0).await.unwrap());
    let held = s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
    assert_eq!((held.status, held.response_code), (AttemptStatus::Held, None));
    let copies = s.queues.regular.take();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].1, hookline_shared::delivery::MAX_QUEUE_DELAY, "the copy looks again later");
    let copy: DeliveryJob = serde_json::from_str(&copies[0].0).unwrap();
    assert!(copy.held);
    // Still paused when the copy comes back: held again, one entry in the log.
    s.deliver.deliver(copy.clone()).await.unwrap();
    assert_eq!(attempts_of(&s).await.len(), 1);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing sent while paused");

    let active = Endpoint { status: EndpointStatus::Active, version: 2, ..paused };
    assert!(s.store.put_endpoint_if(&active, 1).await.unwrap());
    let sent = s.deliver.deliver(copy.clone()).await.unwrap().unwrap();
    assert_eq!((sent.status, sent.id.clone()), (AttemptStatus::Delivered, held.id.clone()), "it replaces the entry");
    let again = s.deliver.deliver(copy).await.unwrap().unwrap();
    assert_eq!(again.status, AttemptStatus::Delivered);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1, "sent once");
    assert_eq!(attempts_of(&s).await.len(), 1);
}

/// A listen session's job is kept `pending` with the job, for its client to pull, and
/// nothing is sent from here; a repeat keeps the one entry. A session whose client
/// stopped polling has expired: its jobs are dropped, nothing logged.
#[tokio::test]
async fn a_listen_sessions_job_waits_for_its_client_and_an_expired_one_is_dropped() {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let s = setup(url.clone(), policy(&[1], 60)).await;
    let now = s.job.payload.created_at;

    let session = Endpoint { listen: Some(ListenLease::from(now)), version: 1, ..s.endpoint.clone() };
    assert!(s.store.put_endpoint_if(&session, 0).await.unwrap());
    let kept = s.deliver.deliver(s.job.clone()).await.unwrap().unwrap();
    assert_eq!((kept.status, kept.response_code), (AttemptStatus::Pending, None));
    assert_eq!(kept.job.as_ref().map(|j| j.payload.id.clone()), Some(s.job.payload.id.clone()));
    s.deliver.deliver(s.job.clone()).await.unwrap();
    assert_eq!(attempts_of(&s).await.len(), 1, "a repeat keeps the one entry");
    assert!(s.queues.regular.take().is_empty() && s.queues.urgent.take().is_empty(), "no retry, no copy");

    let mut gone = Endpoint::new(s.endpoint.org_id.clone(), url, vec!["*".into()], now);
    gone.listen = Some(ListenLease::from(now - chrono::Duration::minutes(10)));
    s.store.create_endpoint(&gone, None).await.unwrap();
    let job = DeliveryJob::first(gone.org_id.clone(), gone.id.clone(), None, s.job.payload.clone());
    assert!(s.deliver.deliver(job).await.unwrap().is_none(), "dropped");
    let query = hookline_shared::ports::AttemptQuery { limit: 10, ..Default::default() };
    assert!(s.store.list_attempts(&gone.org_id, &gone.id, &query).await.unwrap().items.is_empty());
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing sent from deliver");
}
