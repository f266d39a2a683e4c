//! The timer port on EventBridge Scheduler.

use crate::error::MessagingError;
use crate::ids::ScheduleId;
use crate::ports::Timer;
use crate::schedule::at_expression;
use crate::schedule::Job;
use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
};
use chrono::{DateTime, Utc};

fn err<E: std::error::Error + 'static>(e: aws_sdk_scheduler::error::SdkError<E>) -> MessagingError {
    MessagingError::Unavailable(aws_sdk_scheduler::error::DisplayErrorContext(e).to_string())
}

/// One-time `at()` schedules in the stack's group, each invoking the `schedule` function
/// with the payload as its input and deleting itself after it ran.
#[derive(Debug, Clone)]
pub struct SchedulerTimer {
    client: aws_sdk_scheduler::Client,
    group: String,
    target: TimerTarget,
}

/// What every timer invokes, as whom, and where an invocation that keeps failing goes.
#[derive(Debug, Clone)]
pub struct TimerTarget {
    /// The `schedule` function.
    pub arn: String,
    /// The role Scheduler assumes to invoke it (and to send to the dead-letter queue).
    pub role_arn: String,
    /// The SQS queue that keeps the input of an invocation Scheduler gave up on.
    pub dead_letter_arn: String,
}

/// Scheduler retries an invocation that fails to reach the function for up to a day.
const TARGET_MAX_EVENT_AGE_SECS: i32 = 86_400;
/// …and at most this many times (its own maximum).
const TARGET_MAX_RETRIES: i32 = 185;

impl SchedulerTimer {
    /// Timers in `group`, invoking `target`.
    pub fn new(client: aws_sdk_scheduler::Client, group: String, target: TimerTarget) -> Self {
        Self { client, group, target }
    }

    /// From `HOOKLINE_SCHEDULE_GROUP`, `HOOKLINE_SCHEDULE_TARGET_ARN`, `HOOKLINE_SCHEDULE_ROLE_ARN`
    /// and `HOOKLINE_SCHEDULE_DLQ_ARN`.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self::new(
            aws_sdk_scheduler::Client::new(sdk),
            super::required_env("HOOKLINE_SCHEDULE_GROUP")?,
            TimerTarget {
                arn: super::required_env("HOOKLINE_SCHEDULE_TARGET_ARN")?,
                role_arn: super::required_env("HOOKLINE_SCHEDULE_ROLE_ARN")?,
                dead_letter_arn: super::required_env("HOOKLINE_SCHEDULE_DLQ_ARN")?,
            },
        ))
    }
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, MessagingError> {
    r.map_err(|e| MessagingError::Unavailable(e.to_string()))
}

impl SchedulerTimer {
    fn target(&self, payload: &str) -> Result<Target, MessagingError> {
        let retry = RetryPolicy::builder()
            .maximum_event_age_in_seconds(TARGET_MAX_EVENT_AGE_SECS)
            .maximum_retry_attempts(TARGET_MAX_RETRIES)
            .build();
        built(
            Target::builder()
                .arn(&self.target.arn)
                .role_arn(&self.target.role_arn)
                .input(payload)
                .retry_policy(retry)
                .dead_letter_config(DeadLetterConfig::builder().arn(&self.target.dead_letter_arn).build())
                .build(),
        )
    }

    fn window() -> Result<FlexibleTimeWindow, MessagingError> {
        built(FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build())
    }

    fn to_aws_time(t: Option<DateTime<Utc>>) -> Option<aws_sdk_scheduler::primitives::DateTime> {
        t.map(|t| aws_sdk_scheduler::primitives::DateTime::from_millis(t.timestamp_millis()))
    }
}

#[async_trait]
impl Timer for SchedulerTimer {
    async fn fire_at(&self, key: &str, at: DateTime<Utc>, payload: &str) -> Result<(), MessagingError> {
        let target = self.target(payload)?;
        let window = Self::window()?;
        let res = self
            .client
            .create_schedule()
            .name(key)
            .group_name(&self.group)
            .schedule_expression(at_expression(at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // The same key again (a retried message): the timer is already set.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conflict_exception()) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    /// One Scheduler schedule per job, named by its id: `at()`, `cron()` or `rate()` in
    /// the job's time zone, flexible window off, deleted by Scheduler once it is done.
    async fn arm(&self, job: &Job, payload: &str) -> Result<(), MessagingError> {
        if job.next_run_at.is_none() {
            return self.disarm(&job.id).await;
        }
        // Create and update take the same definition.
        macro_rules! definition {
            ($req:expr) => {
                $req.name(job.id.as_str())
                    .group_name(&self.group)
                    .schedule_expression(job.expression())
                    .schedule_expression_timezone(job.expression_timezone())
                    .set_start_date(Self::to_aws_time(job.start_at))
                    .set_end_date(Self::to_aws_time(job.end_at))
                    .flexible_time_window(Self::window()?)
                    .target(self.target(payload)?)
                    .action_after_completion(ActionAfterCompletion::Delete)
            };
        }
        match definition!(self.client.create_schedule()).send().await {
            Ok(_) => Ok(()),
            // It exists (an update, or a retried create): replace its definition.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conflict_exception()) => {
                definition!(self.client.update_schedule()).send().await.map(|_| ()).map_err(err)
            }
            Err(e) => Err(err(e)),
        }
    }

    async fn disarm(&self, id: &ScheduleId) -> Result<(), MessagingError> {
        let res = self.client.delete_schedule().name(id.as_str()).group_name(&self.group).send().await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    /// Scheduler evaluates the expression itself: nothing to move.
    async fn rearm(&self, _job: &Job, _next: DateTime<Utc>, _payload: &str) -> Result<(), MessagingError> {
        Ok(())
    }
}
