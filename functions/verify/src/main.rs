//! Lambda entry point of `verify`: wire the AWS adapters from the environment, run the runtime.

use hookline_shared::aws::{sdk_config, DynamoStore};
use hookline_shared::delivery::Deliveries;
use hookline_verify::Verify;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hookline_shared::aws::init_tracing();
    let sdk = sdk_config().await;
    let verify = Verify::new(DynamoStore::from_env(&sdk)?, Deliveries::from_env(&sdk)?);
    hookline_shared::batch::lambda::run(verify).await
}
