//! Scheduled jobs, with their version as a number so updates can be conditional.

use super::query::{Index, SortRange};
use super::{from_item, key, s, sort_key, to_item, DynamoStore};
use crate::error::StoreError;
use crate::ids::{OrgId, ScheduleId};
use crate::ports::{JobQuery, Page, ScheduleStore};
use crate::schedule::Job;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

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
        let items = self.query_range(&self.tables.subscriptions, index, pk, range, None, limit + 1).await?;
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
