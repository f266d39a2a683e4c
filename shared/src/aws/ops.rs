//! Operational events onto the operator's EventBridge bus.

use crate::error::MessagingError;
use crate::ports::{OpsEvent, OpsSink};
use async_trait::async_trait;

/// Operational events onto the operator's EventBridge bus (`source: hookline`).
#[derive(Debug, Clone)]
pub struct EventBridgeOps {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeOps {
    /// Events onto `bus`.
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        Self { client, bus }
    }

    /// From `HOOKLINE_EVENT_BUS`.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self::new(aws_sdk_eventbridge::Client::new(sdk), super::required_env("HOOKLINE_EVENT_BUS")?))
    }
}

#[async_trait]
impl OpsSink for EventBridgeOps {
    async fn emit(&self, event: &OpsEvent) -> Result<(), MessagingError> {
        let detail = serde_json::to_string(event).map_err(|e| MessagingError::Unavailable(e.to_string()))?;
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source("hookline")
            .detail_type(&event.kind)
            .detail(detail)
            .build();
        let out =
            self.client.put_events().entries(entry).send().await.map_err(|e| {
                MessagingError::Unavailable(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())
            })?;
        if out.failed_entry_count > 0 {
            return Err(MessagingError::Unavailable(format!("EventBridge refused the event: {:?}", out.entries)));
        }
        tracing::warn!(kind = %event.kind, endpoint = %event.endpoint_id, reason = %event.reason, "operational event");
        Ok(())
    }
}
