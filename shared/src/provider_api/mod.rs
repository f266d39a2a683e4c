//! Clients of the providers' own APIs, for fetch-back and back-fill: Stripe's events and
//! GitHub's webhook deliveries. Each base URL is configurable, for tests and mock servers.

pub mod github;
pub mod stripe;

use crate::domain::KeyStatus;
use std::time::Duration;

/// How long one request to a provider may take before it counts as a failure to retry.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What a provider answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched<T> {
    /// Found (or done).
    Found(T),
    /// The provider does not know it (404).
    NotFound,
    /// The provider refused the key (401, or 403 for a key without access); its message.
    Refused(KeyStatus, String),
}

/// A request the provider did not answer usefully (a 5xx, a 429, a timeout, a broken
/// connection): worth trying again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the provider's API is unavailable: {0}")]
pub struct Unavailable(pub String);

/// The process's one client of the providers' APIs, built on first use: most
/// invocations never call a provider, so no cold start pays for its TLS set-up.
fn client() -> Result<&'static reqwest::Client, Unavailable> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let built = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hookline/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Unavailable(e.to_string()))?;
    Ok(CLIENT.get_or_init(|| built))
}

/// The status of a refused key, for 401 and 403.
fn refused(status: u16) -> Option<KeyStatus> {
    match status {
        401 => Some(KeyStatus::Unauthorized),
        403 => Some(KeyStatus::Forbidden),
        _ => None,
    }
}
