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
