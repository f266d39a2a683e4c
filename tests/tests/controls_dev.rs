//! Delivery controls on `hookline dev`, each watched at the receiver: an endpoint's own
//! retry schedule, pause and resume, bounded replays, and receivers written to another
//! platform's conventions (its signature, no retry of a 4xx, disabled at once). The rate
//! limit has a file of its own (`rate_limit_dev.rs`).

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use chrono::{DateTime, FixedOffset};
use hookline_cli::dev::DevOptions;
use hookline_shared::{Config, Retention};
use hookline_tests::{
    python, spawn_app, spawn_app_with, spawn_app_with_options, until, until_true, Got, Receiver, TestApp,
};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use tokio::io::AsyncBufReadExt as _;

fn at(a: &Value, field: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(a[field].as_str().unwrap_or_else(|| panic!("{field} in {a}"))).unwrap()
}

#[tokio::test]
async fn an_endpoints_retry_schedule_sets_the_gaps_and_the_number_of_attempts() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    rx.script("/down", &[(500, "down")]);
    let body = json!({"url": format!("{}/down", rx.url), "events": ["*"], "retry_schedule": ["1s", "2s", "4s"]});
    let ep = app.create_webhook(&key, body).await;
    assert_eq!(ep["retry_schedule"], json!(["1s", "2s", "4s"]));
    let id = ep["id"].as_str().unwrap();
    let event = app.publish(&key, "invoice.paid", json!({})).await;

    let logs = until(30, || async {
        let (_, v) = app.get(&key, &format!("/v1/webhooks/{id}/logs")).await;
        let logs = v["data"].as_array().cloned().unwrap_or_default();
        if logs.first().is_some_and(|a| a["status"] == "exhausted") {
            Ok(logs)
        } else {
            Err(logs)
        }
    })
    .await
    .unwrap_or_else(|logs| panic!("never exhausted: {logs:?}"));
    let seen: Vec<(&str, u64)> =
        logs.iter().map(|a| (a["status"].as_str().unwrap(), a["attempt"].as_u64().unwrap())).collect();
    assert_eq!(seen, [("exhausted", 4), ("retrying", 3), ("retrying", 2), ("retrying", 1)], "newest first");
    assert!(logs[0]["next_attempt_at"].is_null(), "nothing follows the last entry");
    let oldest_first: Vec<&Value> = logs.iter().rev().collect();
    for (n, (a, want)) in oldest_first.iter().zip([1.0, 2.0, 4.0]).enumerate() {
        let gap = (at(a, "next_attempt_at") - at(a, "created_at")).num_milliseconds() as f64 / 1000.0;
        // The schedule's entry, with the regular policy's ±20 % jitter.
        assert!((want * 0.8..=want * 1.2).contains(&gap), "retry {}: {gap} s, not {want} s ± 20 %", n + 1);
        assert!(at(oldest_first[n + 1], "created_at") >= at(a, "next_attempt_at"), "retry {} waited", n + 1);
    }
    let got = rx.got("/down");
    assert_eq!(got.len(), 4, "four attempts reached the endpoint");
    assert!(got.iter().all(|g| g.headers["webhook-id"] == event));
}

#[tokio::test]
async fn a_retry_schedule_is_checked_changed_and_cleared_through_the_api() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let url = "https://hooks.example.com/in";
    for bad in
        [json!([]), json!(["0s"]), json!(["8d"]), json!(["5w"]), json!(["1.5h"]), json!(vec!["1m"; 21]), json!("5m")]
    {
        let (status, v) =
            app.post(&key, "/v1/webhooks", json!({"url": url, "events": ["*"], "retry_schedule": bad})).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("retry_schedule"), "{bad}: {v}");
    }
    let ep = app.create_webhook(&key, json!({"url": url, "events": ["*"]})).await;
    assert!(ep["retry_schedule"].is_null(), "none unless given: the urgency's policy");
    let path = format!("/v1/webhooks/{}", ep["id"].as_str().unwrap());

    let (status, v) = app.patch(&key, &path, json!({"retry_schedule": ["90s", "120m", "1d"]})).await;
    assert_eq!((status, &v["retry_schedule"]), (200, &json!(["90s", "2h", "1d"])), "{v}");
    let (status, v) = app.patch(&key, &path, json!({"retry_schedule": ["30d"]})).await;
    assert_eq!(status, 400, "{v}");
    let (_, v) = app.patch(&key, &path, json!({"description": "other fields leave it be"})).await;
    assert_eq!(v["retry_schedule"], json!(["90s", "2h", "1d"]));
    let (status, v) = app.patch(&key, &path, json!({"retry_schedule": null})).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["retry_schedule"].is_null(), "null returns it to the urgency's policy: {v}");
    assert!(app.get(&key, &path).await.1["retry_schedule"].is_null());
}

#[tokio::test]
async fn a_replay_keeps_to_its_window_and_types_and_says_how_many_it_queued() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    rx.script("/gone", &[(410, ""), (200, "{}")]);
    let ep = app.create_webhook(&key, json!({"url": format!("{}/gone", rx.url), "events": ["*"]})).await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhooks/{id}");
    let start = chrono::Utc::now();

    // The first event's 410 disables the endpoint; the next are logged `failed`.
    let first = app.publish(&key, "order.created", json!({"n": 1})).await;
    let disabled = until_true(10, || async { app.get(&key, &path).await.1["status"] == "disabled" }).await;
    assert!(disabled, "disabled by the 410");
    let second = app.publish(&key, "invoice.paid", json!({"n": 2})).await;
    let third = app.publish(&key, "order.shipped", json!({"n": 3})).await;
    let failed = |n: usize| {
        let (app, key, id) = (&app, &key, &id);
        async move {
            let (_, v) = app.get(key, &format!("/v1/webhooks/{id}/logs?status=failed")).await;
            v["data"].as_array().map_or(0, Vec::len) >= n
        }
    };
    assert!(until_true(10, || failed(3)).await, "three failed deliveries");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let middle = chrono::Utc::now();
    app.publish(&key, "order.created", json!({"n": 4})).await;
    assert!(until_true(10, || failed(4)).await, "four failed deliveries");
    assert_eq!(app.post(&key, &format!("{path}/enable"), json!({})).await.0, 200);

    let replay = format!("{path}/replay");
    for bad in [
        json!({"since": start, "until": start}),
        json!({"since": start, "types": []}),
        json!({"since": start, "types": ["no spaces"]}),
        json!({"since": start, "limit": 5}),
    ] {
        let (status, v) = app.post(&key, &replay, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    let (status, v) = app.post(&key, &replay, json!({"since": start, "until": middle, "types": ["order.*"]})).await;
    assert_eq!((status, &v), (200, &json!({"replayed": 2})));
    let got = rx.wait_for("/gone", 3, 10).await;
    let ids: Vec<&str> = got.iter().map(|g| g.headers["webhook-id"].as_str()).collect();
    assert_eq!(ids, [first.as_str(), first.as_str(), third.as_str()], "the 410, then the two replayed, oldest first");
    let (_, v) = app.post(&key, &replay, json!({"since": start, "types": ["invoice.paid"]})).await;
    assert_eq!(v, json!({"replayed": 1}));
    let got = rx.wait_for("/gone", 4, 10).await;
    assert_eq!(got[3].headers["webhook-id"], second);
}

/// The receiver of `tests/peers/hmac_receiver.py` with `secret`: its URL, and the lines
/// it prints (`ok <webhook-id>` or `bad <webhook-id>` per request).
async fn hmac_receiver(
    py: &str,
    secret: &str,
) -> (String, tokio::process::Child, tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>) {
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/hmac_receiver.py");
    let mut child = tokio::process::Command::new(py)
        .arg(script)
        .arg(secret)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let port = first.strip_prefix("port ").unwrap().to_owned();
    (format!("http://127.0.0.1:{port}/hooks"), child, lines)
}

#[tokio::test]
async fn a_receiver_written_to_another_platforms_signature_accepts_every_delivery() {
    let Some(py) = python() else { return };
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    // The secret the receiver already holds: not a `whsec_` one.
    let secret = "sf_live_8c1d3e5f7a9b2c4d6e8f0a1b";
    let (url, _child, mut lines) = hmac_receiver(&py, secret).await;
    let scheme = json!({"scheme": "hmac-sha256-hex", "header": "X-SubscribeFlow-Signature", "prefix": "sha256="});
    let body = json!({"url": url, "events": ["*"], "secret": secret, "signature": scheme});
    let ep = app.create_webhook(&key, body).await;
    assert_eq!(ep["signature"]["header"], "x-subscribeflow-signature");
    let mut sent = HashSet::new();
    for n in 0..5 {
        sent.insert(app.publish(&key, "order.created", json!({"n": n, "note": "ünïcode ✓"})).await);
    }
    let mut seen = HashSet::new();
    while seen.len() < 5 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.unwrap().unwrap().unwrap();
        let (verdict, id) = line.split_once(' ').unwrap();
        assert_eq!(verdict, "ok", "the receiver's own check refused {id}");
        seen.insert(id.to_owned());
    }
    assert_eq!(seen, sent);

    // The API's test send is signed the same way.
    let (status, attempt) =
        app.post(&key, &format!("/v1/webhooks/{}/test", ep["id"].as_str().unwrap()), json!({})).await;
    assert_eq!((status, attempt["response_code"].as_u64()), (200, Some(200)), "{attempt}");

    // A standard signature needs a `whsec_` secret; the signature's header is its own.
    let path = format!("/v1/webhooks/{}", ep["id"].as_str().unwrap());
    let (status, v) = app.patch(&key, &path, json!({"signature": "standard"})).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("whsec_"), "{v}");
    let (status, v) = app.patch(&key, &path, json!({"headers": {"X-SubscribeFlow-Signature": "x"}})).await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = app
        .post(&key, "/v1/webhooks", json!({"url": url, "events": ["*"], "secret": "short", "signature": scheme}))
        .await;
    assert_eq!(status, 400, "{v}");
}

#[tokio::test]
async fn a_4xx_ends_a_delivery_when_retry_4xx_is_off_and_one_exhausted_event_disables() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    rx.script("/strict", &[(400, "bad request")]);
    rx.script("/down", &[(503, "down")]);
    let strict = app
        .create_webhook(&key, json!({"url": format!("{}/strict", rx.url), "events": ["a.*"], "retry_4xx": false}))
        .await;
    assert_eq!(strict["retry_4xx"], false);
    let body = json!({"url": format!("{}/down", rx.url), "events": ["b.*"], "retry_schedule": ["1s"],
        "disable_after_exhausted": 1});
    let fragile = app.create_webhook(&key, body).await;
    assert_eq!(fragile["disable_after_exhausted"], 1);
    app.publish(&key, "a.one", json!({})).await;
    app.publish(&key, "b.one", json!({})).await;

    let path = format!("/v1/webhooks/{}", fragile["id"].as_str().unwrap());
    let disabled = until(15, || async {
        let (_, v) = app.get(&key, &path).await;
        if v["status"] == "disabled" {
            Ok(v)
        } else {
            Err(v)
        }
    })
    .await
    .unwrap_or_else(|v| panic!("not disabled after its first exhausted event: {v}"));
    assert_eq!(disabled["failure"]["consecutive_exhausted"], 1);
    assert_eq!(rx.got("/down").len(), 2, "the attempt and its one retry");

    let (_, logs) = app.get(&key, &format!("/v1/webhooks/{}/logs", strict["id"].as_str().unwrap())).await;
    let logs = logs["data"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!((logs[0]["status"].as_str(), logs[0]["response_code"].as_u64()), (Some("failed"), Some(400)));
    assert!(logs[0]["next_attempt_at"].is_null());
    assert_eq!(rx.got("/strict").len(), 1, "a 400 is not tried again");
    let (status, v) = app.patch(&key, &path, json!({"disable_after_exhausted": 0})).await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = app.patch(&key, &path, json!({"disable_after_exhausted": null})).await;
    assert_eq!((status, v["disable_after_exhausted"].is_null()), (200, true), "{v}");
}

#[tokio::test]
async fn a_paused_endpoint_holds_its_deliveries_and_resume_sends_them_in_order() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    let ep = app.create_webhook(&key, json!({"url": format!("{}/held", rx.url), "events": ["*"]})).await;
    let path = format!("/v1/webhooks/{}", ep["id"].as_str().unwrap());
    let (status, v) = app.post(&key, &format!("{path}/resume"), json!({})).await;
    assert_eq!(status, 409, "not paused: {v}");
    let (status, v) = app.post(&key, &format!("{path}/pause"), json!({})).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("paused")), "{v}");
    assert!(v["paused_at"].is_string());

    let mut published = Vec::new();
    for n in 0..6 {
        published.push(app.publish(&key, "order.created", json!({"n": n})).await);
    }
    let logs = |status: &'static str| {
        let (app, key, path) = (&app, &key, &path);
        async move {
            let (_, v) = app.get(key, &format!("{path}/logs?status={status}")).await;
            v["data"].as_array().cloned().unwrap_or_default()
        }
    };
    assert!(until_true(10, || async { logs("held").await.len() == 6 }).await, "six held deliveries in the log");
    assert!(rx.got("/held").is_empty(), "nothing sent while paused");
    let (status, v) = app.post(&key, &format!("{path}/call"), json!({"type": "order.created", "data": {}})).await;
    assert_eq!((status, v["error"]["message"].as_str()), (422, Some("the webhook is paused")), "{v}");
    let held = logs("held").await;
    assert!(held.iter().all(|a| a["response_code"].is_null() && a["attempt"] == 1), "{held:?}");

    let (status, v) = app.post(&key, &format!("{path}/resume"), json!({})).await;
    assert_eq!((status, v["status"].as_str(), v["resumed"].as_u64()), (200, Some("active"), Some(6)), "{v}");
    // Queued oldest event first; like any deliveries they then run side by side.
    let got = rx.wait_for("/held", 6, 10).await;
    let sent: HashSet<&str> = got.iter().map(|g| g.headers["webhook-id"].as_str()).collect();
    assert_eq!((got.len(), sent), (6, published.iter().map(String::as_str).collect()), "each held delivery, once");
    let replaced = until_true(10, || async { logs("delivered").await.len() == 6 }).await;
    assert!(replaced, "each held entry replaced by its delivery");
    assert!(logs("held").await.is_empty());
    // New events go straight out again.
    let next = app.publish(&key, "order.created", json!({"n": 6})).await;
    assert_eq!(rx.wait_for("/held", 7, 10).await[6].headers["webhook-id"], next);
}

/// What the operator API says of an org's retention, and what its requests may be.
async fn org_request(app: &TestApp, method: reqwest::Method, org: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method, format!("{}/v1/orgs/{org}", app.url)).bearer_auth(&app.operator_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

/// How long `v` is kept after it was made, in days, to the minute: an attempt expires
/// with its event, which was made a moment before it.
fn days_kept(v: &Value) -> f64 {
    let minutes = (at(v, "expires_at") - at(v, "created_at")).num_milliseconds() as f64 / 60_000.0;
    minutes.round() / (24.0 * 60.0)
}

/// The event of `id` once its attempts number `n`.
async fn event_with_attempts(app: &TestApp, key: &str, id: &str, n: usize) -> Value {
    until(10, || async {
        let (_, v) = app.get(key, &format!("/v1/events/{id}")).await;
        if v["attempts"].as_array().is_some_and(|a| a.len() >= n) {
            Ok(v)
        } else {
            Err(v)
        }
    })
    .await
    .unwrap_or_else(|v| panic!("no {n} attempts: {v}"))
}

#[tokio::test]
async fn events_and_attempts_show_when_they_expire_and_an_org_can_keep_them_longer() {
    // The org cache off, so a change shows in the next event.
    let app = spawn_app_with(Config { source_cache_ttl: Duration::ZERO, ..Config::default() }).await;
    let (org, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    let ep = app.create_webhook(&key, json!({"url": format!("{}/kept", rx.url), "events": ["*"]})).await;
    let ep = ep["id"].as_str().unwrap().to_owned();

    let (status, v) = org_request(&app, reqwest::Method::GET, &org, None).await;
    assert_eq!((status, &v["retention_days"], &v["retention_is_default"]), (200, &json!(30), &json!(true)), "{v}");
    assert!(v.get("api_key").is_none(), "a key is shown only when made: {v}");
    let first = app.publish(&key, "invoice.paid", json!({})).await;
    let event = event_with_attempts(&app, &key, &first, 1).await;
    assert_eq!(days_kept(&event), 30.0, "the default: {event}");
    assert_eq!(event["attempts"][0]["expires_at"], event["expires_at"], "an attempt goes with its event");

    for bad in [json!({"retention_days": 6}), json!({"retention_days": 3651}), json!({"retention": 90})] {
        let (status, v) = org_request(&app, reqwest::Method::PATCH, &org, Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    let (status, _) = app.patch(&key, &format!("/v1/orgs/{org}"), json!({"retention_days": 90})).await;
    assert_eq!(status, 401, "an org's own key cannot change its retention");
    let (status, v) = org_request(&app, reqwest::Method::PATCH, "org_01J0000000000000000000000", Some(json!({}))).await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = org_request(&app, reqwest::Method::PATCH, &org, Some(json!({"retention_days": 90}))).await;
    assert_eq!((status, &v["retention_days"], &v["retention_is_default"]), (200, &json!(90), &json!(false)), "{v}");
    assert_eq!((&v["name"], &v["plan"]), (&json!("Acme"), &json!("pro")), "the rest left as it was");

    let second = app.publish(&key, "invoice.paid", json!({})).await;
    let event = event_with_attempts(&app, &key, &second, 1).await;
    assert_eq!(days_kept(&event), 90.0, "the org's own: {event}");
    let (_, test) = app.post(&key, &format!("/v1/webhooks/{ep}/test"), json!({})).await;
    assert_eq!(days_kept(&test), 90.0, "a test delivery's log too: {test}");
    let (_, logs) = app.get(&key, &format!("/v1/webhooks/{ep}/logs")).await;
    let kept: Vec<f64> = logs["data"].as_array().unwrap().iter().map(days_kept).collect();
    assert_eq!(kept, [90.0, 90.0, 30.0], "newest first; what was kept keeps its expiry");

    let (_, v) = org_request(&app, reqwest::Method::PATCH, &org, Some(json!({"retention_days": null}))).await;
    assert_eq!((&v["retention_days"], &v["retention_is_default"]), (&json!(30), &json!(true)), "{v}");
}

#[tokio::test]
async fn expired_events_and_attempts_are_purged_while_deliveries_go_on() {
    let config = Config { retention: Retention::shortened_for_tests(Duration::from_secs(3)), ..Config::default() };
    let data = tempfile::tempdir().unwrap();
    let mut opts = DevOptions::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf(), config);
    opts.purge_every = Duration::from_millis(200);
    let app = spawn_app_with_options(opts, data).await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    let ep = app.create_webhook(&key, json!({"url": format!("{}/in", rx.url), "events": ["*"]})).await;
    let ep = ep["id"].as_str().unwrap().to_owned();

    let mut published = Vec::new();
    for i in 0..30 {
        published.push(app.publish(&key, "order.created", json!({"n": i})).await);
    }
    rx.wait_for("/in", 30, 10).await;
    let (_, v) = app.get(&key, &format!("/v1/events/{}", published[0])).await;
    assert_eq!(v["id"], json!(published[0]), "kept until it expires: {v}");

    // While the first ones expire, more are published and delivered.
    let first = published[0].clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while app.get(&key, &format!("/v1/events/{first}")).await.0 != 404 {
        assert!(tokio::time::Instant::now() < deadline, "the first event was never purged");
        published.push(app.publish(&key, "order.created", json!({})).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let later = published.len();
    rx.wait_for("/in", later, 10).await;
    assert_eq!(rx.got("/in").len(), later, "every event published during the purge was delivered");

    let emptied = until_true(15, || async {
        let (_, events) = app.get(&key, "/v1/events?limit=100").await;
        let (_, logs) = app.get(&key, &format!("/v1/webhooks/{ep}/logs?limit=100")).await;
        events["data"].as_array().is_some_and(Vec::is_empty) && logs["data"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    assert!(emptied, "events and attempts are all purged once expired");
}

async fn publish_ordered(app: &TestApp, key: &str, event_type: &str, ordering_key: &str, n: usize) {
    let body = json!({"type": event_type, "data": {"key": ordering_key, "n": n}, "ordering_key": ordering_key});
    let (status, v) = app.post(key, "/v1/events", body).await;
    assert_eq!(status, 202, "{v}");
}

#[tokio::test]
async fn events_with_one_ordering_key_reach_an_endpoint_in_publish_order_while_other_keys_go_on() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    // The third event of key A has a type of its own, so a path of its own: it fails twice.
    rx.script("/o/order.flaky", &[(500, "down"), (500, "down"), (200, "{}")]);
    let url = format!("{}/o/:name", rx.url);
    app.create_webhook(&key, json!({"url": url, "events": ["*"], "retry_schedule": ["1s", "1s"]})).await;
    for bad in [json!(""), json!("a\nb"), json!("x".repeat(257)), json!(42)] {
        let (status, v) = app.post(&key, "/v1/events", json!({"type": "order.updated", "ordering_key": bad})).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }

    for n in 0..50 {
        publish_ordered(&app, &key, if n == 2 { "order.flaky" } else { "order.updated" }, "cus_A", n).await;
        if (3..13).contains(&n) {
            publish_ordered(&app, &key, "order.updated", "cus_B", n).await;
            publish_ordered(&app, &key, "order.updated", "cus_C", n).await;
        }
    }
    let all = until(30, || async {
        let all = rx.all();
        if all.len() >= 72 {
            Ok(all)
        } else {
            Err(all)
        }
    })
    .await
    .unwrap_or_else(|all| panic!("only {} of 72 requests arrived", all.len()));
    let flaky: Vec<&Got> = all.iter().filter(|g| g.path == "/o/order.flaky").collect();
    assert_eq!(flaky.len(), 3, "two failures and the success");
    let (failed_at, delivered_at) = (flaky[0].at, flaky[2].at);
    // Each event's first successful receipt: the flaky one's third, every other one's first.
    let mut first_success: Vec<(String, u64, std::time::Instant)> = Vec::new();
    for g in all.iter().filter(|g| g.path != "/o/order.flaky" || g.at == delivered_at) {
        let v = g.json();
        let (k, n) = (v["data"]["key"].as_str().unwrap().to_owned(), v["data"]["n"].as_u64().unwrap());
        if !first_success.iter().any(|(k2, n2, _)| *k2 == k && *n2 == n) {
            first_success.push((k, n, g.at));
        }
    }
    first_success.sort_by_key(|(_, _, at)| *at);
    let order = |k: &str| first_success.iter().filter(|(k2, _, _)| k2 == k).map(|(_, n, _)| *n).collect::<Vec<_>>();
    assert_eq!(order("cus_A"), (0..50).collect::<Vec<u64>>(), "key A in publish order, the retried third included");
    for other in ["cus_B", "cus_C"] {
        assert_eq!(order(other), (3..13).collect::<Vec<u64>>(), "{other} in its own order");
        let meanwhile =
            first_success.iter().filter(|(k, _, at)| k == other && *at > failed_at && *at < delivered_at).count();
        assert!(meanwhile > 0, "{other} went on while key A waited for its third event");
    }
}

#[tokio::test]
async fn a_source_orders_its_inbound_events_by_a_key_found_in_their_bodies() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    rx.script("/shop", &[(500, "down"), (200, "{}")]);
    app.create_webhook(&key, json!({"url": format!("{}/shop", rx.url), "events": ["*"], "retry_schedule": ["1s"]}))
        .await;
    let (status, v) = app
        .post(
            &key,
            "/v1/sources",
            json!({"name": "shop", "provider": "token", "secrets": ["t0k"], "ordering_key": "customer"}),
        )
        .await;
    assert_eq!(status, 400, "not a JSON pointer: {v}");
    let source = json!({"name": "shop", "provider": "token", "secrets": ["t0k"], "ordering_key": "/customer/id"});
    let source = app.create_source(&key, source).await;
    assert_eq!(source["ordering_key"], "/customer/id");
    let ingest = source["ingest_url"].as_str().unwrap().to_owned();
    for n in 0..5 {
        let body = json!({"customer": {"id": "cus_9"}, "n": n}).to_string();
        let res = app.http.post(&ingest).header("Authorization", "t0k").body(body).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let got = rx.wait_for("/shop", 6, 20).await;
    let order: Vec<u64> = got.iter().map(|g| g.json()["data"]["n"].as_u64().unwrap()).collect();
    assert_eq!(order, [0, 0, 1, 2, 3, 4], "the first, its retry, then the rest in the order they arrived");

    let (status, v) = app
        .patch(&key, &format!("/v1/sources/{}", source["id"].as_str().unwrap()), json!({"ordering_key": null}))
        .await;
    assert_eq!((status, &v["ordering_key"]), (200, &Value::Null), "{v}");
}
