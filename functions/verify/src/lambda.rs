//! The Lambda face of `verify`: an SQS batch in, the failed message ids out.

use crate::Verify;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use hookline_shared::ports::{Clock, EndpointStore, EventStore, IdempotencyStore, Queue};

/// Process an SQS batch concurrently and report only the failed records, so SQS
/// retries those alone (`ReportBatchItemFailures`).
pub async fn handle_sqs_event<S, Q, C>(verify: &Verify<S, Q, C>, event: SqsEvent) -> SqsBatchResponse
where
    S: EventStore + IdempotencyStore + EndpointStore,
    Q: Queue,
    C: Clock,
{
    hookline_shared::batch::lambda::handle_sqs_event(
        event,
        |body| async move { verify.handle(&body).await.map(|_| ()) },
    )
    .await
}
