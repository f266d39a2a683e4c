//! An in-memory queue for unit tests and benchmarks of handlers: it records what was
//! sent, in order. Not durable, so never used by `hookline dev`.

use crate::error::MessagingError;
use crate::ports::Queue;
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Messages sent, with their delays.
#[derive(Debug, Clone, Default)]
pub struct MemoryQueue {
    sent: Arc<Mutex<Vec<(String, Duration)>>>,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Take every message sent so far.
    pub fn take(&self) -> Vec<(String, Duration)> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// How many messages wait.
    pub fn len(&self) -> usize {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), MessagingError> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).push((body.to_owned(), delay));
        Ok(())
    }
}
