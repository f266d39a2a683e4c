//! Sources: their secrets sealed apart from the rest of the item.

use super::{from_item, key, sort_key, to_item, DynamoStore};
use crate::domain::{DedupeBy, FetchBack, FetchBackState, Secret, Source};
use crate::error::StoreError;
use crate::ids::{OrgId, SourceId};
use crate::ports::SourceStore;
use crate::provider::Provider;
use crate::sealing::Sealer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ordering_key: Option<crate::delivery::OrderingPointer>,
    /// The fetch-back key, sealed on its own (bound to `{id}#fetch_back`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_fetch_back: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fetch_back_state: Option<FetchBackState>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn fetch_back_context(id: &SourceId) -> String {
    format!("{id}#fetch_back")
}

impl SourceItem {
    fn from_source(
        src: &Source,
        sealed_secrets: String,
        sealed_fetch_back: Option<String>,
    ) -> Result<Self, StoreError> {
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
            ordering_key: src.ordering_key.clone(),
            sealed_fetch_back,
            fetch_back_state: src.fetch_back_state.clone(),
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
        let fetch_back: Option<FetchBack> = match &self.sealed_fetch_back {
            Some(sealed) => Some(
                serde_json::from_slice(&sealer.open(sealed, &fetch_back_context(&self.id)).await?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ),
            None => None,
        };
        Ok(Source {
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            provider,
            secrets,
            dedupe: self.dedupe,
            ordering_key: self.ordering_key,
            fetch_back,
            fetch_back_state: self.fetch_back_state,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[async_trait]
impl SourceStore for DynamoStore {
    async fn put_source(&self, source: &Source) -> Result<(), StoreError> {
        let sealed = serde_json::to_vec(&source.secrets).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sealed = self.sealer.seal(&sealed, source.id.as_str()).await?;
        let fetch_back = match &source.fetch_back {
            Some(f) => {
                let plain = serde_json::to_vec(f).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Some(self.sealer.seal(&plain, &fetch_back_context(&source.id)).await?)
            }
            None => None,
        };
        self.put(&self.tables.subscriptions, to_item(&SourceItem::from_source(source, sealed, fetch_back)?)?).await
    }

    async fn set_fetch_back_state(&self, id: &SourceId, state: &FetchBackState) -> Result<(), StoreError> {
        let value = serde_dynamo::to_attribute_value(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.subscriptions)
            .set_key(Some(key(format!("SRC#{id}"), "SRC")))
            .update_expression("SET fetch_back_state = :s")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":s", value)
            .send()
            .await;
        match out {
            // A source deleted meanwhile has no state to keep.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(StoreError::Unavailable(crate::aws::sdk_err(e))),
            Ok(_) => Ok(()),
        }
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
