//! Endpoints: their secrets and headers sealed in the record, counted per org.

use super::counted::Counted;
use super::{from_item, key, s, sort_key, to_item, DynamoStore};
use crate::delivery::Endpoint;
use crate::error::StoreError;
use crate::ids::{EndpointId, OrgId};
use crate::ports::EndpointStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

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
