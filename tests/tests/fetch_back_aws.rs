//! Fetch-back and GitHub back-fill on the AWS adapters against moto, through the Lambda
//! entry points: the fetch-back key sealed in DynamoDB, Stripe's copy recorded, an unknown
//! id kept as a rejection in DynamoDB, a refused key written on the source item; and a
//! back-fill that finds in DynamoDB what arrived. (The stack tour back-fills from Stripe.)

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_shared::ports::{EventQuery, EventStore, QueueConsumer};
use hookline_shared::signature::stripe;
use hookline_shared::{Config, OrgId, Secret};
use hookline_tests::aws_inbound::{aws_inbound, AwsInbound};
use hookline_tests::fake_stripe::{stripe_event, FakeStripe};
use hookline_tests::{apigw_event, call};
use hookline_verify::Outcome;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn fetch_back_records_stripes_copy_and_keeps_what_it_refused_in_dynamodb() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let key = "rk_test_51MotoFetchBack0001";
    let fake = FakeStripe::start(key).await;
    let config = Config {
        operator_key: Some(Secret::new("op-key")),
        stripe_api_base: fake.url.clone(),
        source_cache_ttl: Duration::ZERO,
        ..Config::default()
    };
    let AwsInbound { store, inbox, api, ingest, verify } = aws_inbound(&sdk, &config).await.unwrap();

    let op = [("authorization", "Bearer op-key")];
    let (_, org) = call(&api, apigw_event("POST", "/v1/orgs", &op, r#"{"name":"Acme","plan":"pro"}"#)).await;
    let auth = format!("Bearer {}", org["api_key"].as_str().unwrap());
    let secret = "whsec_moto_fetch_back";
    let body = json!({"name": "stripe", "provider": "stripe", "secrets": [secret], "fetch_back": {"api_key": key}});
    let (status, src) =
        call(&api, apigw_event("POST", "/v1/sources", &[("authorization", &auth)], &body.to_string())).await;
    assert_eq!((status, &src["fetch_back"]["api_key"]), (201, &json!("rk_…0001")), "{src}");
    let path = format!("/in/{}", src["id"].as_str().unwrap());

    // Each sent as Stripe would, then handed to verify as the event source mapping would.
    let now = chrono::Utc::now().timestamp();
    let ingest_one = |event: serde_json::Value| {
        let (ingest, inbox, path) = (ingest.clone(), inbox.clone(), path.clone());
        async move {
            let payload = event.to_string();
            let sig = stripe::sign(secret, chrono::Utc::now().timestamp(), payload.as_bytes());
            let (status, _) = call(&ingest, apigw_event("POST", &path, &[("stripe-signature", &sig)], &payload)).await;
            assert_eq!(status, 200);
            let got = inbox.receive(1, Duration::from_secs(30)).await.unwrap();
            inbox.ack(&got[0].receipt).await.unwrap();
            got[0].body.clone()
        }
    };
    fake.add(stripe_event("evt_1MotoKnown", "charge.failed", "cus_42", now));
    let mut sent = stripe_event("evt_1MotoKnown", "charge.failed", "cus_42", now);
    sent["data"]["object"]["customer"] = serde_json::Value::Null;
    let known = ingest_one(sent).await;
    let Outcome::Recorded(id) = verify.handle(&known).await.unwrap() else { panic!("recorded") };
    let org_id: OrgId = org["id"].as_str().unwrap().parse().unwrap();
    let event = store.get_event(&org_id, &id).await.unwrap().unwrap();
    assert_eq!(event.data["data"]["object"]["customer"], "cus_42", "Stripe's copy");
    assert!(event.fetched_at.is_some());

    let forged = ingest_one(stripe_event("evt_1MotoForged", "charge.failed", "cus_1", now)).await;
    assert_eq!(verify.handle(&forged).await.unwrap(), Outcome::Unconfirmed("evt_1MotoForged".into()));
    let rejections = format!("/v1/sources/{}/rejections", src["id"].as_str().unwrap());
    let (_, v) = call(&api, apigw_event("GET", &rejections, &[("authorization", &auth)], "")).await;
    assert_eq!(
        (&v["data"][0]["reason"], &v["data"][0]["event_id"]),
        (&json!("unknown_event_id"), &json!("evt_1MotoForged"))
    );

    fake.rotate_key("rk_test_51MotoFetchBack0002");
    fake.add(stripe_event("evt_1MotoLater", "charge.failed", "cus_5", now));
    let later = ingest_one(stripe_event("evt_1MotoLater", "charge.failed", "cus_5", now)).await;
    assert!(verify.handle(&later).await.is_err(), "a refused key leaves the message to be retried");
    let source_path = format!("/v1/sources/{}", src["id"].as_str().unwrap());
    let (_, v) = call(&api, apigw_event("GET", &source_path, &[("authorization", &auth)], "")).await;
    assert_eq!(v["fetch_back"]["state"]["status"], "unauthorized", "{v}");
    let page = store.list_events(&org_id, &EventQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(page.items.len(), 1, "only the confirmed event is recorded");
}

/// GitHub back-fill through the API on DynamoDB: a delivery that arrived is known by
/// its guid, the missed ones are redelivered.
#[tokio::test]
async fn a_github_backfill_finds_what_dynamodb_has_and_redelivers_the_rest() {
    use hookline_tests::fake_github::{FakeDelivery, FakeGithub};
    let Some(sdk) = hookline_tests::moto().await else { return };
    let (token, secret) = ("ghp_motoBackfill0001", "gh-moto-secret");
    let hub = FakeGithub::start(token, secret).await;
    let config =
        Config { operator_key: Some(Secret::new("op-key")), github_api_base: hub.url.clone(), ..Config::default() };
    let AwsInbound { inbox, api, ingest, verify, .. } = aws_inbound(&sdk, &config).await.unwrap();
    let op = [("authorization", "Bearer op-key")];
    let (_, org) = call(&api, apigw_event("POST", "/v1/orgs", &op, r#"{"name":"Acme","plan":"pro"}"#)).await;
    let auth = format!("Bearer {}", org["api_key"].as_str().unwrap());
    let body = json!({"name": "gh", "provider": "github", "secrets": [secret]}).to_string();
    let (_, src) = call(&api, apigw_event("POST", "/v1/sources", &[("authorization", &auth)], &body)).await;
    let now = chrono::Utc::now();
    for (id, guid, mins) in [(21, "guid-x", 30), (22, "guid-y", 20)] {
        let body = json!({"action": "opened", "issue": {"number": id}}).to_string();
        let delivered_at = now - chrono::Duration::minutes(mins);
        hub.add(FakeDelivery { id, guid: guid.into(), delivered_at, event: "issues".into(), body, redelivery: false });
    }
    // The newer one arrived and was recorded.
    let arrived = FakeDelivery {
        id: 22,
        guid: "guid-y".into(),
        delivered_at: now,
        event: "issues".into(),
        body: json!({"action": "opened", "issue": {"number": 22}}).to_string(),
        redelivery: false,
    };
    let headers = hub.headers(&arrived);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let path = format!("/in/{}", src["id"].as_str().unwrap());
    assert_eq!(call(&ingest, apigw_event("POST", &path, &headers, &arrived.body)).await.0, 200);
    let got = inbox.receive(1, Duration::from_secs(30)).await.unwrap();
    assert!(matches!(verify.handle(&got[0].body).await.unwrap(), Outcome::Recorded(_)));
    inbox.ack(&got[0].receipt).await.unwrap();

    let backfill = format!("/v1/sources/{}/backfill", src["id"].as_str().unwrap());
    let since = (now - chrono::Duration::hours(1)).to_rfc3339();
    let body = json!({"since": since, "token": token, "hook": "repos/octo/shop/hooks/1"}).to_string();
    let (status, v) = call(&api, apigw_event("POST", &backfill, &[("authorization", &auth)], &body)).await;
    assert_eq!((status, v), (200, json!({"found": 2, "new": 1, "known": 1, "truncated": false})));
    assert_eq!(hub.redelivered(), [21]);
}
