//! Lambda entry point of `deliver`: wire the AWS adapters from config, run the runtime.

use aws_lambda_events::event::sqs::SqsEvent;
use hookline_deliver::{lambda::handle_sqs_event, Deliver, Policies};
use hookline_shared::aws::{required_env, sdk_config, DynamoStore, EventBridgeOps, SchedulerTimer, SqsQueue};
use hookline_shared::delivery::Deliveries;
use hookline_shared::outbound::{ReqwestSender, SystemLookup};
use hookline_shared::ports::SystemClock;
use hookline_shared::Config;
use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hookline_shared::aws::init_tracing();
    let config = Config::from_env()?;
    let sdk = sdk_config().await;
    let deliver = Deliver::new(
        DynamoStore::from_env(&sdk)?,
        Deliveries {
            urgent: SqsQueue::from_sdk(&sdk, required_env("HOOKLINE_DELIVERIES_URGENT_URL")?),
            regular: SqsQueue::from_sdk(&sdk, required_env("HOOKLINE_DELIVERIES_REGULAR_URL")?),
        },
        SchedulerTimer::from_env(&sdk)?,
        ReqwestSender::new(config.network_policy(), Arc::new(SystemLookup))?,
        EventBridgeOps::from_env(&sdk)?,
        SystemClock,
        Policies { max_chain_iterations: config.max_chain_iterations, ..Policies::default() },
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deliver = &deliver;
        async move { Ok::<_, lambda_runtime::Error>(handle_sqs_event(deliver, event.payload).await) }
    }))
    .await
}
