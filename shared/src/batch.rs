//! Processing a batch of queue messages concurrently and reporting only the failures,
//! as the SQS event source mapping expects (`ReportBatchItemFailures`). Shared by every
//! queue consumer, in Lambda and in `hookline dev`.

use std::fmt::Display;
use std::future::Future;

/// Run `handle` on every (message id, body) concurrently; return the ids that failed.
pub async fn process<'a, F, Fut, E>(records: impl IntoIterator<Item = (&'a str, &'a str)>, handle: F) -> Vec<String>
where
    F: Fn(&'a str) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let results = futures::future::join_all(records.into_iter().map(|(id, body)| {
        let fut = handle(body);
        async move {
            match fut.await {
                Ok(()) => None,
                Err(err) => {
                    tracing::error!(message_id = id, error = %err, "message failed");
                    Some(id.to_owned())
                }
            }
        }
    }))
    .await;
    results.into_iter().flatten().collect()
}

/// The Lambda side: an `SqsEvent` in, an `SqsBatchResponse` naming only failures out.
#[cfg(feature = "lambda")]
pub mod lambda {
    use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
    use std::fmt::Display;
    use std::future::Future;

    /// Process an SQS batch with `handle` (one message body at a time, concurrently).
    pub async fn handle_sqs_event<F, Fut, E>(event: SqsEvent, handle: F) -> SqsBatchResponse
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let records: Vec<(String, String)> =
            event.records.into_iter().map(|r| (r.message_id.unwrap_or_default(), r.body.unwrap_or_default())).collect();
        let failed =
            super::process(records.iter().map(|(i, b)| (i.as_str(), b.as_str())), |b| handle(b.to_owned())).await;
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
}
