//! A stand-in for Stripe's API on 127.0.0.1, serving its documented shapes for what
//! fetch-back and back-fill ask: `GET /v1/events/{id}` (the Event object; 404
//! `resource_missing`; 401 for another key) and `GET /v1/events` (a list object, newest
//! first, `created[gte]`, `created[lt]`, `limit`, `starting_after`, `has_more`). It can be told to
//! answer 500 for a while, and counts what it was asked.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Inner {
    events: Vec<Value>,
    failures_left: usize,
    asked: Vec<String>,
}

/// The fake API.
#[derive(Debug, Clone)]
pub struct FakeStripe {
    /// `http://127.0.0.1:port`, for `HOOKLINE_STRIPE_API_BASE`.
    pub url: String,
    key: Arc<Mutex<String>>,
    inner: Arc<Mutex<Inner>>,
}

type Shared = (Arc<Mutex<String>>, Arc<Mutex<Inner>>);

impl FakeStripe {
    /// Start one that accepts `key`.
    pub async fn start(key: &str) -> Self {
        let key = Arc::new(Mutex::new(key.to_owned()));
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .route("/v1/events", axum::routing::get(list))
            .route("/v1/events/{id}", axum::routing::get(one))
            .with_state((key.clone(), inner.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, key, inner }
    }

    /// Stripe has this event (an Event object, with `id` and `created`).
    pub fn add(&self, event: Value) {
        self.inner.lock().expect("lock").events.push(event);
    }

    /// The next `n` requests get 500.
    pub fn fail_next(&self, n: usize) {
        self.inner.lock().expect("lock").failures_left = n;
    }

    /// Accept another key from now on (the old one gets 401).
    pub fn rotate_key(&self, key: &str) {
        *self.key.lock().expect("lock") = key.to_owned();
    }

    /// The paths (with queries) asked so far.
    pub fn asked(&self) -> Vec<String> {
        self.inner.lock().expect("lock").asked.clone()
    }
}

/// A Stripe Event object of `kind` for `customer`, created at Unix time `created`.
pub fn stripe_event(id: &str, kind: &str, customer: &str, created: i64) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind,
        "data": {"object": {"id": format!("ch_{}", &id[4..]), "object": "charge", "customer": customer, "status": "failed"}}
    })
}

fn error(status: StatusCode, body: Value) -> (StatusCode, Json<Value>) {
    (status, Json(body))
}

/// The answer when the key or a scripted failure says no, else `None`.
fn refusal(shared: &Shared, headers: &HeaderMap, asked: String) -> Option<(StatusCode, Json<Value>)> {
    let (key, inner) = shared;
    let mut inner = inner.lock().expect("lock");
    inner.asked.push(asked);
    if inner.failures_left > 0 {
        inner.failures_left -= 1;
        let body = json!({"error": {"type": "api_error", "message": "An unknown error occurred"}});
        return Some(error(StatusCode::INTERNAL_SERVER_ERROR, body));
    }
    let want = format!("Bearer {}", key.lock().expect("lock"));
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if given != want {
        let shown = given.rsplit('_').next().unwrap_or_default();
        let body = json!({"error": {"type": "invalid_request_error", "message": format!("Invalid API Key provided: rk_test_****{shown}")}});
        return Some(error(StatusCode::UNAUTHORIZED, body));
    }
    None
}

async fn one(State(shared): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    if let Some(no) = refusal(&shared, &headers, format!("/v1/events/{id}")) {
        return no;
    }
    let inner = shared.1.lock().expect("lock");
    match inner.events.iter().find(|e| e["id"] == id.as_str()) {
        Some(e) => (StatusCode::OK, Json(e.clone())),
        None => error(
            StatusCode::NOT_FOUND,
            json!({"error": {"code": "resource_missing", "message": format!("No such event: '{id}'"), "param": "id", "type": "invalid_request_error"}}),
        ),
    }
}

async fn list(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let mut query: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    query.sort();
    if let Some(no) = refusal(&shared, &headers, format!("/v1/events?{}", query.join("&"))) {
        return no;
    }
    let since: i64 = q.get("created[gte]").and_then(|v| v.parse().ok()).unwrap_or(0);
    let before: i64 = q.get("created[lt]").and_then(|v| v.parse().ok()).unwrap_or(i64::MAX);
    let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(10).clamp(1, 100);
    let inner = shared.1.lock().expect("lock");
    let mut events: Vec<&Value> =
        inner.events.iter().filter(|e| e["created"].as_i64().is_some_and(|c| c >= since && c < before)).collect();
    // Newest first, as Stripe lists them.
    events.sort_by_key(|e| std::cmp::Reverse((e["created"].as_i64(), e["id"].as_str().map(str::to_owned))));
    let start = match q.get("starting_after") {
        Some(after) => events.iter().position(|e| e["id"] == after.as_str()).map_or(events.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<Value> = events.iter().skip(start).take(limit).map(|e| (*e).clone()).collect();
    let has_more = start + page.len() < events.len();
    (StatusCode::OK, Json(json!({"object": "list", "url": "/v1/events", "has_more": has_more, "data": page})))
}
