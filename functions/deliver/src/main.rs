//! Lambda entry point of `deliver`: wire the AWS adapters from config, run the runtime.

use hookline_deliver::{Deliver, Policies};
use hookline_shared::aws::{sdk_config, DynamoStore, EventBridgeOps, SchedulerTimer};
use hookline_shared::delivery::Deliveries;
use hookline_shared::outbound::{ReqwestSender, SystemLookup};
use hookline_shared::ports::SystemClock;
use hookline_shared::Config;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hookline_shared::aws::init_tracing();
    let config = Config::from_env()?;
    let sdk = sdk_config().await;
    let deliver = Deliver::new(
        DynamoStore::from_env(&sdk)?,
        Deliveries::from_env(&sdk)?,
        SchedulerTimer::from_env(&sdk)?,
        ReqwestSender::new(config.network_policy(), Arc::new(SystemLookup))?,
        EventBridgeOps::from_env(&sdk)?,
        SystemClock,
        Policies {
            max_chain_iterations: config.max_chain_iterations,
            endpoint_cache_ttl: config.endpoint_cache_ttl,
            ..Policies::default()
        },
    );
    hookline_shared::batch::lambda::run(deliver).await
}
