//! Errors of the adapter layer. Handler layers define their own and map these into them.

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or answered with an error. The text is for logs only.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A conditional write kept losing to concurrent changes.
    #[error("changed concurrently: {0}")]
    Conflict(String),
    /// A listing cursor that this store did not issue.
    #[error("invalid cursor")]
    InvalidCursor,
}

/// A message could not be handed over: to a queue, to a timer (a message for later), or
/// to the operational events' bus.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// The queue, timer or bus could not be reached or refused the message. The text is
    /// for logs only.
    #[error("messaging unavailable: {0}")]
    Unavailable(String),
    /// The message is larger than the queue accepts.
    #[error("message too large ({0} bytes)")]
    TooLarge(usize),
}
