//! Events, listed per org newest first.

use super::query::{Filter, Index, SortRange};
use super::{from_item, key, sort_key, to_item, DynamoStore};
use crate::domain::Event;
use crate::error::StoreError;
use crate::ids::{EventId, OrgId, SourceId};
use crate::ports::{cursor, EventQuery, EventStore, Page};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct EventItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    id: EventId,
    org_id: OrgId,
    #[serde(rename = "type")]
    event_type: String,
    /// The payload as JSON text, so it comes back exactly as it went in.
    data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<SourceId>,
    created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fetched_at: Option<DateTime<Utc>>,
    #[serde(default)]
    hops: u32,
    /// DynamoDB's TTL attribute: seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ordering: Option<crate::delivery::LanePlace>,
}

impl EventItem {
    fn from_event(e: &Event) -> Result<Self, StoreError> {
        Ok(Self {
            pk: format!("EVT#{}", e.id),
            sk: "EVT".into(),
            gsi1pk: format!("ORG#{}#EVT", e.org_id),
            gsi1sk: sort_key(e.created_at.timestamp_millis(), e.id.as_str()),
            id: e.id.clone(),
            org_id: e.org_id.clone(),
            event_type: e.event_type.clone(),
            data: e.data.to_string(),
            source: e.source.clone(),
            created_at: e.created_at,
            fetched_at: e.fetched_at,
            hops: e.hops,
            expires_at: e.expires_at.map(|t| t.timestamp()),
            ordering: e.ordering.clone(),
        })
    }

    fn into_event(self) -> Result<Event, StoreError> {
        Ok(Event {
            id: self.id,
            org_id: self.org_id,
            event_type: self.event_type,
            data: serde_json::from_str(&self.data).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            source: self.source,
            created_at: self.created_at,
            fetched_at: self.fetched_at,
            hops: self.hops,
            expires_at: self.expires_at.and_then(|t| DateTime::from_timestamp(t, 0)),
            ordering: self.ordering,
        })
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn insert_event(&self, event: &Event) -> Result<bool, StoreError> {
        let item = to_item(&EventItem::from_event(event)?)?;
        self.put_if(&self.tables.logs, item, "attribute_not_exists(pk)", Vec::new()).await
    }

    async fn get_event(&self, org: &OrgId, id: &EventId) -> Result<Option<Event>, StoreError> {
        let Some(item) = self.get(&self.tables.logs, key(format!("EVT#{id}"), "EVT")).await? else {
            return Ok(None);
        };
        let e = from_item::<EventItem>(item)?.into_event()?;
        Ok((e.org_id == *org).then_some(e))
    }

    async fn list_events(&self, org: &OrgId, q: &EventQuery) -> Result<Page<Event>, StoreError> {
        let limit = q.limit.clamp(1, 100);
        let filter = q.event_type.clone().map(Filter::Type);
        let pk = format!("ORG#{org}#EVT");
        let items = match q.from {
            None => {
                let range = SortRange::from_query(q.cursor.as_ref(), None)?;
                self.query_range(&self.tables.logs, Index::Gsi1, pk, range, filter, limit + 1).await?
            }
            Some(from) => {
                let after = match &q.cursor {
                    Some(c) => cursor::decode(c).map(|(ms, id)| sort_key(ms, &id)).ok_or(StoreError::InvalidCursor)?,
                    // `{ms}#` sorts before every key of that millisecond.
                    None => sort_key(from.timestamp_millis(), ""),
                };
                let range = SortRange { after: Some(after), ..SortRange::default() };
                self.query_range(&self.tables.logs, Index::Gsi1, pk, range, filter, limit + 1).await?
            }
        };
        let events: Vec<Event> =
            items.into_iter().map(|i| from_item::<EventItem>(i)?.into_event()).collect::<Result<_, _>>()?;
        Ok(Page::from_overfetch(events, limit, |e| (e.created_at.timestamp_millis(), e.id.as_str())))
    }
}
