//! Requests made to an endpoint while a caller waits: the handshake that proves an
//! endpoint answers for its URL (and may name the events it wants), and the real-time
//! call, tried again by [`RetryRule::RealTime`] within its policy's budget.

use super::{send_event, validate_filters, Endpoint, Outcome, Payload, RetryPolicy, RetryRule, SendOptions, Urgency};
use crate::ids::EventId;
use crate::outbound::{HttpSender, OutboundResponse, SendError};
use chrono::{DateTime, Utc};
use rand::Rng as _;
use std::time::Duration;

/// POST `hello` with a random magic: the endpoint must echo it, and may answer the
/// events it wants. The filter it gives, if any; or why the handshake failed.
pub async fn handshake<H: HttpSender + ?Sized>(
    http: &H,
    ep: &Endpoint,
    timeout: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Vec<String>>, String> {
    let magic = hex::encode(rand::rng().random::<[u8; 16]>());
    let payload = Payload::new(EventId::new(), "hello".into(), now, serde_json::json!({ "magic": magic }));
    let res = send_event(http, ep, &payload, SendOptions::direct(Urgency::RealTime, timeout, 64 * 1024), now)
        .await
        .map_err(|e| e.to_string())?;
    if !(200..300).contains(&res.status) {
        return Err(format!("endpoint answered {}", res.status));
    }
    let reply: serde_json::Value = serde_json::from_str(&res.body).map_err(|_| "the answer is not JSON".to_owned())?;
    if reply.get("magic").and_then(|m| m.as_str()) != Some(magic.as_str()) {
        return Err("the answer does not echo `magic`".into());
    }
    let Some(v) = reply.get("events") else { return Ok(None) };
    let events: Vec<String> =
        serde_json::from_value(v.clone()).map_err(|_| "`events` is not a list of strings".to_owned())?;
    validate_filters(&events).map_err(|e| format!("events: {e}"))?;
    Ok(Some(events))
}

/// What a real-time call came to: the tries made and the last outcome.
#[derive(Debug)]
pub struct CallOutcome {
    /// Tries made.
    pub tries: u32,
    /// The last answer, or why there was none.
    pub last: Result<OutboundResponse, SendError>,
}

/// Send `payload` now, trying again by the real-time policy while its budget lasts;
/// `log` records each try (its number and outcome) before the next one starts.
pub async fn call<H, L, F, E>(
    http: &H,
    ep: &Endpoint,
    payload: &Payload,
    max_response_bytes: usize,
    now: impl Fn() -> DateTime<Utc>,
    mut log: L,
) -> Result<CallOutcome, E>
where
    H: HttpSender + ?Sized,
    L: FnMut(u32, Result<OutboundResponse, SendError>) -> F,
    F: std::future::Future<Output = Result<(), E>>,
{
    let policy = RetryPolicy::for_urgency(Urgency::RealTime);
    let started = tokio::time::Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let remaining = policy.give_up_after.saturating_sub(started.elapsed());
        let how = SendOptions::direct(Urgency::RealTime, remaining.min(policy.timeout), max_response_bytes);
        let last = send_event(http, ep, payload, how, now()).await;
        log(tries, last.clone()).await?;
        let delay = policy.delay_after(tries, last.as_ref().ok().and_then(|r| r.retry_after));
        let out_of_budget = started.elapsed() + delay >= policy.give_up_after || tries >= policy.max_attempts;
        if RetryRule::RealTime.judge(&last) != Outcome::Retry || out_of_budget {
            return Ok(CallOutcome { tries, last });
        }
        tokio::time::sleep(delay).await;
    }
}
