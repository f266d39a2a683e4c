//! Orgs and their API keys on the local store.

use super::{from_json, to_json, LocalStore};
use crate::api_key::{ApiKeyRecord, KeyHash};
use crate::domain::Org;
use crate::error::StoreError;
use crate::ids::{ApiKeyId, OrgId};
use crate::ports::OrgStore;
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl OrgStore for LocalStore {
    async fn create_org(&self, org: &Org, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let (id, body, hash, key_body) =
            (org.id.to_string(), to_json(org)?, key.hash.as_str().to_owned(), to_json(key)?);
        self.db
            .call_atomic(move |conn| {
                conn.execute("INSERT INTO orgs (id, body) VALUES (?1, ?2)", params![id, body])?;
                conn.execute(
                    "INSERT INTO api_keys (hash, org_id, body) VALUES (?1, ?2, ?3)",
                    params![hash, id, key_body],
                )
            })
            .await?;
        Ok(())
    }

    async fn get_org(&self, id: &OrgId) -> Result<Option<Org>, StoreError> {
        self.body("SELECT body FROM orgs WHERE id = ?1", [id.to_string()]).await
    }

    async fn update_org(&self, org: &Org) -> Result<bool, StoreError> {
        let n = self.execute("UPDATE orgs SET body = ?2 WHERE id = ?1", (org.id.to_string(), to_json(org)?)).await?;
        Ok(n == 1)
    }

    async fn org_for_key(&self, key: &KeyHash) -> Result<Option<(Org, ApiKeyRecord)>, StoreError> {
        let hash = key.as_str().to_owned();
        let row: Option<(String, Option<String>)> = self
            .db
            .call(move |conn| {
                conn.prepare_cached(
                    "SELECT o.body, k.body FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.hash = ?1",
                )?
                .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
            })
            .await?;
        let Some((org, record)) = row else { return Ok(None) };
        let org: Org = from_json(&org)?;
        let record = match record {
            Some(r) => from_json(&r)?,
            None => ApiKeyRecord::legacy(key.clone(), &org.id, org.created_at),
        };
        Ok(Some((org, record)))
    }

    async fn add_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO api_keys (hash, org_id, body) VALUES (?1, ?2, ?3)",
            (key.hash.as_str().to_owned(), key.org_id.to_string(), to_json(key)?),
        )
        .await?;
        Ok(())
    }

    async fn update_api_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "UPDATE api_keys SET body = ?3 WHERE hash = ?1 AND org_id = ?2",
                (key.hash.as_str().to_owned(), key.org_id.to_string(), to_json(key)?),
            )
            .await?;
        Ok(n > 0)
    }

    async fn list_api_keys(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let org_id = org.to_string();
        let rows: Vec<(String, Option<String>, String)> = self
            .db
            .call(move |conn| {
                conn.prepare_cached(
                    "SELECT k.hash, k.body, o.body FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.org_id = ?1",
                )?
                .query_map([org_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
            })
            .await?;
        let mut keys = rows
            .into_iter()
            .map(|(hash, body, org_body)| match body {
                Some(b) => from_json(&b),
                None => {
                    let org: Org = from_json(&org_body)?;
                    Ok(ApiKeyRecord::legacy(KeyHash::from_stored(hash), &org.id, org.created_at))
                }
            })
            .collect::<Result<Vec<ApiKeyRecord>, _>>()?;
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn delete_api_key(&self, org: &OrgId, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let Some(key) = self.list_api_keys(org).await?.into_iter().find(|k| &k.id == id) else { return Ok(None) };
        let n = self
            .execute(
                "DELETE FROM api_keys WHERE hash = ?1 AND org_id = ?2",
                [key.hash.as_str().to_owned(), org.to_string()],
            )
            .await?;
        Ok((n > 0).then_some(key))
    }
}
