//! Sends from the concurrent handlers of one batch, gathered into shared batch sends.
//!
//! `verify` routes each message of an SQS batch on its own, so at fan-out 1 every event
//! would be its own `SendMessageBatch` of one entry. Wrapped in [`Coalescing`], the sends
//! that come within a short window go out together (10 to a request), which is a tenth
//! of the requests SQS bills. Each caller gets the result of the request that carried
//! its messages; if a batch fails, every caller in it sees the failure and retries, so a
//! message may be sent twice but never lost (deliveries are at-least-once anyway).

use crate::error::MessagingError;
use crate::ports::Queue;
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

/// SQS takes 10 messages a batch: with that many waiting, there is no reason to wait longer.
const FULL: usize = 10;

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Default)]
struct Pending {
    bodies: Vec<String>,
    waiters: Vec<Waiter>,
    flushing: bool,
}

/// A queue whose undelayed sends wait up to `window` for company.
pub struct Coalescing<Q> {
    inner: Arc<Q>,
    window: Duration,
    pending: Arc<Mutex<Pending>>,
    full: Arc<Notify>,
}

impl<Q> std::fmt::Debug for Coalescing<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescing").field("window", &self.window).finish()
    }
}

impl<Q: Queue + 'static> Coalescing<Q> {
    /// Wrap `inner`, holding a send for at most `window`.
    pub fn new(inner: Q, window: Duration) -> Self {
        Self { inner: Arc::new(inner), window, pending: Arc::default(), full: Arc::new(Notify::new()) }
    }

    /// Send what is pending once the window closes or a batch is full; on its own task,
    /// so a caller that stops waiting cannot strand the others.
    fn flush_later(&self) {
        let (inner, pending, full, window) = (self.inner.clone(), self.pending.clone(), self.full.clone(), self.window);
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(window) => {}
                _ = full.notified() => {}
            }
            let Pending { bodies, waiters, .. } = std::mem::take(&mut *pending.lock().expect("pending sends"));
            let result = inner.send_batch(&bodies).await.map_err(|e| e.to_string());
            for w in waiters {
                let _ = w.send(result.clone());
            }
        });
    }
}

#[async_trait]
impl<Q: Queue + 'static> Queue for Coalescing<Q> {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), MessagingError> {
        if delay.is_zero() {
            self.send_batch(&[body.to_owned()]).await
        } else {
            self.inner.send(body, delay).await
        }
    }

    /// Ordered sends are not held back to share a request: one waiting for others
    /// could be overtaken by a later one of its group.
    async fn send_in_order(&self, body: &str, group: &str, dedup: &str) -> Result<(), MessagingError> {
        self.inner.send_in_order(body, group, dedup).await
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<(), MessagingError> {
        if bodies.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        let (first, full) = {
            let mut p = self.pending.lock().expect("pending sends");
            p.bodies.extend_from_slice(bodies);
            p.waiters.push(tx);
            let first = !std::mem::replace(&mut p.flushing, true);
            (first, p.bodies.len() >= FULL)
        };
        if first {
            self.flush_later();
        }
        if full {
            self.full.notify_one();
        }
        match rx.await {
            Ok(result) => result.map_err(MessagingError::Unavailable),
            Err(_) => Err(MessagingError::Unavailable("the batch send was dropped".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryQueue;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the batch sends that reach it.
    #[derive(Default)]
    struct Counting {
        queue: MemoryQueue,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl Queue for Counting {
        async fn send(&self, body: &str, delay: Duration) -> Result<(), MessagingError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.queue.send(body, delay).await
        }

        async fn send_batch(&self, bodies: &[String]) -> Result<(), MessagingError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.queue.send_batch(bodies).await
        }
    }

    #[tokio::test]
    async fn concurrent_sends_go_out_together_and_each_caller_hears_back() {
        let q = Arc::new(Coalescing::new(Counting::default(), Duration::from_secs(5)));
        let sends = (0..10).map(|i| {
            let q = q.clone();
            async move { q.send(&format!("m{i}"), Duration::ZERO).await }
        });
        // Ten sends fill a batch: it goes at once, long before the window closes.
        let results = tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(sends)).await.unwrap();
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(q.inner.calls.load(Ordering::SeqCst), 1, "one request for ten messages");
        assert_eq!(q.inner.queue.take().len(), 10);

        // A lone send goes when the window closes; a delayed one is not held.
        let q = Coalescing::new(Counting::default(), Duration::from_millis(20));
        q.send("alone", Duration::ZERO).await.unwrap();
        q.send("later", Duration::from_secs(60)).await.unwrap();
        assert_eq!(q.inner.calls.load(Ordering::SeqCst), 2);
        assert_eq!(q.inner.queue.take().len(), 2);
    }
}
