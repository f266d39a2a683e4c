//! `schedule`: the timer's handler. When a timer fires (EventBridge Scheduler in AWS,
//! the timer table in `hookline dev`) it either puts a delayed delivery on its queue
//! with the residual delay (so a retry runs to the second), or runs a scheduled job:
//! reload the job, fire only if it still exists at the timer's version (a cancel or an
//! update always wins), publish its event into the pipeline, record the run.

use chrono::{DateTime, Utc};
use hookline_shared::batch::ConsumeError;
use hookline_shared::delivery::{Deliveries, TIMER_LEAD};
use hookline_shared::ports::TimerPayload;
use hookline_shared::ports::{Clock, Queue, ScheduleStore, Timer};
use hookline_shared::schedule::{Job, JobTimers};
use hookline_shared::{EventId, InboxMessage, OrgId, PublishRequest, ScheduleId};
use std::time::Duration;

/// Why a timer's payload could not be handled (the timer should fire again).
pub type ScheduleError = ConsumeError;

/// What a fired timer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// A delivery went back on its queue with this delay.
    Requeued(Duration),
    /// A job ran and published this event.
    Ran(EventId),
    /// Nothing: the job was cancelled, changed, finished, or this run was already done.
    Skipped(&'static str),
}

/// The schedule handler.
#[derive(Debug, Clone)]
pub struct Schedule<S, Q, T, C> {
    store: S,
    inbox: Q,
    deliveries: Deliveries<Q>,
    timer: T,
    clock: C,
}

impl<S: ScheduleStore, Q: Queue, T: Timer, C: Clock> Schedule<S, Q, T, C> {
    /// A handler publishing jobs to `inbox`, re-enqueuing deliveries onto `deliveries`.
    pub fn new(store: S, inbox: Q, deliveries: Deliveries<Q>, timer: T, clock: C) -> Self {
        Self { store, inbox, deliveries, timer, clock }
    }

    /// Handle one fired timer. `due` is when it was due, for payloads that do not say
    /// (the local timer table knows; in AWS the payload carries Scheduler's time).
    pub async fn handle(&self, payload: &str, due: DateTime<Utc>) -> Result<Fired, ScheduleError> {
        let p: TimerPayload = serde_json::from_str(payload).map_err(ConsumeError::malformed)?;
        match p {
            TimerPayload::Delivery { due_at, urgency, job } => {
                // The timer was set to fire its lead before the attempt is due, so no more
                // than the lead is left, whatever this function's clock says.
                let residual = (due_at - self.clock.now()).to_std().unwrap_or_default().min(TIMER_LEAD);
                let body = serde_json::to_string(&job).map_err(ConsumeError::malformed)?;
                self.deliveries.queue(urgency).send(&body, residual).await?;
                Ok(Fired::Requeued(residual))
            }
            TimerPayload::Job { org_id, schedule_id, version, scheduled_time } => {
                let due = scheduled_time.and_then(|t| t.parse::<DateTime<Utc>>().ok()).unwrap_or(due);
                self.run(&org_id, &schedule_id, version, due).await
            }
        }
    }

    async fn run(
        &self,
        org: &OrgId,
        id: &ScheduleId,
        version: u64,
        due: DateTime<Utc>,
    ) -> Result<Fired, ScheduleError> {
        let Some(job) = self.store.get_job(org, id).await? else {
            return Ok(Fired::Skipped("cancelled"));
        };
        if job.version != version {
            return Ok(Fired::Skipped("changed since the timer was set"));
        }
        let recorded = job.last_due_at == Some(due);
        if !job.pending() && !recorded {
            return Ok(Fired::Skipped("finished"));
        }
        let now = self.clock.now();
        // The same run always gets the same event id, so publishing it again (a crash
        // between recording and publishing, Scheduler's at-least-once) is dropped by verify.
        let event_id =
            EventId::derived(&[b"run", id.as_str().as_bytes(), &version.to_be_bytes(), &due.timestamp().to_be_bytes()]);
        let (ran, next) = if recorded {
            // Recorded by an earlier firing, which may have stopped before publishing.
            let next = job.next_run_at;
            (job, next)
        } else {
            // Record the run first, conditional on the version the timer was set for: a
            // cancel or an update made since the job was read wins, and nothing is published.
            let next = job.next_after_run(due, now);
            let ran =
                Job { runs: job.runs + 1, last_run_at: Some(now), last_due_at: Some(due), next_run_at: next, ..job };
            if !self.store.put_job_if(&ran, version).await? {
                return Ok(Fired::Skipped("cancelled or changed while it ran"));
            }
            (ran, next)
        };
        let message = InboxMessage::Publish(PublishRequest {
            event_id: event_id.clone(),
            org_id: org.clone(),
            event_type: ran.event_type.clone(),
            data: ran.event_data(),
            received_at: now,
            id_from_key: true,
            ordering_key: None,
        });
        let body = serde_json::to_string(&message).map_err(ConsumeError::malformed)?;
        self.inbox.send(&body, Duration::ZERO).await?;
        if let Some(next) = next {
            JobTimers::new(&self.store, &self.timer).rearm(&ran, next).await?;
        }
        tracing::info!(schedule = %id, event = %event_id, next = ?next, "scheduled job ran");
        Ok(Fired::Ran(event_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use hookline_shared::delivery::{DeliveryJob, Payload, Urgency};
    use hookline_shared::local::{LocalDb, LocalStore, LocalTimer};
    use hookline_shared::memory::MemoryQueue;
    use hookline_shared::ports::ManualClock;
    use hookline_shared::schedule::{Recurring, When};
    use hookline_shared::{EndpointId, StoreError};

    type TestSchedule = Schedule<LocalStore, MemoryQueue, LocalTimer, ManualClock>;

    struct Setup {
        schedule: TestSchedule,
        store: LocalStore,
        inbox: MemoryQueue,
        queues: Deliveries<MemoryQueue>,
        timer: LocalTimer,
        clock: ManualClock,
    }

    fn setup(now: DateTime<Utc>) -> Setup {
        let db = LocalDb::in_memory().unwrap();
        let store = LocalStore::new(db.clone());
        let timer = LocalTimer::new(db);
        let inbox = MemoryQueue::new();
        let queues = Deliveries { urgent: MemoryQueue::new(), regular: MemoryQueue::new() };
        let clock = ManualClock::at(now);
        let schedule = Schedule::new(store.clone(), inbox.clone(), queues.clone(), timer.clone(), clock.clone());
        Setup { schedule, store, inbox, queues, timer, clock }
    }

    fn delivery(due_at: DateTime<Utc>, urgency: Urgency) -> String {
        let job = DeliveryJob {
            org_id: OrgId::new(),
            endpoint_id: EndpointId::new(),
            attempt: 4,
            first_attempt_at: Some(due_at - chrono::Duration::hours(2)),
            replay: None,
            hops: 0,
            deferred: 0,
            slot_at: None,
            held: false,
            expires_at: None,
            lane: None,
            payload: Payload::new(EventId::new(), "a.b".into(), due_at, serde_json::json!({})),
        };
        serde_json::to_string(&TimerPayload::Delivery { due_at, urgency, job: Box::new(job) }).unwrap()
    }

    fn rate_job(now: DateTime<Utc>) -> Job {
        let recurring = Recurring { name: "newsletter".into(), thing: "user_42".into() };
        Job {
            start_at: Some(now),
            recurring: Some(recurring),
            next_run_at: Some(now),
            ..Job::new(
                OrgId::new(),
                "newsletter".into(),
                serde_json::json!({"edition": 7}),
                When::Rate { every_secs: 60 },
                hookline_shared::schedule::parse_timezone("UTC").unwrap(),
                now,
            )
        }
    }

    fn published(inbox: &MemoryQueue) -> Vec<PublishRequest> {
        inbox
            .take()
            .into_iter()
            .map(|(b, _)| match serde_json::from_str(&b).unwrap() {
                InboxMessage::Publish(p) => p,
                other => panic!("not a publish: {other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn requeues_a_delivery_with_the_residual_delay_on_the_urgency_queue() {
        let due = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let s = setup(due - chrono::Duration::seconds(42));
        assert_eq!(
            s.schedule.handle(&delivery(due, Urgency::Urgent), due).await.unwrap(),
            Fired::Requeued(Duration::from_secs(42))
        );
        let sent = s.queues.urgent.take();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1, Duration::from_secs(42));
        assert_eq!(serde_json::from_str::<DeliveryJob>(&sent[0].0).unwrap().attempt, 4);
        assert!(s.queues.regular.is_empty());
        // Late timers run at once.
        s.clock.set(due + chrono::Duration::minutes(5));
        assert_eq!(
            s.schedule.handle(&delivery(due, Urgency::Regular), due).await.unwrap(),
            Fired::Requeued(Duration::ZERO)
        );
        assert_eq!(s.queues.regular.take()[0].1, Duration::ZERO);
        // A clock behind Scheduler's does not wait again: the timer fired, the lead is left.
        s.clock.set(due - chrono::Duration::minutes(20));
        assert_eq!(s.schedule.handle(&delivery(due, Urgency::Urgent), due).await.unwrap(), Fired::Requeued(TIMER_LEAD));
    }

    #[tokio::test]
    async fn a_recurring_job_publishes_each_run_and_moves_its_timer() {
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let s = setup(t0);
        let job = rate_job(t0);
        s.store.put_job(&job).await.unwrap();
        s.timer.arm(&job, &TimerPayload::for_job(&job)).await.unwrap();
        let payload = TimerPayload::for_job(&job);

        let Fired::Ran(first) = s.schedule.handle(&payload, t0).await.unwrap() else { panic!("did not run") };
        let runs = published(&s.inbox);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].event_id, first);
        assert_eq!(runs[0].event_type, "newsletter");
        assert_eq!(runs[0].data, serde_json::json!({"edition": 7, "thing": "user_42"}));
        let stored = s.store.get_job(&job.org_id, &job.id).await.unwrap().unwrap();
        assert_eq!((stored.runs, stored.next_run_at), (1, Some(t0 + chrono::Duration::minutes(1))));

        // The same run again (a repeated invocation, or a retry after a crash before
        // publishing) publishes the same event id, which verify drops if it got through.
        assert_eq!(s.schedule.handle(&payload, t0).await.unwrap(), Fired::Ran(first.clone()));
        assert_eq!(published(&s.inbox)[0].event_id, first);
        assert_eq!(s.store.get_job(&job.org_id, &job.id).await.unwrap().unwrap().runs, 1, "recorded once");

        // A minute later the second run, with another event id.
        s.clock.set(t0 + chrono::Duration::minutes(1));
        let Fired::Ran(second) = s.schedule.handle(&payload, t0 + chrono::Duration::minutes(1)).await.unwrap() else {
            panic!("did not run")
        };
        assert_ne!(first, second);
        assert_eq!(published(&s.inbox).len(), 1);
    }

    #[tokio::test]
    async fn a_cancelled_or_changed_job_does_not_run() {
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let s = setup(t0);
        let job = rate_job(t0);
        s.store.put_job(&job).await.unwrap();
        let old = TimerPayload::for_job(&job);
        let changed = Job { version: 2, ..job.clone() };
        assert!(s.store.put_job_if(&changed, 1).await.unwrap());
        assert_eq!(s.schedule.handle(&old, t0).await.unwrap(), Fired::Skipped("changed since the timer was set"));
        s.store.delete_job(&job.org_id, &job.id).await.unwrap();
        assert_eq!(s.schedule.handle(&TimerPayload::for_job(&changed), t0).await.unwrap(), Fired::Skipped("cancelled"));
        assert!(s.inbox.is_empty());
    }

    #[tokio::test]
    async fn a_late_run_fires_once_and_the_next_is_from_now() {
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let s = setup(t0 + chrono::Duration::minutes(10) + chrono::Duration::seconds(5));
        let job = rate_job(t0);
        s.store.put_job(&job).await.unwrap();
        assert!(matches!(s.schedule.handle(&TimerPayload::for_job(&job), t0).await.unwrap(), Fired::Ran(_)));
        assert_eq!(published(&s.inbox).len(), 1);
        let stored = s.store.get_job(&job.org_id, &job.id).await.unwrap().unwrap();
        assert_eq!(stored.next_run_at, Some(t0 + chrono::Duration::minutes(11)));
    }

    #[tokio::test]
    async fn malformed_payloads_are_errors() {
        let s = setup(Utc::now());
        assert!(matches!(s.schedule.handle("{}", Utc::now()).await, Err(ScheduleError::Malformed(_))));
    }

    /// The store, with a cancel landing right after the handler reads the job.
    #[derive(Clone)]
    struct CancelledWhileRunning(LocalStore);

    #[async_trait::async_trait]
    impl ScheduleStore for CancelledWhileRunning {
        async fn put_job(&self, job: &Job) -> Result<(), StoreError> {
            self.0.put_job(job).await
        }
        async fn put_job_if(&self, job: &Job, version: u64) -> Result<bool, StoreError> {
            self.0.put_job_if(job, version).await
        }
        async fn get_job(&self, org: &OrgId, id: &ScheduleId) -> Result<Option<Job>, StoreError> {
            let job = self.0.get_job(org, id).await?;
            self.0.delete_job(org, id).await?;
            Ok(job)
        }
        async fn list_jobs(
            &self,
            org: &OrgId,
            q: &hookline_shared::ports::JobQuery,
        ) -> Result<hookline_shared::ports::Page<Job>, StoreError> {
            self.0.list_jobs(org, q).await
        }
        async fn delete_job(&self, org: &OrgId, id: &ScheduleId) -> Result<bool, StoreError> {
            self.0.delete_job(org, id).await
        }
    }

    #[tokio::test]
    async fn a_cancel_between_the_read_and_the_run_wins() {
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let s = setup(t0);
        let job = rate_job(t0);
        s.store.put_job(&job).await.unwrap();
        let racing = Schedule::new(
            CancelledWhileRunning(s.store.clone()),
            s.inbox.clone(),
            s.queues.clone(),
            s.timer.clone(),
            s.clock.clone(),
        );
        assert_eq!(
            racing.handle(&TimerPayload::for_job(&job), t0).await.unwrap(),
            Fired::Skipped("cancelled or changed while it ran")
        );
        assert!(s.inbox.is_empty(), "nothing is published for a cancelled job");
        assert_eq!(s.store.get_job(&job.org_id, &job.id).await.unwrap(), None, "nor is it recreated");
    }

    #[tokio::test]
    async fn a_one_off_recorded_but_not_published_is_published_by_the_retry() {
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let s = setup(t0);
        let job = Job { when: When::At { at: t0 }, next_run_at: Some(t0), ..rate_job(t0) };
        s.store.put_job(&job).await.unwrap();
        // A firing that recorded the run and stopped before publishing it.
        let recorded = Job { runs: 1, last_run_at: Some(t0), last_due_at: Some(t0), next_run_at: None, ..job.clone() };
        assert!(s.store.put_job_if(&recorded, job.version).await.unwrap());
        let Fired::Ran(id) = s.schedule.handle(&TimerPayload::for_job(&job), t0).await.unwrap() else {
            panic!("the retry did not publish")
        };
        assert_eq!(published(&s.inbox)[0].event_id, id);
    }
}
