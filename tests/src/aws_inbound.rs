//! The inbound path's handlers on the AWS adapters against moto, wired as their `main.rs`
//! files wire them: `api` and `ingest` as routers (fed API Gateway events), `verify` as a
//! message handler, over one DynamoDB store and an SQS inbox.

use hookline_api::{Api, Handoffs};
use hookline_ingest::Ingest;
use hookline_shared::aws::{DynamoStore, SqsQueue};
use hookline_shared::delivery::Deliveries;
use hookline_shared::outbound::{ReqwestSender, SystemLookup};
use hookline_shared::ports::{Queue, SystemClock};
use hookline_shared::source_cache::SourceCache;
use hookline_shared::Config;
use hookline_verify::Verify;
use std::sync::Arc;

/// The handlers and what they share.
#[allow(missing_debug_implementations)] // routers and handlers are not `Debug`
pub struct AwsInbound {
    /// The store.
    pub store: DynamoStore,
    /// The inbox queue ingest and the API write to.
    pub inbox: SqsQueue,
    /// The API's router.
    pub api: axum::Router,
    /// Ingest's router.
    pub ingest: axum::Router,
    /// Verify.
    pub verify: Verify<DynamoStore, SqsQueue>,
}

/// New tables and queues in moto (`sdk`), and the handlers on them, configured by `config`.
pub async fn aws_inbound(sdk: &aws_config::SdkConfig, config: &Config) -> anyhow::Result<AwsInbound> {
    let tables = crate::create_tables(sdk).await?;
    let store = DynamoStore::from_sdk(sdk, tables, &crate::secrets_key(sdk).await?);
    let inbox = SqsQueue::from_sdk(sdk, crate::create_queue(sdk, 30).await?);
    let deliveries = Deliveries {
        urgent: SqsQueue::from_sdk(sdk, crate::create_queue(sdk, 30).await?),
        regular: SqsQueue::from_sdk(sdk, crate::create_queue(sdk, 30).await?),
    };
    let handoffs = Handoffs {
        http: Arc::new(ReqwestSender::new(config.network_policy(), Arc::new(SystemLookup))?),
        deliveries: Deliveries {
            urgent: Arc::new(deliveries.urgent.clone()) as Arc<dyn Queue>,
            regular: Arc::new(deliveries.regular.clone()) as Arc<dyn Queue>,
        },
        timer: Arc::new(crate::scheduler_timer(sdk).await?.2),
    };
    let api = hookline_api::router(Api::new(store.clone(), inbox.clone(), handoffs, SystemClock, config));
    let sources = Arc::new(SourceCache::new(store.clone(), config.source_cache_ttl));
    let ingest = Ingest::new(sources, inbox.clone(), SystemClock, config.max_body_bytes);
    let ingest = hookline_ingest::router(Arc::new(ingest));
    let verify = Verify::with_config(store.clone(), deliveries, config);
    Ok(AwsInbound { store, inbox, api, ingest, verify })
}
