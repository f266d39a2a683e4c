//! Lambda entry point of `verify`: wire the AWS adapters from config, run the runtime.

use aws_lambda_events::event::sqs::SqsEvent;
use hookline_shared::aws::{required_env, sdk_config, DynamoStore, SqsQueue};
use hookline_shared::delivery::Deliveries;
use hookline_shared::ports::SystemClock;
use hookline_shared::Config;
use hookline_verify::{lambda::handle_sqs_event, Verify};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hookline_shared::aws::init_tracing();
    let config = Config::from_env()?;
    let sdk = sdk_config().await;
    let store = DynamoStore::from_env(&sdk)?;
    let deliveries = Deliveries {
        urgent: SqsQueue::from_sdk(&sdk, required_env("HOOKLINE_DELIVERIES_URGENT_URL")?),
        regular: SqsQueue::from_sdk(&sdk, required_env("HOOKLINE_DELIVERIES_REGULAR_URL")?),
    };
    let verify = Verify::new(store, deliveries, SystemClock, config.idempotency_ttl);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let verify = &verify;
        async move { Ok::<_, lambda_runtime::Error>(handle_sqs_event(verify, event.payload).await) }
    }))
    .await
}
