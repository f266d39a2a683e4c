//! What a timer carries back to the `schedule` function: a long retry's job, or a
//! scheduled job's run.

use crate::delivery::{DeliveryJob, Urgency};
use crate::ids::{OrgId, ScheduleId};
use crate::schedule::Job;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a timer carries back to the `schedule` function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimerPayload {
    /// A delivery retry due at `due_at`.
    Delivery {
        /// When the attempt is due (the timer fires up to a minute before).
        due_at: DateTime<Utc>,
        /// Urgency (which queue).
        urgency: Urgency,
        /// The job (boxed: it is most of the payload's size).
        job: Box<DeliveryJob>,
    },
    /// A run of a scheduled job.
    Job {
        /// Owner.
        org_id: OrgId,
        /// The job.
        schedule_id: ScheduleId,
        /// The version the timer was set for: a changed or cancelled job does not run.
        version: u64,
        /// The run's due time. In AWS this is Scheduler's `<aws.scheduler.scheduled-time>`
        /// placeholder, filled in at each invocation; `hookline dev` passes the row's time.
        #[serde(default)]
        scheduled_time: Option<String>,
    },
}

impl TimerPayload {
    /// The payload of a scheduled job's timer.
    pub fn for_job(job: &Job) -> String {
        let payload = TimerPayload::Job {
            org_id: job.org_id.clone(),
            schedule_id: job.id.clone(),
            version: job.version,
            scheduled_time: Some("<aws.scheduler.scheduled-time>".into()),
        };
        // A tagged enum of ids, numbers and strings always serialises.
        serde_json::to_string(&payload).unwrap_or_default()
    }
}
