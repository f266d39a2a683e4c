//! The `aws` adapters: DynamoDB for the store, SQS for the queues, EventBridge Scheduler
//! for timers and an EventBridge bus for operational events, KMS for data keys, all
//! through the AWS SDK for Rust. Endpoints and credentials come from the SDK's standard settings
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, …), so tests against a local stand-in take the
//! same code path as production.
//!
//! Every conversion to and from DynamoDB items stays inside this module: one typed item
//! struct per entity, mapped with `serde_dynamo`.

mod dynamo;
mod kms;
mod ops;
mod sqs;
mod timer;

pub use crate::schedule::at_expression;
pub use dynamo::{DynamoStore, TableNames};
pub use kms::KmsKeys;
pub use ops::EventBridgeOps;
pub use sqs::SqsQueue;
pub use timer::{SchedulerTimer, TimerTarget};

/// JSON logs for CloudWatch, filtered by `RUST_LOG`; the Lambda runtime stamps the time.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
}

/// Load the SDK configuration the standard way (environment, profile, IMDS/role), with
/// an HTTPS client on rustls and ring: the one TLS stack every binary already has.
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http).load().await
}

/// Read a required environment variable, naming it in the error.
pub fn required_env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| anyhow::anyhow!("environment variable {name} is not set"))
}

fn sdk_err<E>(e: aws_sdk_dynamodb::error::SdkError<E>) -> String
where
    E: std::error::Error + 'static,
{
    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
}
