//! Delivery attempts, listed per endpoint and per event.

use super::query::{Filter, Index, SortRange};
use super::{from_item, key, sort_key, to_item, DynamoStore};
use crate::delivery::Attempt;
use crate::error::StoreError;
use crate::ids::{AttemptId, EndpointId, EventId, OrgId};
use crate::ports::{AttemptQuery, AttemptStore, Page};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Attempts: listed per endpoint on gsi1 and per event on gsi2, filtered by `status`.
#[derive(Serialize, Deserialize)]
struct AttemptItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    gsi2pk: String,
    gsi2sk: String,
    org_id: OrgId,
    status: String,
    body: String,
}

impl AttemptItem {
    fn from_attempt(a: &Attempt) -> Result<Self, StoreError> {
        let sk = sort_key(a.created_at.timestamp_millis(), a.id.as_str());
        Ok(Self {
            pk: format!("ATM#{}", a.id),
            sk: "ATM".into(),
            gsi1pk: format!("EP#{}#ATM", a.endpoint_id),
            gsi1sk: sk.clone(),
            gsi2pk: format!("EVT#{}#ATM", a.event_id),
            gsi2sk: sk,
            org_id: a.org_id.clone(),
            status: a.status.as_str().to_owned(),
            body: serde_json::to_string(a).map_err(|e| StoreError::Corrupt(e.to_string()))?,
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

    async fn get_attempt(&self, org: &OrgId, id: &AttemptId) -> Result<Option<Attempt>, StoreError> {
        let Some(item) = self.get(&self.tables.logs, key(format!("ATM#{id}"), "ATM")).await? else {
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
            .query_newest_first(&self.tables.logs, Index::Gsi1, format!("EP#{endpoint}#ATM"), range, filter, limit + 1)
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
            .query_newest_first(
                &self.tables.logs,
                Index::Gsi2,
                format!("EVT#{event}#ATM"),
                SortRange::default(),
                None,
                1000,
            )
            .await?;
        let mut attempts: Vec<Attempt> = items
            .into_iter()
            .map(|i| from_item::<AttemptItem>(i)?.into_attempt())
            .filter(|a| a.as_ref().map_or(true, |a| a.org_id == *org))
            .collect::<Result<_, _>>()?;
        attempts.reverse();
        Ok(attempts)
    }
}
