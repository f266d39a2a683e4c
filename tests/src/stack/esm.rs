//! An SQS event source mapping as the template declares it: receive up to `BatchSize`
//! messages (waiting up to `MaximumBatchingWindowInSeconds` to fill a batch), invoke the
//! function with the `SqsEvent` Lambda sends, delete what succeeded and leave what the
//! function reported failed (`ReportBatchItemFailures`), or the whole batch when the
//! invocation failed. Messages left behind come back after the queue's visibility
//! timeout, and moto's redrive moves them to the dead-letter queue.

use super::function::Function;
use super::meter::{self, Meter};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One mapping from the template.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The logical id (`VerifyFunctionInbox`).
    pub id: String,
    /// The queue's URL.
    pub queue_url: String,
    /// The queue's ARN (`eventSourceARN`).
    pub queue_arn: String,
    /// `BatchSize`.
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`.
    pub window: Duration,
    /// `FunctionResponseTypes` has `ReportBatchItemFailures`.
    pub report_failures: bool,
    /// The function it invokes.
    pub function: Arc<Function>,
    /// Where the poller's requests are counted.
    pub meter: Meter,
}

fn record(m: &Message, mapping: &Mapping, region: &str) -> Value {
    let attrs: serde_json::Map<String, Value> =
        m.attributes.iter().flatten().map(|(k, v)| (k.as_str().to_owned(), json!(v))).collect();
    json!({
        "messageId": m.message_id,
        "receiptHandle": m.receipt_handle,
        "body": m.body,
        "attributes": attrs,
        "messageAttributes": {},
        "md5OfBody": m.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": mapping.queue_arn,
        "awsRegion": region,
    })
}

impl Mapping {
    async fn receive(&self, sqs: &aws_sdk_sqs::Client) -> anyhow::Result<Vec<Message>> {
        let mut batch = Vec::new();
        let start = Instant::now();
        loop {
            let want = (self.batch_size - batch.len()).min(10) as i32;
            // Lambda's pollers long-poll; a short wait keeps the loop responsive to stop.
            let wait = if batch.is_empty() { 1 } else { 0 };
            let out = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(want)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await?;
            // Empty receives cost by the hour, whatever the traffic; they are counted apart.
            let got = out.messages.as_ref().map_or(0, Vec::len);
            let bytes: usize = out.messages.iter().flatten().map(|m| m.body.as_ref().map_or(0, String::len)).sum();
            let what = if got == 0 { "sqs:ReceiveMessage (empty)" } else { "sqs:ReceiveMessage" };
            self.meter.add("poller", what, meter::sqs_requests(bytes));
            batch.extend(out.messages.unwrap_or_default());
            if batch.len() >= self.batch_size || batch.is_empty() || start.elapsed() >= self.window {
                return Ok(batch);
            }
        }
    }

    /// Poll until the task is dropped.
    pub async fn run(self, sqs: aws_sdk_sqs::Client, region: String) {
        loop {
            let batch = match self.receive(&sqs).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(mapping = %self.id, error = %e, "receive failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if !batch.is_empty() {
                let event = json!({ "Records": batch.iter().map(|m| record(m, &self, &region)).collect::<Vec<_>>() });
                let keep: HashSet<String> = match self.function.invoke(event).await {
                    Ok(answer) if self.report_failures => answer["batchItemFailures"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                        .collect(),
                    Ok(_) => HashSet::new(),
                    Err(e) => {
                        tracing::warn!(mapping = %self.id, error = %e, "invocation failed; the batch stays");
                        batch.iter().filter_map(|m| m.message_id.clone()).collect()
                    }
                };
                let done: Vec<DeleteMessageBatchRequestEntry> = batch
                    .iter()
                    .filter(|m| !m.message_id.as_ref().is_some_and(|id| keep.contains(id)))
                    .enumerate()
                    .filter_map(|(i, m)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle.clone()?)
                            .build()
                            .ok()
                    })
                    .collect();
                if !done.is_empty() {
                    self.meter.add("poller", "sqs:DeleteMessageBatch", meter::Tally::requests(1.0));
                    let res =
                        sqs.delete_message_batch().queue_url(&self.queue_url).set_entries(Some(done)).send().await;
                    if let Err(e) = res {
                        tracing::error!(mapping = %self.id, error = %e, "delete failed");
                    }
                }
            }
        }
    }
}
