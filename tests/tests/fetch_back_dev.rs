//! Fetch-back on `hookline dev`, against a stand-in for Stripe's API on 127.0.0.1: a
//! signed `charge.failed` is asked of Stripe by its id and reaches the app's endpoint as
//! Stripe has it; an id Stripe does not know is kept as a rejection and not routed; a
//! failing API or a refused key leaves the event to be retried, and the refusal shows on
//! the source until its key is fixed.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_cli::dev::DevOptions;
use hookline_shared::signature::stripe;
use hookline_shared::Config;
use hookline_tests::fake_stripe::{stripe_event, FakeStripe};
use hookline_tests::{spawn_app_with_options, until, Receiver, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "whsec_fetch_back_test_0001";
const KEY: &str = "rk_test_51FetchBackKeyAAAA0001";

async fn app_with(stripe: &FakeStripe) -> TestApp {
    let config = Config { stripe_api_base: stripe.url.clone(), source_cache_ttl: Duration::ZERO, ..Config::default() };
    let data = tempfile::tempdir().unwrap();
    let mut opts = DevOptions::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf(), config);
    // A message whose handling failed comes back after a second.
    opts.visibility = Duration::from_secs(1);
    spawn_app_with_options(opts, data).await
}

/// What Stripe sends: the event as it was when sent, signed.
async fn send(app: &TestApp, url: &str, event: &Value) -> u16 {
    let body = event.to_string();
    let sig = stripe::sign(SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
    let res = app.http.post(url).header("stripe-signature", sig).body(body).send().await.unwrap();
    res.status().as_u16()
}

async fn event_of(app: &TestApp, key: &str, stripe_id: &str) -> Option<Value> {
    let (_, v) = app.get(key, "/v1/events?limit=100").await;
    v["data"].as_array()?.iter().find(|e| e["data"]["id"] == stripe_id).cloned()
}

#[tokio::test]
async fn a_charge_failed_is_fetched_back_and_reaches_the_endpoint_with_its_customer() {
    let stripe = FakeStripe::start(KEY).await;
    let app = app_with(&stripe).await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    app.create_webhook(&key, json!({"url": format!("{}/app", rx.url), "events": ["stripe.charge.*"]})).await;

    for bad in [
        json!({"name": "s", "provider": "stripe", "secrets": [SECRET], "fetch_back": {"api_key": "pk_test_public"}}),
        json!({"name": "s", "provider": "stripe", "secrets": [SECRET], "fetch_back": {"api_key": KEY, "extra": 1}}),
        json!({"name": "s", "provider": "github", "secrets": [SECRET], "fetch_back": {"api_key": KEY}}),
    ] {
        let (status, v) = app.post(&key, "/v1/sources", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    let body = json!({"name": "stripe", "provider": "stripe", "secrets": [SECRET], "fetch_back": {"api_key": KEY}});
    let src = app.create_source(&key, body).await;
    assert_eq!(src["fetch_back"], json!({"api_key": "rk_…0001", "state": null}), "the key only as a hint");
    let (id, url) = (src["id"].as_str().unwrap().to_owned(), src["ingest_url"].as_str().unwrap().to_owned());

    // Stripe's copy is the truth: the webhook was sent before the charge had its customer.
    let now = chrono::Utc::now().timestamp();
    stripe.add(stripe_event("evt_1SeedCase", "charge.failed", "cus_42", now));
    let mut sent = stripe_event("evt_1SeedCase", "charge.failed", "cus_42", now);
    sent["data"]["object"]["customer"] = Value::Null;
    assert_eq!(send(&app, &url, &sent).await, 200);
    let got = rx.wait_for("/app", 1, 10).await;
    let delivered: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(delivered["type"], "stripe.charge.failed");
    assert_eq!(delivered["data"]["data"]["object"]["customer"], "cus_42", "{delivered}");
    let event = event_of(&app, &key, "evt_1SeedCase").await.unwrap();
    assert!(event["fetched_at"].is_string(), "marked as fetched: {event}");
    assert!(stripe.asked().contains(&"/v1/events/evt_1SeedCase".to_owned()));

    // An id Stripe does not know: accepted at the door (signed), kept as a rejection, not routed.
    assert_eq!(send(&app, &url, &stripe_event("evt_1Forged", "charge.failed", "cus_1", now)).await, 200);
    let rejections = until(10, || async {
        let (_, v) = app.get(&key, &format!("/v1/sources/{id}/rejections")).await;
        if v["data"].as_array().is_some_and(|d| !d.is_empty()) {
            Ok(v)
        } else {
            Err(v)
        }
    })
    .await
    .unwrap();
    assert_eq!(rejections["data"][0]["reason"], "unknown_event_id");
    assert_eq!(rejections["data"][0]["event_id"], "evt_1Forged");

    // Stripe failing twice: the event waits on the queue and comes through.
    stripe.add(stripe_event("evt_1Flaky", "charge.failed", "cus_7", now));
    stripe.fail_next(2);
    assert_eq!(send(&app, &url, &stripe_event("evt_1Flaky", "charge.failed", "cus_7", now)).await, 200);
    let got = rx.wait_for("/app", 2, 15).await;
    assert_eq!(got.len(), 2, "the forged one never went out");
    assert!(got[1].body.contains("evt_1Flaky"));
    assert!(event_of(&app, &key, "evt_1Forged").await.is_none());
    let (_, events) = app.get(&key, "/v1/events?limit=100").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 2, "{events}");
}

#[tokio::test]
async fn a_refused_key_shows_on_the_source_and_its_events_come_through_once_fixed() {
    let stripe = FakeStripe::start(KEY).await;
    let app = app_with(&stripe).await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    app.create_webhook(&key, json!({"url": format!("{}/app", rx.url), "events": ["*"]})).await;
    let body = json!({"name": "stripe", "provider": "stripe", "secrets": [SECRET], "fetch_back": {"api_key": KEY}});
    let src = app.create_source(&key, body).await;
    let (path, url) =
        (format!("/v1/sources/{}", src["id"].as_str().unwrap()), src["ingest_url"].as_str().unwrap().to_owned());

    // The key is rolled at Stripe: fetch-back is refused, and the source says so.
    let new_key = "rk_test_51FetchBackKeyBBBB0002";
    stripe.rotate_key(new_key);
    let now = chrono::Utc::now().timestamp();
    stripe.add(stripe_event("evt_1WhileRefused", "invoice.payment_failed", "cus_3", now));
    assert_eq!(send(&app, &url, &stripe_event("evt_1WhileRefused", "invoice.payment_failed", "cus_3", now)).await, 200);
    let refused = until(10, || async {
        let (_, v) = app.get(&key, &path).await;
        if v["fetch_back"]["state"]["status"] == "unauthorized" {
            Ok(v)
        } else {
            Err(v)
        }
    })
    .await
    .unwrap_or_else(|v| panic!("no refusal shown: {v}"));
    assert_eq!(refused["fetch_back"]["state"]["message"], "Invalid API Key provided", "{refused}");
    assert!(!refused.to_string().contains("AAAA0001"), "{refused}");
    assert!(rx.got("/app").is_empty(), "nothing delivered unconfirmed");

    // The owner sets the new key: the waiting event comes through, and the state clears.
    let (status, v) = app.patch(&key, &path, json!({"fetch_back": {"api_key": new_key}})).await;
    assert_eq!((status, &v["fetch_back"]), (200, &json!({"api_key": "rk_…0002", "state": null})), "{v}");
    let got = rx.wait_for("/app", 1, 15).await;
    assert!(got[0].body.contains("evt_1WhileRefused"));
    let (_, v) = app.patch(&key, &path, json!({"fetch_back": null})).await;
    assert!(v["fetch_back"].is_null(), "fetch-back can be turned off: {v}");
}
