//! Ordered deliveries: a job in a lane (see `shared/src/delivery/lane.rs`) is the only
//! one of its lane on a queue; once it is done (delivered, exhausted or failed, or its
//! endpoint deleted) it leaves the lane and sends the job now standing first.

use crate::{Deliver, DeliverError};
use hookline_shared::batch::ConsumeError;
use hookline_shared::delivery::{DeliveryJob, Urgency};
use hookline_shared::ports::{LaneStore, Queue};
use std::time::Duration;

impl<S: LaneStore, Q: Queue, T, H, O, C> Deliver<S, Q, T, H, O, C> {
    /// `job` is done: take it out of its lane and send the next one, if any. Done again
    /// by a repeat of the job (its follow-up was pending), so a crash in between sends
    /// the next one all the same.
    pub(crate) async fn leave_lane(&self, job: &DeliveryJob, urgency: Urgency) -> Result<(), DeliverError> {
        if let Some(next) = self.store.leave_lane(job).await? {
            let body = serde_json::to_string(&next).map_err(ConsumeError::malformed)?;
            self.queues.queue(urgency).send(&body, Duration::ZERO).await?;
        }
        Ok(())
    }
}
