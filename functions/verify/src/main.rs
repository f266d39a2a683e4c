//! Lambda entry point of `verify`: wire the AWS adapters from the environment, run the runtime.

use hookline_shared::aws::{sdk_config, DynamoStore};
use hookline_shared::coalesce::Coalescing;
use hookline_shared::delivery::Deliveries;
use hookline_verify::Verify;
use std::time::Duration;

/// How long a delivery job waits for the rest of its batch's jobs before it is sent.
const ROUTE_WINDOW: Duration = Duration::from_millis(10);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hookline_shared::aws::init_tracing();
    let sdk = sdk_config().await;
    // The messages of a batch are routed concurrently; their jobs share SQS requests.
    let deliveries = Deliveries::from_env(&sdk)?.map(|q| Coalescing::new(q, ROUTE_WINDOW));
    let config = hookline_shared::Config::from_env()?;
    let store = DynamoStore::from_env(&sdk)?;
    let verify = Verify::with_config(store, deliveries, &config);
    hookline_shared::batch::lambda::run(verify).await
}
