//! A durable queue on SQLite with SQS's semantics: delays, visibility timeouts, a
//! receive count, and a dead-letter table for messages that keep failing.

use super::{now_ms, unavailable, LocalDb};
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

    /// Wait until a message may have been sent, or `timeout` passes.
    pub async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }

    /// Make every leased message visible again. Called once at start-up by the only
    /// consumer: leases held by a process that died cannot be finished by it.
    pub fn release_leases(&self) -> Result<u64, QueueError> {
        let n = self
            .db
            .lock()
            .execute(
                "UPDATE queue_messages SET visible_ms = ?2, lease = 0 WHERE queue = ?1 AND lease != 0 AND visible_ms > ?2",
                params![&*self.name, now_ms()],
            )
            .map_err(queue_err)?;
        Ok(n as u64)
    }

    /// Messages waiting (visible or delayed, leased included).
    pub fn depth(&self) -> Result<u64, QueueError> {
        self.db
            .lock()
            .query_row("SELECT COUNT(*) FROM queue_messages WHERE queue = ?1", [&*self.name], |r| r.get(0))
            .map_err(queue_err)
    }

    /// Messages moved to the dead-letter table.
    pub fn dead_letters(&self) -> Result<Vec<String>, QueueError> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare("SELECT body FROM dead_letters WHERE queue = ?1 ORDER BY id").map_err(queue_err)?;
        let rows = stmt
            .query_map([&*self.name], |r| r.get(0))
            .map_err(queue_err)?
            .collect::<Result<Vec<String>, _>>()
            .map_err(queue_err);
        rows
    }
}

fn queue_err(e: rusqlite::Error) -> QueueError {
    QueueError::Unavailable(unavailable(e).to_string())
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        let visible = now_ms() + delay.as_millis() as i64;
        self.db
            .lock()
            .prepare_cached("INSERT INTO queue_messages (queue, body, visible_ms) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![&*self.name, body, visible]))
            .map_err(queue_err)?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<(), QueueError> {
        let now = now_ms();
        {
            let mut conn = self.db.lock();
            let tx = conn.transaction().map_err(queue_err)?;
            {
                let mut stmt = tx
                    .prepare_cached("INSERT INTO queue_messages (queue, body, visible_ms) VALUES (?1, ?2, ?3)")
                    .map_err(queue_err)?;
                for b in bodies {
                    stmt.execute(params![&*self.name, b, now]).map_err(queue_err)?;
                }
            }
            tx.commit().map_err(queue_err)?;
        }
        self.notify.notify_waiters();
        Ok(())
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
        let now = now_ms();
        let lease = self.lease.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(queue_err)?;
        let received = tx
            .prepare_cached(
                "UPDATE queue_messages SET visible_ms = ?3, receive_count = receive_count + 1, lease = ?4
                 WHERE id IN (SELECT id FROM queue_messages WHERE queue = ?1 AND visible_ms <= ?2
                              ORDER BY visible_ms, id LIMIT ?5)
                 RETURNING id, body, receive_count",
            )
            .and_then(|mut s| {
                s.query_map(params![&*self.name, now, now + visibility.as_millis() as i64, lease, max as i64], |r| {
                    let id: i64 = r.get(0)?;
                    Ok(Received {
                        message_id: id.to_string(),
                        receipt: format!("{id}:{lease}"),
                        body: r.get(1)?,
                        receive_count: r.get(2)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(queue_err)?;
        // A message leased once more than allowed goes to the dead-letter table instead.
        // Checking only the leased rows keeps a receive independent of the backlog.
        let (dead, live): (Vec<Received>, Vec<Received>) =
            received.into_iter().partition(|m| m.receive_count > self.max_receives);
        for m in &dead {
            tx.prepare_cached(
                "INSERT INTO dead_letters (id, queue, body, receive_count, dead_ms)
                 SELECT id, queue, body, receive_count - 1, ?2 FROM queue_messages WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![m.message_id.parse::<i64>().unwrap_or_default(), now]))
            .map_err(queue_err)?;
            tx.prepare_cached("DELETE FROM queue_messages WHERE id = ?1")
                .and_then(|mut s| s.execute([m.message_id.parse::<i64>().unwrap_or_default()]))
                .map_err(queue_err)?;
        }
        tx.commit().map_err(queue_err)?;
        Ok(live)
    }

    async fn ack_many(&self, receipts: &[&str]) -> Result<(), QueueError> {
        let parsed = receipts.iter().map(|r| parse_receipt(r)).collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(queue_err)?;
        {
            let mut stmt =
                tx.prepare_cached("DELETE FROM queue_messages WHERE id = ?1 AND lease = ?2").map_err(queue_err)?;
            for (id, lease) in parsed {
                stmt.execute(params![id, lease]).map_err(queue_err)?;
            }
        }
        tx.commit().map_err(queue_err)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let (id, lease) = parse_receipt(receipt)?;
        // A stale receipt (the message was leased again since) deletes nothing, as in SQS.
        self.db
            .lock()
            .prepare_cached("DELETE FROM queue_messages WHERE id = ?1 AND lease = ?2")
            .and_then(|mut s| s.execute(params![id, lease]))
            .map_err(queue_err)?;
        Ok(())
    }
}
