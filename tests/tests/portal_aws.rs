//! Portal sessions on the AWS adapters (DynamoDB in moto), with the api's clock moved by
//! hand: a session's token reaches the org's endpoints until it expires, also from the
//! api's key cache; deleting it revokes it; an org's API keys never list it.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_api::{Api, Handoffs};
use hookline_shared::delivery::Deliveries;
use hookline_shared::memory::MemoryQueue;
use hookline_shared::outbound::{ReqwestSender, SystemLookup};
use hookline_shared::ports::{ManualClock, Queue};
use hookline_shared::{Config, Secret};
use hookline_tests::{apigw_event, call};
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test]
async fn a_portal_session_works_until_it_expires_or_is_deleted_and_is_no_api_key() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let store = hookline_tests::aws_store(&sdk).await.unwrap();
    let config = Config { operator_key: Some(Secret::new("op-key")), ..Config::default() };
    let queue = || Arc::new(MemoryQueue::new()) as Arc<dyn Queue>;
    let handoffs = Handoffs {
        http: Arc::new(ReqwestSender::new(config.network_policy(), Arc::new(SystemLookup)).unwrap()),
        deliveries: Deliveries { urgent: queue(), regular: queue() },
        timer: Arc::new(hookline_tests::scheduler_timer(&sdk).await.unwrap().2),
    };
    let start = chrono::Utc::now();
    let clock = ManualClock::at(start);
    let api = hookline_api::router(Api::new(store, MemoryQueue::new(), handoffs, clock.clone(), &config));
    let send = |method: &'static str, path: &str, key: &str, body: Option<Value>| {
        let api = api.clone();
        let auth = format!("Bearer {key}");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let path = path.to_owned();
        async move {
            let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
            call(&api, apigw_event(method, &path, &headers, &body)).await
        }
    };
    let (status, org) = send("POST", "/v1/orgs", "op-key", Some(json!({"name": "Acme", "plan": "pro"}))).await;
    assert_eq!(status, 201, "{org}");
    let key = org["api_key"].as_str().unwrap().to_owned();

    for (body, why) in [
        (json!({"expires_in": "30s"}), "shorter than a minute"),
        (json!({"expires_in": "8d"}), "longer than a week"),
        (json!({"expires_in": "soon"}), "not a duration"),
        (json!({"expires_in": "1h", "scope": "all"}), "an unknown field"),
    ] {
        let (status, v) = send("POST", "/v1/portal-sessions", &key, Some(body)).await;
        assert_eq!(status, 400, "{why}: {v}");
    }
    let (status, session) = send("POST", "/v1/portal-sessions", &key, Some(json!({"expires_in": "2m"}))).await;
    assert_eq!(status, 201, "{session}");
    let expires_at: chrono::DateTime<chrono::Utc> = session["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires_at, start + chrono::Duration::minutes(2));
    let token = session["url"].as_str().unwrap().split("#portal=").nth(1).unwrap().to_owned();

    assert_eq!(send("GET", "/v1/webhooks", &token, None).await.0, 200);
    assert_eq!(send("GET", "/v1/sources", &token, None).await.0, 403);
    let (_, keys) = send("GET", "/v1/api-keys", &key, None).await;
    assert_eq!(keys["data"].as_array().unwrap().len(), 1, "the session is not an API key: {keys}");

    // Just before the end it still works; at the end it does not, though the api has it cached.
    clock.set(expires_at - chrono::Duration::seconds(1));
    assert_eq!(send("GET", "/v1/webhooks", &token, None).await.0, 200);
    clock.set(expires_at);
    assert_eq!(send("GET", "/v1/webhooks", &token, None).await.0, 401, "expired");

    // A second session, revoked by deleting it; and the expired one was cleared on the way.
    let (_, second) = send("POST", "/v1/portal-sessions", &key, Some(json!({}))).await;
    let token = second["url"].as_str().unwrap().split("#portal=").nth(1).unwrap().to_owned();
    assert_eq!(send("GET", "/v1/me", &token, None).await.1["access"], "portal");
    let (status, _) =
        send("DELETE", &format!("/v1/portal-sessions/{}", session["id"].as_str().unwrap()), &key, None).await;
    assert_eq!(status, 404, "the expired session was deleted when the next one opened");
    let (status, _) = send("DELETE", &format!("/v1/api-keys/{}", second["id"].as_str().unwrap()), &key, None).await;
    assert_eq!(status, 404, "a portal session is not revoked as an API key");
    let (status, _) =
        send("DELETE", &format!("/v1/portal-sessions/{}", second["id"].as_str().unwrap()), &key, None).await;
    assert_eq!(status, 204);
    assert_eq!(send("GET", "/v1/me", &token, None).await.0, 401, "revoked");
    let (status, _) =
        send("DELETE", &format!("/v1/portal-sessions/{}", second["id"].as_str().unwrap()), &token, None).await;
    assert_eq!(status, 401);
}
