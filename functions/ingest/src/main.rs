//! Lambda entry point of `ingest`: wire the AWS adapters from config, serve the router.

use hookline_ingest::{router, Ingest};
use hookline_shared::aws::{sdk_config, DynamoStore, SqsQueue};
use hookline_shared::ports::SystemClock;
use hookline_shared::source_cache::SourceCache;
use hookline_shared::Config;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookline_shared::aws::init_tracing();
    let config = Config::from_env()?;
    let sdk = sdk_config().await;
    let sources = Arc::new(SourceCache::new(DynamoStore::from_env(&sdk)?, config.source_cache_ttl));
    let inbox = SqsQueue::from_env(&sdk, "HOOKLINE_INBOX_URL")?;
    let ordered_inbox = SqsQueue::from_env(&sdk, "HOOKLINE_ORDERED_INBOX_URL")?;
    let ingest = Ingest::new(sources, inbox, SystemClock, config.max_body_bytes).ordered_inbox(ordered_inbox);
    let ingest = Arc::new(ingest);
    lambda_http::run(router(ingest)).await
}
