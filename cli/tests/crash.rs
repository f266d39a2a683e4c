//! `kill -9` of a real `hookline dev` process: every request that got 200/202 before the
//! kill is recorded after a restart, and every accepted event reaches its endpoint.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{create_org, free_port, start, wait_ready};

#[tokio::test]
async fn accepted_requests_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut child = start(data.path(), port);
    wait_ready(&http, &base).await;

    let key = create_org(&http, &base).await;
    let src: Value = http
        .post(format!("{base}/v1/sources"))
        .bearer_auth(&key)
        .json(&json!({"name": "open", "provider": "none"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ingest_url = src["ingest_url"].as_str().unwrap().to_owned();

    // Fire requests concurrently and kill the process while they are being processed.
    let mut accepted = 0usize;
    let sends = (0..200).map(|i| {
        let http = http.clone();
        let (base, key, ingest_url) = (base.clone(), key.clone(), ingest_url.clone());
        async move {
            let res = if i % 2 == 0 {
                http.post(format!("{base}/v1/events"))
                    .bearer_auth(&key)
                    .json(&json!({"type": "crash.test", "data": {"i": i}}))
                    .send()
                    .await
            } else {
                http.post(&ingest_url)
                    .header("Idempotency-Key", format!("k{i}"))
                    .body(format!(r#"{{"type":"in","i":{i}}}"#))
                    .send()
                    .await
            };
            res.map(|r| r.status().is_success()).unwrap_or(false)
        }
    });
    for ok in futures::future::join_all(sends).await {
        accepted += usize::from(ok);
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(accepted > 0);

    let mut child = start(data.path(), port);
    wait_ready(&http, &base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut recorded = 0;
    while Instant::now() < deadline {
        recorded = count_events(&http, &base, &key).await;
        if recorded >= accepted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(recorded, accepted, "every accepted request became exactly one event");
}

async fn count_events(http: &reqwest::Client, base: &str, key: &str) -> usize {
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/events?limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http.get(url).bearer_auth(key).send().await.unwrap().json().await.unwrap();
        n += page["data"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return n,
        }
    }
}

/// A receiver that takes its time, so deliveries are in flight when the process dies.
async fn slow_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let g = got.clone();
    let app = axum::Router::new().fallback(move |headers: http::HeaderMap| {
        let g = g.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                g.lock().unwrap().push(id.to_owned());
            }
            "{}"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test]
async fn deliveries_in_flight_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let (hook, got) = slow_receiver().await;
    let mut child = start(data.path(), port);
    wait_ready(&http, &base).await;
    let key = create_org(&http, &base).await;
    let res = http
        .post(format!("{base}/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": hook, "events": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let mut accepted = Vec::new();
    for i in 0..150 {
        let res = http
            .post(format!("{base}/v1/events"))
            .bearer_auth(&key)
            .json(&json!({"type": "t.x", "data": {"i": i}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        accepted.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    // Kill once some, but not all, deliveries have arrived.
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().len() < 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before_restart = got.lock().unwrap().len();

    let mut child = start(data.path(), port);
    wait_ready(&http, &base).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let missing = loop {
        let received: std::collections::HashSet<String> = got.lock().unwrap().iter().cloned().collect();
        let missing: Vec<&String> = accepted.iter().filter(|id| !received.contains(*id)).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing.len();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let total = got.lock().unwrap().len();
    eprintln!(
        "received {before_restart} before the kill; {total} deliveries for {} events ({} duplicates)",
        accepted.len(),
        total - accepted.len().min(total)
    );
    assert!(before_restart < accepted.len(), "the kill happened with deliveries outstanding");
    assert_eq!(missing, 0, "every accepted event reached the receiver");
}
