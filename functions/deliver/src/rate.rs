//! Holding deliveries to their endpoint's rate limit: each attempt claims a send slot
//! from the store (so every `deliver` shares the budget), and waits for it neither
//! failed nor logged. Endpoints without a limit never come here.

use crate::{Deliver, DeliverError};
use hookline_shared::batch::ConsumeError;
use hookline_shared::delivery::{DeliveryJob, RateLimit, Urgency, MAX_QUEUE_DELAY};
use hookline_shared::ports::{Clock, Queue, SlotStore};
use std::time::Duration;

/// A slot this far off or more is waited for on the queue, not in the handler: a
/// queue's delay is in whole seconds, and a handler asleep holds one of its slots.
const WAIT_ON_QUEUE: Duration = Duration::from_secs(1);

impl<S: SlotStore, Q: Queue, T, H, O, C: Clock> Deliver<S, Q, T, H, O, C> {
    /// Wait for `job`'s send slot under `limit`: true when it may go now; false when it
    /// was put back on its queue, to come back (without claiming again) shortly
    /// before its slot.
    pub(crate) async fn wait_for_slot(
        &self,
        job: &mut DeliveryJob,
        limit: RateLimit,
        urgency: Urgency,
    ) -> Result<bool, DeliverError> {
        let now = self.clock.now();
        let slot = match job.slot_at {
            Some(slot) => slot,
            None => self.store.claim_slot(&job.endpoint_id, limit.interval(), now).await?,
        };
        job.slot_at = Some(slot);
        let wait = (slot - now).to_std().unwrap_or_default();
        if wait >= WAIT_ON_QUEUE {
            // Rounded down to whole seconds: it comes back before its slot, never after.
            let delay = Duration::from_secs(wait.as_secs()).min(MAX_QUEUE_DELAY);
            let body = serde_json::to_string(&job).map_err(ConsumeError::malformed)?;
            self.queues.queue(urgency).send(&body, delay).await?;
            return Ok(false);
        }
        tokio::time::sleep(wait).await;
        Ok(true)
    }
}
