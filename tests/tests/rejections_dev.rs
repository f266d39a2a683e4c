//! Rejection diagnostics on `hookline dev`: the sender gets a plain 401 (or 413), the
//! source's owner reads why at `GET /v1/sources/{id}/rejections`, and a flood of bad
//! requests keeps a bounded number of records while good requests go on.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_shared::signature::stripe;
use hookline_shared::Config;
use hookline_tests::{spawn_app_with, until, TestApp};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Duration;

const SECRET: &str = "whsec_rejections_test_0001";
const OLD_SECRET: &str = "whsec_rejections_test_old9";

async fn post(app: &TestApp, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut req = app.http.post(url).header("content-type", "application/json").body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn stripe_source(app: &TestApp, key: &str) -> (String, String) {
    let body = json!({"name": "stripe", "provider": "stripe", "secrets": [OLD_SECRET, SECRET]});
    let src = app.create_source(key, body).await;
    (src["id"].as_str().unwrap().to_owned(), src["ingest_url"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn each_refusal_is_recorded_with_its_reason_and_nothing_secret() {
    let app = spawn_app_with(Config { max_body_bytes: 4096, ..Config::default() }).await;
    let (_, key) = app.create_org("pro").await;
    let (id, url) = stripe_source(&app, &key).await;
    let body = r#"{"id":"evt_1R","type":"charge.failed","data":{"object":{"customer":"cus_9"}}}"#;
    let wrong = stripe::sign("whsec_someone_elses_secret", now(), body.as_bytes());
    let stale = stripe::sign(SECRET, now() - 600, body.as_bytes());
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(5000));
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, u16);
    let cases: [Case; 5] = [
        (&[], body, 401),
        (&[("stripe-signature", "t=12,v1=nothex")], body, 401),
        (&[("stripe-signature", &stale)], body, 401),
        (&[("stripe-signature", &wrong), ("x-forwarded-for", "10.1.2.3")], body, 401),
        (&[], &big, 413),
    ];
    for (headers, b, status) in cases {
        let (got, text) = post(&app, &url, headers, b).await;
        assert_eq!(got, status, "{text}");
        assert!(!text.contains("tolerance") && !text.contains("secret"), "the sender learns nothing: {text}");
        // Within the few writes a second a source is allowed.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let (status, v) = app.get(&key, &format!("/v1/sources/{id}/rejections")).await;
    assert_eq!(status, 200, "{v}");
    let data = v["data"].as_array().unwrap();
    let reasons: Vec<&str> = data.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "body_too_large",
            "no_matching_secret",
            "timestamp_outside_tolerance",
            "malformed_signature",
            "missing_signature"
        ],
        "newest first: {v}"
    );
    let [too_large, no_match, stale_r, malformed, missing] = &data[..] else { unreachable!() };
    assert_eq!(missing["header"], "stripe-signature");
    assert_eq!(malformed["header"], "stripe-signature");
    let skew = stale_r["skew_secs"].as_i64().unwrap();
    assert!((598..=605).contains(&skew), "the clock skew in seconds: {skew}");
    assert_eq!(no_match["secrets_tried"], json!(["whsec_…old9", "whsec_…0001"]), "by their hints");
    assert_eq!(no_match["body_size"], body.len());
    assert_eq!(no_match["body_sha256"], hex::encode(Sha256::digest(body.as_bytes())), "to compare with what was sent");
    let names: Vec<&str> = no_match["headers"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert!(names.contains(&"stripe-signature") && names.contains(&"x-forwarded-for"), "{names:?}");
    assert_eq!(too_large["body_size"], big.len(), "as declared");
    assert!(too_large.get("body_sha256").is_none(), "a body refused unread has no hash");

    let text = v.to_string();
    let signature_hex = wrong.split("v1=").nth(1).unwrap();
    for hidden in [SECRET, OLD_SECRET, "cus_9", "charge.failed", signature_hex, "10.1.2.3"] {
        assert!(!text.contains(hidden), "{hidden} must not be shown: {text}");
    }

    // Another org cannot read them; an unknown source is 404 as well.
    let (_, other_key) = app.create_org("pro").await;
    assert_eq!(app.get(&other_key, &format!("/v1/sources/{id}/rejections")).await.0, 404);
    assert_eq!(app.get(&key, "/v1/sources/src_01J0000000000000000000000/rejections").await.0, 404);
}

#[tokio::test]
async fn a_flood_of_bad_requests_keeps_few_records_and_good_requests_go_on() {
    let app = spawn_app_with(Config::default()).await;
    let (_, key) = app.create_org("pro").await;
    let (id, url) = stripe_source(&app, &key).await;
    let first_second = now();
    let sent = 10_000;
    let mut good = Vec::new();
    let mut flood = Vec::new();
    for n in 0..sent {
        let (http, url) = (app.http.clone(), url.clone());
        // Every 500th request is a real one, among the bad.
        let (body, sig) = if n % 500 == 0 {
            let body = format!(r#"{{"id":"evt_ok_{n}","type":"invoice.paid"}}"#);
            let sig = stripe::sign(SECRET, now(), body.as_bytes());
            good.push(format!("evt_ok_{n}"));
            (body, sig)
        } else {
            (format!(r#"{{"id":"evt_bad_{n}"}}"#), format!("t={},v1={:064x}", now(), n))
        };
        flood.push(tokio::spawn(async move {
            let res = http.post(&url).header("stripe-signature", sig).body(body).send().await.unwrap();
            (n % 500 == 0, res.status().as_u16())
        }));
        // At most 64 in flight.
        if flood.len() >= 64 {
            for f in flood.drain(..) {
                let (is_good, status) = f.await.unwrap();
                assert_eq!(status, if is_good { 200 } else { 401 });
            }
        }
    }
    for f in flood {
        let (is_good, status) = f.await.unwrap();
        assert_eq!(status, if is_good { 200 } else { 401 });
    }
    // The calendar seconds the flood touched: each has its own few writes.
    let seconds = (now() - first_second + 1) as u64;

    let (_, v) = app.get(&key, &format!("/v1/sources/{id}/rejections")).await;
    let kept = v["data"].as_array().unwrap();
    assert!(!kept.is_empty() && kept.len() <= 100, "bounded: {}", kept.len());
    assert!(kept.len() as u64 <= 5 * seconds, "a few a second: {} in {seconds} s", kept.len());
    assert!(kept.iter().all(|r| r["reason"] == "no_matching_secret"));

    let events = until(30, || async {
        let (_, v) = app.get(&key, "/v1/events?limit=100").await;
        let ids: Vec<String> =
            v["data"].as_array().unwrap().iter().filter_map(|e| e["data"]["id"].as_str().map(str::to_owned)).collect();
        if ids.len() >= good.len() {
            Ok(ids)
        } else {
            Err(ids)
        }
    })
    .await
    .unwrap_or_else(|ids| panic!("only {} of {} good events: {ids:?}", ids.len(), good.len()));
    let mut events = events;
    events.sort();
    good.sort();
    assert_eq!(events, good, "every good request became its event, and no bad one did");
}
