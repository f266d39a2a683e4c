//! Outbound delivery on the AWS adapters against moto: verify routes jobs onto the right
//! SQS queue, the `deliver` Lambda entry point posts them and logs attempts in DynamoDB,
//! a long retry becomes an EventBridge Scheduler schedule whose input, handed to the
//! `schedule` handler, re-enqueues the job, and operational events reach the bus.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_deliver::{Deliver, Policies};
use hookline_schedule::{Fired, Schedule};
use hookline_shared::aws::{at_expression, DynamoStore, EventBridgeOps, SqsQueue};
use hookline_shared::delivery::{
    AttemptStatus, Deliveries, DeliveryJob, Endpoint, EndpointSecret, EndpointStatus, RetryPolicy, Urgency, TIMER_LEAD,
};
use hookline_shared::outbound::{NetworkPolicy, ReqwestSender, SystemLookup};
use hookline_shared::ports::{
    AttemptQuery, AttemptStore, EndpointStore, ManualClock, OrgStore, Queue, QueueConsumer, Received, SlotStore,
    SystemClock,
};
use hookline_shared::{EndpointId, EventId, InboxMessage, OrgId, PublishRequest};
use hookline_tests::{sqs_event, Receiver};
use hookline_verify::Verify;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn endpoint(org: &OrgId, url: String, events: &[&str], urgency: Urgency) -> Endpoint {
    let events = events.iter().map(|s| s.to_string()).collect();
    Endpoint { urgency, ..Endpoint::new(org.clone(), url, events, chrono::Utc::now()) }
}

/// An HTTP client that may reach the test's receivers on loopback.
fn loopback_sender() -> ReqwestSender {
    let policy = NetworkPolicy { allow_http: true, allow_loopback: true, allow: vec![] };
    ReqwestSender::new(policy, Arc::new(SystemLookup)).unwrap()
}

type AwsDeliver = Deliver<
    DynamoStore,
    SqsQueue,
    hookline_shared::aws::SchedulerTimer,
    ReqwestSender,
    hookline_shared::local::LocalOps,
    SystemClock,
>;

/// The deliver handler on DynamoDB and SQS whose regular policy gives up after the first
/// failure, so every failed delivery ends in a write of its endpoint's failure record.
fn exhausting_deliver(
    store: DynamoStore,
    deliveries: Deliveries<SqsQueue>,
    timer: hookline_shared::aws::SchedulerTimer,
) -> AwsDeliver {
    let exhaust = RetryPolicy { give_up_after: Duration::ZERO, ..RetryPolicy::for_urgency(Urgency::Regular) };
    let ops = hookline_shared::local::LocalOps::new(hookline_shared::local::LocalDb::in_memory().unwrap());
    let policies = Policies { regular: exhaust, ..Policies::default() };
    Deliver::new(store, deliveries, timer, loopback_sender(), ops, SystemClock, policies)
}

async fn drain(q: &SqsQueue, n: usize) -> Vec<Received> {
    let mut got = Vec::new();
    for _ in 0..20 {
        got.extend(q.receive(10, Duration::from_secs(30)).await.unwrap());
        if got.len() >= n {
            break;
        }
    }
    got
}

#[tokio::test]
async fn delivery_flow_on_aws_adapters() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let store = hookline_tests::aws_store(&sdk).await.unwrap();
    let urgent = SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap());
    let regular = SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap());
    let deliveries = Deliveries { urgent: urgent.clone(), regular: regular.clone() };

    // Scheduler group and the operator's bus, with a rule copying ops events to a queue we can read.
    let (scheduler, group, timer) = hookline_tests::scheduler_timer(&sdk).await.unwrap();
    let eb = aws_sdk_eventbridge::Client::new(&sdk);
    let bus = format!("ops-{}", ulid::Ulid::new().to_string().to_lowercase());
    eb.create_event_bus().name(&bus).send().await.unwrap();
    let ops_url = hookline_tests::create_queue(&sdk, 30).await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ops_arn = sqs
        .get_queue_attributes()
        .queue_url(&ops_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    eb.put_rule().name("ops").event_bus_name(&bus).event_pattern(r#"{"source":["hookline"]}"#).send().await.unwrap();
    eb.put_targets()
        .rule("ops")
        .event_bus_name(&bus)
        .targets(aws_sdk_eventbridge::types::Target::builder().id("q").arn(&ops_arn).build().unwrap())
        .send()
        .await
        .unwrap();

    let rx = Receiver::start().await;
    rx.script("/fail", &[(500, "down")]);
    rx.script("/gone", &[(410, "")]);
    let org = OrgId::new();
    let fast = endpoint(&org, format!("{}/fast", rx.url), &["invoice.*"], Urgency::Urgent);
    let slow = endpoint(&org, format!("{}/slow", rx.url), &["*"], Urgency::Regular);
    let failing = endpoint(&org, format!("{}/fail", rx.url), &["invoice.paid"], Urgency::Regular);
    let gone = endpoint(&org, format!("{}/gone", rx.url), &["invoice.paid"], Urgency::Regular);
    for ep in [&fast, &slow, &failing, &gone] {
        store.create_endpoint(ep, None).await.unwrap();
    }

    // verify: a published event becomes one job per matching endpoint, on its urgency's queue.
    let verify = Verify::new(store.clone(), deliveries.clone());
    let event_id = EventId::new();
    let msg = InboxMessage::Publish(PublishRequest {
        event_id: event_id.clone(),
        org_id: org.clone(),
        event_type: "invoice.paid".into(),
        data: json!({"amount": 10}),
        received_at: chrono::Utc::now(),
        id_from_key: false,
        ordering_key: None,
    });
    verify.handle(&serde_json::to_string(&msg).unwrap()).await.unwrap();
    let urgent_jobs = drain(&urgent, 1).await;
    let regular_jobs = drain(&regular, 3).await;
    let targets = |msgs: &[Received]| {
        let mut ids: Vec<EndpointId> =
            msgs.iter().map(|m| serde_json::from_str::<DeliveryJob>(&m.body).unwrap().endpoint_id).collect();
        ids.sort();
        ids
    };
    assert_eq!(targets(&urgent_jobs), std::slice::from_ref(&fast.id));
    let mut want = vec![slow.id.clone(), failing.id.clone(), gone.id.clone()];
    want.sort();
    assert_eq!(targets(&regular_jobs), want);

    // deliver, through its Lambda entry point, with a long first retry so it needs a timer.
    let long = RetryPolicy {
        delays: vec![Duration::from_secs(3600)],
        give_up_after: Duration::from_secs(48 * 3600),
        timeout: Duration::from_secs(5),
        max_attempts: u32::MAX,
        jitter: 0.0,
    };
    let policies = Policies { regular: long, ..Policies::default() };
    let schedule_fn = hookline_tests::SCHEDULE_FUNCTION_ARN;
    let http = loopback_sender();
    let ops = EventBridgeOps::new(eb.clone(), bus.clone());
    let deliver = Deliver::new(store.clone(), deliveries.clone(), timer.clone(), http, ops, SystemClock, policies);
    let all: Vec<Received> = urgent_jobs.iter().chain(&regular_jobs).cloned().collect();
    let res = hookline_shared::batch::lambda::handle_sqs_event(&deliver, sqs_event(&all)).await;
    assert!(res.batch_item_failures.is_empty(), "an endpoint's failure is not a Lambda error");
    for m in &urgent_jobs {
        urgent.ack(&m.receipt).await.unwrap();
    }
    for m in &regular_jobs {
        regular.ack(&m.receipt).await.unwrap();
    }
    assert_eq!(rx.got("/fast").len(), 1);
    assert_eq!(rx.got("/slow").len(), 1);
    assert_eq!(rx.got("/fast")[0].headers["x-hookline-urgency"], "urgent");

    // Attempts are in DynamoDB.
    let logs = |ep: EndpointId| {
        let store = store.clone();
        let org = org.clone();
        async move { store.list_attempts(&org, &ep, &AttemptQuery { limit: 10, ..Default::default() }).await.unwrap().items }
    };
    assert_eq!(logs(fast.id.clone()).await[0].status, AttemptStatus::Delivered);
    let retrying = logs(failing.id.clone()).await;
    assert_eq!(retrying.len(), 1);
    assert_eq!(retrying[0].status, AttemptStatus::Retrying);
    let due = retrying[0].next_attempt_at.unwrap();
    assert_eq!((due - retrying[0].created_at).num_seconds(), 3600);

    // 410 disabled its endpoint, and the operator's bus got endpoint.disabled.
    let gone_now = store.get_endpoint(&org, &gone.id).await.unwrap().unwrap();
    assert!(matches!(gone_now.status, EndpointStatus::Disabled { .. }));
    let ops_q = SqsQueue::from_sdk(&sdk, &ops_url);
    let ops_msgs = drain(&ops_q, 1).await;
    assert!(
        ops_msgs.iter().any(|m| m.body.contains("endpoint.disabled") && m.body.contains(gone.id.as_str())),
        "{ops_msgs:?}"
    );

    // The long retry is a one-time Scheduler schedule firing a minute early, deleting itself.
    let sched = scheduler.get_schedule().group_name(&group).name(retrying[0].id.as_str()).send().await.unwrap();
    let fire_at = due - chrono::Duration::from_std(TIMER_LEAD).unwrap();
    assert_eq!(sched.schedule_expression.as_deref(), Some(at_expression(fire_at).as_str()));
    assert_eq!(sched.schedule_expression_timezone.as_deref(), Some("UTC"));
    assert_eq!(sched.action_after_completion, Some(aws_sdk_scheduler::types::ActionAfterCompletion::Delete));
    assert_eq!(sched.flexible_time_window.unwrap().mode, aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off);
    let target = sched.target.unwrap();
    assert_eq!(target.arn, schedule_fn);
    // An invocation Scheduler cannot make is retried for a day, then kept in a queue.
    assert_eq!(target.dead_letter_config.and_then(|d| d.arn).as_deref(), Some(hookline_tests::TIMER_DEAD_LETTER_ARN));
    let retry = target.retry_policy.unwrap();
    assert_eq!((retry.maximum_event_age_in_seconds, retry.maximum_retry_attempts), (Some(86_400), Some(185)));

    // Scheduler invokes `schedule` with that input: the job goes back on its queue with
    // the residual delay (zero here: the clock says the attempt is due).
    let inbox = SqsQueue::from_sdk(&sdk, &ops_url);
    let schedule =
        |at| Schedule::new(store.clone(), inbox.clone(), deliveries.clone(), timer.clone(), ManualClock::at(at));
    let input = target.input.as_deref().unwrap();
    assert_eq!(schedule(due).handle(input, due).await.unwrap(), Fired::Requeued(Duration::ZERO));
    let requeued = drain(&regular, 1).await;
    assert_eq!(requeued.len(), 1);
    let job: DeliveryJob = serde_json::from_str(&requeued[0].body).unwrap();
    assert_eq!((job.endpoint_id, job.attempt, job.payload.id), (failing.id.clone(), 2, event_id));
    // A minute early, the residual is the minute.
    assert_eq!(schedule(fire_at).handle(input, fire_at).await.unwrap(), Fired::Requeued(TIMER_LEAD));
}

/// On DynamoDB too, a delivery's failure-record write never undoes what changed while
/// its request was in flight: a secret rotated meanwhile stays, a deleted endpoint stays
/// deleted.
#[tokio::test]
async fn a_slow_delivery_does_not_undo_edits_on_dynamodb() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let store = hookline_tests::aws_store(&sdk).await.unwrap();
    let queue = SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap());
    let deliveries = Deliveries { urgent: queue.clone(), regular: queue };
    let (_, _, timer) = hookline_tests::scheduler_timer(&sdk).await.unwrap();
    let rx = Receiver::start().await;
    let org = OrgId::new();
    let rotated = endpoint(&org, format!("{}/rotated", rx.url), &["*"], Urgency::Regular);
    let deleted = endpoint(&org, format!("{}/deleted", rx.url), &["*"], Urgency::Regular);
    for (ep, status) in [(&rotated, 500), (&deleted, 410)] {
        store.create_endpoint(ep, None).await.unwrap();
        let path = ep.url.trim_start_matches(&rx.url).to_owned();
        rx.hold(&path);
        rx.script(&path, &[(status, "no")]);
    }
    let deliver = Arc::new(exhausting_deliver(store.clone(), deliveries, timer));
    let mut running = Vec::new();
    for ep in [&rotated, &deleted] {
        let payload =
            hookline_shared::delivery::Payload::new(EventId::new(), "a.b".into(), chrono::Utc::now(), json!({}));
        let job = DeliveryJob::first(org.clone(), ep.id.clone(), None, payload);
        let d = deliver.clone();
        running.push(tokio::spawn(async move { d.deliver(job).await.unwrap() }));
    }
    assert_eq!(rx.wait_for("/rotated", 1, 10).await.len(), 1);
    assert_eq!(rx.wait_for("/deleted", 1, 10).await.len(), 1);

    let mut rotation = rotated.clone();
    rotation.secrets.push(EndpointSecret::generate());
    rotation.version = 1;
    assert!(store.put_endpoint_if(&rotation, 0).await.unwrap());
    assert!(store.delete_endpoint(&org, &deleted.id).await.unwrap());
    rx.release("/rotated");
    rx.release("/deleted");
    for r in running {
        r.await.unwrap();
    }

    let now = store.get_endpoint(&org, &rotated.id).await.unwrap().unwrap();
    assert_eq!(now.secrets, rotation.secrets, "the rotation stands");
    assert_eq!(now.failure.consecutive_exhausted, 1, "the failure is recorded on top of it");
    assert_eq!(store.get_endpoint(&org, &deleted.id).await.unwrap(), None, "a deleted endpoint stays deleted");
}

/// A 200 KB event to 10 endpoints is ten jobs of 200 KB: more than one `SendMessageBatch`
/// may carry (1 MiB in all). Every job still reaches the queue.
#[tokio::test]
async fn a_large_event_fans_out_to_every_endpoint_on_sqs() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let store = hookline_tests::aws_store(&sdk).await.unwrap();
    let regular = SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap());
    let deliveries = Deliveries { urgent: regular.clone(), regular: regular.clone() };
    let org = OrgId::new();
    let mut ids = Vec::new();
    for i in 0..10 {
        let ep = endpoint(&org, format!("https://hooks{i}.example/in"), &["*"], Urgency::Regular);
        store.create_endpoint(&ep, None).await.unwrap();
        ids.push(ep.id);
    }
    let verify = Verify::new(store.clone(), deliveries);
    let msg = InboxMessage::Publish(PublishRequest {
        event_id: EventId::new(),
        org_id: org.clone(),
        event_type: "report.ready".into(),
        data: json!({"blob": "x".repeat(200_000)}),
        received_at: chrono::Utc::now(),
        id_from_key: false,
        ordering_key: None,
    });
    verify.handle(&serde_json::to_string(&msg).unwrap()).await.unwrap();
    let jobs = drain(&regular, 10).await;
    let mut got: Vec<EndpointId> =
        jobs.iter().map(|m| serde_json::from_str::<DeliveryJob>(&m.body).unwrap().endpoint_id).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "one job per endpoint");
}

/// A body at the size cap, even one kept base64-encoded, is recorded in DynamoDB (one
/// item of at most 400 KB), listed, delivered once, and its exhausted attempt, which
/// keeps the job for replay, is logged too.
#[tokio::test]
async fn a_body_at_the_cap_is_stored_and_delivered_on_aws() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let store = hookline_tests::aws_store(&sdk).await.unwrap();
    let regular = SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap());
    let deliveries = Deliveries { urgent: regular.clone(), regular: regular.clone() };
    let rx = Receiver::start().await;
    rx.script("/big", &[(500, "no")]);
    let org = OrgId::new();
    let ep = endpoint(&org, format!("{}/big", rx.url), &["*"], Urgency::Regular);
    store.create_endpoint(&ep, None).await.unwrap();

    // Not UTF-8, so kept as base64: 4/3 of the cap.
    let body: Vec<u8> = (0..hookline_shared::config::MAX_BODY_LIMIT).map(|i| (i % 251) as u8 | 0x80).collect();
    let req = hookline_shared::InboundRequest {
        source_id: hookline_shared::SourceId::new(),
        org_id: org.clone(),
        source_name: "files".into(),
        provider: "none".into(),
        received_at: chrono::Utc::now(),
        headers: vec![],
        body: hookline_shared::Body::from_bytes(&body),
        dedupe: Default::default(),
        ordering_key: None,
        fetch_back: false,
        fetched_at: None,
    };
    let msg = serde_json::to_string(&InboxMessage::Inbound(req)).unwrap();
    assert!(msg.len() <= hookline_shared::config::MAX_QUEUE_MESSAGE_BYTES);
    let verify = Verify::new(store.clone(), deliveries.clone());
    verify.handle(&msg).await.unwrap();
    let listed = hookline_shared::ports::EventStore::list_events(
        &store,
        &org,
        &hookline_shared::ports::EventQuery { limit: 10, ..Default::default() },
    )
    .await
    .unwrap();
    assert_eq!(listed.items.len(), 1);
    use base64::Engine as _;
    let kept = listed.items[0].data["raw"].as_str().unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(kept).unwrap(), body);

    let jobs = drain(&regular, 1).await;
    assert_eq!(jobs.len(), 1);
    let (_, _, timer) = hookline_tests::scheduler_timer(&sdk).await.unwrap();
    let deliver = exhausting_deliver(store.clone(), deliveries, timer);
    let attempt = deliver.handle(&jobs[0].body).await.unwrap().unwrap();
    assert_eq!(attempt.status, AttemptStatus::Exhausted);
    assert_eq!(rx.got("/big").len(), 1, "delivered once");
    let logged = store.list_attempts(&org, &ep.id, &AttemptQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(logged.items.len(), 1);
    assert!(logged.items[0].job.is_some(), "the job is kept for replay");
}

/// An endpoint's delivery controls, kept in DynamoDB, hold on SQS: its own retry
/// schedule paces its retries (each a delayed message) and after the last entry the
/// delivery is exhausted, which disables it at once; its rate limit's slots are
/// claimed in DynamoDB; its own signature header signs every attempt.
#[tokio::test]
async fn an_endpoints_delivery_controls_hold_on_dynamodb_and_sqs() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let store = hookline_tests::aws_store(&sdk).await.unwrap();
    let regular = SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap());
    let deliveries = Deliveries { urgent: regular.clone(), regular: regular.clone() };
    let (_, _, timer) = hookline_tests::scheduler_timer(&sdk).await.unwrap();
    let rx = Receiver::start().await;
    rx.script("/down", &[(500, "down")]);
    let org = OrgId::new();
    let schedule = hookline_shared::delivery::RetrySchedule::parse(&["1s", "2s"]).unwrap();
    let ep = Endpoint {
        retry_schedule: Some(schedule),
        rate_limit: Some(hookline_shared::delivery::RateLimit::new(50).unwrap()),
        signature: hookline_shared::delivery::SignatureScheme::hmac_sha256_hex("X-Sig", "sha256=").unwrap(),
        retry_4xx: false,
        disable_after_exhausted: Some(1),
        ..endpoint(&org, format!("{}/down", rx.url), &["*"], Urgency::Regular)
    };
    store.create_endpoint(&ep, None).await.unwrap();
    assert_eq!(store.get_endpoint(&org, &ep.id).await.unwrap().as_ref(), Some(&ep), "every control kept");

    let ops = hookline_shared::local::LocalOps::new(hookline_shared::local::LocalDb::in_memory().unwrap());
    let deliver = Deliver::new(
        store.clone(),
        deliveries.clone(),
        timer,
        loopback_sender(),
        ops,
        SystemClock,
        Policies::default(),
    );
    let payload = hookline_shared::delivery::Payload::new(EventId::new(), "a.b".into(), chrono::Utc::now(), json!({}));
    regular
        .send(
            &serde_json::to_string(&DeliveryJob::first(org.clone(), ep.id.clone(), None, payload)).unwrap(),
            Duration::ZERO,
        )
        .await
        .unwrap();
    let mut statuses = Vec::new();
    while statuses.last() != Some(&AttemptStatus::Exhausted) && statuses.len() < 5 {
        let jobs = hookline_tests::until(10, || async {
            let got = regular.receive(1, Duration::from_secs(30)).await.unwrap();
            if got.is_empty() {
                Err(got)
            } else {
                Ok(got)
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the next attempt is on the queue after {statuses:?}"));
        let attempt = deliver.handle(&jobs[0].body).await.unwrap().unwrap();
        regular.ack(&jobs[0].receipt).await.unwrap();
        statuses.push(attempt.status);
    }
    assert_eq!(statuses, [AttemptStatus::Retrying, AttemptStatus::Retrying, AttemptStatus::Exhausted]);
    let got = rx.got("/down");
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|g| g.headers["x-sig"].starts_with("sha256=") && !g.headers.contains_key("webhook-signature")));
    let now = store.get_endpoint(&org, &ep.id).await.unwrap().unwrap();
    assert!(matches!(now.status, EndpointStatus::Disabled { .. }), "one exhausted event disables it");

    let logged = store.list_attempts(&org, &ep.id, &AttemptQuery { limit: 10, ..Default::default() }).await.unwrap();
    let gaps: Vec<i64> =
        logged.items[1..].iter().map(|a| (a.next_attempt_at.unwrap() - a.created_at).num_milliseconds()).collect();
    // Newest first: the 2 s retry, then the 1 s one, each within the ±20 % jitter.
    assert!((1600..=2400).contains(&gaps[0]) && (800..=1200).contains(&gaps[1]), "{gaps:?}");
    assert!(logged.items[0].created_at >= logged.items[1].next_attempt_at.unwrap(), "the SQS delay held the retry");
    // Each attempt claimed a slot in DynamoDB: a claim made as of the first attempt
    // finds the endpoint busy until just after the last one.
    let first = logged.items[2].created_at;
    let slot = store.claim_slot(&ep.id, Duration::from_millis(20), first).await.unwrap();
    assert!(slot >= logged.items[0].created_at - chrono::Duration::milliseconds(100), "{slot} vs {first}");
}

/// Retention on DynamoDB: an event and the attempts to deliver it carry the table's TTL
/// attribute (`expires_at`, epoch seconds) at its org's retention, or the default for an
/// org without one, and the template's logs table expires items by it.
#[tokio::test]
async fn events_and_attempts_carry_the_ttl_of_their_orgs_retention() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let tables = hookline_tests::create_tables(&sdk).await.unwrap();
    let key = hookline_tests::secrets_key(&sdk).await.unwrap();
    let store = DynamoStore::from_sdk(&sdk, tables.clone(), &key);
    let regular = SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap());
    let deliveries = Deliveries { urgent: regular.clone(), regular: regular.clone() };
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let ttl = dynamo.describe_time_to_live().table_name(&tables.logs).send().await.unwrap();
    let ttl = ttl.time_to_live_description.unwrap();
    assert_eq!(ttl.attribute_name.as_deref(), Some("expires_at"));
    assert_eq!(ttl.time_to_live_status, Some(aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled));

    let rx = Receiver::start().await;
    let config = hookline_shared::Config {
        retention: hookline_shared::Retention::days(30).unwrap(),
        source_cache_ttl: Duration::ZERO,
        ..hookline_shared::Config::default()
    };
    let verify = Verify::with_config(store.clone(), deliveries.clone(), &config);
    let deliver = exhausting_deliver(store.clone(), deliveries, hookline_tests::scheduler_timer(&sdk).await.unwrap().2);
    for (own, want_days) in [(Some(90), 90), (None, 30)] {
        let now = chrono::Utc::now();
        let org = hookline_shared::Org {
            id: OrgId::new(),
            name: "Acme".into(),
            plan: hookline_shared::Plan::Pro,
            created_at: now,
            retention_days: own,
        };
        let api_key = hookline_shared::ApiKey::generate();
        store.create_org(&org, &hookline_shared::ApiKeyRecord::new(&api_key, &org.id, now)).await.unwrap();
        let ep = endpoint(&org.id, format!("{}/kept", rx.url), &["*"], Urgency::Regular);
        store.create_endpoint(&ep, None).await.unwrap();
        let event_id = EventId::new();
        let msg = InboxMessage::Publish(PublishRequest {
            event_id: event_id.clone(),
            org_id: org.id.clone(),
            event_type: "invoice.paid".into(),
            data: json!({}),
            received_at: now,
            id_from_key: false,
            ordering_key: None,
        });
        verify.handle(&serde_json::to_string(&msg).unwrap()).await.unwrap();
        let jobs = drain(&regular, 1).await;
        let res = hookline_shared::batch::lambda::handle_sqs_event(&deliver, sqs_event(&jobs)).await;
        assert!(res.batch_item_failures.is_empty());
        for m in &jobs {
            regular.ack(&m.receipt).await.unwrap();
        }

        let event = hookline_shared::ports::EventStore::get_event(&store, &org.id, &event_id).await.unwrap().unwrap();
        let expires = event.expires_at.unwrap();
        assert_eq!((expires - event.created_at).num_days(), want_days);
        let partition = dynamo
            .query()
            .table_name(&tables.logs)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("EVT#{event_id}")))
            .send()
            .await
            .unwrap()
            .items
            .unwrap();
        assert_eq!(partition.len(), 2, "the event and its one attempt: {partition:?}");
        for item in &partition {
            let n = item["expires_at"].as_n().unwrap_or_else(|_| panic!("a number: {item:?}"));
            assert_eq!(n.parse::<i64>().unwrap(), expires.timestamp(), "{:?} expires with its event", item["sk"]);
        }
        let attempts = store.list_event_attempts(&org.id, &event_id).await.unwrap();
        assert_eq!(attempts[0].expires_at, Some(expires));
    }
}

/// Ordered delivery on the AWS adapters: events with one ordering key go through an SQS
/// FIFO queue (one message group per org and key) to verify, which puts each job in its
/// lane in DynamoDB and queues only the first; each delivery, once done, queues the next.
#[tokio::test]
async fn ordered_events_go_through_a_fifo_group_and_a_lane_one_at_a_time() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let store = hookline_tests::aws_store(&sdk).await.unwrap();
    let ordered = SqsQueue::from_sdk(&sdk, hookline_tests::create_fifo_queue(&sdk, 30).await.unwrap());
    let regular = SqsQueue::from_sdk(&sdk, hookline_tests::create_queue(&sdk, 30).await.unwrap());
    let deliveries = Deliveries { urgent: regular.clone(), regular: regular.clone() };
    let rx = Receiver::start().await;
    rx.script("/lane", &[(500, "down"), (200, "{}")]);
    let org = OrgId::new();
    let ep = endpoint(&org, format!("{}/lane", rx.url), &["*"], Urgency::Regular);
    store.create_endpoint(&ep, None).await.unwrap();
    let key = hookline_shared::delivery::OrderingKey::try_from("cus_42".to_owned()).unwrap();
    for n in 0..3 {
        let id = EventId::new();
        let msg = InboxMessage::Publish(PublishRequest {
            event_id: id.clone(),
            org_id: org.clone(),
            event_type: "order.updated".into(),
            data: json!({"n": n}),
            received_at: chrono::Utc::now(),
            id_from_key: false,
            ordering_key: Some(key.clone()),
        });
        let group = hookline_shared::delivery::ordered_group(&org, &key);
        ordered.send_in_order(&serde_json::to_string(&msg).unwrap(), &group, id.as_str()).await.unwrap();
    }
    let verify = Verify::new(store.clone(), deliveries.clone());
    // A receive gives a group's messages in the order sent; verify takes them in turn.
    let got = ordered.receive(10, Duration::from_secs(30)).await.unwrap();
    let order: Vec<u64> = got
        .iter()
        .map(|m| match serde_json::from_str::<InboxMessage>(&m.body).unwrap() {
            InboxMessage::Publish(p) => p.data["n"].as_u64().unwrap(),
            InboxMessage::Inbound(_) => unreachable!("published"),
        })
        .collect();
    assert_eq!(order, [0, 1, 2]);
    for m in &got {
        verify.handle(&m.body).await.unwrap();
        ordered.ack(&m.receipt).await.unwrap();
    }

    // Retried in place: the first attempt fails, a retry follows; only then the others.
    let retry = RetryPolicy {
        delays: vec![Duration::ZERO],
        give_up_after: Duration::from_secs(3600),
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        jitter: 0.0,
    };
    let policies = Policies { regular: retry, ..Policies::default() };
    let timer = hookline_tests::scheduler_timer(&sdk).await.unwrap().2;
    let ops = hookline_shared::local::LocalOps::new(hookline_shared::local::LocalDb::in_memory().unwrap());
    let deliver = Deliver::new(store.clone(), deliveries, timer, loopback_sender(), ops, SystemClock, policies);
    let mut sent = Vec::new();
    for _ in 0..4 {
        let jobs = regular.receive(10, Duration::from_secs(30)).await.unwrap();
        assert_eq!(jobs.len(), 1, "one job of the lane on the queue at a time, after {sent:?}");
        let job: DeliveryJob = serde_json::from_str(&jobs[0].body).unwrap();
        sent.push(job.payload.data["n"].as_u64().unwrap());
        deliver.handle(&jobs[0].body).await.unwrap();
        regular.ack(&jobs[0].receipt).await.unwrap();
    }
    assert_eq!(sent, [0, 0, 1, 2], "the first, its retry, then the rest in publish order");
    assert!(regular.receive(10, Duration::from_secs(1)).await.unwrap().is_empty(), "the lane is empty");
    let got: Vec<u64> = rx.got("/lane").iter().map(|g| g.json()["data"]["n"].as_u64().unwrap()).collect();
    assert_eq!(got, [0, 0, 1, 2]);
}
