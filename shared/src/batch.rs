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

/// Split `bodies` into runs of at most `max_count` messages whose bodies add up to at
/// most `max_bytes` (SQS: 10 messages and 1 MiB a `SendMessageBatch`). A body larger
/// than `max_bytes` goes alone, for the queue to refuse with its own error.
pub fn chunks(bodies: &[String], max_count: usize, max_bytes: usize) -> Vec<&[String]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, b) in bodies.iter().enumerate() {
        let full = i - start == max_count || (i > start && bytes + b.len() > max_bytes);
        if full {
            out.push(&bodies[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += b.len();
    }
    if start < bodies.len() {
        out.push(&bodies[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_to_the_count_and_the_total_size() {
        let body = |n: usize| "x".repeat(n);
        let sizes =
            |c: Vec<&[String]>| c.iter().map(|c| c.iter().map(String::len).collect::<Vec<_>>()).collect::<Vec<_>>();
        let ten_of_200k: Vec<String> = (0..10).map(|_| body(200_000)).collect();
        assert_eq!(sizes(chunks(&ten_of_200k, 10, 1 << 20)), [vec![200_000; 5], vec![200_000; 5]]);
        let small: Vec<String> = (0..25).map(|_| body(10)).collect();
        assert_eq!(chunks(&small, 10, 1 << 20).iter().map(|c| c.len()).collect::<Vec<_>>(), [10, 10, 5]);
        let huge = vec![body(10), body(2 << 20), body(10)];
        assert_eq!(sizes(chunks(&huge, 10, 1 << 20)), [vec![10], vec![2 << 20], vec![10]]);
        assert!(chunks(&[], 10, 1 << 20).is_empty());
    }
}
