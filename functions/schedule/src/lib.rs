//! `schedule`: the timer's handler. When a timer fires (EventBridge Scheduler in AWS,
//! the timer table in `hookline dev`), put its work on the right queue with the
//! residual delay, so it runs to the second.

use hookline_shared::delivery::{Deliveries, TimerPayload};
use hookline_shared::ports::{Clock, Queue};
use hookline_shared::QueueError;
use std::time::Duration;

/// Why a timer's payload could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Not a timer payload.
    #[error("malformed timer payload: {0}")]
    Malformed(String),
    /// The queue failed: the timer should fire again.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// The schedule handler.
#[derive(Debug, Clone)]
pub struct Schedule<Q, C> {
    deliveries: Deliveries<Q>,
    clock: C,
}

impl<Q: Queue, C: Clock> Schedule<Q, C> {
    /// A handler enqueuing onto `deliveries`.
    pub fn new(deliveries: Deliveries<Q>, clock: C) -> Self {
        Self { deliveries, clock }
    }

    /// Handle one fired timer; returns the residual delay used.
    pub async fn handle(&self, payload: &str) -> Result<Duration, ScheduleError> {
        let p: TimerPayload = serde_json::from_str(payload).map_err(|e| ScheduleError::Malformed(e.to_string()))?;
        match p {
            TimerPayload::Delivery { due_at, urgency, job } => {
                let residual = (due_at - self.clock.now()).to_std().unwrap_or_default().min(Duration::from_secs(900));
                let body = serde_json::to_string(&job).map_err(|e| ScheduleError::Malformed(e.to_string()))?;
                self.deliveries.queue(urgency).send(&body, residual).await?;
                Ok(residual)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use hookline_shared::delivery::{DeliveryJob, Payload, Urgency};
    use hookline_shared::memory::MemoryQueue;
    use hookline_shared::ports::ManualClock;
    use hookline_shared::{EndpointId, EventId, OrgId};

    fn payload(due_at: chrono::DateTime<Utc>, urgency: Urgency) -> String {
        let job = DeliveryJob {
            org_id: OrgId::new(),
            endpoint_id: EndpointId::new(),
            attempt: 4,
            first_attempt_at: Some(due_at - chrono::Duration::hours(2)),
            payload: Payload {
                id: EventId::new(),
                event_type: "a.b".into(),
                created_at: due_at,
                data: serde_json::json!({}),
            },
        };
        serde_json::to_string(&TimerPayload::Delivery { due_at, urgency, job }).unwrap()
    }

    #[tokio::test]
    async fn requeues_with_the_residual_delay_on_the_urgency_queue() {
        let due = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let queues = Deliveries { urgent: MemoryQueue::new(), regular: MemoryQueue::new() };
        let clock = ManualClock::at(due - chrono::Duration::seconds(42));
        let schedule = Schedule::new(queues.clone(), clock.clone());
        assert_eq!(schedule.handle(&payload(due, Urgency::Urgent)).await.unwrap(), Duration::from_secs(42));
        let sent = queues.urgent.take();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1, Duration::from_secs(42));
        assert_eq!(serde_json::from_str::<DeliveryJob>(&sent[0].0).unwrap().attempt, 4);
        assert!(queues.regular.is_empty());
        // Late timers run at once.
        clock.set(due + chrono::Duration::minutes(5));
        assert_eq!(schedule.handle(&payload(due, Urgency::Regular)).await.unwrap(), Duration::ZERO);
        assert_eq!(queues.regular.take()[0].1, Duration::ZERO);
    }

    #[tokio::test]
    async fn malformed_payloads_are_errors() {
        let queues = Deliveries { urgent: MemoryQueue::new(), regular: MemoryQueue::new() };
        let schedule = Schedule::new(queues, ManualClock::at(Utc::now()));
        assert!(matches!(schedule.handle("{}").await, Err(ScheduleError::Malformed(_))));
    }
}
