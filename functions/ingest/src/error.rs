//! Why ingest refused a request, and the one place that maps it to an HTTP answer: the
//! reason for a refused signature stays in the log, never in the answer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookline_shared::signature::Rejection;
use hookline_shared::web::error_json;
use hookline_shared::{MessagingError, StoreError};

/// Why a request was not accepted. Mapped to an HTTP answer in one place, [`IntoResponse`].
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No such source (or a malformed id).
    #[error("unknown source")]
    UnknownSource,
    /// The body exceeds the configured limit.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// The signature check failed; the reason is for the log only.
    #[error("signature rejected: {0}")]
    Rejected(Rejection),
    /// A JSON provider sent a body that is not JSON.
    #[error("body is not valid JSON")]
    Malformed,
    /// The body could not be read from the connection.
    #[error("could not read the body")]
    BadBody,
    /// The body did not arrive in time.
    #[error("the body did not arrive in time")]
    SlowBody,
    /// The store or the queue failed; the caller should retry.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        IngestError::Unavailable(e.to_string())
    }
}

impl From<MessagingError> for IngestError {
    fn from(e: MessagingError) -> Self {
        IngestError::Unavailable(e.to_string())
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            IngestError::UnknownSource => (StatusCode::NOT_FOUND, "not_found", "unknown source".to_owned()),
            IngestError::TooLarge(n) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("body larger than {n} bytes"))
            }
            IngestError::Rejected(_) => {
                (StatusCode::UNAUTHORIZED, "invalid_signature", "signature verification failed".to_owned())
            }
            IngestError::Malformed => (StatusCode::BAD_REQUEST, "invalid_body", "body is not valid JSON".to_owned()),
            IngestError::BadBody => (StatusCode::BAD_REQUEST, "invalid_body", "could not read the body".to_owned()),
            IngestError::SlowBody => {
                (StatusCode::REQUEST_TIMEOUT, "request_timeout", "the body did not arrive in time".to_owned())
            }
            IngestError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "temporarily unavailable, retry".to_owned())
            }
        };
        json_response(status, error_json(code, &message))
    }
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}
