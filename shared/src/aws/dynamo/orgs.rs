//! Orgs and their API keys.

use super::{from_item, key, s, sort_key, to_item, DynamoStore, Item};
use crate::api_key::{ApiKeyRecord, KeyHash};
use crate::aws::sdk_err;
use crate::domain::{Org, Plan};
use crate::error::StoreError;
use crate::ids::{ApiKeyId, OrgId};
use crate::ports::OrgStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct OrgItem {
    pk: String,
    sk: String,
    id: OrgId,
    name: String,
    plan: Plan,
    created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention_days: Option<u32>,
}

impl OrgItem {
    fn of(org: &Org) -> Self {
        Self {
            pk: format!("ORG#{}", org.id),
            sk: "ORG".into(),
            id: org.id.clone(),
            name: org.name.clone(),
            plan: org.plan,
            created_at: org.created_at,
            retention_days: org.retention_days,
        }
    }
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
        Org { id: o.id, name: o.name, plan: o.plan, created_at: o.created_at, retention_days: o.retention_days }
    }
}

#[async_trait]
impl OrgStore for DynamoStore {
    async fn create_org(&self, org: &Org, api_key: &ApiKeyRecord) -> Result<(), StoreError> {
        let org_item = to_item(&OrgItem::of(org))?;
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

    async fn update_org(&self, org: &Org) -> Result<bool, StoreError> {
        let item = to_item(&OrgItem::of(org))?;
        self.put_if(&self.tables.subscriptions, item, "attribute_exists(pk)", vec![]).await
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
