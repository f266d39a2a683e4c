//! Ordered delivery's lanes on SQLite: a join or a leave and the look at who stands
//! first are one step on the database thread, so they never interleave.

use super::{from_json, to_json, LocalStore};
use crate::delivery::{ordered_group, DeliveryJob, OrderingKey};
use crate::error::StoreError;
use crate::ids::OrgId;
use crate::ports::LaneStore;
use async_trait::async_trait;
use rusqlite::OptionalExtension;

const FIRST: &str = "SELECT position, job FROM lanes WHERE lane = ?1 ORDER BY position LIMIT 1";

#[async_trait]
impl LaneStore for LocalStore {
    async fn join_lane(&self, job: &DeliveryJob) -> Result<bool, StoreError> {
        let Some(place) = &job.lane else { return Ok(true) };
        let (lane, position, body) = (place.lane(&job.endpoint_id), place.position.clone(), to_json(job)?);
        let expires = job.expires_at.map(|t| t.timestamp_millis());
        let first: Option<String> = self
            .db
            .call_atomic(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO lanes (lane, position, job, expires_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (lane, position) DO NOTHING",
                )?
                .execute(rusqlite::params![lane, position, body, expires])?;
                conn.prepare_cached(FIRST)?.query_row([&lane], |r| r.get(0)).optional()
            })
            .await?;
        Ok(first.as_deref() == Some(place.position.as_str()))
    }

    async fn leave_lane(&self, job: &DeliveryJob) -> Result<Option<DeliveryJob>, StoreError> {
        let Some(place) = &job.lane else { return Ok(None) };
        let (lane, position) = (place.lane(&job.endpoint_id), place.position.clone());
        let next: Option<String> = self
            .db
            .call_atomic(move |conn| {
                conn.prepare_cached("DELETE FROM lanes WHERE lane = ?1 AND position = ?2")?
                    .execute([&lane, &position])?;
                conn.prepare_cached(FIRST)?.query_row([&lane], |r| r.get(1)).optional()
            })
            .await?;
        next.map(|j| from_json(&j)).transpose()
    }

    async fn next_in_stream(&self, org: &OrgId, key: &OrderingKey) -> Result<u128, StoreError> {
        let stream = ordered_group(org, key);
        let next: i64 = self
            .db
            .call(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO streams (stream, next) VALUES (?1, 1)
                     ON CONFLICT (stream) DO UPDATE SET next = next + 1 RETURNING next",
                )?
                .query_row([stream], |r| r.get(0))
            })
            .await?;
        Ok(next as u128)
    }
}
