//! The API the console reads on `hookline dev`: `/v1/stats` (attempts per minute by
//! outcome, each endpoint's health, events per source) and the replay of one event to
//! one endpoint.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_tests::{spawn_app, Receiver};
use serde_json::json;

#[tokio::test]
async fn stats_count_attempts_by_outcome_rank_the_failing_endpoint_first_and_count_events_per_source() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    rx.script("/down", &[(503, "down"); 20]);
    let (_, key) = app.create_org("pro").await;
    let ok = app.create_webhook(&key, json!({"url": format!("{}/ok", rx.url), "events": ["order.*"]})).await;
    let down = app
        .create_webhook(
            &key,
            json!({"url": format!("{}/down", rx.url), "events": ["order.*"], "retry_schedule": ["1h"]}),
        )
        .await;
    let src = app.create_source(&key, json!({"name": "open", "provider": "none"})).await;
    let ingest = src["ingest_url"].as_str().unwrap().to_owned();
    for i in 0..3 {
        let (status, _) = app.send_inbound(&ingest, "application/json", &[], &format!(r#"{{"n": {i}}}"#)).await;
        assert_eq!(status, 200);
    }
    for i in 0..4 {
        app.publish(&key, "order.created", json!({"n": i})).await;
    }
    assert_eq!(rx.wait_for("/ok", 4, 15).await.len(), 4);
    assert_eq!(rx.wait_for("/down", 4, 15).await.len(), 4);
    let stats = hookline_tests::until(15, || async {
        let (_, s) = app.get(&key, "/v1/stats").await;
        if s["totals"]["retrying"] == 4 {
            Ok(s)
        } else {
            Err(s)
        }
    })
    .await
    .unwrap_or_else(|s| panic!("four retrying attempts counted: {s}"));

    assert_eq!(stats["totals"], json!({"delivered": 4, "retrying": 4, "failed": 0, "exhausted": 0}));
    assert_eq!(stats["bucket_secs"], 60);
    let counted: u64 = stats["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| ["delivered", "retrying", "failed", "exhausted"].iter().map(|k| b[k].as_u64().unwrap()).sum::<u64>())
        .sum();
    assert_eq!(counted, 8, "the buckets hold every attempt: {stats}");
    let eps = stats["endpoints"].as_array().unwrap();
    assert_eq!(eps[0]["id"], down["id"], "the failing endpoint first: {stats}");
    assert_eq!((eps[0]["success_rate"].as_f64(), &eps[0]["last_response_code"]), (Some(0.0), &json!(503)));
    assert_eq!(eps[0]["last_status"], "retrying");
    assert_eq!((eps[1]["id"].clone(), eps[1]["success_rate"].as_f64()), (ok["id"].clone(), Some(1.0)));
    assert_eq!(stats["sources"], json!([{"id": src["id"], "received": 3}]));
    assert_eq!(stats["truncated"], false);

    // One endpoint's view: its attempts only.
    let (_, one) = app.get(&key, &format!("/v1/stats?endpoint={}", ok["id"].as_str().unwrap())).await;
    assert_eq!(one["totals"], json!({"delivered": 4, "retrying": 0, "failed": 0, "exhausted": 0}), "{one}");
    assert_eq!(one["endpoints"].as_array().unwrap().len(), 1);
    assert!(one.get("sources").is_none());
    let (status, _) = app.get(&key, "/v1/stats?endpoint=ep_00000000000000000000000000").await;
    assert_eq!(status, 404);

    // Each part alone: the attempts without the event scan, the sources without the attempts.
    let (_, part) = app.get(&key, "/v1/stats?only=endpoints").await;
    assert_eq!((&part["totals"], part.get("sources")), (&stats["totals"], None), "{part}");
    let (_, part) = app.get(&key, "/v1/stats?only=sources").await;
    assert_eq!((&part["sources"], part["totals"]["delivered"].as_u64()), (&stats["sources"], Some(0)), "{part}");
    assert_eq!(part["endpoints"], json!([]));

    // Hourly buckets over the same window hold the same attempts.
    let (_, hourly) = app.get(&key, "/v1/stats?bucket=1h").await;
    assert_eq!(hourly["totals"], stats["totals"]);
    // A window that ends before the attempts counts none of them.
    let since = (chrono::Utc::now() + chrono::Duration::hours(-30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, v) = app.get(&key, &format!("/v1/stats?since={since}")).await;
    assert_eq!(status, 200, "{v}");

    for bad in
        ["bucket=30s", "bucket=soon", "since=2020-01-01T00:00:00Z", "bucket=1m&since=2999-01-01T00:00:00Z", "x=1"]
    {
        let (status, v) = app.get(&key, &format!("/v1/stats?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
}

#[tokio::test]
async fn one_event_is_replayed_to_one_endpoint_whatever_became_of_it() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (_, key) = app.create_org("pro").await;
    let a = app.create_webhook(&key, json!({"url": format!("{}/a", rx.url), "events": ["order.*"]})).await;
    let b = app.create_webhook(&key, json!({"url": format!("{}/b", rx.url), "events": ["invoice.*"]})).await;
    let event = app.publish(&key, "order.created", json!({"n": 1})).await;
    assert_eq!(rx.wait_for("/a", 1, 15).await.len(), 1);
    let logged = hookline_tests::until_true(15, || async {
        let (_, e) = app.get(&key, &format!("/v1/events/{event}")).await;
        e["attempts"][0]["status"] == "delivered"
    })
    .await;
    assert!(logged);

    let replay = |ep: &str, body: serde_json::Value| {
        let path = format!("/v1/webhooks/{ep}/replay");
        let app = &app;
        let key = key.clone();
        async move { app.post(&key, &path, body).await }
    };
    let a_id = a["id"].as_str().unwrap();
    let (status, v) = replay(a_id, json!({"event_id": event})).await;
    assert_eq!((status, &v["replayed"]), (200, &json!(1)), "{v}");
    let got = rx.wait_for("/a", 2, 15).await;
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|g| g.headers["webhook-id"] == event), "the same event, by its id");

    // Never sent to b (its filter): nothing to replay there.
    let (status, v) = replay(b["id"].as_str().unwrap(), json!({"event_id": event})).await;
    assert_eq!(status, 404, "{v}");
    for (body, why) in [
        (json!({"event_id": event, "since": "2020-01-01T00:00:00Z"}), "both"),
        (json!({}), "neither"),
        (json!({"event_id": event, "types": ["order.*"]}), "types go with since"),
        (json!({"event_id": null}), "null"),
        (json!({"since": "2020-01-01T00:00:00Z", "types": null}), "null types"),
        (json!({"since": "2020-01-01T00:00:00Z", "until": null}), "null until"),
    ] {
        let (status, v) = replay(a_id, body).await;
        assert_eq!(status, 400, "{why}: {v}");
    }
    let (status, v) = replay(a_id, json!({"event_id": "evt_00000000000000000000000000"})).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(rx.got("/a").len(), 2, "nothing else was sent");
}
