//! The local stand-in for what AWS runs around the functions: an SQS event source
//! mapping that feeds a queue's messages to a handler, and the loop that fires due
//! timers (EventBridge Scheduler's part). `hookline dev` composes its workers from these.

use super::{LocalQueue, LocalTimer};
use crate::batch::{Message, MessageHandler};
use crate::ports::QueueConsumer;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

/// Messages leased per receive: larger than SQS's 10, since a local lease is one
/// statement and the handlers process a batch concurrently.
pub const BATCH: usize = 32;
/// How often the timer table is checked.
const TIMER_TICK: Duration = Duration::from_millis(200);

/// The local stand-in for an SQS event source mapping: up to `in_flight` messages are
/// handled at once, each on its own task; a new batch is leased as slots come free
/// (see [`free_slots`]), and acks are gathered and deleted together. A message whose
/// handling failed is not acked, so it comes back after `visibility`.
///
/// No message waits for the rest of its batch: an endpoint that takes its whole timeout
/// holds one slot, not a batch of deliveries to everyone else.
pub async fn stream<H: MessageHandler + 'static>(
    queue: LocalQueue,
    visibility: Duration,
    mut stop: watch::Receiver<bool>,
    in_flight: usize,
    handler: Arc<H>,
) {
    let in_flight = in_flight.max(BATCH);
    let slots = Arc::new(Semaphore::new(in_flight));
    let (done, mut acks) = mpsc::unbounded_channel::<String>();
    let acker = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let mut receipts = Vec::new();
            while acks.recv_many(&mut receipts, in_flight).await > 0 {
                let batch: Vec<&str> = receipts.iter().map(String::as_str).collect();
                if let Err(e) = queue.ack_many(&batch).await {
                    tracing::error!(error = %e, "ack failed; the messages will be processed again");
                }
                receipts.clear();
            }
        })
    };
    while !*stop.borrow() {
        let Some(mut free) = free_slots(&slots).await else { break };
        if *stop.borrow() {
            break;
        }
        let sent = queue.sent();
        tokio::pin!(sent);
        sent.as_mut().enable();
        let batch = match queue.receive(free.num_permits(), visibility).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "queue receive failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if batch.is_empty() {
            drop(free);
            tokio::select! {
                _ = tokio::time::timeout(Duration::from_millis(250), sent) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        for m in batch {
            let (slot, done) = (free.split(1), done.clone());
            let handler = handler.clone();
            tokio::spawn(async move {
                let message = Message { body: &m.body, receive_count: m.receive_count };
                match handler.handle_message(message).await {
                    Ok(()) => {
                        let _ = done.send(m.receipt);
                    }
                    Err(e) => tracing::error!(message_id = %m.message_id, error = %e, "message failed"),
                }
                drop(slot);
            });
        }
    }
    // Let what is in flight finish, then delete the last acks.
    let _ = slots.acquire_many(in_flight as u32).await;
    drop(done);
    let _ = acker.await;
}

/// How long the consumer waits for a whole batch of free slots before it leases what is free.
const FILL_WAIT: Duration = Duration::from_millis(10);

/// Slots for the next lease: a whole batch when that many come free soon (fewer, larger
/// leases under load), else at least one, so messages held by a slow endpoint never stop
/// the rest. `None` once the semaphore is closed.
async fn free_slots(slots: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    match tokio::time::timeout(FILL_WAIT, slots.clone().acquire_many_owned(BATCH as u32)).await {
        Ok(batch) => batch.ok(),
        Err(_) => {
            let mut free = slots.clone().acquire_owned().await.ok()?;
            while free.num_permits() < BATCH {
                match slots.clone().try_acquire_owned() {
                    Ok(more) => free.merge(more),
                    Err(_) => break,
                }
            }
            Some(free)
        }
    }
}

/// Timers fired at once; the rest of a large due batch follows in the next round.
const TIMER_BATCH: usize = 1000;
/// Timers handled concurrently within a round.
const TIMER_CONCURRENCY: usize = 16;

/// Fire due timers through `fire` (the `schedule` handler, given a payload and its due time); a timer is removed only once its
/// work is done, so a crash in between fires it again (at-least-once; a job's run keeps
/// its event id, so verify drops the repeat). A job's timer that the handler moved to
/// its next run stays.
pub async fn timer_loop<F, Fut, E>(timer: LocalTimer, fire: F, mut stop: watch::Receiver<bool>)
where
    F: Fn(String, DateTime<Utc>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    use futures::StreamExt as _;
    loop {
        let mut full = false;
        match timer.due(TIMER_BATCH).await {
            Ok(due) => {
                full = due.len() == TIMER_BATCH;
                futures::stream::iter(due)
                    .for_each_concurrent(TIMER_CONCURRENCY, |t| {
                        let (timer, fire) = (&timer, &fire);
                        async move {
                            match fire(t.payload.clone(), t.due).await {
                                Ok(_) => {
                                    if let Err(e) = timer.remove_fired(&t).await {
                                        tracing::error!(timer = %t.key, error = %e, "could not remove fired timer");
                                    }
                                }
                                Err(e) => tracing::error!(timer = %t.key, error = %e, "timer failed"),
                            }
                        }
                    })
                    .await;
            }
            Err(e) => tracing::error!(error = %e, "timer table unavailable"),
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(TIMER_TICK) => {}
            _ = stop.changed() => return,
        }
    }
}
