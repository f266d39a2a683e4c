//! The part of GitHub's REST API back-fill uses: a webhook's recent deliveries, and a
//! redelivery of one (GitHub then sends it again, signed, to the source). Its base URL
//! is configurable (`HOOKLINE_GITHUB_API_BASE`) for tests and GitHub Enterprise Server.

use super::{client, Fetched, Unavailable};
use crate::domain::Secret;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One delivery of a webhook, as GitHub lists them (newest first).
#[derive(Debug, Clone, Deserialize)]
pub struct Delivery {
    /// GitHub's id of this delivery (for a redelivery request).
    pub id: u64,
    /// The `X-GitHub-Delivery` it was sent with: the dedupe key of its event.
    pub guid: String,
    /// When it was sent.
    pub delivered_at: DateTime<Utc>,
    /// Whether it was itself a redelivery.
    #[serde(default)]
    pub redelivery: bool,
}

/// A webhook's path under the API: `repos/{owner}/{repo}/hooks/{id}` or
/// `orgs/{org}/hooks/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookPath(String);

impl HookPath {
    /// Check `path` is a repository's or an organization's webhook, nothing else.
    pub fn parse(path: &str) -> Result<Self, String> {
        let name = |s: &str| {
            !s.is_empty()
                && s.len() <= 100
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && s != "."
                && s != ".."
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let ok = match parts.as_slice() {
            ["repos", owner, repo, "hooks", id] => name(owner) && name(repo) && id.parse::<u64>().is_ok(),
            ["orgs", org, "hooks", id] => name(org) && id.parse::<u64>().is_ok(),
            _ => false,
        };
        if ok {
            Ok(Self(parts.join("/")))
        } else {
            Err("hook: `repos/{owner}/{repo}/hooks/{id}` or `orgs/{org}/hooks/{id}`".into())
        }
    }
}

/// One page of deliveries and the cursor of the next, if any.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    /// The deliveries, newest first.
    pub deliveries: Vec<Delivery>,
    /// Where the next page starts.
    pub next_cursor: Option<String>,
}

/// A client of GitHub's REST API.
#[derive(Debug, Clone)]
pub struct GithubApi {
    base: String,
}

impl GithubApi {
    /// A client of the API at `base` (`https://api.github.com`).
    pub fn new(base: &str) -> Self {
        Self { base: base.trim_end_matches('/').to_owned() }
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &Secret,
    ) -> Result<reqwest::RequestBuilder, Unavailable> {
        Ok(client()?
            .request(method, format!("{}/{path}", self.base))
            .bearer_auth(token.expose())
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28"))
    }

    /// One page of `hook`'s deliveries, from `cursor` when given.
    pub async fn deliveries(
        &self,
        token: &Secret,
        hook: &HookPath,
        cursor: Option<&str>,
    ) -> Result<Fetched<DeliveryPage>, Unavailable> {
        let mut req = self.request(reqwest::Method::GET, &format!("{}/deliveries", hook.0), token)?;
        req = req.query(&[("per_page", "100")]);
        if let Some(c) = cursor {
            req = req.query(&[("cursor", c)]);
        }
        let res = req.send().await.map_err(|e| Unavailable(e.without_url().to_string()))?;
        let status = res.status().as_u16();
        if status != 200 {
            return answer(status, res).await;
        }
        let next_cursor = res.headers().get("link").and_then(|l| l.to_str().ok()).and_then(next_cursor);
        let deliveries = res.json().await.map_err(|e| Unavailable(e.without_url().to_string()))?;
        Ok(Fetched::Found(DeliveryPage { deliveries, next_cursor }))
    }

    /// Ask GitHub to send delivery `id` of `hook` again.
    pub async fn redeliver(&self, token: &Secret, hook: &HookPath, id: u64) -> Result<Fetched<()>, Unavailable> {
        let path = format!("{}/deliveries/{id}/attempts", hook.0);
        let res = self
            .request(reqwest::Method::POST, &path, token)?
            .send()
            .await
            .map_err(|e| Unavailable(e.without_url().to_string()))?;
        match res.status().as_u16() {
            200..=299 => Ok(Fetched::Found(())),
            status => answer(status, res).await,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

/// What a non-success answer means.
async fn answer<T>(status: u16, res: reqwest::Response) -> Result<Fetched<T>, Unavailable> {
    match (status, super::refused(status)) {
        (404, _) => Ok(Fetched::NotFound),
        (_, Some(refused)) => {
            let message = res.json::<ErrorBody>().await.map(|b| b.message).unwrap_or_default();
            Ok(Fetched::Refused(refused, message.chars().take(200).collect()))
        }
        _ => Err(Unavailable(format!("answered {status}"))),
    }
}

/// The `cursor` of the `rel="next"` link in a `Link` header.
fn next_cursor(link: &str) -> Option<String> {
    link.split(',').find(|l| l.contains("rel=\"next\"")).and_then(|l| {
        let url = l.trim().trim_start_matches('<').split('>').next()?;
        let query = url.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "cursor").map(|(_, v)| v.into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_repository_or_organization_webhooks_only() {
        assert!(HookPath::parse("repos/octo/app/hooks/12345").is_ok());
        assert!(HookPath::parse("/orgs/octo/hooks/7/").is_ok());
        for bad in
            ["repos/octo/hooks/1", "repos/../x/hooks/1", "repos/o/r/hooks/x", "users/o/hooks/1", "repos/o/r?x/hooks/1"]
        {
            assert!(HookPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_next_cursor_comes_from_the_link_header() {
        let link = r#"<https://api.github.com/repos/o/r/hooks/1/deliveries?per_page=100&cursor=v1_123>; rel="next""#;
        assert_eq!(next_cursor(link).as_deref(), Some("v1_123"));
        assert_eq!(next_cursor(r#"<https://x/?cursor=a>; rel="prev""#), None);
    }
}
