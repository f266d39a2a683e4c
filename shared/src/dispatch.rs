//! One signed POST of an event to an endpoint: the part of delivery that `deliver`
//! (queued, with retries) and `api` (`/test`, `/call`) share.

use crate::delivery::{signature_headers, Endpoint, Payload, Urgency};
use crate::domain::Secret;
use crate::outbound::{HttpSender, OutboundRequest, OutboundResponse, SendError};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How one request is sent.
#[derive(Debug, Clone, Copy)]
pub struct SendOptions {
    /// Named in `X-Hookline-Urgency`.
    pub urgency: Urgency,
    /// How long to wait for the answer.
    pub timeout: Duration,
    /// How much of the answer to read.
    pub max_response_bytes: usize,
    /// How many Hookline deliveries the event has already been through
    /// ([`crate::domain::Event::hops`]); this request is one more.
    pub hops: u32,
}

/// The header that counts the Hookline deliveries an event has been through, so an
/// event that comes back in (directly or through a relay) can be recognised as a loop.
pub const HOPS_HEADER: &str = "x-hookline-hops";

/// Serialise the payload, sign it with the endpoint's current secrets, and POST it.
pub async fn send_event<H: HttpSender + ?Sized>(
    http: &H,
    endpoint: &Endpoint,
    payload: &Payload,
    how: SendOptions,
    now: DateTime<Utc>,
) -> Result<OutboundResponse, SendError> {
    let SendOptions { urgency, timeout, max_response_bytes, hops } = how;
    let body = serde_json::to_vec(payload).map_err(|e| SendError::Refused(format!("payload: {e}")))?;
    let signed = signature_headers(
        endpoint.signing_secrets(now).map(Secret::expose),
        payload.id.as_str(),
        now.timestamp(),
        &body,
    )
    .map_err(|e| SendError::Refused(e.to_string()))?;
    let mut headers: Vec<(String, String)> = Vec::with_capacity(8 + endpoint.headers.len());
    // The endpoint's own headers first, so they can never replace the signature.
    headers.extend(endpoint.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    headers.extend(signed.into_iter().map(|(k, v)| (k.to_owned(), v)));
    headers.push(("content-type".into(), "application/json".into()));
    headers.push(("x-request-id".into(), ulid::Ulid::new().to_string()));
    headers.push(("x-hookline-event-type".into(), payload.event_type.clone()));
    headers.push(("x-hookline-urgency".into(), urgency.as_str().into()));
    headers.push((HOPS_HEADER.into(), hops.saturating_add(1).to_string()));
    http.send(OutboundRequest {
        url: endpoint.url_for(&payload.event_type),
        headers,
        body: body.into(),
        timeout,
        max_response_bytes,
    })
    .await
}
