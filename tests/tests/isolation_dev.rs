//! Tenant isolation on `hookline dev`: two orgs with every kind of resource; every route
//! is tried by one org (and by its portal session) with the other's ids and cursors, and
//! by no key and a wrong key. A portal session is also tried on every route of its own
//! org: only its endpoints' routes answer it.
//! Each try gets 404 or 401 (or, for routes that name a resource by the caller's own
//! namespace, touches only the caller's), and the other org's resources read the same
//! before and after.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_tests::{spawn_app, TestApp};
use serde_json::{json, Value};

/// One org and the ids of everything it has.
struct Tenant {
    key: String,
    org: String,
    source: String,
    webhook: String,
    event: String,
    schedule: String,
    api_key: String,
    listen: String,
    portal: String,
    portal_token: String,
    cursor: String,
}

async fn tenant(app: &TestApp) -> Tenant {
    let (org, key) = app.create_org("pro").await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let source = id(&app.create_source(&key, json!({"name": "s", "provider": "none"})).await);
    let webhook = id(&app.create_webhook(&key, json!({"url": "https://hooks.example/x", "events": ["*"]})).await);
    let event = app.publish(&key, "a.b", json!({})).await;
    app.publish(&key, "a.c", json!({})).await;
    let (status, sch) = app.post(&key, "/v1/schedules", json!({"type": "t", "at": "2030-01-01T00:00:00Z"})).await;
    assert_eq!(status, 201);
    let res = app
        .http
        .put(format!("{}/v1/recurring/news/user_1", app.url))
        .bearer_auth(&key)
        .json(&json!({"frequency": "weekly", "start": "2030-01-07T09:00", "timezone": "Europe/Berlin"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let (_, keys) = app.post(&key, "/v1/api-keys", json!({})).await;
    let (status, listen) = app.post(&key, "/v1/listen-sessions", json!({"events": ["none.*"]})).await;
    assert_eq!(status, 201, "{listen}");
    let (status, portal) = app.post(&key, "/v1/portal-sessions", json!({"expires_in": "1h"})).await;
    assert_eq!(status, 201, "{portal}");
    app.drain().await;
    app.wait_for_events(&key, 2).await;
    let (_, page) = app.get(&key, "/v1/events?limit=1").await;
    Tenant {
        key,
        org,
        source,
        webhook,
        event,
        schedule: id(&sch),
        api_key: id(&keys),
        listen: id(&listen),
        portal: id(&portal),
        portal_token: portal["url"].as_str().unwrap().split("#portal=").nth(1).unwrap().to_owned(),
        cursor: page["next_cursor"].as_str().unwrap().to_owned(),
    }
}

/// Everything a tenant can read of itself, with what changes on its own (the last day
/// a key was used) left out.
async fn snapshot(app: &TestApp, t: &Tenant) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/v1/sources".to_owned(),
        format!("/v1/sources/{}", t.source),
        "/v1/webhooks".to_owned(),
        format!("/v1/webhooks/{}", t.webhook),
        format!("/v1/webhooks/{}/logs", t.webhook),
        "/v1/events?limit=100".to_owned(),
        format!("/v1/events/{}", t.event),
        "/v1/schedules".to_owned(),
        format!("/v1/schedules/{}", t.schedule),
        "/v1/recurring/news".to_owned(),
        "/v1/recurring/news/user_1".to_owned(),
    ] {
        let (status, v) = app.get(&t.key, &path).await;
        assert_eq!(status, 200, "{path}: {v}");
        out.push(v);
    }
    let (_, keys) = app.get(&t.key, "/v1/api-keys").await;
    out.push(json!(keys["data"].as_array().unwrap().iter().map(|k| k["id"].clone()).collect::<Vec<_>>()));
    out
}

/// A plausible body for a route, so that what refuses it is the ownership check.
fn body_for(method: &str, path: &str) -> Value {
    match (method, path) {
        ("patch", "/v1/sources/{id}") => json!({"name": "taken"}),
        ("patch", "/v1/webhooks/{id}") => json!({"description": "taken"}),
        ("post", "/v1/webhooks/{id}/replay" | "/v1/sources/{id}/backfill") => json!({"since": "2020-01-01T00:00:00Z"}),
        ("post", "/v1/webhooks/{id}/call") => json!({"type": "a.b"}),
        ("patch", "/v1/schedules/{id}") => json!({"data": {"taken": true}}),
        ("put", "/v1/recurring/{name}/{thing}") => json!({"frequency": "daily", "start": "2030-01-07T09:00"}),
        ("post", "/v1/sources/{id}/trigger") => json!({"body": {"id": "evt_taken"}}),
        ("post", "/v1/listen-sessions/{id}/deliveries/{attempt}") => {
            json!({"event_id": "evt_00000000000000000000000000", "duration_ms": 1})
        }
        _ => json!({}),
    }
}

impl Tenant {
    /// The path of `route` naming this tenant's resources.
    fn path(&self, route: &str) -> String {
        let id = match route.split('/').nth(2) {
            Some("webhooks") => &self.webhook,
            Some("events") => &self.event,
            Some("schedules") => &self.schedule,
            Some("api-keys") => &self.api_key,
            Some("orgs") => &self.org,
            Some("listen-sessions") => &self.listen,
            Some("portal-sessions") => &self.portal,
            _ => &self.source,
        };
        route.replace("{id}", id).replace("{name}", "news").replace("{thing}", "user_1")
    }
}

/// Call `route` at `path` with `key`, with a plausible body; (status, body text).
async fn try_route(app: &TestApp, method: &str, route: &str, path: &str, key: Option<&str>) -> (u16, String) {
    let mut req = app.http.request(method.to_uppercase().parse().unwrap(), format!("{}{path}", app.url));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if method != "get" && method != "delete" {
        req = req.json(&body_for(method, route));
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn no_org_reaches_another_orgs_resources() {
    let app = spawn_app().await;
    let a = tenant(&app).await;
    let b = tenant(&app).await;
    let before = snapshot(&app, &b).await;
    let b_ids = [&b.org, &b.source, &b.webhook, &b.event, &b.schedule, &b.api_key, &b.listen, &b.portal];

    let mut tried = 0;
    for (method, route) in hookline_api::ROUTES {
        let path = b.path(route);
        let callers = [
            ("org a", Some(a.key.as_str())),
            ("org a's portal session", Some(a.portal_token.as_str())),
            ("a wrong key", Some("hk_wrong")),
            ("no key", None),
        ];
        for (who, key) in callers {
            let (status, text) = try_route(&app, method, route, &path, key).await;
            tried += 1;
            let names_b = route.contains("{id}") || route.starts_with("/v1/orgs");
            if key == Some(a.portal_token.as_str()) {
                if names_b {
                    assert!(matches!(status, 401 | 403 | 404), "{method} {path} by {who}: {status} {text}");
                }
                for id in b_ids {
                    assert!(!text.contains(id.as_str()), "{method} {path} by {who} shows {id}: {text}");
                }
                continue;
            }
            if key != Some(a.key.as_str()) {
                // The spec document is public; everything else wants a valid key.
                if *route != "/v1/openapi.json" {
                    assert_eq!(status, 401, "{method} {path} by {who}: {text}");
                }
                continue;
            }
            if names_b {
                assert!(matches!(status, 401 | 404), "{method} {path} by {who}: {status} {text}");
            }
            for id in b_ids {
                assert!(!text.contains(id.as_str()), "{method} {path} by {who} shows {id}: {text}");
            }
        }
    }
    // B's cursor in A's listing shows only A's events.
    let (status, page) = app.get(&a.key, &format!("/v1/events?limit=100&cursor={}", b.cursor)).await;
    assert!(status == 200 || status == 400, "{page}");
    assert!(!page.to_string().contains(&b.event));
    tried += 1;

    assert_eq!(snapshot(&app, &b).await, before, "org b's resources are as they were");
    assert!(tried >= 4 * hookline_api::ROUTES.len());
    println!("isolation: {tried} requests across {} routes, all refused or confined", hookline_api::ROUTES.len());
}

/// What a portal session may call: its org's endpoints and their deliveries.
fn portal_may(method: &str, route: &str) -> bool {
    matches!(
        (method, route),
        ("get", "/v1/me" | "/v1/events/{id}" | "/v1/stats") | (_, "/v1/webhooks" | "/v1/webhooks/{id}")
    ) || (route.starts_with("/v1/webhooks/{id}/") && route != "/v1/webhooks/{id}/call")
}

#[tokio::test]
async fn a_portal_session_reaches_only_its_orgs_endpoints_and_their_deliveries() {
    let app = spawn_app().await;
    let a = tenant(&app).await;
    let before = snapshot(&app, &a).await;
    let token = a.portal_token.as_str();
    let mut refused = 0;
    for (method, route) in hookline_api::ROUTES.iter().filter(|(m, r)| !portal_may(m, r)) {
        let path = a.path(route);
        let (status, text) = try_route(&app, method, route, &path, Some(token)).await;
        if *route == "/v1/openapi.json" {
            continue;
        }
        // 403 for the org's own routes; 401 for the operator's.
        let want = if route.starts_with("/v1/orgs") { 401 } else { 403 };
        assert_eq!(status, want, "{method} {path} with a portal token: {text}");
        refused += 1;
    }
    assert_eq!(snapshot(&app, &a).await, before, "nothing the portal was refused changed anything");

    // What it may do: create, edit, test, enable, rotate, replay, read deliveries.
    let (status, ep) =
        app.post(token, "/v1/webhooks", json!({"url": "https://hooks.example/portal", "events": ["a.*"]})).await;
    assert_eq!(status, 201, "{ep}");
    let ep = ep["id"].as_str().unwrap();
    let (status, v) = app.patch(token, &format!("/v1/webhooks/{ep}"), json!({"headers": {"X-Team": "billing"}})).await;
    assert_eq!((status, &v["headers"]["X-Team"]), (200, &json!("billing")), "{v}");
    for action in ["enable", "rotate-secret", "pause", "resume"] {
        let (status, v) = app.post(token, &format!("/v1/webhooks/{ep}/{action}"), json!({})).await;
        assert_eq!(status, 200, "{action}: {v}");
    }
    let (status, v) =
        app.post(token, &format!("/v1/webhooks/{ep}/replay"), json!({"since": "2020-01-01T00:00:00Z"})).await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = app.get(token, &format!("/v1/webhooks/{ep}/logs")).await;
    assert_eq!(status, 200);
    let (status, stats) = app.get(token, "/v1/stats").await;
    assert_eq!(status, 200);
    assert!(stats.get("sources").is_none(), "a portal is not shown the org's sources: {stats}");
    let (status, v) = app.get(token, &format!("/v1/events/{}", a.event)).await;
    assert_eq!(status, 200, "an event delivered to the org's endpoint: {v}");
    println!("portal: {refused} routes refused");
}
