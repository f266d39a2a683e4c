//! Poison messages, on both backends: a message no handler can decode, put among good
//! ones on the inbox and on a delivery queue, ends in that queue's dead-letter store
//! after its receives, while every good message beside it is handled once and nothing
//! good is dead-lettered.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_cli::dev::DevOptions;
use hookline_deliver::{Deliver, Policies};
use hookline_shared::aws::SqsQueue;
use hookline_shared::delivery::{Deliveries, Endpoint};
use hookline_shared::outbound::{NetworkPolicy, ReqwestSender, SystemLookup};
use hookline_shared::ports::{EndpointStore, Queue, QueueConsumer, SystemClock};
use hookline_shared::{Config, EventId, InboxMessage, OrgId, PublishRequest};
use hookline_tests::{spawn_app_with_options, sqs_event, Receiver};
use hookline_verify::Verify;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Bodies no handler can use: not JSON, JSON of another shape, and JSON null.
const POISON: [&str; 3] = ["not json {", r#"{"kind":"publish","nothing":"else"}"#, "null"];
/// Good events per run.
const GOOD: usize = 30;

#[tokio::test]
async fn poison_messages_are_dead_lettered_beside_good_ones_on_dev() {
    let data = tempfile::tempdir().unwrap();
    let mut opts = DevOptions::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf(), Config::default());
    opts.visibility = Duration::from_secs(1);
    let app = spawn_app_with_options(opts, data).await;
    let server = app.server.as_ref().unwrap();
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    app.create_webhook(&key, json!({"url": format!("{}/hook", rx.url), "events": ["*"]})).await;

    for body in POISON {
        server.inbox.send(body, Duration::ZERO).await.unwrap();
        server.deliveries.regular.send(body, Duration::ZERO).await.unwrap();
    }
    let mut published = BTreeSet::new();
    for i in 0..GOOD {
        published.insert(app.publish(&key, "order.paid", json!({"i": i})).await);
    }

    // The poison is retried until its receives run out (five, a second apart).
    let poison: Vec<String> = POISON.iter().map(|s| s.to_string()).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let inbox = server.inbox.dead_letters().await.unwrap();
        let regular = server.deliveries.regular.dead_letters().await.unwrap();
        if (inbox.len(), regular.len()) == (POISON.len(), POISON.len()) {
            assert_eq!(inbox, poison, "only the poison is dead-lettered from the inbox");
            assert_eq!(regular, poison, "only the poison is dead-lettered from deliveries");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "dead letters: inbox {inbox:?}, deliveries {regular:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = rx.wait_for("/hook", GOOD, 10).await;
    let ids: BTreeSet<String> = got.iter().map(|g| g.json()["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, published, "every good event is delivered");
    assert_eq!(got.len(), GOOD, "once each");
    for q in [&server.inbox, &server.deliveries.regular, &server.deliveries.urgent] {
        assert_eq!(q.depth().await.unwrap(), 0, "nothing is left waiting");
    }
    assert!(server.deliveries.urgent.dead_letters().await.unwrap().is_empty());
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_beside_good_ones_on_sqs() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let store = hookline_tests::aws_store(&sdk).await.unwrap();
    // As the template's queues, with two receives before the dead-letter queue.
    let (inbox_url, inbox_dead) = hookline_tests::create_queue_with_dead_letters(&sdk, 1, 2).await.unwrap();
    let (jobs_url, jobs_dead) = hookline_tests::create_queue_with_dead_letters(&sdk, 1, 2).await.unwrap();
    let (inbox, jobs) = (SqsQueue::from_sdk(&sdk, inbox_url), SqsQueue::from_sdk(&sdk, jobs_url));
    let deliveries = Deliveries { urgent: jobs.clone(), regular: jobs.clone() };

    let rx = Receiver::start().await;
    let org = OrgId::new();
    let ep = Endpoint::new(org.clone(), format!("{}/hook", rx.url), vec!["*".into()], chrono::Utc::now());
    assert!(store.create_endpoint(&ep, None).await.unwrap());
    let verify = Verify::new(store.clone(), deliveries.clone());
    let policy = NetworkPolicy { allow_http: true, allow_loopback: true, allow: vec![] };
    let http = ReqwestSender::new(policy, Arc::new(SystemLookup)).unwrap();
    let (_, _, timer) = hookline_tests::scheduler_timer(&sdk).await.unwrap();
    let ops = hookline_shared::local::LocalOps::new(hookline_shared::local::LocalDb::in_memory().unwrap());
    let deliver = Deliver::new(store.clone(), deliveries, timer, http, ops, SystemClock, Policies::default());

    for body in POISON {
        inbox.send(body, Duration::ZERO).await.unwrap();
        jobs.send(body, Duration::ZERO).await.unwrap();
    }
    let mut published = BTreeSet::new();
    for i in 0..GOOD {
        let event_id = EventId::new();
        published.insert(event_id.to_string());
        let publish = PublishRequest {
            event_id,
            org_id: org.clone(),
            event_type: "order.paid".into(),
            data: json!({"i": i}),
            received_at: chrono::Utc::now(),
            id_from_key: false,
            ordering_key: None,
        };
        inbox.send(&serde_json::to_string(&InboxMessage::Publish(publish)).unwrap(), Duration::ZERO).await.unwrap();
    }

    // The event source mappings: each batch goes to its function, and what it does not
    // report failed is deleted; what it reports comes back after the visibility timeout.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (mut inbox_failures, mut job_failures) = (0, 0);
    loop {
        let batch = inbox.receive(10, Duration::from_secs(1)).await.unwrap();
        let failed = hookline_shared::batch::lambda::handle_sqs_event(&verify, sqs_event(&batch)).await;
        inbox_failures += ack_all_but(&inbox, &batch, &failed).await;
        let batch = jobs.receive(10, Duration::from_secs(1)).await.unwrap();
        let failed = hookline_shared::batch::lambda::handle_sqs_event(&deliver, sqs_event(&batch)).await;
        job_failures += ack_all_but(&jobs, &batch, &failed).await;
        let (a, b) = (dead_letters(&sdk, &inbox_dead).await, dead_letters(&sdk, &jobs_dead).await);
        if a.len() + b.len() == 2 * POISON.len() && rx.got("/hook").len() >= GOOD {
            let poison: BTreeSet<String> = POISON.iter().map(|s| s.to_string()).collect();
            assert_eq!(a, poison, "only the poison is dead-lettered from the inbox");
            assert_eq!(b, poison, "only the poison is dead-lettered from deliveries");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "dead letters: inbox {a:?}, deliveries {b:?}");
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!((inbox_failures, job_failures), (2 * POISON.len(), 2 * POISON.len()), "each poison failed twice");
    let got = rx.got("/hook");
    let ids: BTreeSet<String> = got.iter().map(|g| g.json()["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, published, "every good event is delivered");
    assert_eq!(got.len(), GOOD, "once each");
}

/// Delete the batch's messages that were not reported failed; how many were.
async fn ack_all_but(
    q: &SqsQueue,
    batch: &[hookline_shared::ports::Received],
    failed: &aws_lambda_events::event::sqs::SqsBatchResponse,
) -> usize {
    let failed: BTreeSet<&str> = failed.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    for m in batch.iter().filter(|m| !failed.contains(m.message_id.as_str())) {
        q.ack(&m.receipt).await.unwrap();
    }
    failed.len()
}

/// The bodies in a dead-letter queue, read without deleting them.
async fn dead_letters(sdk: &aws_config::SdkConfig, url: &str) -> BTreeSet<String> {
    let out = aws_sdk_sqs::Client::new(sdk)
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    out.messages.unwrap_or_default().into_iter().map(|m| m.body.unwrap_or_default()).collect()
}
