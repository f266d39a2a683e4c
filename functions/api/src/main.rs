//! Lambda entry point of `api`: read the operator key once, wire the AWS adapters, serve.

use hookline_api::{router, Api, Handoffs};
use hookline_shared::aws::{sdk_config, DynamoStore, SchedulerTimer, SqsQueue};
use hookline_shared::delivery::Deliveries;
use hookline_shared::outbound::{ReqwestSender, SystemLookup};
use hookline_shared::ports::{Queue, SystemClock};
use hookline_shared::{Config, Secret};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookline_shared::aws::init_tracing();
    let mut config = Config::from_env()?;
    let sdk = sdk_config().await;
    // The operator key lives in a SecureString parameter; it is read once, at start-up.
    if let Ok(name) = std::env::var("HOOKLINE_OPERATOR_KEY_PARAM") {
        let out = aws_sdk_ssm::Client::new(&sdk).get_parameter().name(name).with_decryption(true).send().await?;
        config.operator_key = out.parameter.and_then(|p| p.value).map(Secret::new);
    }
    let store = DynamoStore::from_env(&sdk)?;
    let inbox = SqsQueue::from_env(&sdk, "HOOKLINE_INBOX_URL")?;
    let handoffs = Handoffs {
        http: Arc::new(ReqwestSender::new(config.network_policy(), Arc::new(SystemLookup))?),
        deliveries: Deliveries::from_env(&sdk)?.map(|q| Arc::new(q) as Arc<dyn Queue>),
        timer: Arc::new(SchedulerTimer::from_env(&sdk)?),
    };
    lambda_http::run(router(Api::new(store, inbox, handoffs, SystemClock, &config))).await
}
