//! The Lambda face of `verify`: an SQS batch in, the failed message ids out.

use crate::Verify;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use hookline_shared::ports::{Clock, EventStore, IdempotencyStore};

/// Process an SQS batch concurrently and report only the failed records, so SQS
/// retries those alone (`ReportBatchItemFailures`).
pub async fn handle_sqs_event<S, C>(verify: &Verify<S, C>, event: SqsEvent) -> SqsBatchResponse
where
    S: EventStore + IdempotencyStore,
    C: Clock,
{
    let records: Vec<(String, String)> =
        event.records.into_iter().map(|r| (r.message_id.unwrap_or_default(), r.body.unwrap_or_default())).collect();
    let failed = verify.handle_batch(records.iter().map(|(id, body)| (id.as_str(), body.as_str()))).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}
