//! A real `hookline dev`, logging at `debug` to a file, is given every kind of secret
//! (org and API keys, source secrets, endpoint secrets old and rotated, a wrong key);
//! none of them appears in what it logged. The operator key is printed once, at the
//! first start, only when `hookline dev` generated it.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("log.txt");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["dev", "--addr", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data.path().join("db"))
        .env_remove("HOOKLINE_OPERATOR_KEY")
        .env("RUST_LOG", "debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/v1/openapi.json")).send().await.is_err() {
        assert!(Instant::now() < deadline, "hookline dev did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let operator = std::fs::read_to_string(data.path().join("db/operator-key")).unwrap().trim().to_owned();

    let call = |method: &str, path: &str, key: &str, body: Value| {
        let req = http.request(method.parse().unwrap(), format!("{base}{path}")).bearer_auth(key).json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap_or(Value::Null) }
    };
    let org = call("POST", "/v1/orgs", &operator, json!({"name": "acme", "plan": "pro"})).await;
    let key = org["api_key"].as_str().unwrap().to_owned();
    let second = call("POST", "/v1/api-keys", &key, json!({})).await["api_key"].as_str().unwrap().to_owned();
    let source_secret = "whsec_source_secret_for_the_log_test";
    let src =
        call("POST", "/v1/sources", &key, json!({"name": "s", "provider": "stripe", "secrets": [source_secret]})).await;
    let token = "Bearer token-secret-for-the-log-test";
    call("POST", "/v1/sources", &key, json!({"name": "t", "provider": "token", "secrets": [token]})).await;
    let ep = call("POST", "/v1/webhooks", &key, json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]})).await;
    let ep_secret = ep["secret"].as_str().unwrap().to_owned();
    let rotated =
        call("POST", &format!("/v1/webhooks/{}/rotate-secret", ep["id"].as_str().unwrap()), &key, json!({})).await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    call("POST", "/v1/events", &second, json!({"type": "a.b", "data": {}})).await;
    // Refused requests log why; never with what was presented.
    let wrong_key = "hk_wrong_key_for_the_log_test_0123456789";
    call("GET", "/v1/webhooks", wrong_key, json!({})).await;
    let ingest = src["ingest_url"].as_str().unwrap();
    let forged = format!("t=1,v1={}", "ab".repeat(32));
    http.post(ingest).header("stripe-signature", &forged).body("{}").send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(logged.lines().count() > 5, "the run logged: {logged}");
    assert_eq!(logged.matches(&operator).count(), 1, "the generated operator key is printed once");
    for secret in [&key, &second, source_secret, token, &ep_secret, &new_secret, wrong_key, &forged[..]] {
        assert!(!logged.contains(secret), "{secret} is in the log");
    }
}
