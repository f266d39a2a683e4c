//! The store ports on DynamoDB.
//!
//! Access patterns, per table:
//! - `subscriptions` (pk, sk; GSI `gsi1` on gsi1pk, gsi1sk):
//!   org `ORG#{id}`/`ORG`; API key `KEY#{sha256}`/`KEY` → org id;
//!   source `SRC#{id}`/`SRC`, listed per org through gsi1 `ORG#{org}#SRC` / `{ms}#{id}`.
//! - `logs` (same key shape): event `EVT#{id}`/`EVT`, listed per org newest first through
//!   gsi1 `ORG#{org}#EVT` / `{ms:013}#{id}`.
//! - `idempotency` (pk): the key, its value, `expires_at` (epoch seconds, the TTL attribute).

use super::sdk_err;
use crate::domain::{Event, KeyHash, Org, Plan, Provider, Secret, Source};
use crate::error::StoreError;
use crate::ids::{EventId, OrgId, SourceId};
use crate::ports::{cursor, Claim, EventQuery, EventStore, IdempotencyStore, OrgStore, Page, SourceStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// The three table names (one stack per stage, so never hard-coded).
#[derive(Debug, Clone)]
pub struct TableNames {
    /// Orgs, keys, sources (and later endpoints and schedules).
    pub subscriptions: String,
    /// Events (and later delivery attempts).
    pub logs: String,
    /// Dedupe and publish keys.
    pub idempotency: String,
}

impl TableNames {
    /// From `HOOKLINE_SUBSCRIPTIONS_TABLE`, `HOOKLINE_LOGS_TABLE`, `HOOKLINE_IDEMPOTENCY_TABLE`.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            subscriptions: super::required_env("HOOKLINE_SUBSCRIPTIONS_TABLE")?,
            logs: super::required_env("HOOKLINE_LOGS_TABLE")?,
            idempotency: super::required_env("HOOKLINE_IDEMPOTENCY_TABLE")?,
        })
    }
}

/// The DynamoDB store.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
}

impl DynamoStore {
    /// A store using `client` on `tables`.
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self { client, tables }
    }

    /// A store with a client built from the SDK configuration.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, tables: TableNames) -> Self {
        Self::new(Client::new(sdk), tables)
    }
}

type Item = HashMap<String, AttributeValue>;

fn to_item<T: Serialize>(v: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn sort_key(ms: i64, id: &str) -> String {
    format!("{ms:013}#{id}")
}

#[derive(Serialize, Deserialize)]
struct OrgItem {
    pk: String,
    sk: String,
    id: OrgId,
    name: String,
    plan: Plan,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct KeyItem {
    pk: String,
    sk: String,
    org_id: OrgId,
}

#[derive(Serialize, Deserialize)]
struct SourceItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    id: SourceId,
    org_id: OrgId,
    name: String,
    /// The provider and its options as JSON: a tagged enum does not map well onto attributes.
    provider: String,
    secrets: Vec<Secret>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl SourceItem {
    fn from_source(src: &Source) -> Result<Self, StoreError> {
        Ok(Self {
            pk: format!("SRC#{}", src.id),
            sk: "SRC".into(),
            gsi1pk: format!("ORG#{}#SRC", src.org_id),
            gsi1sk: sort_key(src.created_at.timestamp_millis(), src.id.as_str()),
            id: src.id.clone(),
            org_id: src.org_id.clone(),
            name: src.name.clone(),
            provider: serde_json::to_string(&src.provider).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            secrets: src.secrets.clone(),
            created_at: src.created_at,
            updated_at: src.updated_at,
        })
    }

    fn into_source(self) -> Result<Source, StoreError> {
        let provider: Provider =
            serde_json::from_str(&self.provider).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Source {
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            provider,
            secrets: self.secrets,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

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
        })
    }
}

#[derive(Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    value: String,
    expires_at: i64,
}

#[async_trait]
impl OrgStore for DynamoStore {
    async fn create_org(&self, org: &Org, key_hash: &KeyHash) -> Result<(), StoreError> {
        let org_item = to_item(&OrgItem {
            pk: format!("ORG#{}", org.id),
            sk: "ORG".into(),
            id: org.id.clone(),
            name: org.name.clone(),
            plan: org.plan,
            created_at: org.created_at,
        })?;
        let key_item =
            to_item(&KeyItem { pk: format!("KEY#{}", key_hash.as_str()), sk: "KEY".into(), org_id: org.id.clone() })?;
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let p = Put::builder()
                .table_name(&self.tables.subscriptions)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(TransactWriteItem::builder().put(p).build())
        };
        self.client
            .transact_write_items()
            .transact_items(put(org_item)?)
            .transact_items(put(key_item)?)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
        Ok(())
    }

    async fn org_for_key(&self, key_hash: &KeyHash) -> Result<Option<Org>, StoreError> {
        let Some(k) = self.get(&self.tables.subscriptions, key(format!("KEY#{}", key_hash.as_str()), "KEY")).await?
        else {
            return Ok(None);
        };
        let k: KeyItem = from_item(k)?;
        let Some(o) = self.get(&self.tables.subscriptions, key(format!("ORG#{}", k.org_id), "ORG")).await? else {
            return Ok(None);
        };
        let o: OrgItem = from_item(o)?;
        Ok(Some(Org { id: o.id, name: o.name, plan: o.plan, created_at: o.created_at }))
    }
}

impl DynamoStore {
    async fn get(&self, table: &str, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
        Ok(out.item)
    }

    /// Query gsi1 newest first, after `before` (exclusive), keeping items whose `type`
    /// equals `type_filter` when given, until `want` items are collected or the index is
    /// exhausted (a filter applies after `Limit`, so one page may hold fewer).
    async fn query_newest_first(
        &self,
        table: &str,
        gsi1pk: String,
        before: Option<String>,
        type_filter: Option<&str>,
        want: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(table)
                .index_name("gsi1")
                .scan_index_forward(false)
                .limit((want - items.len()).max(1) as i32)
                .expression_attribute_values(":pk", s(gsi1pk.clone()))
                .set_exclusive_start_key(start.take());
            q = match &before {
                Some(b) => q
                    .key_condition_expression("gsi1pk = :pk AND gsi1sk < :before")
                    .expression_attribute_values(":before", s(b.clone())),
                None => q.key_condition_expression("gsi1pk = :pk"),
            };
            if let Some(t) = type_filter {
                q = q
                    .filter_expression("#t = :t")
                    .expression_attribute_names("#t", "type")
                    .expression_attribute_values(":t", s(t));
            }
            let out = q.send().await.map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if items.len() < want => start = Some(k),
                _ => break,
            }
        }
        items.truncate(want);
        Ok(items)
    }
}

#[async_trait]
impl SourceStore for DynamoStore {
    async fn put_source(&self, source: &Source) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.subscriptions)
            .set_item(Some(to_item(&SourceItem::from_source(source)?)?))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
        Ok(())
    }

    async fn get_source(&self, id: &SourceId) -> Result<Option<Source>, StoreError> {
        self.get(&self.tables.subscriptions, key(format!("SRC#{id}"), "SRC"))
            .await?
            .map(|i| from_item::<SourceItem>(i)?.into_source())
            .transpose()
    }

    async fn list_sources(&self, org: &OrgId) -> Result<Vec<Source>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.tables.subscriptions)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(format!("ORG#{org}#SRC")))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
            for item in page.items.unwrap_or_default() {
                out.push(from_item::<SourceItem>(item)?.into_source()?);
            }
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(out)
    }

    async fn delete_source(&self, org: &OrgId, id: &SourceId) -> Result<bool, StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.tables.subscriptions)
            .set_key(Some(key(format!("SRC#{id}"), "SRC")))
            .condition_expression("org_id = :org")
            .expression_attribute_values(":org", s(org.as_str()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::Unavailable(sdk_err(e))),
        }
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn insert_event(&self, event: &Event) -> Result<bool, StoreError> {
        let res = self
            .client
            .put_item()
            .table_name(&self.tables.logs)
            .set_item(Some(to_item(&EventItem::from_event(event)?)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::Unavailable(sdk_err(e))),
        }
    }

    async fn get_event(&self, org: &OrgId, id: &EventId) -> Result<Option<Event>, StoreError> {
        let Some(item) = self.get(&self.tables.logs, key(format!("EVT#{id}"), "EVT")).await? else {
            return Ok(None);
        };
        let e = from_item::<EventItem>(item)?.into_event()?;
        Ok((e.org_id == *org).then_some(e))
    }

    async fn list_events(&self, org: &OrgId, q: &EventQuery) -> Result<Page<Event>, StoreError> {
        let before = match &q.cursor {
            Some(c) => {
                let (ms, id) = cursor::decode(c).ok_or(StoreError::InvalidCursor)?;
                Some(sort_key(ms, &id))
            }
            None => None,
        };
        let limit = q.limit.clamp(1, 100);
        let items = self
            .query_newest_first(&self.tables.logs, format!("ORG#{org}#EVT"), before, q.event_type.as_deref(), limit + 1)
            .await?;
        let mut events: Vec<Event> =
            items.into_iter().map(|i| from_item::<EventItem>(i)?.into_event()).collect::<Result<_, _>>()?;
        let next_cursor = if events.len() > limit {
            events.truncate(limit);
            events.last().map(|e| cursor::encode(e.created_at.timestamp_millis(), e.id.as_str()))
        } else {
            None
        };
        Ok(Page { items: events, next_cursor })
    }
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
