//! The part of Stripe's API that fetch-back and back-fill use: one event by its id, and
//! the events created since a time, page by page. Its base URL is configurable
//! (`HOOKLINE_STRIPE_API_BASE`) for tests and for Stripe's own mock server.

use super::{client, Fetched, Unavailable};
use crate::domain::{KeyStatus, Secret};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One page of events, newest first as Stripe lists them.
#[derive(Debug, Clone, Deserialize)]
pub struct EventPage {
    /// The events, each as Stripe's Event object.
    pub data: Vec<serde_json::Value>,
    /// Whether there are more after the last.
    pub has_more: bool,
}

/// A client of Stripe's API.
#[derive(Debug, Clone)]
pub struct StripeApi {
    base: String,
}

impl StripeApi {
    /// A client of the API at `base` (`https://api.stripe.com`).
    pub fn new(base: &str) -> Self {
        Self { base: base.trim_end_matches('/').to_owned() }
    }

    /// The event `id` (`evt_…`), as Stripe has it now.
    pub async fn event(&self, key: &Secret, id: &str) -> Result<Fetched<serde_json::Value>, Unavailable> {
        if !is_stripe_id(id) {
            return Ok(Fetched::NotFound);
        }
        self.get(key, &format!("/v1/events/{id}"), &[]).await
    }

    /// One page of the events created at or after `since` and before `until`, after
    /// the event `starting_after` when given (Stripe lists newest first).
    pub async fn events_since(
        &self,
        key: &Secret,
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        starting_after: Option<&str>,
    ) -> Result<Fetched<EventPage>, Unavailable> {
        let mut query = vec![("created[gte]", since.timestamp().to_string()), ("limit", "100".to_owned())];
        if let Some(until) = until {
            query.push(("created[lt]", until.timestamp().to_string()));
        }
        if let Some(after) = starting_after.filter(|a| is_stripe_id(a)) {
            query.push(("starting_after", after.to_owned()));
        }
        self.get(key, "/v1/events", &query).await
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        key: &Secret,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Fetched<T>, Unavailable> {
        let res = client()?
            .get(format!("{}{path}", self.base))
            .query(query)
            .bearer_auth(key.expose())
            .send()
            .await
            .map_err(|e| Unavailable(e.without_url().to_string()))?;
        let status = res.status().as_u16();
        match status {
            200 => res.json().await.map(Fetched::Found).map_err(|e| Unavailable(e.without_url().to_string())),
            404 => Ok(Fetched::NotFound),
            401 | 403 => {
                let message = res.json::<ErrorBody>().await.ok().map(|b| b.error.message).unwrap_or_default();
                let status = super::refused(status).unwrap_or(KeyStatus::Unauthorized);
                Ok(Fetched::Refused(status, redact_key(&message)))
            }
            _ => Err(Unavailable(format!("answered {status}"))),
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
}

/// Stripe ids are a prefix, `_` and letters and digits: nothing that could change the
/// path or the query it is put in.
fn is_stripe_id(id: &str) -> bool {
    (3..=255).contains(&id.len()) && id.contains('_') && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Stripe's message for a bad key quotes part of it (`Invalid API Key provided:
/// rk_test_****1234`); keep only the words, never key material.
fn redact_key(message: &str) -> String {
    message.split(':').next().unwrap_or_default().trim().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_asked_for_and_messages_lose_the_key() {
        assert!(is_stripe_id("evt_1NG8Du2eZvKYlo2C"));
        for bad in ["evt_1/../../v1/charges", "evt_1?x=1", "evt", "", "evt_1#"] {
            assert!(!is_stripe_id(bad), "{bad}");
        }
        assert_eq!(redact_key("Invalid API Key provided: rk_test_****wxyz"), "Invalid API Key provided");
    }
}
