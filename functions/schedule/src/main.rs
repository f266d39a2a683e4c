//! Lambda entry point of `schedule`: EventBridge Scheduler invokes it with a timer's input.

use hookline_schedule::Schedule;
use hookline_shared::aws::{sdk_config, DynamoStore, SchedulerTimer, SqsQueue};
use hookline_shared::delivery::Deliveries;
use hookline_shared::ports::SystemClock;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hookline_shared::aws::init_tracing();
    let sdk = sdk_config().await;
    let schedule = Schedule::new(
        DynamoStore::from_env(&sdk)?,
        SqsQueue::from_env(&sdk, "HOOKLINE_INBOX_URL")?,
        Deliveries::from_env(&sdk)?,
        SchedulerTimer::from_env(&sdk)?,
        SystemClock,
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let schedule = &schedule;
        async move {
            // An error makes Scheduler retry the invocation (its retry policy), so a
            // queue or store outage does not lose the run. A job's payload carries
            // Scheduler's scheduled time; `now` only stands in when it does not.
            let fired = schedule.handle(&event.payload.to_string(), chrono::Utc::now()).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "fired": format!("{fired:?}") }))
        }
    }))
    .await
}
