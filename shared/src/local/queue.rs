//! A durable queue on SQLite with SQS's semantics: delays, visibility timeouts, a
//! receive count, and a dead-letter table for messages that keep failing.

use super::{now_ms, LocalDb};
use crate::error::QueueError;
use crate::ports::{Queue, QueueConsumer, Received};
use async_trait::async_trait;
use rusqlite::params;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// One named queue in the local database.
#[derive(Debug, Clone)]
pub struct LocalQueue {
    db: LocalDb,
    name: Arc<str>,
    max_receives: u32,
    notify: Arc<Notify>,
    lease: Arc<AtomicI64>,
}

impl LocalQueue {
    /// The queue `name`; a message received `max_receives` times without an ack
    /// moves to the dead-letter table instead of being handed out again.
    pub fn new(db: LocalDb, name: &str, max_receives: u32) -> Self {
        Self {
            db,
            name: name.into(),
            max_receives: max_receives.max(1),
            notify: Arc::new(Notify::new()),
            // Leases only need to differ between receives of one message.
            lease: Arc::new(AtomicI64::new(now_ms())),
        }
    }

    /// Resolves when a message is sent after this call. Create (and enable) it before
    /// looking at the queue, so a message sent in between still wakes the consumer.
    pub fn sent(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    /// Make every leased message visible again. Called once at start-up by the only
    /// consumer: leases held by a process that died cannot be finished by it.
    pub async fn release_leases(&self) -> Result<u64, QueueError> {
        let name = self.name.clone();
        let n = self
            .db
            .call(move |conn| {
                conn.execute(
                    "UPDATE queue_messages SET visible_ms = ?2, lease = 0 WHERE queue = ?1 AND lease != 0 AND visible_ms > ?2",
                    params![&*name, now_ms()],
                )
            })
            .await?;
        Ok(n as u64)
    }

    /// Messages waiting (visible or delayed, leased included).
    pub async fn depth(&self) -> Result<u64, QueueError> {
        let name = self.name.clone();
        Ok(self
            .db
            .call(move |conn| {
                conn.query_row("SELECT COUNT(*) FROM queue_messages WHERE queue = ?1", [&*name], |r| r.get(0))
            })
            .await?)
    }

    /// Messages moved to the dead-letter table.
    pub async fn dead_letters(&self) -> Result<Vec<String>, QueueError> {
        let name = self.name.clone();
        Ok(self
            .db
            .call(move |conn| {
                conn.prepare("SELECT body FROM dead_letters WHERE queue = ?1 ORDER BY id")?
                    .query_map([&*name], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()
            })
            .await?)
    }

    /// Insert `bodies`, visible at `visible_ms`.
    async fn insert(&self, bodies: Vec<String>, visible_ms: i64) -> Result<(), QueueError> {
        let name = self.name.clone();
        self.db
            .call(move |conn| {
                let mut stmt =
                    conn.prepare_cached("INSERT INTO queue_messages (queue, body, visible_ms) VALUES (?1, ?2, ?3)")?;
                for b in &bodies {
                    stmt.execute(params![&*name, b, visible_ms])?;
                }
                Ok(())
            })
            .await?;
        self.notify.notify_waiters();
        Ok(())
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        self.insert(vec![body.to_owned()], now_ms() + delay.as_millis() as i64).await
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<(), QueueError> {
        self.insert(bodies.to_vec(), now_ms()).await
    }
}

fn parse_receipt(receipt: &str) -> Result<(i64, i64), QueueError> {
    receipt
        .split_once(':')
        .and_then(|(i, l)| Some((i.parse::<i64>().ok()?, l.parse::<i64>().ok()?)))
        .ok_or_else(|| QueueError::Unavailable("malformed receipt".into()))
}

#[async_trait]
impl QueueConsumer for LocalQueue {
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        let lease = self.lease.fetch_add(1, Ordering::Relaxed);
        let (name, max_receives) = (self.name.clone(), self.max_receives);
        let received = self
            .db
            .call(move |conn| {
                let now = now_ms();
                let received = conn
                    .prepare_cached(
                        "UPDATE queue_messages SET visible_ms = ?3, receive_count = receive_count + 1, lease = ?4
                         WHERE id IN (SELECT id FROM queue_messages WHERE queue = ?1 AND visible_ms <= ?2
                                      ORDER BY visible_ms, id LIMIT ?5)
                         RETURNING id, body, receive_count",
                    )?
                    .query_map(params![&*name, now, now + visibility.as_millis() as i64, lease, max as i64], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, u32>(2)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                // A message leased once more than allowed goes to the dead-letter table instead.
                // Checking only the leased rows keeps a receive independent of the backlog.
                let (dead, live): (Vec<_>, Vec<_>) = received.into_iter().partition(|m| m.2 > max_receives);
                for (id, _, _) in &dead {
                    conn.prepare_cached(
                        "INSERT INTO dead_letters (id, queue, body, receive_count, dead_ms)
                         SELECT id, queue, body, receive_count - 1, ?2 FROM queue_messages WHERE id = ?1",
                    )?
                    .execute(params![id, now])?;
                    conn.prepare_cached("DELETE FROM queue_messages WHERE id = ?1")?.execute([id])?;
                }
                Ok(live)
            })
            .await?;
        Ok(received
            .into_iter()
            .map(|(id, body, receive_count)| Received {
                message_id: id.to_string(),
                receipt: format!("{id}:{lease}"),
                body,
                receive_count,
            })
            .collect())
    }

    async fn ack_many(&self, receipts: &[&str]) -> Result<(), QueueError> {
        let parsed = receipts.iter().map(|r| parse_receipt(r)).collect::<Result<Vec<_>, _>>()?;
        // A stale receipt (the message was leased again since) deletes nothing, as in SQS.
        self.db
            .call(move |conn| {
                let mut stmt = conn.prepare_cached("DELETE FROM queue_messages WHERE id = ?1 AND lease = ?2")?;
                for (id, lease) in parsed {
                    stmt.execute(params![id, lease])?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.ack_many(&[receipt]).await
    }
}
