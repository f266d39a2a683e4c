//! The queue ports on SQS.

use crate::delivery::Deliveries;
use crate::error::MessagingError;
use crate::ports::{Queue, QueueConsumer, Received};
use async_trait::async_trait;
use aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder;
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use std::time::Duration;

/// One SQS queue, by URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    /// The queue at `url`, with a client built from the SDK configuration.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), url)
    }

    /// The queue whose URL the environment variable `var` holds.
    pub fn from_env(sdk: &aws_config::SdkConfig, var: &str) -> anyhow::Result<Self> {
        Ok(Self::from_sdk(sdk, super::required_env(var)?))
    }
}

impl Deliveries<SqsQueue> {
    /// The two deliveries queues, from `HOOKLINE_DELIVERIES_URGENT_URL` and `…_REGULAR_URL`.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self {
            urgent: SqsQueue::from_env(sdk, "HOOKLINE_DELIVERIES_URGENT_URL")?,
            regular: SqsQueue::from_env(sdk, "HOOKLINE_DELIVERIES_REGULAR_URL")?,
        })
    }
}

fn err<E: std::error::Error + 'static>(e: aws_sdk_sqs::error::SdkError<E>) -> MessagingError {
    MessagingError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

/// SQS counts a delay in whole seconds: round up, so a message is never seen before it
/// is due (a retry 1.2 s off would otherwise come back after 1 s, and one 0.9 s off at
/// once), and cap at the most SQS allows.
fn delay_seconds(delay: Duration) -> i32 {
    let secs = delay.min(crate::delivery::MAX_QUEUE_DELAY).as_millis().div_ceil(1000);
    secs as i32
}

impl SqsQueue {
    /// Send one message, set up by `with` (its delay, or its group and name).
    async fn send_one(
        &self,
        body: &str,
        with: impl FnOnce(SendMessageFluentBuilder) -> SendMessageFluentBuilder,
    ) -> Result<(), MessagingError> {
        if body.len() > crate::config::MAX_QUEUE_MESSAGE_BYTES {
            return Err(MessagingError::TooLarge(body.len()));
        }
        with(self.client.send_message().queue_url(&self.url).message_body(body)).send().await.map_err(err)?;
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), MessagingError> {
        self.send_one(body, |m| m.delay_seconds(delay_seconds(delay))).await
    }

    async fn send_in_order(&self, body: &str, group: &str, dedup: &str) -> Result<(), MessagingError> {
        self.send_one(body, |m| m.message_group_id(group).message_deduplication_id(dedup)).await
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<(), MessagingError> {
        // A batch holds 10 messages and 1 MiB in all: a fan-out of large events is split
        // by size too.
        for chunk in crate::batch::chunks(bodies, 10, crate::config::MAX_QUEUE_MESSAGE_BYTES) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(b)
                        .build()
                        .map_err(|e| MessagingError::Unavailable(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(err)?;
            if !out.failed.is_empty() {
                return Err(MessagingError::Unavailable(format!(
                    "{} messages of a batch were refused",
                    out.failed.len()
                )));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl QueueConsumer for SqsQueue {
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, MessagingError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(visibility.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(err)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                receive_count: m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1),
                message_id: m.message_id.unwrap_or_default(),
                receipt: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn ack(&self, receipt: &str) -> Result<(), MessagingError> {
        self.client.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await.map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delay_is_rounded_up_to_whole_seconds_and_capped() {
        let ms = Duration::from_millis;
        let got: Vec<i32> = [0, 1, 900, 1000, 1001, 1999, 900_000, 3_600_000].map(|m| delay_seconds(ms(m))).to_vec();
        assert_eq!(got, [0, 1, 1, 1, 2, 2, 900, 900]);
    }
}
