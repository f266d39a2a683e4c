//! A durable queue on SQLite with SQS's semantics: delays, visibility timeouts, a
//! receive count, and a dead-letter table for messages that keep failing.
//!
//! A row holds what must survive a crash: the body, when it becomes visible, and how
//! often it was received. Which messages are leased, and until when, lives in memory:
//! this process is the only consumer, and a lease dies with the process anyway (after
//! a restart every row is waiting again). So a message costs an insert, one in-place
//! update of its receive count, and a delete; no index is rewritten to lease it.
//!
//! A FIFO queue ([`LocalQueue::fifo`]) is one ordered stream, as an SQS FIFO queue's
//! message group is: one message out at a time, in the order sent, the next only once
//! it is acknowledged; one that failed is handed out again before any after it.

use super::{now_ms, LocalDb};
use crate::error::MessagingError;
use crate::ports::{Queue, QueueConsumer, Received};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, OnceCell};

/// What one queue holds in memory; shared by every handle on the same queue of a database.
#[derive(Debug, Default)]
pub(crate) struct QueueState {
    /// Set once the rows a previous run left are read.
    loaded: OnceCell<()>,
    messages: Mutex<Messages>,
    notify: Notify,
    /// Leases only need to differ between receives of one message.
    next_lease: AtomicI64,
}

#[derive(Debug, Default)]
struct Messages {
    /// Messages not leased, by (visible from, id).
    waiting: BTreeSet<(i64, i64)>,
    /// Leased messages: id → (lease, leased until).
    leased: HashMap<i64, (i64, i64)>,
}

/// One named queue in the local database.
#[derive(Debug, Clone)]
pub struct LocalQueue {
    db: LocalDb,
    name: Arc<str>,
    max_receives: u32,
    state: Arc<QueueState>,
    fifo: bool,
}

impl LocalQueue {
    /// The queue `name`; a message received `max_receives` times without an ack
    /// moves to the dead-letter table instead of being handed out again.
    pub fn new(db: LocalDb, name: &str, max_receives: u32) -> Self {
        let state = db.queue_state(name);
        Self { db, name: name.into(), max_receives: max_receives.max(1), state, fifo: false }
    }

    /// The FIFO queue `name`: its messages go out one at a time, in the order sent.
    pub fn fifo(db: LocalDb, name: &str, max_receives: u32) -> Self {
        Self { fifo: true, ..Self::new(db, name, max_receives) }
    }

    /// Where a message handed out before waits again: at the back (visible `now`), or,
    /// in a FIFO queue, at the front (its place in the order is kept).
    fn waiting_again(&self, id: i64, now: i64) -> (i64, i64) {
        (if self.fifo { i64::MIN } else { now }, id)
    }

    fn messages(&self) -> MutexGuard<'_, Messages> {
        self.state.messages.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read the rows a previous run left (once): all of them wait, leased or not.
    async fn load(&self) -> Result<(), MessagingError> {
        self.state
            .loaded
            .get_or_try_init(|| async {
                let name = self.name.clone();
                let rows: Vec<(i64, i64)> = self
                    .db
                    .call(move |conn| {
                        conn.prepare("SELECT visible_ms, id FROM queue_messages WHERE queue = ?1")?
                            .query_map([&*name], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect()
                    })
                    .await?;
                self.messages().waiting.extend(rows);
                Ok::<(), MessagingError>(())
            })
            .await?;
        Ok(())
    }

    /// Resolves when a message is sent after this call. Create (and enable) it before
    /// looking at the queue, so a message sent in between still wakes the consumer.
    pub fn sent(&self) -> tokio::sync::futures::Notified<'_> {
        self.state.notify.notified()
    }

    /// Make every leased message visible again; how many there were.
    pub async fn release_leases(&self) -> Result<u64, MessagingError> {
        self.load().await?;
        let now = now_ms();
        let mut m = self.messages();
        let ids: Vec<i64> = m.leased.drain().map(|(id, _)| id).collect();
        let again: Vec<(i64, i64)> = ids.iter().map(|id| self.waiting_again(*id, now)).collect();
        m.waiting.extend(again);
        Ok(ids.len() as u64)
    }

    /// Messages waiting (visible or delayed, leased included).
    pub async fn depth(&self) -> Result<u64, MessagingError> {
        self.load().await?;
        let m = self.messages();
        Ok((m.waiting.len() + m.leased.len()) as u64)
    }

    /// Messages moved to the dead-letter table.
    pub async fn dead_letters(&self) -> Result<Vec<String>, MessagingError> {
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

    /// Insert `bodies`, visible from `visible_ms`.
    async fn insert(&self, bodies: Vec<String>, visible_ms: i64) -> Result<(), MessagingError> {
        self.load().await?;
        let name = self.name.clone();
        let ids = self
            .db
            .call_atomic(move |conn| {
                let mut stmt =
                    conn.prepare_cached("INSERT INTO queue_messages (queue, body, visible_ms) VALUES (?1, ?2, ?3)")?;
                bodies
                    .iter()
                    .map(|b| {
                        stmt.execute(params![&*name, b, visible_ms])?;
                        Ok(conn.last_insert_rowid())
                    })
                    .collect::<rusqlite::Result<Vec<i64>>>()
            })
            .await?;
        self.messages().waiting.extend(ids.into_iter().map(|id| (visible_ms, id)));
        self.state.notify.notify_waiters();
        Ok(())
    }

    /// Put leased messages back, visible at once (their handling could not be recorded).
    fn unlease(&self, ids: &[i64]) {
        let now = now_ms();
        let mut m = self.messages();
        for id in ids {
            if m.leased.remove(id).is_some() {
                m.waiting.insert(self.waiting_again(*id, now));
            }
        }
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), MessagingError> {
        self.insert(vec![body.to_owned()], now_ms() + delay.as_millis() as i64).await
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<(), MessagingError> {
        self.insert(bodies.to_vec(), now_ms()).await
    }
}

fn parse_receipt(receipt: &str) -> Result<(i64, i64), MessagingError> {
    receipt
        .split_once(':')
        .and_then(|(i, l)| Some((i.parse::<i64>().ok()?, l.parse::<i64>().ok()?)))
        .ok_or_else(|| MessagingError::Unavailable("malformed receipt".into()))
}

/// What a receive found of one leased message.
enum Leased {
    /// Hand it out: its body and receive count.
    Live(String, u32),
    /// Received too often: moved to the dead-letter table.
    Dead,
    /// Deleted meanwhile; nothing to hand out.
    Gone,
}

impl LocalQueue {
    /// Lease up to `max` visible messages in memory (expired leases first become
    /// visible again, as in SQS); their ids.
    fn lease_visible(&self, max: usize, (lease, until): (i64, i64), now: i64) -> Vec<i64> {
        let mut m = self.messages();
        let expired: Vec<i64> = m.leased.iter().filter(|(_, (_, u))| *u <= now).map(|(id, _)| *id).collect();
        for id in expired {
            m.leased.remove(&id);
            m.waiting.insert(self.waiting_again(id, now));
        }
        let max = if self.fifo { usize::from(m.leased.is_empty()).min(max) } else { max };
        let mut ids = Vec::new();
        while ids.len() < max {
            match m.waiting.first() {
                Some(&(visible, id)) if visible <= now => {
                    m.waiting.pop_first();
                    m.leased.insert(id, (lease, until));
                    ids.push(id);
                }
                _ => break,
            }
        }
        ids
    }
}

/// Count one more receive of each leased message, and move those received more than
/// `max_receives` times to the dead-letter table. The count is durable, so a message
/// that keeps failing (or keeps crashing the process) still reaches it.
fn count_receives(
    conn: &rusqlite::Connection,
    ids: Vec<i64>,
    max_receives: u32,
    now: i64,
) -> rusqlite::Result<Vec<(i64, Leased)>> {
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        let row: Option<(String, u32)> = conn
            .prepare_cached(
                "UPDATE queue_messages SET receive_count = receive_count + 1 WHERE id = ?1
                 RETURNING body, receive_count",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        found.push(match row {
            None => (id, Leased::Gone),
            Some((_, count)) if count > max_receives => {
                conn.prepare_cached(
                    "INSERT INTO dead_letters (id, queue, body, receive_count, dead_ms)
                     SELECT id, queue, body, receive_count - 1, ?2 FROM queue_messages WHERE id = ?1",
                )?
                .execute(params![id, now])?;
                conn.prepare_cached("DELETE FROM queue_messages WHERE id = ?1")?.execute([id])?;
                (id, Leased::Dead)
            }
            Some((body, count)) => (id, Leased::Live(body, count)),
        });
    }
    Ok(found)
}

#[async_trait]
impl QueueConsumer for LocalQueue {
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, MessagingError> {
        self.load().await?;
        let now = now_ms();
        let lease = self.state.next_lease.fetch_add(1, Ordering::Relaxed);
        let until = now + visibility.as_millis() as i64;
        let ids = self.lease_visible(max, (lease, until), now);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let max_receives = self.max_receives;
        let leased_ids = ids.clone();
        let found = self.db.call_atomic(move |conn| count_receives(conn, leased_ids, max_receives, now)).await;
        let found = match found {
            Ok(f) => f,
            Err(e) => {
                self.unlease(&ids);
                return Err(e.into());
            }
        };
        let mut received = Vec::with_capacity(found.len());
        let mut m = self.messages();
        for (id, leased) in found {
            match leased {
                Leased::Live(body, receive_count) => received.push(Received {
                    message_id: id.to_string(),
                    receipt: format!("{id}:{lease}"),
                    body,
                    receive_count,
                }),
                Leased::Dead | Leased::Gone => {
                    m.leased.remove(&id);
                }
            }
        }
        Ok(received)
    }

    async fn ack_many(&self, receipts: &[&str]) -> Result<(), MessagingError> {
        let parsed = receipts.iter().map(|r| parse_receipt(r)).collect::<Result<Vec<_>, _>>()?;
        // A stale receipt (the message was leased again since) deletes nothing, as in SQS.
        let ids: Vec<i64> = {
            let mut m = self.messages();
            parsed
                .into_iter()
                .filter(|(id, lease)| {
                    let held = m.leased.get(id).is_some_and(|(held, _)| held == lease);
                    if held {
                        m.leased.remove(id);
                    }
                    held
                })
                .map(|(id, _)| id)
                .collect()
        };
        if ids.is_empty() {
            return Ok(());
        }
        let deleting = ids.clone();
        let deleted = self
            .db
            .call(move |conn| {
                let mut stmt = conn.prepare_cached("DELETE FROM queue_messages WHERE id = ?1")?;
                for id in deleting {
                    stmt.execute([id])?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = deleted {
            // Not deleted: the messages are handed out again, as after a lost ack.
            let now = now_ms();
            let again: Vec<(i64, i64)> = ids.iter().map(|id| self.waiting_again(*id, now)).collect();
            self.messages().waiting.extend(again);
            return Err(e.into());
        }
        Ok(())
    }

    async fn ack(&self, receipt: &str) -> Result<(), MessagingError> {
        self.ack_many(&[receipt]).await
    }
}
