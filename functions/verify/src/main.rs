//! Lambda entry point of `verify`: wire the AWS adapters from config, run the runtime.

use hookline_shared::aws::{sdk_config, DynamoStore};
use hookline_shared::delivery::Deliveries;
use hookline_shared::ports::SystemClock;
use hookline_shared::Config;
use hookline_verify::Verify;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hookline_shared::aws::init_tracing();
    let config = Config::from_env()?;
    let sdk = sdk_config().await;
    let verify =
        Verify::new(DynamoStore::from_env(&sdk)?, Deliveries::from_env(&sdk)?, SystemClock, config.idempotency_ttl);
    hookline_shared::batch::lambda::run(verify).await
}
