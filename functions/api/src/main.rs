//! Lambda entry point of `api`: read the operator key once, wire the AWS adapters, serve.

use hookline_api::{router, Api};
use hookline_shared::aws::{required_env, sdk_config, DynamoStore, SqsQueue, TableNames};
use hookline_shared::ports::SystemClock;
use hookline_shared::{Config, Secret};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let mut config = Config::from_env()?;
    let sdk = sdk_config().await;
    // The operator key lives in a SecureString parameter; it is read once, at start-up.
    if let Ok(name) = std::env::var("HOOKLINE_OPERATOR_KEY_PARAM") {
        let out = aws_sdk_ssm::Client::new(&sdk).get_parameter().name(name).with_decryption(true).send().await?;
        config.operator_key = out.parameter.and_then(|p| p.value).map(Secret::new);
    }
    let store = DynamoStore::from_sdk(&sdk, TableNames::from_env()?);
    let inbox = SqsQueue::from_sdk(&sdk, required_env("HOOKLINE_INBOX_URL")?);
    lambda_http::run(router(Api::new(store, inbox, SystemClock, &config))).await
}
