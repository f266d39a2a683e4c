//! Deliveries to a listen session: kept as `pending` for its client to pull, never
//! sent from here (the client's server is on a machine this function cannot reach).

use crate::{Deliver, DeliverError};
use hookline_shared::delivery::{Attempt, AttemptStatus, DeliveryJob, ListenLease, Urgency};
use hookline_shared::ports::{AttemptStore, Clock, LaneStore, Queue};

impl<S: AttemptStore + LaneStore, Q: Queue, T, H, O, C: Clock> Deliver<S, Q, T, H, O, C> {
    /// Keep `job` for its session's client, or drop it when the session expired. A
    /// repeat of the job finds its entry and leaves it (and the client's answer in it).
    pub(crate) async fn keep_for_listener(
        &self,
        job: &DeliveryJob,
        lease: ListenLease,
    ) -> Result<Option<Attempt>, DeliverError> {
        let now = self.clock.now();
        if lease.expired(now) {
            tracing::info!(endpoint = %job.endpoint_id, event = %job.payload.id, "listen session expired; job dropped");
            self.leave_lane(job, Urgency::Regular).await?;
            return Ok(None);
        }
        let mut pending = Attempt::of_job(job, now);
        pending.status = AttemptStatus::Pending;
        pending.job = Some(job.clone());
        let kept = if self.store.insert_attempt(&pending).await? {
            Some(pending)
        } else {
            self.store.get_attempt(&job.org_id, &job.payload.id, &job.attempt_id()).await?
        };
        // An ordered job leaves its lane once kept (again on a repeat, so a crash in
        // between loses no next job): the client is handed its events in order.
        self.leave_lane(job, Urgency::Regular).await?;
        Ok(kept)
    }
}
