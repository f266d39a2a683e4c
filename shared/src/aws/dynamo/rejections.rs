//! Rejection diagnostics in `logs`: a source's counter `REJ#{source}`/`COUNT` and its
//! ring of records `REJ#{source}`/`SLOT#{nn}`. A record takes one conditional update
//! of the counter (the two cases of `rejection::next_slot`: a new second, or room left
//! in this one) and one put over the slot it gives; the items expire with DynamoDB's
//! TTL, and the listing leaves out any the TTL has not removed yet.

use super::{from_item, key, s, to_item, DynamoStore};
use crate::aws::sdk_err;
use crate::error::StoreError;
use crate::ids::SourceId;
use crate::ports::RejectionStore;
use crate::rejection::{RejectedRequest, KEPT, PER_SECOND};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct RecordItem {
    pk: String,
    sk: String,
    record: String,
    at_ms: i64,
    /// DynamoDB's TTL attribute.
    expires_at: i64,
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl DynamoStore {
    /// Apply `update` with `values` to the counter if `condition` holds: the new `seq`,
    /// or `None`.
    async fn count_rejection(
        &self,
        pk: &str,
        update: &str,
        condition: &str,
        values: &[(&str, i64)],
    ) -> Result<Option<u64>, StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.logs)
            .set_key(Some(key(pk.to_owned(), "COUNT")))
            .update_expression(update)
            .condition_expression(condition)
            .return_values(ReturnValue::UpdatedNew);
        for (name, value) in values {
            req = req.expression_attribute_values(*name, n(*value));
        }
        match req.send().await {
            Ok(out) => {
                let seq = out.attributes.as_ref().and_then(|a| a.get("seq")).and_then(|v| v.as_n().ok());
                seq.and_then(|v| v.parse().ok())
                    .map(Some)
                    .ok_or_else(|| StoreError::Corrupt("a rejection counter without seq".into()))
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(None),
            Err(e) => Err(StoreError::Unavailable(sdk_err(e))),
        }
    }
}

#[async_trait]
impl RejectionStore for DynamoStore {
    async fn record_rejection(&self, record: &RejectedRequest) -> Result<bool, StoreError> {
        let pk = format!("REJ#{}", record.source_id);
        let (now_s, expires) = (record.at.timestamp(), record.expires_at.timestamp());
        let new_second =
            "SET window_s = :now, in_window = :one, seq = if_not_exists(seq, :zero) + :one, expires_at = :exp";
        let new_cond = "attribute_not_exists(window_s) OR window_s < :now";
        let values = [(":now", now_s), (":one", 1), (":zero", 0), (":exp", expires)];
        let mut seq = self.count_rejection(&pk, new_second, new_cond, &values).await?;
        if seq.is_none() {
            let same_second = "SET in_window = in_window + :one, seq = seq + :one, expires_at = :exp";
            let same_cond = "window_s = :now AND in_window < :max";
            let values = [(":now", now_s), (":one", 1), (":max", PER_SECOND.into()), (":exp", expires)];
            seq = self.count_rejection(&pk, same_second, same_cond, &values).await?;
        }
        let Some(seq) = seq else { return Ok(false) };
        let item = RecordItem {
            sk: format!("SLOT#{:02}", seq % KEPT),
            pk,
            record: serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            at_ms: record.at.timestamp_millis(),
            expires_at: expires,
        };
        self.put(&self.tables.logs, to_item(&item)?).await?;
        Ok(true)
    }

    async fn list_rejections(&self, source: &SourceId, now: DateTime<Utc>) -> Result<Vec<RejectedRequest>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.logs)
            .key_condition_expression("pk = :pk AND begins_with(sk, :slot)")
            .expression_attribute_values(":pk", s(format!("REJ#{source}")))
            .expression_attribute_values(":slot", s("SLOT#"))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
        let mut items: Vec<RecordItem> =
            out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
        items.retain(|i| i.expires_at > now.timestamp());
        items.sort_by_key(|i| std::cmp::Reverse(i.at_ms));
        items.iter().map(|i| serde_json::from_str(&i.record).map_err(|e| StoreError::Corrupt(e.to_string()))).collect()
    }
}
