//! Deliveries to a paused endpoint: held, neither attempted nor failed, until it
//! resumes. A resume sends the held jobs in order; each hold also keeps a copy of its
//! job on the queue, so one held while a resume was listing them still goes out.

use crate::{Deliver, DeliverError};
use hookline_shared::batch::ConsumeError;
use hookline_shared::delivery::{Attempt, AttemptStatus, DeliveryJob, Urgency, MAX_QUEUE_DELAY};
use hookline_shared::ports::{AttemptStore, Clock, Queue};

impl<S: AttemptStore, Q: Queue, T, H, O, C: Clock> Deliver<S, Q, T, H, O, C> {
    /// Hold `job`: log it as `held` under its attempt's id (the attempt made once the
    /// endpoint resumes replaces the entry), and put a copy back on its queue for the
    /// longest delay, to look again then.
    pub(crate) async fn hold(&self, job: &DeliveryJob, urgency: Urgency) -> Result<Attempt, DeliverError> {
        let mut held = Attempt::of_job(job, self.clock.now());
        held.status = AttemptStatus::Held;
        held.job = Some(job.clone());
        held.follow_up_pending = true;
        // Held already (the copy came back while still paused): the first entry stays.
        self.store.insert_attempt(&held).await?;
        let copy = DeliveryJob { held: true, ..job.clone() };
        let body = serde_json::to_string(&copy).map_err(ConsumeError::malformed)?;
        self.queues.queue(urgency).send(&body, MAX_QUEUE_DELAY).await?;
        Ok(held)
    }

    /// For a job that was held: the attempt made for it since (by a resume, or by the
    /// hold's own copy), which a second send would repeat.
    pub(crate) async fn made_since_held(&self, job: &DeliveryJob) -> Result<Option<Attempt>, DeliverError> {
        let logged = self.store.get_attempt(&job.org_id, &job.payload.id, &job.attempt_id()).await?;
        Ok(logged.filter(|a| a.status != AttemptStatus::Held))
    }
}
