//! Back-fill on `hookline dev`, against stand-ins for Stripe's and GitHub's APIs on
//! 127.0.0.1: what the provider has and Hookline missed comes in through the normal
//! inbound path, what it had is counted as known, and a second back-fill changes nothing.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_shared::signature::stripe;
use hookline_shared::Config;
use hookline_tests::fake_github::{FakeDelivery, FakeGithub};
use hookline_tests::fake_stripe::{stripe_event, FakeStripe};
use hookline_tests::{spawn_app_with, until, Receiver, TestApp};
use serde_json::{json, Value};

async fn events(app: &TestApp, key: &str, n: usize) -> Vec<Value> {
    until(15, || async {
        let (_, v) = app.get(key, "/v1/events?limit=100").await;
        let data = v["data"].as_array().cloned().unwrap_or_default();
        if data.len() >= n {
            Ok(data)
        } else {
            Err(data)
        }
    })
    .await
    .unwrap_or_else(|d| panic!("{} of {n} events: {d:?}", d.len()))
}

#[tokio::test]
async fn stripe_events_missed_while_down_are_fetched_and_a_repeat_changes_nothing() {
    let key = "rk_test_51BackfillKey0001";
    let api = FakeStripe::start(key).await;
    let app = spawn_app_with(Config { stripe_api_base: api.url.clone(), ..Config::default() }).await;
    let (_, org_key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    app.create_webhook(&org_key, json!({"url": format!("{}/app", rx.url), "events": ["*"]})).await;
    let secret = "whsec_backfill_0001";
    let plain = app.create_source(&org_key, json!({"name": "plain", "provider": "stripe", "secrets": [secret]})).await;
    let body = json!({"name": "stripe", "provider": "stripe", "secrets": [secret], "fetch_back": {"api_key": key}});
    let src = app.create_source(&org_key, body).await;
    let path = format!("/v1/sources/{}/backfill", src["id"].as_str().unwrap());

    // Five events at Stripe over the last hour; the two newest arrived as webhooks.
    let now = chrono::Utc::now().timestamp();
    let all: Vec<Value> =
        (0..5).map(|i| stripe_event(&format!("evt_1Fill{i}"), "invoice.paid", "cus_1", now - 3000 + 600 * i)).collect();
    for e in &all {
        api.add(e.clone());
    }
    api.add(stripe_event("evt_1TooOld", "invoice.paid", "cus_1", now - 7200));
    for e in &all[3..] {
        let body = e.to_string();
        let sig = stripe::sign(secret, chrono::Utc::now().timestamp(), body.as_bytes());
        let url = src["ingest_url"].as_str().unwrap();
        assert_eq!(app.http.post(url).header("stripe-signature", sig).body(body).send().await.unwrap().status(), 200);
    }
    events(&app, &org_key, 2).await;

    let since = chrono::DateTime::from_timestamp(now - 3600, 0).unwrap().to_rfc3339();
    for (bad, status) in [
        (json!({"since": "2099-01-01T00:00:00Z"}), 400),
        (json!({"since": since, "token": "ghp_x"}), 400),
        (json!({"since": since, "extra": 1}), 400),
        (json!({"since": "yesterday"}), 400),
    ] {
        let (got, v) = app.post(&org_key, &path, bad.clone()).await;
        assert_eq!(got, status, "{bad}: {v}");
    }
    let plain_path = format!("/v1/sources/{}/backfill", plain["id"].as_str().unwrap());
    let (status, v) = app.post(&org_key, &plain_path, json!({"since": since})).await;
    assert_eq!(status, 400, "no fetch_back key: {v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("fetch_back"), "{v}");

    let (status, v) = app.post(&org_key, &path, json!({"since": since})).await;
    assert_eq!((status, v), (200, json!({"found": 5, "new": 3, "known": 2, "truncated": false})));
    let got = events(&app, &org_key, 5).await;
    let mut ids: Vec<&str> = got.iter().map(|e| e["data"]["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["evt_1Fill0", "evt_1Fill1", "evt_1Fill2", "evt_1Fill3", "evt_1Fill4"]);
    assert!(got.iter().filter(|e| e["data"]["id"] == "evt_1Fill0").all(|e| e["fetched_at"].is_string()));
    assert!(api.asked().iter().any(|a| a.contains("created[gte]=")), "{:?}", api.asked());

    let (_, v) = app.post(&org_key, &path, json!({"since": since})).await;
    assert_eq!(v, json!({"found": 5, "new": 0, "known": 5, "truncated": false}), "a repeat is harmless");
    assert_eq!(rx.wait_for("/app", 5, 10).await.len(), 5);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(rx.got("/app").len(), 5, "each event delivered once");

    api.rotate_key("rk_test_51BackfillKey0002");
    let (status, v) = app.post(&org_key, &path, json!({"since": since})).await;
    assert_eq!(status, 422, "a refused key is the caller's to fix: {v}");
    api.fail_next(1);
    api.rotate_key(key);
    let (status, _) = app.post(&org_key, &path, json!({"since": since})).await;
    assert_eq!(status, 503, "Stripe down: try again");
}

#[tokio::test]
async fn github_deliveries_missed_are_redelivered_through_the_source() {
    let (token, secret) = ("ghp_backfillToken0001", "gh-hook-secret-0001");
    let hub = FakeGithub::start(token, secret).await;
    let app = spawn_app_with(Config { github_api_base: hub.url.clone(), ..Config::default() }).await;
    let (_, org_key) = app.create_org("pro").await;
    let src = app.create_source(&org_key, json!({"name": "gh", "provider": "github", "secrets": [secret]})).await;
    let ingest = src["ingest_url"].as_str().unwrap().to_owned();
    hub.point_at(&ingest);
    let path = format!("/v1/sources/{}/backfill", src["id"].as_str().unwrap());

    // Four deliveries in the last hours (one of them redelivered once already, same
    // guid); only the newest arrived. One from before `since` is left alone.
    let now = chrono::Utc::now();
    let delivery = |id: u64, guid: &str, mins: i64, redelivery: bool| FakeDelivery {
        id,
        guid: guid.to_owned(),
        delivered_at: now - chrono::Duration::minutes(mins),
        event: "issues".into(),
        body: json!({"action": "opened", "issue": {"number": id}}).to_string(),
        redelivery,
    };
    let deliveries = [
        delivery(11, "guid-a", 50, false),
        delivery(12, "guid-b", 40, false),
        delivery(13, "guid-b", 35, true),
        delivery(14, "guid-c", 30, false),
        delivery(15, "guid-d", 20, false),
        delivery(9, "guid-old", 300, false),
    ];
    for d in &deliveries {
        hub.add(d.clone());
    }
    let newest = &deliveries[4];
    let mut req = app.http.post(&ingest).body(newest.body.clone());
    for (k, v) in hub.headers(newest) {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 200);
    events(&app, &org_key, 1).await;

    let since = (now - chrono::Duration::hours(1)).to_rfc3339();
    for bad in [
        json!({"since": since, "hook": "repos/octo/shop/hooks/1"}),
        json!({"since": since, "token": token}),
        json!({"since": since, "token": token, "hook": "repos/octo/../hooks/1"}),
    ] {
        let (status, v) = app.post(&org_key, &path, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    let (status, v) = app
        .post(&org_key, &path, json!({"since": since, "token": "ghp_wrong", "hook": "repos/octo/shop/hooks/1"}))
        .await;
    assert_eq!(status, 422, "{v}");

    let body = json!({"since": since, "token": token, "hook": "repos/octo/shop/hooks/1"});
    let (status, v) = app.post(&org_key, &path, body.clone()).await;
    assert_eq!((status, v), (200, json!({"found": 4, "new": 3, "known": 1, "truncated": false})));
    let mut redelivered = hub.redelivered();
    redelivered.sort();
    assert_eq!(redelivered, [11, 13, 14], "one redelivery per missed guid, its newest delivery");
    let got = events(&app, &org_key, 4).await;
    assert!(got.iter().all(|e| e["type"] == "gh.issues.opened"), "{got:?}");

    // Once they are in, a repeat finds them all known and asks for nothing.
    let (_, v) = app.post(&org_key, &path, body).await;
    assert_eq!(v, json!({"found": 4, "new": 0, "known": 4, "truncated": false}));
    assert_eq!(hub.redelivered().len(), 3);
}

#[tokio::test]
async fn a_large_gap_is_filled_in_calls_that_each_say_where_the_next_goes_on() {
    let key = "rk_test_51BackfillKey0003";
    let api = FakeStripe::start(key).await;
    let app = spawn_app_with(Config { stripe_api_base: api.url.clone(), ..Config::default() }).await;
    let (_, org_key) = app.create_org("pro").await;
    let body = json!({"name": "stripe", "provider": "stripe", "secrets": ["whsec_x"], "fetch_back": {"api_key": key}});
    let src = app.create_source(&org_key, body).await;
    let path = format!("/v1/sources/{}/backfill", src["id"].as_str().unwrap());
    let now = chrono::Utc::now().timestamp();
    for i in 0..1050 {
        api.add(stripe_event(&format!("evt_1Gap{i:04}"), "invoice.paid", "cus_1", now - 3000 + 2 * i));
    }
    let since = chrono::DateTime::from_timestamp(now - 3600, 0).unwrap().to_rfc3339();
    let (status, first) = app.post(&org_key, &path, json!({"since": since})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!((&first["found"], &first["new"], &first["truncated"]), (&json!(1000), &json!(1000), &json!(true)));
    let next_until = first["next_until"].as_str().unwrap().to_owned();
    let (_, second) = app.post(&org_key, &path, json!({"since": since, "until": next_until})).await;
    assert_eq!(second, json!({"found": 51, "new": 50, "known": 1, "truncated": false}), "the rest, older");
    // The oldest and the newest both became events.
    let source: hookline_shared::SourceId = src["id"].as_str().unwrap().parse().unwrap();
    for stripe_id in ["evt_1Gap0000", "evt_1Gap1049"] {
        let id = hookline_shared::inbound_event_id(&source, &hookline_shared::provider_dedupe_key(stripe_id));
        let found = until(15, || async {
            let (status, v) = app.get(&org_key, &format!("/v1/events/{id}")).await;
            if status == 200 {
                Ok(v)
            } else {
                Err(v)
            }
        })
        .await;
        assert!(found.is_ok_and(|v| v["data"]["id"] == stripe_id), "{stripe_id}");
    }
    let (status, v) = app.post(&org_key, &path, json!({"since": since, "until": since})).await;
    assert_eq!(status, 400, "{v}");
}
