//! Items an org may hold only so many of (endpoints, by plan). Each is created and
//! deleted in one transaction with a per-org counter item, `ORG#{org}`/`COUNT#{kind}`
//! holding `n`, so concurrent creates can never pass the limit between a count and a
//! write.
//!
//! Orgs from before counters have none: the first create counts their items once and
//! stores that. A delete that races this first count can leave the counter one high,
//! which errs towards the limit, never past it.

use super::{key, s, DynamoStore, Item};
use crate::aws::sdk_err;
use crate::error::StoreError;
use crate::ids::OrgId;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

/// What is counted, for whom.
pub(super) struct Counted<'a> {
    /// Names the counter (`COUNT#{kind}`).
    pub kind: &'static str,
    pub org: &'a OrgId,
    /// The gsi1 key that lists the org's items of this kind, for the first count.
    pub listed_under: String,
}

impl Counted<'_> {
    fn key(&self) -> Item {
        key(format!("ORG#{}", self.org), &format!("COUNT#{}", self.kind))
    }
}

/// A request the SDK would not build (a missing required field: a bug, not an outage).
fn build(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// A transaction was cancelled (a condition failed) rather than refused or unreachable.
fn cancelled(e: &SdkError<TransactWriteItemsError>) -> bool {
    e.as_service_error().is_some_and(|se| se.is_transaction_canceled_exception())
}

impl DynamoStore {
    /// Create `item` (new, never replacing) and count it, unless the org already holds
    /// `limit`; false then.
    pub(super) async fn put_counted(
        &self,
        table: &str,
        item: Item,
        counted: &Counted<'_>,
        limit: Option<usize>,
    ) -> Result<bool, StoreError> {
        let limit = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
        for _ in 0..4 {
            let count = Update::builder()
                .table_name(table)
                .set_key(Some(counted.key()))
                .update_expression("SET n = n + :one")
                .condition_expression("attribute_exists(n) AND n < :limit")
                .expression_attribute_values(":one", number(1))
                .expression_attribute_values(":limit", number(limit))
                .build()
                .map_err(build)?;
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build)?;
            let res = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(count).build())
                .transact_items(TransactWriteItem::builder().put(put).build())
                .send()
                .await;
            match res {
                Ok(_) => return Ok(true),
                Err(e) if cancelled(&e) => {}
                Err(e) => return Err(StoreError::Unavailable(sdk_err(e))),
            }
            match self.count(table, counted).await? {
                None => self.start_count(table, counted).await?,
                Some(n) if n >= limit => return Ok(false),
                // Lost a race with another create or delete: try again.
                Some(_) => {}
            }
        }
        Err(StoreError::Conflict(format!("the {} count kept changing", counted.kind)))
    }

    /// Delete the item at `item_key` if the org owns it, and uncount it; false when it
    /// does not exist there.
    pub(super) async fn delete_counted(
        &self,
        table: &str,
        item_key: Item,
        counted: &Counted<'_>,
    ) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(item_key.clone()))
            .condition_expression("org_id = :org")
            .expression_attribute_values(":org", s(counted.org.as_str()))
            .build()
            .map_err(build)?;
        let uncount = Update::builder()
            .table_name(table)
            .set_key(Some(counted.key()))
            .update_expression("SET n = n - :one")
            .condition_expression("attribute_exists(n)")
            .expression_attribute_values(":one", number(1))
            .build()
            .map_err(build)?;
        let res = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(TransactWriteItem::builder().update(uncount).build())
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            // No counter yet: nothing to uncount; the first create will count.
            Err(e) if cancelled(&e) && self.count(table, counted).await?.is_none() => {
                self.delete_owned(table, item_key, counted.org).await
            }
            Err(e) if cancelled(&e) => Ok(false),
            Err(e) => Err(StoreError::Unavailable(sdk_err(e))),
        }
    }

    async fn count(&self, table: &str, counted: &Counted<'_>) -> Result<Option<i64>, StoreError> {
        let Some(item) = self.get(table, counted.key()).await? else { return Ok(None) };
        let n = item.get("n").and_then(|n| n.as_n().ok()).and_then(|n| n.parse().ok());
        n.map(Some).ok_or_else(|| StoreError::Corrupt(format!("the {} counter has no number", counted.kind)))
    }

    /// Count the org's items once and store it, unless another create did first.
    async fn start_count(&self, table: &str, counted: &Counted<'_>) -> Result<(), StoreError> {
        let n = self.query_all(table, counted.listed_under.clone()).await?.len();
        let mut item = counted.key();
        item.insert("n".into(), number(n as i64));
        item.insert("org_id".into(), s(counted.org.as_str()));
        self.put_if(table, item, "attribute_not_exists(pk)", vec![]).await?;
        Ok(())
    }
}
