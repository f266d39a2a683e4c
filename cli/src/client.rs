//! The API as the commands call it: the profile's URL and key, JSON in and out, and the
//! API's own error message when a call fails.

use crate::profile::Profile;
use anyhow::Context as _;
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

/// A client of one Hookline's `/v1` API.
#[derive(Debug, Clone)]
pub struct Client {
    profile: Profile,
    http: reqwest::Client,
}

/// A call that failed: the API's status and message.
#[derive(Debug, thiserror::Error)]
#[error("{message} ({status})")]
pub struct ApiFailure {
    /// The HTTP status.
    pub status: u16,
    /// The API's `error.message`, or the body.
    pub message: String,
}

impl Client {
    /// A client for `profile`.
    pub fn new(profile: Profile) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("hookline-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { profile, http })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.profile.url
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }

    /// A call with an optional JSON body; the answer's JSON (`null` when empty).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.profile.url);
        let mut req = self.http.request(method.clone(), &url).bearer_auth(&self.profile.api_key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|e| unreachable_error(&self.profile.url, e))?;
        let status = res.status().as_u16();
        let text = res.text().await.with_context(|| format!("reading the answer to {method} {path}"))?;
        if !(200..300).contains(&status) {
            let parsed: Option<Value> = serde_json::from_str(&text).ok();
            let message = parsed
                .as_ref()
                .and_then(|v| v["error"]["message"].as_str())
                .map_or_else(|| text.chars().take(200).collect(), str::to_owned);
            return Err(ApiFailure { status, message }.into());
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("the answer to {method} {path} is not JSON"))
    }

    /// Every item of a listing, following its cursor; `progress` hears the count so far.
    pub async fn all(&self, path: &str, mut progress: impl FnMut(usize)) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page_path = match &cursor {
                Some(c) => format!("{path}{sep}limit=100&cursor={}", encode(c)),
                None => format!("{path}{sep}limit=100"),
            };
            let page = self.get(&page_path).await?;
            items.extend(page["data"].as_array().cloned().unwrap_or_default());
            progress(items.len());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(items),
            }
        }
    }
}

/// A connection failure, said plainly.
fn unreachable_error(base: &str, e: reqwest::Error) -> anyhow::Error {
    if e.is_timeout() {
        anyhow::anyhow!("{base} did not answer in time")
    } else {
        // The causes follow in the one error line: "Connection refused" says the most.
        anyhow::Error::new(e).context(format!("cannot reach {base}: is Hookline running there?"))
    }
}

/// Percent-encode a query value.
pub fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}
