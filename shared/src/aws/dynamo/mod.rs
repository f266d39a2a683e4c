//! The store ports on DynamoDB.
//!
//! Access patterns, per table:
//! - `subscriptions` (pk, sk; GSI `gsi1` on gsi1pk, gsi1sk):
//!   org `ORG#{id}`/`ORG`; API key `KEY#{sha256}`/`KEY` → org id and its record, listed
//!   per org through gsi1 `ORG#{org}#KEY`;
//!   source `SRC#{id}`/`SRC`, listed per org through gsi1 `ORG#{org}#SRC` / `{ms}#{id}`;
//!   endpoint `EP#{id}`/`EP`, listed per org through gsi1 `ORG#{org}#EP`, and counted
//!   in `ORG#{org}`/`COUNT#EP` (see `counted`).
//! - `logs` (same key shape): event `EVT#{id}`/`EVT`, listed per org newest first through
//!   gsi1 `ORG#{org}#EVT` / `{ms:013}#{id}`.
//!   Scheduled job `SCH#{id}`/`SCH`, listed per org through gsi1 `ORG#{org}#SCH`, and by
//!   key (`ORG#{org}#KEY#{key}`) or recurring name (`ORG#{org}#REC#{name}`) through gsi2.
//! - `idempotency` (pk): the key, its value, `expires_at` (epoch seconds, the TTL attribute).

mod counted;

use super::sdk_err;
use crate::api_key::{ApiKeyRecord, KeyHash};
use crate::delivery::{Attempt, Endpoint};
use crate::domain::{DedupeBy, Event, Org, Plan, Provider, Secret, Source};
use crate::error::StoreError;
use crate::ids::{ApiKeyId, AttemptId, EndpointId, EventId, OrgId, ScheduleId, SourceId};
use crate::ports::{
    cursor, AttemptQuery, AttemptStore, Claim, EndpointStore, EventQuery, EventStore, IdempotencyStore, JobQuery,
    OrgStore, Page, ScheduleStore, SourceStore,
};
use crate::schedule::Job;
use crate::sealing::Sealer;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use counted::Counted;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// The three table names (one stack per stage, so never hard-coded).
#[derive(Debug, Clone)]
pub struct TableNames {
    /// Orgs, keys, sources, endpoints and scheduled jobs.
    pub subscriptions: String,
    /// Events and delivery attempts.
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
    /// Seals endpoint and source secrets.
    sealer: Sealer,
}

impl DynamoStore {
    /// A store using `client` on `tables`, sealing secrets with `sealer`.
    pub fn new(client: Client, tables: TableNames, sealer: Sealer) -> Self {
        Self { client, tables, sealer }
    }

    /// A store with clients built from the SDK configuration, sealing secrets with data
    /// keys under the KMS key `secrets_key`.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, tables: TableNames, secrets_key: &str) -> Self {
        Self::new(Client::new(sdk), tables, Sealer::new(super::KmsKeys::new(sdk, secrets_key)))
    }

    /// [`DynamoStore::from_sdk`] with the tables of [`TableNames::from_env`] and the KMS key
    /// of `HOOKLINE_SECRETS_KEY_ID`.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let key = super::required_env("HOOKLINE_SECRETS_KEY_ID")?;
        Ok(Self::from_sdk(sdk, TableNames::from_env()?, &key))
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

/// An API key by its hash, listed per org through gsi1. Keys stored before keys had
/// records carry none (nor the index attributes) until their next use adds them.
#[derive(Serialize, Deserialize)]
struct KeyItem {
    pk: String,
    sk: String,
    org_id: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

impl KeyItem {
    fn from_record(k: &ApiKeyRecord) -> Result<Self, StoreError> {
        Ok(Self {
            pk: format!("KEY#{}", k.hash.as_str()),
            sk: "KEY".into(),
            org_id: k.org_id.clone(),
            gsi1pk: Some(format!("ORG#{}#KEY", k.org_id)),
            gsi1sk: Some(sort_key(k.created_at.timestamp_millis(), k.id.as_str())),
            body: Some(serde_json::to_string(k).map_err(|e| StoreError::Corrupt(e.to_string()))?),
        })
    }
}

impl From<OrgItem> for Org {
    fn from(o: OrgItem) -> Self {
        Org { id: o.id, name: o.name, plan: o.plan, created_at: o.created_at }
    }
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
    /// Plain secrets, only in items written before secrets were sealed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_secrets: Option<String>,
    #[serde(default, skip_serializing_if = "DedupeBy::is_default")]
    dedupe: DedupeBy,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl SourceItem {
    fn from_source(src: &Source, sealed_secrets: String) -> Result<Self, StoreError> {
        Ok(Self {
            pk: format!("SRC#{}", src.id),
            sk: "SRC".into(),
            gsi1pk: format!("ORG#{}#SRC", src.org_id),
            gsi1sk: sort_key(src.created_at.timestamp_millis(), src.id.as_str()),
            id: src.id.clone(),
            org_id: src.org_id.clone(),
            name: src.name.clone(),
            provider: serde_json::to_string(&src.provider).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            secrets: Vec::new(),
            sealed_secrets: Some(sealed_secrets),
            dedupe: src.dedupe,
            created_at: src.created_at,
            updated_at: src.updated_at,
        })
    }

    async fn into_source(self, sealer: &Sealer) -> Result<Source, StoreError> {
        let provider: Provider =
            serde_json::from_str(&self.provider).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let secrets = match &self.sealed_secrets {
            Some(sealed) => serde_json::from_slice(&sealer.open(sealed, self.id.as_str()).await?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            None => self.secrets,
        };
        Ok(Source {
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            provider,
            secrets,
            dedupe: self.dedupe,
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
    #[serde(default)]
    hops: u32,
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
            hops: e.hops,
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
            hops: self.hops,
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
    async fn create_org(&self, org: &Org, api_key: &ApiKeyRecord) -> Result<(), StoreError> {
        let org_item = to_item(&OrgItem {
            pk: format!("ORG#{}", org.id),
            sk: "ORG".into(),
            id: org.id.clone(),
            name: org.name.clone(),
            plan: org.plan,
            created_at: org.created_at,
        })?;
        let key_item = to_item(&KeyItem::from_record(api_key)?)?;
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

    async fn get_org(&self, id: &OrgId) -> Result<Option<Org>, StoreError> {
        let item = self.get(&self.tables.subscriptions, key(format!("ORG#{id}"), "ORG")).await?;
        item.map(|o| from_item::<OrgItem>(o).map(Org::from)).transpose()
    }

    async fn org_for_key(&self, key_hash: &KeyHash) -> Result<Option<(Org, ApiKeyRecord)>, StoreError> {
        let Some(k) = self.get(&self.tables.subscriptions, key(format!("KEY#{}", key_hash.as_str()), "KEY")).await?
        else {
            return Ok(None);
        };
        let k: KeyItem = from_item(k)?;
        let Some(org) = self.get_org(&k.org_id).await? else { return Ok(None) };
        let record = match k.body {
            Some(b) => serde_json::from_str(&b).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            None => {
                // A key from before records: give it one, so the org can list and revoke it.
                let record = ApiKeyRecord::legacy(key_hash.clone(), &org.id, org.created_at);
                if !self.update_api_key(&record).await? {
                    return Ok(None);
                }
                record
            }
        };
        Ok(Some((org, record)))
    }

    async fn add_api_key(&self, api_key: &ApiKeyRecord) -> Result<(), StoreError> {
        let item = to_item(&KeyItem::from_record(api_key)?)?;
        if self.put_if(&self.tables.subscriptions, item, "attribute_not_exists(pk)", vec![]).await? {
            Ok(())
        } else {
            Err(StoreError::Conflict("an API key with this hash exists".into()))
        }
    }

    async fn update_api_key(&self, api_key: &ApiKeyRecord) -> Result<bool, StoreError> {
        let item = to_item(&KeyItem::from_record(api_key)?)?;
        // `org_id = :org` also requires the item to exist: a revoked key stays revoked.
        let values = vec![(":org", s(api_key.org_id.as_str()))];
        self.put_if(&self.tables.subscriptions, item, "org_id = :org", values).await
    }

    async fn list_api_keys(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let items = self.query_all(&self.tables.subscriptions, format!("ORG#{org}#KEY")).await?;
        items
            .into_iter()
            .filter_map(|i| from_item::<KeyItem>(i).map(|k| k.body).transpose())
            .map(|b| b.and_then(|b| serde_json::from_str(&b).map_err(|e| StoreError::Corrupt(e.to_string()))))
            .collect()
    }

    async fn delete_api_key(&self, org: &OrgId, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let Some(k) = self.list_api_keys(org).await?.into_iter().find(|k| &k.id == id) else { return Ok(None) };
        let deleted =
            self.delete_owned(&self.tables.subscriptions, key(format!("KEY#{}", k.hash.as_str()), "KEY"), org).await?;
        Ok(deleted.then_some(k))
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

    /// Put an item unconditionally.
    async fn put(&self, table: &str, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
        Ok(())
    }

    /// Put an item only if `condition` holds; false when it does not.
    async fn put_if(
        &self,
        table: &str,
        item: Item,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut req = self.client.put_item().table_name(table).set_item(Some(item)).condition_expression(condition);
        for (name, value) in values {
            req = req.expression_attribute_values(name, value);
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::Unavailable(sdk_err(e))),
        }
    }

    /// Every item under `gsi1pk` on gsi1, oldest first.
    async fn query_all(&self, table: &str, gsi1pk: String) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(gsi1pk.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }

    /// Delete an item only if `org` owns it; false when it does not exist there.
    async fn delete_owned(&self, table: &str, key: Item, org: &OrgId) -> Result<bool, StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(table)
            .set_key(Some(key))
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

    /// Query an index newest first within `range`, keeping items that pass `filter`,
    /// until `want` items are collected or the index is exhausted (a filter applies
    /// after `Limit`, so one page may hold fewer).
    async fn query_newest_first(
        &self,
        table: &str,
        index: Index,
        pk: String,
        range: SortRange,
        filter: Option<Filter>,
        want: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let (pk_attr, sk_attr) = index.attrs();
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(table)
                .index_name(index.name())
                .scan_index_forward(false)
                .limit((want - items.len()).max(1) as i32)
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start.take());
            let cond = match (&range.since, &range.before) {
                (Some(a), Some(b)) => {
                    q = q
                        .expression_attribute_values(":a", s(a.clone()))
                        .expression_attribute_values(":b", s(b.clone()));
                    "#pk = :pk AND #sk BETWEEN :a AND :b"
                }
                (Some(a), None) => {
                    q = q.expression_attribute_values(":a", s(a.clone()));
                    "#pk = :pk AND #sk >= :a"
                }
                (None, Some(b)) => {
                    q = q.expression_attribute_values(":b", s(b.clone()));
                    "#pk = :pk AND #sk < :b"
                }
                (None, None) => "#pk = :pk",
            };
            if cond.contains("#sk") {
                q = q.expression_attribute_names("#sk", sk_attr);
            }
            q = q.key_condition_expression(cond);
            match &filter {
                Some(Filter::Type(t)) => {
                    q = q
                        .filter_expression("#t = :t")
                        .expression_attribute_names("#t", "type")
                        .expression_attribute_values(":t", s(t.clone()));
                }
                Some(Filter::Statuses(list)) if !list.is_empty() => {
                    let names: Vec<String> = (0..list.len()).map(|i| format!(":s{i}")).collect();
                    for (n, v) in names.iter().zip(list) {
                        q = q.expression_attribute_values(n, s(*v));
                    }
                    q = q
                        .filter_expression(format!("#st IN ({})", names.join(", ")))
                        .expression_attribute_names("#st", "status");
                }
                _ => {}
            }
            let out = q.send().await.map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
            // BETWEEN is inclusive: the cursor's own item was on the previous page.
            let before = range.before.as_deref();
            items.extend(out.items.unwrap_or_default().into_iter().filter(|i| {
                before.is_none() || i.get(sk_attr).and_then(|v| v.as_s().ok()).map(String::as_str) != before
            }));
            match out.last_evaluated_key {
                Some(k) if items.len() < want => start = Some(k),
                _ => break,
            }
        }
        items.truncate(want);
        Ok(items)
    }
}

/// The indexes of the tables.
#[derive(Debug, Clone, Copy)]
enum Index {
    /// Per-owner listings (org's events and sources, endpoint's attempts).
    Gsi1,
    /// An event's attempts.
    Gsi2,
}

impl Index {
    fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1",
            Index::Gsi2 => "gsi2",
        }
    }

    fn attrs(self) -> (&'static str, &'static str) {
        match self {
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
            Index::Gsi2 => ("gsi2pk", "gsi2sk"),
        }
    }
}

/// Bounds on the sort key: at or after `since`, before `before` (a cursor).
#[derive(Debug, Default)]
struct SortRange {
    since: Option<String>,
    before: Option<String>,
}

impl SortRange {
    fn from_query(cursor_text: Option<&String>, since: Option<DateTime<Utc>>) -> Result<Self, StoreError> {
        let before = cursor_text
            .map(|c| cursor::decode(c).map(|(ms, id)| sort_key(ms, &id)).ok_or(StoreError::InvalidCursor))
            .transpose()?;
        Ok(Self { since: since.map(|t| sort_key(t.timestamp_millis(), "")), before })
    }
}

/// Non-key conditions.
#[derive(Debug)]
enum Filter {
    Type(String),
    Statuses(Vec<&'static str>),
}

#[async_trait]
impl SourceStore for DynamoStore {
    async fn put_source(&self, source: &Source) -> Result<(), StoreError> {
        let sealed = serde_json::to_vec(&source.secrets).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sealed = self.sealer.seal(&sealed, source.id.as_str()).await?;
        self.put(&self.tables.subscriptions, to_item(&SourceItem::from_source(source, sealed)?)?).await
    }

    async fn get_source(&self, id: &SourceId) -> Result<Option<Source>, StoreError> {
        match self.get(&self.tables.subscriptions, key(format!("SRC#{id}"), "SRC")).await? {
            Some(item) => Ok(Some(from_item::<SourceItem>(item)?.into_source(&self.sealer).await?)),
            None => Ok(None),
        }
    }

    async fn list_sources(&self, org: &OrgId) -> Result<Vec<Source>, StoreError> {
        let items = self.query_all(&self.tables.subscriptions, format!("ORG#{org}#SRC")).await?;
        let mut sources = Vec::with_capacity(items.len());
        for item in items {
            sources.push(from_item::<SourceItem>(item)?.into_source(&self.sealer).await?);
        }
        Ok(sources)
    }

    async fn delete_source(&self, org: &OrgId, id: &SourceId) -> Result<bool, StoreError> {
        self.delete_owned(&self.tables.subscriptions, key(format!("SRC#{id}"), "SRC"), org).await
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
        let range = SortRange::from_query(q.cursor.as_ref(), None)?;
        let limit = q.limit.clamp(1, 100);
        let filter = q.event_type.clone().map(Filter::Type);
        let items = self
            .query_newest_first(&self.tables.logs, Index::Gsi1, format!("ORG#{org}#EVT"), range, filter, limit + 1)
            .await?;
        let events: Vec<Event> =
            items.into_iter().map(|i| from_item::<EventItem>(i)?.into_event()).collect::<Result<_, _>>()?;
        Ok(Page::from_overfetch(events, limit, |e| (e.created_at.timestamp_millis(), e.id.as_str())))
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

/// Endpoints are kept as JSON in one attribute: nested enums and maps round-trip exactly.
#[derive(Serialize, Deserialize)]
struct EndpointItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    org_id: OrgId,
    /// The endpoint's version, as a number so writes can be conditional on it.
    #[serde(default)]
    version: u64,
    body: String,
}

impl EndpointItem {
    /// The item of `ep`, whose `body` is its record with the secrets sealed.
    fn from_endpoint(ep: &Endpoint, body: String) -> Self {
        Self {
            pk: format!("EP#{}", ep.id),
            sk: "EP".into(),
            gsi1pk: format!("ORG#{}#EP", ep.org_id),
            gsi1sk: sort_key(ep.created_at.timestamp_millis(), ep.id.as_str()),
            org_id: ep.org_id.clone(),
            version: ep.version,
            body,
        }
    }
}

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
impl EndpointStore for DynamoStore {
    async fn create_endpoint(&self, ep: &Endpoint, limit: Option<usize>) -> Result<bool, StoreError> {
        let item = to_item(&EndpointItem::from_endpoint(ep, self.sealer.seal_record(ep).await?))?;
        self.put_counted(&self.tables.subscriptions, item, &endpoints_of(&ep.org_id), limit).await
    }

    async fn put_endpoint_if(&self, ep: &Endpoint, version: u64) -> Result<bool, StoreError> {
        let item = to_item(&EndpointItem::from_endpoint(ep, self.sealer.seal_record(ep).await?))?;
        // `org_id = :org` also requires the item to exist: a deleted endpoint stays deleted.
        // Items written before versions existed have none, which counts as 0.
        let condition = if version == 0 {
            "org_id = :org AND (attribute_not_exists(version) OR version = :v)"
        } else {
            "org_id = :org AND version = :v"
        };
        let values = vec![(":v", AttributeValue::N(version.to_string())), (":org", s(ep.org_id.as_str()))];
        self.put_if(&self.tables.subscriptions, item, condition, values).await
    }

    async fn get_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        let Some(item) = self.get(&self.tables.subscriptions, key(format!("EP#{id}"), "EP")).await? else {
            return Ok(None);
        };
        let ep: Endpoint = self.sealer.open_record(&from_item::<EndpointItem>(item)?.body).await?;
        Ok((ep.org_id == *org).then_some(ep))
    }

    async fn list_endpoints(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError> {
        let items = self.query_all(&self.tables.subscriptions, format!("ORG#{org}#EP")).await?;
        let bodies = items.into_iter().map(|item| Ok(from_item::<EndpointItem>(item)?.body));
        self.sealer.open_records(bodies.collect::<Result<Vec<_>, StoreError>>()?).await
    }

    async fn delete_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<bool, StoreError> {
        self.delete_counted(&self.tables.subscriptions, key(format!("EP#{id}"), "EP"), &endpoints_of(org)).await
    }
}

/// The org's endpoints, counted against its plan's limit.
fn endpoints_of(org: &OrgId) -> Counted<'_> {
    Counted { kind: "EP", org, listed_under: format!("ORG#{org}#EP") }
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

/// A scheduled job as JSON, with its version as a number so updates can be conditional.
#[derive(Serialize, Deserialize)]
struct JobItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    org_id: OrgId,
    version: u64,
    body: String,
}

fn job_gsi2(org: &OrgId, key: Option<&str>, recurring: Option<&str>) -> Option<String> {
    match (key, recurring) {
        (Some(k), _) => Some(format!("ORG#{org}#KEY#{k}")),
        (None, Some(r)) => Some(format!("ORG#{org}#REC#{r}")),
        (None, None) => None,
    }
}

impl JobItem {
    fn from_job(j: &Job) -> Result<Self, StoreError> {
        let sk = sort_key(j.created_at.timestamp_millis(), j.id.as_str());
        let gsi2pk = job_gsi2(&j.org_id, j.key.as_deref(), j.recurring.as_ref().map(|r| r.name.as_str()));
        Ok(Self {
            pk: format!("SCH#{}", j.id),
            sk: "SCH".into(),
            gsi1pk: format!("ORG#{}#SCH", j.org_id),
            gsi1sk: sk.clone(),
            gsi2sk: gsi2pk.as_ref().map(|_| sk),
            gsi2pk,
            org_id: j.org_id.clone(),
            version: j.version,
            body: serde_json::to_string(j).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    }

    fn into_job(self) -> Result<Job, StoreError> {
        serde_json::from_str(&self.body).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

#[async_trait]
impl ScheduleStore for DynamoStore {
    async fn put_job(&self, job: &Job) -> Result<(), StoreError> {
        self.put(&self.tables.subscriptions, to_item(&JobItem::from_job(job)?)?).await
    }

    async fn put_job_if(&self, job: &Job, version: u64) -> Result<bool, StoreError> {
        let item = to_item(&JobItem::from_job(job)?)?;
        let values = vec![(":v", AttributeValue::N(version.to_string())), (":org", s(job.org_id.as_str()))];
        self.put_if(&self.tables.subscriptions, item, "version = :v AND org_id = :org", values).await
    }

    async fn get_job(&self, org: &OrgId, id: &ScheduleId) -> Result<Option<Job>, StoreError> {
        let Some(item) = self.get(&self.tables.subscriptions, key(format!("SCH#{id}"), "SCH")).await? else {
            return Ok(None);
        };
        let job = from_item::<JobItem>(item)?.into_job()?;
        Ok((job.org_id == *org).then_some(job))
    }

    async fn list_jobs(&self, org: &OrgId, q: &JobQuery) -> Result<Page<Job>, StoreError> {
        let range = SortRange::from_query(q.cursor.as_ref(), None)?;
        let limit = q.limit.clamp(1, 100);
        let (index, pk) = match job_gsi2(org, q.key.as_deref(), q.recurring.as_deref()) {
            Some(pk) => (Index::Gsi2, pk),
            None => (Index::Gsi1, format!("ORG#{org}#SCH")),
        };
        let items = self.query_newest_first(&self.tables.subscriptions, index, pk, range, None, limit + 1).await?;
        let jobs: Vec<Job> = items
            .into_iter()
            .map(|i| from_item::<JobItem>(i)?.into_job())
            .filter(|j| {
                j.as_ref().map_or(true, |j| {
                    q.recurring.as_ref().is_none_or(|r| j.recurring.as_ref().is_some_and(|jr| jr.name == *r))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Page::from_overfetch(jobs, limit, |j| (j.created_at.timestamp_millis(), j.id.as_str())))
    }

    async fn delete_job(&self, org: &OrgId, id: &ScheduleId) -> Result<bool, StoreError> {
        self.delete_owned(&self.tables.subscriptions, key(format!("SCH#{id}"), "SCH"), org).await
    }
}
