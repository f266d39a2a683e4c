//! Lambda entry point of `api`: wire the AWS adapters (the operator key read on first use), serve.

use hookline_api::{router, Api, Handoffs};
use hookline_ingest::Ingest;
use hookline_shared::aws::{sdk_config, DynamoStore, SchedulerTimer, SqsQueue};
use hookline_shared::delivery::Deliveries;
use hookline_shared::outbound::{ReqwestSender, SystemLookup};
use hookline_shared::ports::{Queue, SystemClock};
use hookline_shared::source_cache::SourceCache;
use hookline_shared::{Config, Secret};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookline_shared::aws::init_tracing();
    let config = Config::from_env()?;
    let sdk = sdk_config().await;
    let store = DynamoStore::from_env(&sdk)?;
    let inbox = SqsQueue::from_env(&sdk, "HOOKLINE_INBOX_URL")?;
    let ordered_inbox = SqsQueue::from_env(&sdk, "HOOKLINE_ORDERED_INBOX_URL")?;
    // Triggers run ingest's own handler, recording no refusals (their caller hears why).
    let sources = Arc::new(SourceCache::new(store.clone(), config.source_cache_ttl));
    let triggers = Ingest::new(sources, inbox.clone(), SystemClock, config.max_body_bytes)
        .ordered_inbox(ordered_inbox.clone())
        .without_rejection_records();
    let handoffs = Handoffs {
        http: Arc::new(ReqwestSender::new(config.network_policy(), Arc::new(SystemLookup))?),
        deliveries: Deliveries::from_env(&sdk)?.map(|q| Arc::new(q) as Arc<dyn Queue>),
        timer: Arc::new(SchedulerTimer::from_env(&sdk)?),
    };
    let mut api =
        Api::new(store, inbox, handoffs, SystemClock, &config).ordered_inbox(ordered_inbox).inbound(Arc::new(triggers));
    // The operator key lives in a SecureString parameter, read when first needed.
    if let Ok(name) = std::env::var("HOOKLINE_OPERATOR_KEY_PARAM") {
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        api = api.read_operator_key_from(Arc::new(move || {
            let (ssm, name) = (ssm.clone(), name.clone());
            Box::pin(async move {
                let out = ssm
                    .get_parameter()
                    .name(name)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|e| aws_sdk_ssm::error::DisplayErrorContext(e).to_string())?;
                Ok(out.parameter.and_then(|p| p.value).map(Secret::new))
            })
        }));
    }
    lambda_http::run(router(api)).await
}
