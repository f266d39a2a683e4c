//! Delivery attempts, listed per endpoint and per event.

use super::query::{Filter, Index, SortRange};
use super::{from_item, key, sort_key, to_item, DynamoStore};
use crate::delivery::Attempt;
use crate::error::StoreError;
use crate::ids::{AttemptId, EndpointId, EventId, OrgId};
use crate::ports::{AttemptQuery, AttemptStore, Page};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Attempts: kept in their event's partition (`EVT#{event}`, `ATM#{id}`), so an event's
/// attempts are one query of the table; listed per endpoint on gsi1, filtered by
/// `status`. One index, not two: each index holds a copy of every item carrying its
/// key, and the copy is billed as a write of its own.
#[derive(Serialize, Deserialize)]
struct AttemptItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    org_id: OrgId,
    status: String,
    body: String,
    /// DynamoDB's TTL attribute: seconds since the epoch (its event's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// The key of attempt `id` of `event`.
fn attempt_key(event: &EventId, id: &AttemptId) -> super::Item {
    key(format!("EVT#{event}"), &format!("{ATTEMPT_PREFIX}{id}"))
}

/// What starts the sort key of every attempt in an event's partition.
const ATTEMPT_PREFIX: &str = "ATM#";

impl AttemptItem {
    fn from_attempt(a: &Attempt) -> Result<Self, StoreError> {
        Ok(Self {
            pk: format!("EVT#{}", a.event_id),
            sk: format!("{ATTEMPT_PREFIX}{}", a.id),
            gsi1pk: format!("EP#{}#ATM", a.endpoint_id),
            gsi1sk: sort_key(a.created_at.timestamp_millis(), a.id.as_str()),
            org_id: a.org_id.clone(),
            status: a.status.as_str().to_owned(),
            body: serde_json::to_string(a).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            expires_at: a.expires_at.map(|t| t.timestamp()),
        })
    }

    fn into_attempt(self) -> Result<Attempt, StoreError> {
        serde_json::from_str(&self.body).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

#[async_trait]
impl AttemptStore for DynamoStore {
    async fn insert_attempt(&self, a: &Attempt) -> Result<bool, StoreError> {
        let item = to_item(&AttemptItem::from_attempt(a)?)?;
        self.put_if(&self.tables.logs, item, "attribute_not_exists(pk)", vec![]).await
    }

    async fn put_attempt(&self, a: &Attempt) -> Result<(), StoreError> {
        self.put(&self.tables.logs, to_item(&AttemptItem::from_attempt(a)?)?).await
    }

    async fn get_attempt(&self, org: &OrgId, event: &EventId, id: &AttemptId) -> Result<Option<Attempt>, StoreError> {
        let Some(item) = self.get(&self.tables.logs, attempt_key(event, id)).await? else {
            return Ok(None);
        };
        let a = from_item::<AttemptItem>(item)?.into_attempt()?;
        Ok((a.org_id == *org).then_some(a))
    }

    async fn list_attempts(
        &self,
        org: &OrgId,
        endpoint: &EndpointId,
        q: &AttemptQuery,
    ) -> Result<Page<Attempt>, StoreError> {
        let range = SortRange::from_query(q.cursor.as_ref(), q.since)?;
        let limit = q.limit.clamp(1, 100);
        let filter = Some(Filter::Statuses(q.statuses.iter().map(|s| s.as_str()).collect()));
        let items = self
            .query_range(&self.tables.logs, Index::Gsi1, format!("EP#{endpoint}#ATM"), range, filter, limit + 1)
            .await?;
        let attempts: Vec<Attempt> = items
            .into_iter()
            .map(|i| from_item::<AttemptItem>(i)?.into_attempt())
            .filter(|a| a.as_ref().map_or(true, |a| a.org_id == *org))
            .collect::<Result<_, _>>()?;
        Ok(Page::from_overfetch(attempts, limit, |a| (a.created_at.timestamp_millis(), a.id.as_str())))
    }

    async fn list_event_attempts(&self, org: &OrgId, event: &EventId) -> Result<Vec<Attempt>, StoreError> {
        let items = self
            .query_range(
                &self.tables.logs,
                Index::Table,
                format!("EVT#{event}"),
                SortRange::prefixed(ATTEMPT_PREFIX),
                None,
                1000,
            )
            .await?;
        let mut attempts: Vec<Attempt> = items
            .into_iter()
            .map(|i| from_item::<AttemptItem>(i)?.into_attempt())
            .filter(|a| a.as_ref().map_or(true, |a| a.org_id == *org))
            .collect::<Result<_, _>>()?;
        // Ids made at a time sort by it, but a direct send's ids are new ones.
        attempts.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(attempts)
    }
}
