//! Operational events (an endpoint disabled, an attempt exhausted), logged and kept in
//! the local database: the stand-in for the operator's EventBridge bus.

use super::LocalDb;
use crate::error::MessagingError;
use crate::ports::{OpsEvent, OpsSink};
use async_trait::async_trait;
use rusqlite::params;

/// Operational events, logged and kept in the local database.
#[derive(Debug, Clone)]
pub struct LocalOps {
    db: LocalDb,
}

impl LocalOps {
    /// Events in `db`.
    pub fn new(db: LocalDb) -> Self {
        Self { db }
    }

    /// Every event emitted, oldest first.
    pub async fn all(&self) -> Result<Vec<OpsEvent>, MessagingError> {
        let rows = self
            .db
            .call(|conn| {
                conn.prepare_cached("SELECT body FROM ops_events ORDER BY id")?
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        rows.iter().map(|b| serde_json::from_str(b).map_err(|e| MessagingError::Unavailable(e.to_string()))).collect()
    }
}

#[async_trait]
impl OpsSink for LocalOps {
    async fn emit(&self, event: &OpsEvent) -> Result<(), MessagingError> {
        tracing::warn!(kind = %event.kind, org = %event.org_id, endpoint = %event.endpoint_id, reason = %event.reason, "operational event");
        let body = serde_json::to_string(event).map_err(|e| MessagingError::Unavailable(e.to_string()))?;
        let at_ms = event.at.timestamp_millis();
        self.db
            .call(move |conn| {
                conn.execute("INSERT INTO ops_events (at_ms, body) VALUES (?1, ?2)", params![at_ms, body])
            })
            .await?;
        Ok(())
    }
}
