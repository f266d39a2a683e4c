//! The API's one error type, mapped to status codes in one place, and the extractors
//! that turn axum's rejections into it (so every failure is a JSON error).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookline_shared::web::{body_timed_out, error_json};
use hookline_shared::{MessagingError, StoreError};

/// Everything an API call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No key, or a key that is not valid here.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// A portal session calling a route outside its org's endpoints.
    #[error("a portal session reaches only the org's endpoints and their deliveries")]
    Forbidden,
    /// The resource does not exist in the caller's org (another org's ids included).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is malformed or fails validation; the text says which field and why.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not `application/json`.
    #[error("expected a JSON body with content-type application/json")]
    UnsupportedMediaType,
    /// The body exceeds the limit.
    #[error("request body too large")]
    TooLarge,
    /// The body did not arrive in time.
    #[error("the request body did not arrive in time")]
    SlowBody,
    /// No such route.
    #[error("no such route")]
    NoRoute,
    /// The route exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The plan does not allow more of this resource.
    #[error("{0}")]
    LimitExceeded(String),
    /// The resource changed between read and write.
    #[error("{0}")]
    Conflict(String),
    /// The request is well formed but cannot be carried out (a forbidden URL, a failed handshake).
    #[error("{0}")]
    Unprocessable(String),
    /// The endpoint did not answer a real-time call.
    #[error("{0}")]
    BadGateway(String),
    /// A backend failed; details go to the log only.
    #[error("temporarily unavailable")]
    Unavailable(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => ApiError::BadRequest("cursor: not a cursor this API issued".into()),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<hookline_shared::schedule::JobTimerError> for ApiError {
    fn from(e: hookline_shared::schedule::JobTimerError) -> Self {
        match e {
            hookline_shared::schedule::JobTimerError::Store(e) => e.into(),
            hookline_shared::schedule::JobTimerError::Timer(e) => e.into(),
        }
    }
}

/// A trigger refused on the inbound path: its caller owns the source, so is told why.
impl From<hookline_ingest::IngestError> for ApiError {
    fn from(e: hookline_ingest::IngestError) -> Self {
        use hookline_ingest::IngestError as I;
        match e {
            I::UnknownSource => ApiError::NotFound("source"),
            I::TooLarge(_) => ApiError::TooLarge,
            I::Rejected(reason) => ApiError::Unprocessable(format!("the source refused the request: {reason}")),
            I::Malformed => ApiError::BadRequest("body: the source's provider sends JSON".into()),
            I::BadBody | I::SlowBody | I::Unavailable(_) => ApiError::Unavailable(e.to_string()),
        }
    }
}

impl From<MessagingError> for ApiError {
    fn from(e: MessagingError) -> Self {
        match e {
            MessagingError::TooLarge(_) => ApiError::TooLarge,
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) | ApiError::NoRoute => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::SlowBody => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::LimitExceeded(_) => (StatusCode::FORBIDDEN, "limit_exceeded"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            ApiError::BadGateway(_) => (StatusCode::BAD_GATEWAY, "endpoint_unreachable"),
            ApiError::Unavailable(detail) => {
                tracing::error!(error = %detail, "backend failure");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        (status, [(http::header::CONTENT_TYPE, "application/json")], error_json(code, &self.to_string()))
            .into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            ref slow if body_timed_out(slow) => ApiError::SlowBody,
            JsonRejection::JsonDataError(e) => ApiError::BadRequest(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(e.body_text()),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::NotFound("resource")
    }
}

/// A JSON body decoded into `T`, whose rejections are [`ApiError`]s. The body must be an
/// object: serde would also fill a struct from an array of its fields in order.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(raw) = axum::Json::<Box<serde_json::value::RawValue>>::from_request(req, state).await?;
        if !raw.get().trim_start().starts_with('{') {
            return Err(ApiError::BadRequest("the body must be a JSON object".into()));
        }
        let axum::Json(body) = axum::Json::<T>::from_bytes(raw.get().as_bytes())?;
        Ok(Self(body))
    }
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Query` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `Path` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// For a field of a change (`PATCH`) that `null` clears: absent is `None` (left as it
/// is), `null` is `Some(None)` (cleared). Use with `#[serde(default)]`.
pub fn nullable<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    serde::Deserialize::deserialize(d).map(Some)
}

/// For a field of a change that may be left out but not be `null` (it cannot be
/// cleared). Use with `#[serde(default)]`.
pub fn not_null<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A JSON body every field of which `T` knows. For bodies with a flattened part, whose
/// unknown fields serde cannot refuse by itself.
#[derive(Debug)]
pub struct Strict<T>(pub T);

/// The fields a decoded body may have had (they can depend on its content).
pub trait KnownFields {
    /// Every field name the body may carry.
    fn known_fields(&self) -> Vec<&'static str>;
}

impl<'de, T: serde::de::DeserializeOwned + KnownFields> serde::Deserialize<'de> for Strict<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let keys: Vec<String> = map.keys().cloned().collect();
        let body: T = serde_json::from_value(serde_json::Value::Object(map)).map_err(D::Error::custom)?;
        let known = body.known_fields();
        match keys.iter().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(D::Error::custom(format!("unknown field `{k}`, expected one of {}", known.join(", ")))),
            None => Ok(Strict(body)),
        }
    }
}
