//! Dedupe and publish keys, each with its expiry (the table's TTL attribute).

use super::{from_item, s, to_item, DynamoStore};
use crate::aws::sdk_err;
use crate::error::StoreError;
use crate::ports::{Claim, IdempotencyStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    value: String,
    expires_at: i64,
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim(&self, k: &str, value: &str, ttl: Duration, now: DateTime<Utc>) -> Result<Claim, StoreError> {
        let item = IdempotencyItem {
            pk: k.to_owned(),
            value: value.to_owned(),
            expires_at: now.timestamp() + ttl.as_secs() as i64,
        };
        // TTL deletion is lazy, so an expired key still present counts as free.
        let res = self
            .client
            .put_item()
            .table_name(&self.tables.idempotency)
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(Claim::New),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                let existing = self
                    .get(&self.tables.idempotency, HashMap::from([("pk".to_owned(), s(k))]))
                    .await?
                    .map(from_item::<IdempotencyItem>)
                    .transpose()?;
                Ok(Claim::Existing(existing.map(|i| i.value).unwrap_or_default()))
            }
            Err(e) => Err(StoreError::Unavailable(sdk_err(e))),
        }
    }
}
