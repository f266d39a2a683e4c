//! A job's record and its timer, kept in step for every writer (the API and the
//! `schedule` function): a job is saved, then its timer is armed; a cancel deletes the
//! job, then its timer, so a timer that fires in between finds nothing to run.

use super::Job;
use crate::error::{MessagingError, StoreError};
use crate::ports::{ScheduleStore, Timer, TimerPayload};
use chrono::{DateTime, Utc};

/// Why a job's record or timer could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum JobTimerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The timer could not be set or removed.
    #[error(transparent)]
    Timer(#[from] MessagingError),
}

impl From<JobTimerError> for crate::batch::ConsumeError {
    fn from(e: JobTimerError) -> Self {
        match e {
            JobTimerError::Store(e) => e.into(),
            JobTimerError::Timer(e) => e.into(),
        }
    }
}

/// Jobs on a store, with their timers.
#[derive(Debug)]
pub struct JobTimers<'a, S: ?Sized, T: ?Sized> {
    store: &'a S,
    timer: &'a T,
}

impl<'a, S: ScheduleStore + ?Sized, T: Timer + ?Sized> JobTimers<'a, S, T> {
    /// Jobs kept in `store`, timed by `timer`.
    pub fn new(store: &'a S, timer: &'a T) -> Self {
        Self { store, timer }
    }

    /// Save `job` (over `previous`, the version it replaces, if any) and point its timer
    /// at its next run; false when the job changed since `previous` was read.
    pub async fn save(&self, job: &Job, previous: Option<u64>) -> Result<bool, JobTimerError> {
        match previous {
            Some(v) => {
                if !self.store.put_job_if(job, v).await? {
                    return Ok(false);
                }
            }
            None => self.store.put_job(job).await?,
        }
        if let Err(e) = self.timer.arm(job, &TimerPayload::for_job(job)).await {
            // A new job without a timer would never run: take it back, so the caller's
            // retry starts clean. (An update keeps its previous timer, which skips the
            // new version; retrying the update re-arms it.)
            if previous.is_none() {
                let _ = self.store.delete_job(&job.org_id, &job.id).await;
            }
            return Err(e.into());
        }
        Ok(true)
    }

    /// Delete `job`, then its timer; true when it was still to run.
    pub async fn cancel(&self, job: &Job) -> Result<bool, JobTimerError> {
        let deleted = self.store.delete_job(&job.org_id, &job.id).await?;
        self.timer.disarm(&job.id).await?;
        Ok(deleted && job.pending())
    }

    /// Point the timer of a job that just ran at its `next` run.
    pub async fn rearm(&self, ran: &Job, next: DateTime<Utc>) -> Result<(), JobTimerError> {
        Ok(self.timer.rearm(ran, next, &TimerPayload::for_job(ran)).await?)
    }
}
