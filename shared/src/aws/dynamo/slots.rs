//! The send slots of rate-limited endpoints: one item per endpoint in `logs`,
//! `EP#{id}#SLOT`/`SLOT`, holding its next free time in microseconds (`next_us`). Each
//! claim is one conditional update, so concurrent `deliver` invocations share the
//! budget; the item expires a week after the last claim.

use super::{key, DynamoStore};
use crate::aws::sdk_err;
use crate::delivery::rate;
use crate::error::StoreError;
use crate::ids::EndpointId;
use crate::ports::SlotStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Claims that lose a race try again: the endpoint went from idle to busy between two
/// conditions, which a second try settles.
const TRIES: usize = 4;
const KEEP: chrono::Duration = chrono::Duration::days(7);

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The next free time each endpoint's last claim here saw: whether to try the busy
/// case first. A hint only; the conditions decide.
#[derive(Debug, Default)]
pub(super) struct SlotHints(std::sync::Mutex<std::collections::HashMap<EndpointId, i64>>);

/// Endpoints remembered before the hints start over.
const HINTS: usize = 10_000;

impl SlotHints {
    fn busy(&self, endpoint: &EndpointId, now_us: i64) -> bool {
        self.0.lock().map(|h| h.get(endpoint).is_some_and(|next| *next > now_us)).unwrap_or(false)
    }

    fn note(&self, endpoint: &EndpointId, next_us: i64) {
        if let Ok(mut h) = self.0.lock() {
            if h.len() >= HINTS {
                h.clear();
            }
            h.insert(endpoint.clone(), next_us);
        }
    }
}

impl DynamoStore {
    /// Apply `update` to the endpoint's slot item if `condition` holds; the next free
    /// time after it, or `None` when the condition failed.
    async fn update_slot(
        &self,
        endpoint: &EndpointId,
        update: &str,
        condition: &str,
        values: [(&str, i64); 3],
    ) -> Result<Option<i64>, StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.logs)
            .set_key(Some(key(format!("EP#{endpoint}#SLOT"), "SLOT")))
            .update_expression(update)
            .condition_expression(condition)
            .return_values(ReturnValue::UpdatedNew);
        for (name, value) in values {
            req = req.expression_attribute_values(name, n(value));
        }
        match req.send().await {
            Ok(out) => {
                let next = out.attributes.as_ref().and_then(|a| a.get("next_us")).and_then(|v| v.as_n().ok());
                next.and_then(|v| v.parse().ok())
                    .map(Some)
                    .ok_or_else(|| StoreError::Corrupt("slot without next_us".into()))
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(None),
            Err(e) => Err(StoreError::Unavailable(sdk_err(e))),
        }
    }
}

#[async_trait]
impl SlotStore for DynamoStore {
    async fn claim_slot(
        &self,
        endpoint: &EndpointId,
        interval: Duration,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let (now_us, step) = (now.timestamp_micros(), interval.as_micros() as i64);
        let expires = (now + KEEP).timestamp();
        let at = |us| DateTime::from_timestamp_micros(us).ok_or_else(|| StoreError::Corrupt(format!("slot {us}")));
        // Start with the case the last claim here suggests, so a claim is one request
        // unless the endpoint changed between busy and idle.
        let mut busy_first = self.slot_hints.busy(endpoint, now_us);
        for _ in 0..TRIES {
            if busy_first {
                // The two cases of `rate::claim`. Busy: the slot is the next free time,
                // which moves one interval on.
                let values = [(":step", step), (":now", now_us), (":exp", expires)];
                let set = "SET next_us = next_us + :step, expires_at = :exp";
                if let Some(next) = self.update_slot(endpoint, set, "next_us > :now", values).await? {
                    self.slot_hints.note(endpoint, next);
                    return at(next - step);
                }
            }
            // Idle since its next free time, or never limited: the slot is now.
            let (slot, next) = rate::claim(None, now_us, step);
            let values = [(":next", next), (":now", now_us), (":exp", expires)];
            let set = "SET next_us = :next, expires_at = :exp";
            let cond = "attribute_not_exists(next_us) OR next_us <= :now";
            if self.update_slot(endpoint, set, cond, values).await?.is_some() {
                self.slot_hints.note(endpoint, next);
                return at(slot);
            }
            busy_first = true;
        }
        Err(StoreError::Unavailable(format!("the send slot of {endpoint} kept changing")))
    }
}
