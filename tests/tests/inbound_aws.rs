//! The inbound flow on the AWS adapters, through the Lambda entry points, against moto:
//! API Gateway v2 events into the `api` and `ingest` routers (as `lambda_http` hands
//! them over), SQS messages into `verify` as an `SqsEvent`, events in DynamoDB.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use aws_lambda_events::event::sqs::SqsEvent;
use hookline_shared::aws::SqsQueue;
use hookline_shared::delivery::Deliveries;
use hookline_shared::ports::{EventQuery, EventStore, QueueConsumer};
use hookline_shared::signature::stripe;
use hookline_shared::{Config, OrgId, Secret};
use hookline_tests::aws_inbound::{aws_inbound, AwsInbound};
use hookline_tests::{apigw_event, call};
use hookline_verify::Verify;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn inbound_flow_through_lambda_entry_points() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let config = Config { operator_key: Some(Secret::new("op-key")), ..Config::default() };
    let AwsInbound { store, inbox, api, ingest, verify } = aws_inbound(&sdk, &config).await.unwrap();

    // Operator creates an org; the org creates a Stripe source.
    let (status, org) = call(
        &api,
        apigw_event("POST", "/v1/orgs", &[("authorization", "Bearer op-key")], r#"{"name":"Acme","plan":"pro"}"#),
    )
    .await;
    assert_eq!(status, 201, "{org}");
    let key = format!("Bearer {}", org["api_key"].as_str().unwrap());
    let secret = "whsec_moto_secret";
    let body = json!({"name": "stripe", "provider": "stripe", "secrets": [secret]}).to_string();
    let (status, src) = call(&api, apigw_event("POST", "/v1/sources", &[("authorization", &key)], &body)).await;
    assert_eq!(status, 201, "{src}");
    let path = format!("/in/{}", src["id"].as_str().unwrap());

    // Ingest: the same signed event three times, and one forged request.
    let payload = r#"{"id":"evt_1NG8Du2eZvKYlo2C","type":"invoice.payment_failed","data":{"object":{}}}"#;
    let sig = stripe::sign(secret, chrono::Utc::now().timestamp(), payload.as_bytes());
    for _ in 0..3 {
        let (status, v) = call(&ingest, apigw_event("POST", &path, &[("stripe-signature", &sig)], payload)).await;
        assert_eq!((status, v), (200, json!({"ok": true})));
    }
    let forged = stripe::sign("whsec_wrong", chrono::Utc::now().timestamp(), payload.as_bytes());
    assert_eq!(call(&ingest, apigw_event("POST", &path, &[("stripe-signature", &forged)], payload)).await.0, 401);
    let (status, _) = call(
        &ingest,
        apigw_event("POST", "/in/src_01ARZ3NDEKTSV4RRFFQ69G5FAV", &[("stripe-signature", &sig)], payload),
    )
    .await;
    assert_eq!(status, 404);

    // The forged request is kept for the source's owner, in DynamoDB: why, never what.
    let rejections = format!("/v1/sources/{}/rejections", src["id"].as_str().unwrap());
    let (status, v) = call(&api, apigw_event("GET", &rejections, &[("authorization", &key)], "")).await;
    assert_eq!((status, v["data"].as_array().map(Vec::len)), (200, Some(1)), "{v}");
    assert_eq!(
        (&v["data"][0]["reason"], &v["data"][0]["secrets_tried"]),
        (&json!("no_matching_secret"), &json!(["whsec_…"]))
    );
    assert!(!v.to_string().contains(&forged[forged.len() - 64..]), "never the signature: {v}");

    // Receive what ingest queued and hand it to verify as the event source mapping would,
    // with one malformed record that must come back as the only failure.
    let mut received = Vec::new();
    for _ in 0..10 {
        received.extend(inbox.receive(10, Duration::from_secs(30)).await.unwrap());
        if received.len() >= 3 {
            break;
        }
    }
    assert_eq!(received.len(), 3, "the forged request was not kept");
    let mut records: Vec<Value> = received
        .iter()
        .map(|m| json!({"messageId": m.message_id, "receiptHandle": m.receipt, "body": m.body, "eventSource": "aws:sqs"}))
        .collect();
    records.push(json!({"messageId": "poison", "body": "not an inbox message", "eventSource": "aws:sqs"}));
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let response = hookline_shared::batch::lambda::handle_sqs_event(&verify, event).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["poison"]);
    for m in &received {
        inbox.ack(&m.receipt).await.unwrap();
    }

    // One event in DynamoDB, visible through the API.
    let org_id: OrgId = org["id"].as_str().unwrap().parse().unwrap();
    let page = store.list_events(&org_id, &EventQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].event_type, "stripe.invoice.payment_failed");
    let (status, listed) = call(&api, apigw_event("GET", "/v1/events", &[("authorization", &key)], "")).await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"][0]["id"], json!(page.items[0].id.as_str()));

    // A later retry of the same provider event is still a duplicate.
    let (status, _) = call(&ingest, apigw_event("POST", &path, &[("stripe-signature", &sig)], payload)).await;
    assert_eq!(status, 200);
    let again = inbox.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        verify.handle(&again[0].body).await.unwrap(),
        hookline_verify::Outcome::Duplicate(page.items[0].id.clone())
    );
    inbox.ack(&again[0].receipt).await.unwrap();

    // Twilio signs the URL: on API Gateway it is rebuilt from `Host` and
    // `X-Forwarded-Proto`, with the path and query the event carries.
    let body = json!({"name": "sms", "provider": "twilio", "secrets": ["twilio-auth-token"]}).to_string();
    let (status, twilio_src) = call(&api, apigw_event("POST", "/v1/sources", &[("authorization", &key)], &body)).await;
    assert_eq!(status, 201, "{twilio_src}");
    let target = format!("/in/{}?tenant=7", twilio_src["id"].as_str().unwrap());
    let form = "MessageSid=SM1&SmsStatus=received&Body=hello";
    let signed_url = format!("https://abc123.execute-api.us-east-1.amazonaws.com{target}");
    let sig = hookline_shared::signature::twilio::sign("twilio-auth-token", &signed_url, form.as_bytes());
    let headers = [
        ("x-twilio-signature", sig.as_str()),
        ("x-forwarded-proto", "https"),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    assert_eq!(call(&ingest, apigw_event("POST", &target, &headers, form)).await.0, 200);
    let elsewhere = target.replace("tenant=7", "tenant=8");
    assert_eq!(call(&ingest, apigw_event("POST", &elsewhere, &headers, form)).await.0, 401, "another query");
    let twilio_queued = inbox.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(twilio_queued.len(), 1);
    inbox.ack(&twilio_queued[0].receipt).await.unwrap();
}

#[tokio::test]
async fn sample_sqs_event_parses_and_publish_records_once() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let store = hookline_tests::aws_store(&sdk).await.unwrap();
    let queue = SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap());
    let deliveries = Deliveries { urgent: queue.clone(), regular: queue };
    let verify = Verify::new(store.clone(), deliveries);
    let sample: SqsEvent = serde_json::from_str(include_str!("../../infra/events/verify-sqs.json")).unwrap();
    for _ in 0..2 {
        let res = hookline_shared::batch::lambda::handle_sqs_event(&verify, sample.clone()).await;
        assert!(res.batch_item_failures.is_empty());
    }
    let org: OrgId = "org_01JD3Q5N7Z8X9Y0A1B2C3D4E5F".parse().unwrap();
    let page = store.list_events(&org, &EventQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].data, json!({"id": "u_1"}));
}
