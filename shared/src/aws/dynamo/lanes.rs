//! Ordered delivery's lanes: a place is an item in `logs`, `LANE#{endpoint}#{key digest}`
//! / `{position}`, holding its job; positions come from a counter per org and key,
//! `STREAM#{org}#{key digest}` / `STREAM`. Joining puts the item, then reads the lane's first
//! item; leaving deletes it, then reads the first item. Both reads are strongly
//! consistent, so of a join and a leave at the same time one sees the other's write
//! (see `delivery/lane.rs`).

use super::{from_item, key, s, to_item, DynamoStore, Item};
use crate::aws::sdk_err;
use crate::delivery::{ordered_group, DeliveryJob, OrderingKey};
use crate::error::StoreError;
use crate::ids::OrgId;
use crate::ports::LaneStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct PlaceItem {
    pk: String,
    sk: String,
    job: String,
    /// DynamoDB's TTL attribute (its event's expiry): a place whose job never finished
    /// (its endpoint deleted meanwhile) goes with the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

impl DynamoStore {
    /// The first item of lane `pk`, read after this invocation's own write.
    async fn first_in_lane(&self, pk: &str) -> Result<Option<PlaceItem>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.logs)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true)
            .limit(1)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
        out.items.unwrap_or_default().into_iter().next().map(from_item::<PlaceItem>).transpose()
    }
}

fn lane_key(job: &DeliveryJob) -> Option<(String, String)> {
    job.lane.as_ref().map(|p| (format!("LANE#{}", p.lane(&job.endpoint_id)), p.position.clone()))
}

#[async_trait]
impl LaneStore for DynamoStore {
    async fn join_lane(&self, job: &DeliveryJob) -> Result<bool, StoreError> {
        let Some((pk, sk)) = lane_key(job) else { return Ok(true) };
        let body = serde_json::to_string(job).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let place =
            PlaceItem { pk: pk.clone(), sk: sk.clone(), job: body, expires_at: job.expires_at.map(|t| t.timestamp()) };
        let item: Item = to_item(&place)?;
        self.put(&self.tables.logs, item).await?;
        Ok(self.first_in_lane(&pk).await?.is_some_and(|first| first.sk == sk))
    }

    async fn leave_lane(&self, job: &DeliveryJob) -> Result<Option<DeliveryJob>, StoreError> {
        let Some((pk, sk)) = lane_key(job) else { return Ok(None) };
        self.client
            .delete_item()
            .table_name(&self.tables.logs)
            .set_key(Some(key(pk.clone(), &sk)))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
        let Some(first) = self.first_in_lane(&pk).await? else { return Ok(None) };
        serde_json::from_str(&first.job).map(Some).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn next_in_stream(&self, org: &OrgId, key: &OrderingKey) -> Result<u128, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.logs)
            .set_key(Some(super::key(format!("STREAM#{}", ordered_group(org, key)), "STREAM")))
            .update_expression("ADD n :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
        out.attributes
            .and_then(|a| a.get("n").and_then(|n| n.as_n().ok()).and_then(|n| n.parse().ok()))
            .ok_or_else(|| StoreError::Corrupt("a stream counter without its number".into()))
    }
}
