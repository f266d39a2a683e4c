//! Delivery controls on `hookline dev`, each watched at the receiver: an endpoint's own
//! retry schedule.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use chrono::{DateTime, FixedOffset};
use hookline_tests::{spawn_app, until, Receiver};
use serde_json::{json, Value};

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
