//! Consuming queued messages: the one error a consumer reports, the handler trait the
//! runtimes drive, and processing a batch concurrently while reporting only the failures,
//! as the SQS event source mapping expects (`ReportBatchItemFailures`). Shared by every
//! queue consumer, in Lambda and in `hookline dev`.

use crate::{MessagingError, StoreError};
use std::fmt::Display;
use std::future::Future;

/// Why a message could not be processed. Either way it stays on its queue (and reaches
/// the dead-letter queue once its receives are used up): nothing is lost.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// Not a message this consumer understands: retrying will not help, the DLQ keeps it.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The store failed: retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A queue, the timer or the ops sink failed: retry.
    #[error(transparent)]
    Messaging(#[from] MessagingError),
    /// A provider's API was unavailable, or refused the key it was asked with: retry
    /// (a key fixed meanwhile lets the retry through).
    #[error("provider API: {0}")]
    Upstream(String),
}

impl ConsumeError {
    /// A message (or what is built from it) that cannot be read or written.
    pub fn malformed(e: impl Display) -> Self {
        Self::Malformed(e.to_string())
    }
}

/// One queued message as its consumer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The body as sent.
    pub body: &'a str,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

impl<'a> Message<'a> {
    /// A message received for the first time.
    pub fn first(body: &'a str) -> Self {
        Self { body, receive_count: 1 }
    }

    /// Whether an earlier receive may have done part of its work and stopped.
    pub fn redelivered(&self) -> bool {
        self.receive_count > 1
    }
}

/// What a queue consumer does with one message; the runtimes (the SQS event source
/// mapping in Lambda, [`crate::local::runtime::stream`] locally) call it.
pub trait MessageHandler: Send + Sync {
    /// Handle one message; an error leaves it on the queue.
    fn handle_message(&self, message: Message<'_>) -> impl Future<Output = Result<(), ConsumeError>> + Send;
}

/// Run `handle` on every (message id, message) concurrently; return the ids that failed.
pub async fn process<'a, F, Fut, E>(records: impl IntoIterator<Item = (&'a str, Message<'a>)>, handle: F) -> Vec<String>
where
    F: Fn(Message<'a>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let results = futures::future::join_all(records.into_iter().map(|(id, message)| {
        let fut = handle(message);
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

/// Run `handle` on each (message id, message) in turn until one fails; return the ids
/// of that one and of every one after it, which were not handled.
pub async fn process_in_order<'a, F, Fut, E>(
    records: impl IntoIterator<Item = (&'a str, Message<'a>)>,
    handle: F,
) -> Vec<String>
where
    F: Fn(Message<'a>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut failed = Vec::new();
    for (id, message) in records {
        if failed.is_empty() {
            if let Err(err) = handle(message).await {
                tracing::error!(message_id = id, error = %err, "message failed; the ones after it wait");
                failed.push(id.to_owned());
            }
        } else {
            failed.push(id.to_owned());
        }
    }
    failed
}

/// The Lambda side: an `SqsEvent` in, an `SqsBatchResponse` naming only failures out.
#[cfg(feature = "lambda")]
pub mod lambda {
    use super::{Message, MessageHandler};
    use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
    use lambda_runtime::{service_fn, LambdaEvent};

    /// Process an SQS batch with `handler`: its messages concurrently, or, from a FIFO
    /// queue, one after another in order, stopping at the first failure (it and every
    /// message after it stay on the queue, so none overtakes it).
    pub async fn handle_sqs_event<H: MessageHandler>(handler: &H, event: SqsEvent) -> SqsBatchResponse {
        let fifo = event.records.iter().any(|r| r.attributes.contains_key("MessageGroupId"));
        let records: Vec<(String, String, u32)> = event
            .records
            .into_iter()
            .map(|r| {
                let count = r.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
                (r.message_id.unwrap_or_default(), r.body.unwrap_or_default(), count)
            })
            .collect();
        let messages = records.iter().map(|(i, b, n)| (i.as_str(), Message { body: b, receive_count: *n }));
        let failed = if fifo {
            super::process_in_order(messages, |m| handler.handle_message(m)).await
        } else {
            super::process(messages, |m| handler.handle_message(m)).await
        };
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

    /// Serve `handler` as an SQS-triggered function under the Lambda runtime.
    pub async fn run<H: MessageHandler>(handler: H) -> Result<(), lambda_runtime::Error> {
        lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
            let handler = &handler;
            async move { Ok::<_, lambda_runtime::Error>(handle_sqs_event(handler, event.payload).await) }
        }))
        .await
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

    #[cfg(feature = "lambda")]
    #[tokio::test]
    async fn a_fifo_batch_stops_at_its_first_failure_and_returns_the_rest() {
        use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
        use std::sync::Mutex;

        struct FailsOn(&'static str, Mutex<Vec<String>>);
        impl MessageHandler for FailsOn {
            async fn handle_message(&self, m: Message<'_>) -> Result<(), ConsumeError> {
                self.1.lock().unwrap().push(m.body.to_owned());
                if m.body == self.0 {
                    return Err(ConsumeError::malformed("no"));
                }
                Ok(())
            }
        }
        let event = |fifo: bool| {
            let mut e = SqsEvent::default();
            e.records = ["a", "b", "c"]
                .iter()
                .map(|b| {
                    let mut m = SqsMessage::default();
                    m.message_id = Some(format!("m-{b}"));
                    m.body = Some((*b).to_owned());
                    if fifo {
                        m.attributes.insert("MessageGroupId".into(), "g".into());
                    }
                    m
                })
                .collect();
            e
        };
        let failed = |r: aws_lambda_events::event::sqs::SqsBatchResponse| {
            r.batch_item_failures.into_iter().map(|f| f.item_identifier).collect::<Vec<_>>()
        };
        let handler = FailsOn("b", Mutex::default());
        assert_eq!(failed(lambda::handle_sqs_event(&handler, event(true)).await), ["m-b", "m-c"]);
        assert_eq!(*handler.1.lock().unwrap(), ["a", "b"], "c was not handled before b succeeded");

        let handler = FailsOn("b", Mutex::default());
        assert_eq!(failed(lambda::handle_sqs_event(&handler, event(false)).await), ["m-b"], "a standard batch goes on");
        assert_eq!(handler.1.lock().unwrap().len(), 3);
    }
}
