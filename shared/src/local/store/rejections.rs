//! Rejection diagnostics on SQLite: a source's counter and the slot it gives are read
//! and written in one step on the database thread, so concurrent refusals never share
//! a slot or overrun the second's writes.

use super::{to_json, LocalStore};
use crate::error::StoreError;
use crate::ids::SourceId;
use crate::ports::RejectionStore;
use crate::rejection::{next_slot, RejectedRequest, KEPT};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

#[async_trait]
impl RejectionStore for LocalStore {
    async fn record_rejection(&self, record: &RejectedRequest) -> Result<bool, StoreError> {
        let (source, at, body) = (record.source_id.to_string(), record.at, to_json(record)?);
        let expires = record.expires_at.timestamp_millis();
        let kept = self
            .db
            .call_atomic(move |conn| {
                let counter = conn
                    .prepare_cached("SELECT window_s, in_window, seq FROM rejection_counters WHERE source_id = ?1")?
                    .query_row([&source], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?, r.get::<_, i64>(2)? as u64))
                    })
                    .optional()?;
                let Some(((window, in_window, seq), slot)) = next_slot(counter, at) else { return Ok(false) };
                conn.prepare_cached(
                    "INSERT INTO rejection_counters (source_id, window_s, in_window, seq) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (source_id) DO UPDATE SET window_s = ?2, in_window = ?3, seq = ?4",
                )?
                .execute(rusqlite::params![source, window, in_window, seq as i64])?;
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO rejections (source_id, slot, at_ms, expires_ms, record)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(rusqlite::params![
                    source,
                    slot as i64,
                    at.timestamp_millis(),
                    expires,
                    body
                ])?;
                Ok(true)
            })
            .await?;
        Ok(kept)
    }

    async fn list_rejections(&self, source: &SourceId, now: DateTime<Utc>) -> Result<Vec<RejectedRequest>, StoreError> {
        self.bodies(
            "SELECT record FROM rejections WHERE source_id = ?1 AND expires_ms > ?2 ORDER BY at_ms DESC, slot DESC
             LIMIT ?3",
            (source.to_string(), now.timestamp_millis(), KEPT as i64),
        )
        .await
    }
}
