//! One signed POST of an event to an endpoint: the part of delivery that `deliver`
//! (queued, with retries) and `api` (`/test`, `/call`, the handshake) share.

use super::conventions::signature_headers;
use super::{Endpoint, Payload, Urgency};
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

impl SendOptions {
    /// How a request of the API's own (a test, a handshake, a real-time call) is sent:
    /// its event starts there, so it has been through no delivery yet.
    pub fn direct(urgency: Urgency, timeout: Duration, max_response_bytes: usize) -> Self {
        Self { urgency, timeout, max_response_bytes, hops: 0 }
    }
}

/// The header that counts the Hookline deliveries an event has been through, so an
/// event that comes back in (directly or through a relay) can be recognised as a loop.
pub const HOPS_HEADER: &str = "x-hookline-hops";

/// The request that delivers `payload` to `endpoint` at `now`: serialised, signed with
/// the endpoint's current secrets, with its headers. A listen session's client is handed
/// exactly this to forward.
pub fn signed_request(
    endpoint: &Endpoint,
    payload: &Payload,
    how: SendOptions,
    now: DateTime<Utc>,
) -> Result<OutboundRequest, SendError> {
    let SendOptions { urgency, timeout, max_response_bytes, hops } = how;
    let body = serde_json::to_vec(payload).map_err(|e| SendError::Refused(format!("payload: {e}")))?;
    let secrets: Vec<&str> = endpoint.signing_secrets(now).map(Secret::expose).collect();
    let signed = signature_headers(&endpoint.signature, &secrets, payload.id.as_str(), now.timestamp(), &body)
        .map_err(|e| SendError::Refused(e.to_string()))?;
    let mut headers: Vec<(String, String)> = Vec::with_capacity(8 + endpoint.headers.len());
    // The endpoint's own headers first, so they can never replace the signature.
    headers.extend(endpoint.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    headers.extend(signed);
    headers.push(("content-type".into(), "application/json".into()));
    headers.push(("x-request-id".into(), ulid::Ulid::new().to_string()));
    headers.push(("x-hookline-event-type".into(), payload.event_type.clone()));
    headers.push(("x-hookline-urgency".into(), urgency.as_str().into()));
    headers.push((HOPS_HEADER.into(), hops.saturating_add(1).to_string()));
    Ok(OutboundRequest {
        url: endpoint.url_for(&payload.event_type),
        headers,
        body: body.into(),
        timeout,
        max_response_bytes,
    })
}

/// Serialise the payload, sign it with the endpoint's current secrets, and POST it.
pub async fn send_event<H: HttpSender + ?Sized>(
    http: &H,
    endpoint: &Endpoint,
    payload: &Payload,
    how: SendOptions,
    now: DateTime<Utc>,
) -> Result<OutboundResponse, SendError> {
    http.send(signed_request(endpoint, payload, how, now)?).await
}

/// What one request's outcome means for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered,
    /// 410: the endpoint asks never to be sent to again.
    Gone,
    /// Worth sending again, by the rule in force.
    Retry,
    /// Failed for good: sending it again would meet the same.
    Final,
}

/// Which outcomes are worth sending again: the one definition both `deliver` and the
/// API's real-time calls use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryRule {
    /// Queued deliveries: any answer but 2xx and 410, and no answer at all, may change
    /// within the policy's hours (a 400 from a deploy in progress, a 404 before a route
    /// exists), so they are tried again until the policy gives up.
    Queued,
    /// Real-time calls: the caller is waiting seconds, so only the answers that mean
    /// "later" (5xx, 408, 429) and no answer at all are tried again.
    RealTime,
    /// Queued deliveries to an endpoint that says a 4xx means "do not retry": any
    /// answer but 2xx and 410, and no answer, except a 4xx other than 408 and 429.
    QueuedFinal4xx,
}

impl RetryRule {
    /// Judge a request's outcome. A refused request (a forbidden address) is final under
    /// either rule: it would be refused again.
    pub fn judge(self, result: &Result<OutboundResponse, SendError>) -> Outcome {
        match result {
            Ok(r) if (200..300).contains(&r.status) => Outcome::Delivered,
            Ok(r) if r.status == 410 => Outcome::Gone,
            Ok(r) if self.retries(r.status) => Outcome::Retry,
            Ok(_) | Err(SendError::Refused(_)) => Outcome::Final,
            Err(_) => Outcome::Retry,
        }
    }

    fn retries(self, status: u16) -> bool {
        match self {
            RetryRule::Queued => true,
            RetryRule::RealTime => status >= 500 || status == 408 || status == 429,
            RetryRule::QueuedFinal4xx => !(400..500).contains(&status) || status == 408 || status == 429,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16) -> Result<OutboundResponse, SendError> {
        Ok(OutboundResponse { status, body: String::new(), duration: Duration::ZERO, retry_after: None })
    }

    #[test]
    fn each_rule_says_which_outcomes_are_tried_again() {
        use Outcome::*;
        let cases: [(Result<OutboundResponse, SendError>, Outcome, Outcome); 11] = [
            (answer(200), Delivered, Delivered),
            (answer(204), Delivered, Delivered),
            (answer(410), Gone, Gone),
            (answer(500), Retry, Retry),
            (answer(503), Retry, Retry),
            (answer(429), Retry, Retry),
            (answer(408), Retry, Retry),
            (answer(400), Retry, Final),
            (Err(SendError::Timeout(Duration::from_secs(30))), Retry, Retry),
            (Err(SendError::Connect("reset".into())), Retry, Retry),
            (Err(SendError::Refused("a private address".into())), Final, Final),
        ];
        for (result, queued, real_time) in &cases {
            assert_eq!(RetryRule::Queued.judge(result), *queued, "{result:?}");
            assert_eq!(RetryRule::RealTime.judge(result), *real_time, "{result:?}");
        }
        assert_eq!(RetryRule::RealTime.judge(&answer(404)), Final);
        assert_eq!(RetryRule::Queued.judge(&answer(404)), Retry);
        for (status, want) in [(400, Final), (404, Final), (408, Retry), (429, Retry), (500, Retry), (302, Retry)] {
            assert_eq!(RetryRule::QueuedFinal4xx.judge(&answer(status)), want, "{status}");
        }
        assert_eq!(RetryRule::QueuedFinal4xx.judge(&answer(410)), Gone);
    }
}
