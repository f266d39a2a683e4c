//! A stand-in for GitHub's REST API on 127.0.0.1, serving its documented shapes for what
//! back-fill asks: a hook's deliveries (`GET …/hooks/{id}/deliveries`, newest first,
//! paged by a `cursor` in the `Link` header) and a redelivery (`POST
//! …/deliveries/{id}/attempts`, 202), which it carries out as GitHub does: the same
//! delivery, with its `X-GitHub-Delivery`, signed again, POSTed to the hook's URL.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One delivery the fake hook made.
#[derive(Debug, Clone)]
pub struct FakeDelivery {
    /// GitHub's id of it.
    pub id: u64,
    /// Its `X-GitHub-Delivery`.
    pub guid: String,
    /// When it was sent.
    pub delivered_at: chrono::DateTime<chrono::Utc>,
    /// Its `X-GitHub-Event`.
    pub event: String,
    /// Its body.
    pub body: String,
    /// A redelivery of an earlier one.
    pub redelivery: bool,
}

#[derive(Debug)]
struct Inner {
    token: String,
    hook_url: String,
    secret: String,
    deliveries: Vec<FakeDelivery>,
    redelivered: Vec<u64>,
}

/// The fake API, with one hook (`repos/octo/shop/hooks/1`) pointing at a source.
#[derive(Debug, Clone)]
pub struct FakeGithub {
    /// `http://127.0.0.1:port`, for `HOOKLINE_GITHUB_API_BASE`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

/// Deliveries per page: small, so paging is exercised.
const PAGE: usize = 2;

impl FakeGithub {
    /// Start one that accepts `token` and whose hook signs with `secret`.
    pub async fn start(token: &str, secret: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            token: token.to_owned(),
            hook_url: String::new(),
            secret: secret.to_owned(),
            deliveries: Vec::new(),
            redelivered: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/repos/{owner}/{repo}/hooks/{hook}/deliveries", axum::routing::get(list))
            .route("/repos/{owner}/{repo}/hooks/{hook}/deliveries/{id}/attempts", axum::routing::post(redeliver))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// Where the hook sends (the source's ingest URL).
    pub fn point_at(&self, hook_url: &str) {
        self.inner.lock().expect("lock").hook_url = hook_url.to_owned();
    }

    /// The hook made this delivery (whether it arrived or not).
    pub fn add(&self, delivery: FakeDelivery) {
        self.inner.lock().expect("lock").deliveries.push(delivery);
    }

    /// The ids GitHub was asked to redeliver.
    pub fn redelivered(&self) -> Vec<u64> {
        self.inner.lock().expect("lock").redelivered.clone()
    }

    /// The headers GitHub sends `delivery` with, signed with the hook's secret.
    pub fn headers(&self, delivery: &FakeDelivery) -> Vec<(String, String)> {
        let secret = self.inner.lock().expect("lock").secret.clone();
        signed_headers(&secret, delivery)
    }
}

fn signed_headers(secret: &str, d: &FakeDelivery) -> Vec<(String, String)> {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(d.body.as_bytes());
    vec![
        ("x-github-event".into(), d.event.clone()),
        ("x-github-delivery".into(), d.guid.clone()),
        ("x-github-hook-id".into(), "1".into()),
        ("content-type".into(), "application/json".into()),
        ("x-hub-signature-256".into(), format!("sha256={}", hex::encode(mac.finalize().into_bytes()))),
    ]
}

fn refused(inner: &Inner, headers: &HeaderMap) -> Option<Response> {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    (given != format!("Bearer {}", inner.token)).then(|| {
        let body =
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"});
        (StatusCode::UNAUTHORIZED, Json(body)).into_response()
    })
}

async fn list(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((_, _, _)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let inner = inner.lock().expect("lock");
    if let Some(no) = refused(&inner, &headers) {
        return no;
    }
    let mut all = inner.deliveries.clone();
    all.sort_by_key(|d| std::cmp::Reverse((d.delivered_at, d.id)));
    let start: usize = q.get("cursor").and_then(|c| c.strip_prefix("v1_")).and_then(|n| n.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(PAGE)
        .map(|d| {
            json!({
                "id": d.id, "guid": d.guid, "delivered_at": d.delivered_at, "redelivery": d.redelivery,
                "duration": 0.1, "status": "OK", "status_code": 200, "event": d.event, "action": null,
                "installation_id": null, "repository_id": 1
            })
        })
        .collect();
    let mut res = Json(page).into_response();
    if start + PAGE < all.len() {
        let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        let next = start + PAGE;
        let link =
            format!("<http://{host}/repos/octo/shop/hooks/1/deliveries?per_page=100&cursor=v1_{next}>; rel=\"next\"");
        res.headers_mut().insert("link", link.parse().expect("header"));
    }
    res
}

async fn redeliver(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((_, _, _, id)): Path<(String, String, String, u64)>,
    headers: HeaderMap,
) -> Response {
    let (url, delivery, secret) = {
        let mut inner = inner.lock().expect("lock");
        if let Some(no) = refused(&inner, &headers) {
            return no;
        }
        let Some(d) = inner.deliveries.iter().find(|d| d.id == id).cloned() else {
            return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
        };
        inner.redelivered.push(id);
        (inner.hook_url.clone(), d, inner.secret.clone())
    };
    // GitHub answers at once and sends the delivery again on its own.
    tokio::spawn(async move {
        let mut req = reqwest::Client::new().post(&url).body(delivery.body.clone());
        for (k, v) in signed_headers(&secret, &delivery) {
            req = req.header(k, v);
        }
        let _ = req.send().await;
    });
    (StatusCode::ACCEPTED, Json(json!({}))).into_response()
}
