//! One behavioural suite, run on both adapter sets: `local` (SQLite) and `aws`
//! (DynamoDB and SQS, against moto). Each behaviour is a generic function; the macro at
//! the bottom instantiates it once per backend.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use chrono::{Duration as Days, TimeZone, Utc};
use hookline_shared::aws::{DynamoStore, SqsQueue};
use hookline_shared::delivery::{
    Attempt, AttemptStatus, DeliveryJob, Endpoint, EndpointStatus, LanePlace, OrderingKey, Payload, Urgency,
};
use hookline_shared::endpoint_update::{update_endpoint, Updated};
use hookline_shared::local::{LocalDb, LocalQueue, LocalStore};
use hookline_shared::ports::{AttemptQuery, EndpointStore, EventQuery, JobQuery, Queue, QueueConsumer, Store};
use hookline_shared::schedule::{Job, Recurring, When};
use hookline_shared::{
    ApiKey, ApiKeyRecord, AttemptId, EndpointId, Event, EventId, KeyHash, Org, OrgId, Plan, Provider, ScheduleId,
    Secret, Source, SourceId, StoreError,
};
use serde_json::json;
use std::time::Duration;

fn org(name: &str) -> Org {
    Org { id: OrgId::new(), name: name.into(), plan: Plan::Starter, created_at: Utc::now(), retention_days: None }
}

fn source(org: &OrgId, name: &str, at_ms: i64) -> Source {
    let t = Utc.timestamp_millis_opt(at_ms).unwrap();
    Source {
        id: SourceId::new(),
        org_id: org.clone(),
        name: name.into(),
        provider: Provider::Hmac(hookline_shared::HmacOptions {
            header: "x-sig".into(),
            encoding: hookline_shared::HmacEncoding::Base64,
            prefix: Some("sha256=".into()),
        }),
        secrets: vec![Secret::new("one"), Secret::new("two")],
        dedupe: hookline_shared::DedupeBy::Body,
        ordering_key: Some(hookline_shared::delivery::OrderingPointer::try_from("/data/customer".to_owned()).unwrap()),
        fetch_back: Some(hookline_shared::FetchBack { api_key: Secret::new("rk_test_conformance") }),
        fetch_back_state: None,
        created_at: t,
        updated_at: t,
    }
}

fn event(org: &OrgId, t: &str, at_ms: i64) -> Event {
    Event {
        id: EventId::new(),
        org_id: org.clone(),
        event_type: t.into(),
        data: json!({"n": 12345678901234567u64, "f": 1.5, "nested": {"a": [1, null, "x"]}, "empty": ""}),
        source: None,
        created_at: Utc.timestamp_millis_opt(at_ms).unwrap(),
        // Kept like every other field (a loop's count must survive the store).
        hops: (at_ms % 3) as u32,
        fetched_at: (at_ms % 2 == 1).then(|| Utc.timestamp_millis_opt(at_ms + 250).unwrap()),
        expires_at: expiry(at_ms),
        ordering: None,
    }
}

/// Some records expire (to the second, as retention sets it), some are from before it.
fn expiry(at_ms: i64) -> Option<chrono::DateTime<Utc>> {
    (at_ms % 2 == 0).then(|| Utc.timestamp_opt(at_ms / 1000 + 30 * 86_400 + 1, 0).unwrap())
}

async fn orgs_and_keys<S: Store>(store: S) {
    let a = org("a");
    let key = ApiKey::generate();
    let first = ApiKeyRecord::new(&key, &a.id, a.created_at);
    store.create_org(&a, &first).await.unwrap();
    assert_eq!(store.get_org(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_org(&OrgId::new()).await.unwrap(), None);
    assert_eq!(store.org_for_key(&key.hash()).await.unwrap(), Some((a.clone(), first.clone())));
    assert_eq!(store.org_for_key(&KeyHash::of("hk_other")).await.unwrap(), None);
    // The same key hash cannot be taken by a second org.
    let b = org("b");
    assert!(store.create_org(&b, &ApiKeyRecord { org_id: b.id.clone(), ..first.clone() }).await.is_err());
    assert_eq!(store.org_for_key(&key.hash()).await.unwrap().unwrap().0.id, a.id);

    // A second key, listed oldest first, its last day of use kept; revoking one leaves the other.
    let second = ApiKey::generate();
    let mut second_rec = ApiKeyRecord::new(&second, &a.id, a.created_at + Days::seconds(1));
    store.add_api_key(&second_rec).await.unwrap();
    assert!(store.add_api_key(&second_rec).await.is_err(), "a key is added once");
    second_rec.last_used_on = Some(chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap());
    assert!(store.update_api_key(&second_rec).await.unwrap());
    assert_eq!(store.list_api_keys(&a.id).await.unwrap(), [first.clone(), second_rec.clone()]);
    assert!(store.list_api_keys(&b.id).await.unwrap().is_empty());
    assert_eq!(store.delete_api_key(&b.id, &first.id).await.unwrap(), None, "another org's key");
    assert_eq!(store.delete_api_key(&a.id, &first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.org_for_key(&key.hash()).await.unwrap(), None, "a revoked key finds nothing");
    // A last-used day written after the revocation does not bring the key back.
    assert!(!store.update_api_key(&first).await.unwrap());
    assert_eq!(store.org_for_key(&key.hash()).await.unwrap(), None, "still revoked");
    assert_eq!(store.list_api_keys(&a.id).await.unwrap(), [second_rec.clone()]);
    assert_eq!(store.org_for_key(&second.hash()).await.unwrap(), Some((a.clone(), second_rec.clone())));

    // A change to the org (its retention) is what its keys find from then on.
    let changed = Org { retention_days: Some(90), plan: Plan::Pro, ..a.clone() };
    assert!(store.update_org(&changed).await.unwrap());
    assert_eq!(store.get_org(&a.id).await.unwrap(), Some(changed.clone()));
    assert_eq!(store.org_for_key(&second.hash()).await.unwrap(), Some((changed, second_rec)));
    assert!(!store.update_org(&org("never created")).await.unwrap(), "an update creates no org");
    assert_eq!(store.get_org(&b.id).await.unwrap(), None);
}

async fn sources_are_scoped_to_their_org<S: Store>(store: S) {
    let (a, b) = (OrgId::new(), OrgId::new());
    let s1 = source(&a, "first", 1_000);
    let s2 = source(&a, "second", 2_000);
    let s3 = source(&b, "other", 1_500);
    for s in [&s2, &s1, &s3] {
        store.put_source(s).await.unwrap();
    }
    assert_eq!(store.get_source(&s1.id).await.unwrap(), Some(s1.clone()));
    let listed: Vec<SourceId> = store.list_sources(&a).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(listed, vec![s1.id.clone(), s2.id.clone()], "own sources, oldest first");

    let mut changed = s1.clone();
    changed.name = "renamed".into();
    changed.secrets = vec![Secret::new("three")];
    store.put_source(&changed).await.unwrap();
    assert_eq!(store.get_source(&s1.id).await.unwrap(), Some(changed));
    assert_eq!(store.list_sources(&a).await.unwrap().len(), 2);

    assert!(!store.delete_source(&b, &s1.id).await.unwrap(), "another org cannot delete it");
    assert!(store.get_source(&s1.id).await.unwrap().is_some());
    assert!(store.delete_source(&a, &s1.id).await.unwrap());
    assert_eq!(store.get_source(&s1.id).await.unwrap(), None);
    assert!(!store.delete_source(&a, &s1.id).await.unwrap());
}

async fn events_insert_once_and_list_newest_first<S: Store>(store: S) {
    let (a, b) = (OrgId::new(), OrgId::new());
    let base = 1_700_000_000_000;
    let mut events = Vec::new();
    for i in 0..7 {
        let t = if i % 3 == 0 { "invoice.paid" } else { "user.created" };
        // Two events share a millisecond to exercise the id tie-break.
        let e = event(&a, t, base + (i / 2) * 1000);
        assert!(store.insert_event(&e).await.unwrap());
        events.push(e);
    }
    store.insert_event(&event(&b, "invoice.paid", base)).await.unwrap();
    assert!(!store.insert_event(&events[0]).await.unwrap(), "same id is not recorded twice");

    let got = store.get_event(&a, &events[3].id).await.unwrap().unwrap();
    assert_eq!(got, events[3], "data comes back exactly");
    assert_eq!(store.get_event(&b, &events[3].id).await.unwrap(), None);

    let mut expected = events.clone();
    expected.sort_by(|x, y| (y.created_at, y.id.as_str()).cmp(&(x.created_at, x.id.as_str())));
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_events(&a, &EventQuery { limit: 3, cursor, event_type: None, from: None }).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|e| e.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, expected.iter().map(|e| e.id.clone()).collect::<Vec<_>>());

    let paid = store
        .list_events(&a, &EventQuery { limit: 2, event_type: Some("invoice.paid".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(paid.items.len(), 2);
    assert!(paid.items.iter().all(|e| e.event_type == "invoice.paid"));
    let rest = store
        .list_events(
            &a,
            &EventQuery { limit: 2, cursor: paid.next_cursor, event_type: Some("invoice.paid".into()), from: None },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_cursor, None);

    let bad =
        store.list_events(&a, &EventQuery { limit: 2, cursor: Some("garbage!".into()), ..Default::default() }).await;
    assert!(matches!(bad, Err(StoreError::InvalidCursor)));

    // Oldest first from a time on (what `hookline tail` follows), in pages, the second
    // millisecond's pair included whole: the same order reversed, from that time.
    let from = events[2].created_at;
    let mut forward = Vec::new();
    let mut cursor = None;
    loop {
        let q = EventQuery { limit: 2, cursor, event_type: None, from: Some(from) };
        let page = store.list_events(&a, &q).await.unwrap();
        forward.extend(page.items.into_iter().map(|e| e.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let mut oldest_first: Vec<_> =
        expected.iter().rev().filter(|e| e.created_at >= from).map(|e| e.id.clone()).collect();
    assert_eq!(forward, oldest_first, "oldest first from {from}");
    let later = EventQuery { limit: 100, from: Some(from), event_type: Some("invoice.paid".into()), cursor: None };
    let paid_later: Vec<_> = store.list_events(&a, &later).await.unwrap().items.into_iter().map(|e| e.id).collect();
    oldest_first.retain(|id| events.iter().any(|e| &e.id == id && e.event_type == "invoice.paid"));
    assert_eq!(paid_later, oldest_first);
}

/// The event record is the dedupe claim: of concurrent copies, exactly one is recorded.
async fn concurrent_inserts_of_an_event_have_one_winner<S: Store>(store: S) {
    let e = event(&OrgId::new(), "invoice.paid", Utc::now().timestamp_millis());
    let inserted = futures::future::join_all((0..8).map(|_| {
        let (store, e) = (store.clone(), e.clone());
        async move { store.insert_event(&e).await.unwrap() }
    }))
    .await;
    assert_eq!(inserted.iter().filter(|new| **new).count(), 1, "{inserted:?}");
}

async fn queue_delivers_until_acked<Q: Queue + QueueConsumer>(queue: Q) {
    queue.send("one", Duration::ZERO).await.unwrap();
    queue.send("two", Duration::ZERO).await.unwrap();
    let mut got = queue.receive(10, Duration::from_secs(1)).await.unwrap();
    got.sort_by(|a, b| a.body.cmp(&b.body));
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["one", "two"]);
    assert!(got.iter().all(|m| m.receive_count == 1));
    // Leased messages are invisible; after the visibility timeout the un-acked one returns.
    assert!(queue.receive(10, Duration::from_secs(1)).await.unwrap().is_empty());
    queue.ack(&got[0].receipt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body, "two");
    assert_eq!(again[0].message_id, got[1].message_id);
    assert_eq!(again[0].receive_count, 2);
    queue.ack(&again[0].receipt).await.unwrap();
}

/// A FIFO queue's stream (an SQS message group) goes out in the order sent, one message
/// at a time: the next waits until the one before is acknowledged, and one whose lease
/// ran out comes back before it.
async fn a_fifo_stream_goes_out_in_order_one_at_a_time<Q: Queue + QueueConsumer>(queue: Q) {
    for body in ["first", "second", "third"] {
        queue.send_in_order(body, "org_1#customer_42", &format!("evt_{body}")).await.unwrap();
    }
    let got = queue.receive(1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["first"]);
    assert!(queue.receive(1, Duration::from_secs(30)).await.unwrap().is_empty(), "the second waits for the first");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = queue.receive(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!((again[0].body.as_str(), again[0].receive_count), ("first", 2), "a failed one comes back first");
    queue.ack(&again[0].receipt).await.unwrap();
    let mut rest = Vec::new();
    while rest.len() < 2 {
        let got = queue.receive(1, Duration::from_secs(30)).await.unwrap();
        assert_eq!(got.len(), 1, "after {rest:?}");
        queue.ack(&got[0].receipt).await.unwrap();
        rest.push(got[0].body.clone());
    }
    assert_eq!(rest, ["second", "third"]);
}

#[tokio::test]
async fn a_fifo_stream_goes_out_in_order_one_at_a_time_locally() {
    a_fifo_stream_goes_out_in_order_one_at_a_time(LocalQueue::fifo(LocalDb::in_memory().unwrap(), "ordered", 5)).await
}

#[tokio::test]
async fn a_fifo_stream_goes_out_in_order_one_at_a_time_on_sqs() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let url = hookline_tests::create_fifo_queue(&sdk, 30).await.unwrap();
    a_fifo_stream_goes_out_in_order_one_at_a_time(SqsQueue::from_sdk(&sdk, url)).await
}

async fn queue_honours_delay<Q: Queue + QueueConsumer>(queue: Q) {
    queue.send("later", Duration::from_secs(2)).await.unwrap();
    assert!(queue.receive(10, Duration::from_secs(30)).await.unwrap().is_empty(), "not visible before its delay");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "later");
}

fn local_store() -> LocalStore {
    LocalStore::new(LocalDb::in_memory().unwrap())
}

fn local_queue() -> LocalQueue {
    LocalQueue::new(LocalDb::in_memory().unwrap(), "inbox", 5)
}

async fn aws_store() -> Option<DynamoStore> {
    let sdk = hookline_tests::moto().await?;
    let tables = hookline_tests::create_tables(&sdk).await.unwrap();
    Some(DynamoStore::from_sdk(&sdk, tables, &hookline_tests::secrets_key(&sdk).await.unwrap()))
}

async fn aws_queue() -> Option<SqsQueue> {
    let sdk = hookline_tests::moto().await?;
    let url = hookline_tests::create_queue(&sdk, 30).await.unwrap();
    Some(SqsQueue::from_sdk(&sdk, url))
}

macro_rules! conformance {
    ($local:ident, $aws:ident; stores: $($s:ident),* ; queues: $($q:ident),*) => {
        mod $local {
            $( #[tokio::test] async fn $s() { super::$s(super::local_store()).await } )*
            $( #[tokio::test] async fn $q() { super::$q(super::local_queue()).await } )*
        }
        mod $aws {
            $( #[tokio::test] async fn $s() { if let Some(s) = super::aws_store().await { super::$s(s).await } } )*
            $( #[tokio::test] async fn $q() { if let Some(q) = super::aws_queue().await { super::$q(q).await } } )*
        }
    };
}

conformance!(
    local, aws;
    stores: orgs_and_keys, sources_are_scoped_to_their_org, events_insert_once_and_list_newest_first,
            concurrent_inserts_of_an_event_have_one_winner;
    queues: queue_delivers_until_acked, queue_honours_delay
);

#[test]
fn local_queue_dead_letters_after_max_receives() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let q = LocalQueue::new(LocalDb::in_memory().unwrap(), "inbox", 2);
        q.send("poison", Duration::ZERO).await.unwrap();
        for _ in 0..2 {
            assert_eq!(q.receive(1, Duration::ZERO).await.unwrap().len(), 1);
        }
        assert!(q.receive(1, Duration::ZERO).await.unwrap().is_empty());
        assert_eq!(q.dead_letters().await.unwrap(), vec!["poison".to_owned()]);
        assert_eq!(q.depth().await.unwrap(), 0);
    });
}

#[test]
fn local_queue_releases_leases_of_a_dead_consumer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let q = LocalQueue::new(LocalDb::in_memory().unwrap(), "inbox", 5);
        q.send("in flight", Duration::ZERO).await.unwrap();
        q.send("delayed", Duration::from_secs(600)).await.unwrap();
        assert_eq!(q.receive(10, Duration::from_secs(600)).await.unwrap().len(), 1);
        assert_eq!(q.release_leases().await.unwrap(), 1, "only the leased message, not the delayed one");
        let again = q.receive(10, Duration::from_secs(600)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].body.as_str(), again[0].receive_count), ("in flight", 2));
    });
}

#[test]
fn local_queue_hands_out_again_what_a_dead_process_had_leased() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookline.db");
        {
            let q = LocalQueue::new(LocalDb::open(&path).unwrap(), "inbox", 5);
            q.send("in flight", Duration::ZERO).await.unwrap();
            q.send("done", Duration::ZERO).await.unwrap();
            q.send("later", Duration::from_secs(600)).await.unwrap();
            let got = q.receive(10, Duration::from_secs(600)).await.unwrap();
            assert_eq!(got.len(), 2);
            let done = got.iter().find(|m| m.body == "done").unwrap();
            q.ack(&done.receipt).await.unwrap();
        }
        // A new process on the same file: the lease died with the old one, the delay did not.
        let q = LocalQueue::new(LocalDb::open(&path).unwrap(), "inbox", 5);
        assert_eq!(q.depth().await.unwrap(), 2);
        let again = q.receive(10, Duration::from_secs(600)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].body.as_str(), again[0].receive_count), ("in flight", 2), "the receive count is kept");
    });
}

#[test]
fn local_queue_handles_on_one_database_share_the_queue() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = LocalDb::in_memory().unwrap();
        let (a, b) = (LocalQueue::new(db.clone(), "inbox", 5), LocalQueue::new(db.clone(), "inbox", 5));
        let other = LocalQueue::new(db, "deliveries-urgent", 5);
        a.send("one", Duration::ZERO).await.unwrap();
        assert!(other.receive(10, Duration::from_secs(60)).await.unwrap().is_empty());
        let got = b.receive(10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(got.len(), 1);
        assert!(a.receive(10, Duration::from_secs(60)).await.unwrap().is_empty(), "leased through b");
        b.ack(&got[0].receipt).await.unwrap();
        assert_eq!(a.depth().await.unwrap(), 0);
    });
}

fn endpoint(org: &OrgId, at_ms: i64) -> Endpoint {
    let t = Utc.timestamp_millis_opt(at_ms).unwrap();
    Endpoint {
        description: "d".into(),
        headers: [("Authorization".to_owned(), "Bearer x".to_owned())].into_iter().collect(),
        urgency: Urgency::Urgent,
        ..Endpoint::new(org.clone(), "https://example.com/hooks/:name".into(), vec!["invoice.*".into()], t)
    }
}

fn attempt(org: &OrgId, ep: &EndpointId, event: &EventId, status: AttemptStatus, at_ms: i64) -> Attempt {
    Attempt {
        id: AttemptId::new(),
        org_id: org.clone(),
        endpoint_id: ep.clone(),
        event_id: event.clone(),
        event_type: "invoice.paid".into(),
        status,
        response_code: Some(500),
        response_body: Some("oops".into()),
        duration_ms: 12,
        error: Some("endpoint answered 500".into()),
        attempt: 1,
        next_attempt_at: None,
        created_at: Utc.timestamp_millis_opt(at_ms).unwrap(),
        job: None,
        follow_up_pending: false,
        expires_at: expiry(at_ms),
    }
}

async fn endpoints_are_scoped_to_their_org<S: Store>(store: S) {
    let (a, b) = (OrgId::new(), OrgId::new());
    let e1 = endpoint(&a, 1_000);
    let e2 = endpoint(&a, 2_000);
    let e3 = endpoint(&b, 1_500);
    for e in [&e2, &e1, &e3] {
        store.create_endpoint(e, None).await.unwrap();
    }
    assert_eq!(store.get_endpoint(&a, &e1.id).await.unwrap(), Some(e1.clone()));
    assert_eq!(store.get_endpoint(&b, &e1.id).await.unwrap(), None);
    let ids: Vec<_> = store.list_endpoints(&a).await.unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, [e1.id.clone(), e2.id.clone()]);
    let mut disabled = e1.clone();
    disabled.status = EndpointStatus::Disabled { disabled_reason: "410".into(), disabled_at: Utc::now() };
    assert!(store.put_endpoint_if(&disabled, e1.version).await.unwrap());
    assert_eq!(store.get_endpoint(&a, &e1.id).await.unwrap(), Some(disabled));
    assert!(!store.delete_endpoint(&b, &e1.id).await.unwrap());
    assert!(store.delete_endpoint(&a, &e1.id).await.unwrap());
    assert_eq!(store.get_endpoint(&a, &e1.id).await.unwrap(), None);
}

/// The plan limit holds under concurrent creates: the check and the write are one step.
async fn concurrent_creates_never_pass_the_plan_limit<S: Store>(store: S) {
    let (a, b) = (OrgId::new(), OrgId::new());
    let tries: Vec<Endpoint> = (0..8).map(|i| endpoint(&a, 1_000 + i)).collect();
    let created = futures::future::join_all(tries.iter().map(|e| store.create_endpoint(e, Some(3)))).await;
    let created: Vec<bool> = created.into_iter().map(Result::unwrap).collect();
    assert_eq!(created.iter().filter(|c| **c).count(), 3, "{created:?}");
    assert_eq!(store.list_endpoints(&a).await.unwrap().len(), 3);
    // Another org's count is its own.
    assert!(store.create_endpoint(&endpoint(&b, 1_000), Some(1)).await.unwrap());
    assert!(!store.create_endpoint(&endpoint(&b, 1_001), Some(1)).await.unwrap());
    // A delete frees a place; deleting what is not there (or not the org's) frees none.
    let kept = store.list_endpoints(&a).await.unwrap();
    assert!(!store.delete_endpoint(&b, &kept[0].id).await.unwrap());
    assert!(!store.delete_endpoint(&a, &EndpointId::new()).await.unwrap());
    assert!(!store.create_endpoint(&endpoint(&a, 2_000), Some(3)).await.unwrap());
    assert!(store.delete_endpoint(&a, &kept[0].id).await.unwrap());
    assert!(store.create_endpoint(&endpoint(&a, 2_001), Some(3)).await.unwrap());
    assert!(!store.create_endpoint(&endpoint(&a, 2_002), Some(3)).await.unwrap());
    // No limit still counts, so a later plan with one sees the right number.
    assert!(store.create_endpoint(&endpoint(&a, 2_003), None).await.unwrap());
    assert!(!store.create_endpoint(&endpoint(&a, 2_004), Some(4)).await.unwrap());
    assert!(store.create_endpoint(&endpoint(&a, 2_005), Some(5)).await.unwrap());
}

async fn attempts_list_by_endpoint_status_time_and_event<S: Store>(store: S) {
    let org = OrgId::new();
    let (ep, other) = (EndpointId::new(), EndpointId::new());
    let base = 1_700_000_000_000;
    // The events are recorded too: an event's attempts may be kept beside it.
    let mut events: Vec<EventId> = Vec::new();
    for i in 0..3 {
        let e = event(&org, "order.created", base - 1000 + i);
        store.insert_event(&e).await.unwrap();
        events.push(e.id);
    }
    let statuses = [AttemptStatus::Retrying, AttemptStatus::Exhausted, AttemptStatus::Delivered, AttemptStatus::Failed];
    let mut all = Vec::new();
    for i in 0..8 {
        let a = attempt(&org, &ep, &events[i % 3], statuses[i % 4], base + i as i64 * 1000);
        store.insert_attempt(&a).await.unwrap();
        all.push(a);
    }
    store.insert_attempt(&attempt(&org, &other, &events[0], AttemptStatus::Failed, base)).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            store.list_attempts(&org, &ep, &AttemptQuery { limit: 3, cursor, ..Default::default() }).await.unwrap();
        seen.extend(page.items.into_iter().map(|a| a.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let newest_first: Vec<_> = all.iter().rev().map(|a| a.id.clone()).collect();
    assert_eq!(seen, newest_first);

    let failed = store
        .list_attempts(
            &org,
            &ep,
            &AttemptQuery {
                limit: 100,
                statuses: vec![AttemptStatus::Failed, AttemptStatus::Exhausted],
                since: Some(Utc.timestamp_millis_opt(base + 2000).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let got: Vec<_> = failed.items.iter().map(|a| (a.status, a.created_at.timestamp_millis() - base)).collect();
    assert_eq!(got, [(AttemptStatus::Failed, 7000), (AttemptStatus::Exhausted, 5000), (AttemptStatus::Failed, 3000)]);
    assert_eq!(failed.items[1], all[5], "attempts come back exactly");

    let for_event = store.list_event_attempts(&org, &events[0]).await.unwrap();
    let offsets: Vec<i64> = for_event.iter().map(|a| a.created_at.timestamp_millis() - base).collect();
    assert_eq!(offsets, [0, 0, 3000, 6000], "oldest first, across endpoints");
    assert!(store.list_event_attempts(&OrgId::new(), &events[0]).await.unwrap().is_empty(), "scoped to the org");

    let a = &all[4];
    assert_eq!(store.get_attempt(&org, &a.event_id, &a.id).await.unwrap().as_ref(), Some(a));
    assert_eq!(store.get_attempt(&org, &events[2], &a.id).await.unwrap(), None, "not under another event");
    assert_eq!(store.get_attempt(&OrgId::new(), &a.event_id, &a.id).await.unwrap(), None, "not for another org");
    assert_eq!(store.list_events(&org, &EventQuery { limit: 10, ..Default::default() }).await.unwrap().items.len(), 3);
}

/// A store whose first endpoint read is followed at once by another writer's edit, so
/// the reader holds a stale copy.
struct Interfering<S> {
    inner: S,
    raced: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl<S: Store> EndpointStore for Interfering<S> {
    async fn create_endpoint(&self, ep: &Endpoint, limit: Option<usize>) -> Result<bool, StoreError> {
        self.inner.create_endpoint(ep, limit).await
    }

    async fn put_endpoint_if(&self, ep: &Endpoint, version: u64) -> Result<bool, StoreError> {
        self.inner.put_endpoint_if(ep, version).await
    }

    async fn get_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        let read = self.inner.get_endpoint(org, id).await?;
        if let Some(ep) = read.as_ref().filter(|_| !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst)) {
            let edit = Endpoint { description: "edited".into(), version: ep.version + 1, ..ep.clone() };
            assert!(self.inner.put_endpoint_if(&edit, ep.version).await?);
        }
        Ok(read)
    }

    async fn list_endpoints(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError> {
        self.inner.list_endpoints(org).await
    }

    async fn delete_endpoint(&self, org: &OrgId, id: &EndpointId) -> Result<bool, StoreError> {
        self.inner.delete_endpoint(org, id).await
    }
}

/// Endpoint writes after a read are conditional on the version read: a stale copy never
/// overwrites a newer one, a deleted endpoint is never recreated, and `update_endpoint`
/// re-applies its change to whatever a concurrent writer stored.
async fn endpoint_updates_never_undo_a_concurrent_change<S: Store>(store: S) {
    let org = OrgId::new();
    let e = endpoint(&org, 1_000);
    store.create_endpoint(&e, None).await.unwrap();

    let mut newer = e.clone();
    newer.url = "https://example.com/new".into();
    newer.version = 1;
    assert!(store.put_endpoint_if(&newer, 0).await.unwrap());
    let mut stale = e.clone();
    stale.description = "stale".into();
    stale.version = 1;
    assert!(!store.put_endpoint_if(&stale, 0).await.unwrap(), "written over a version that is gone");
    assert_eq!(store.get_endpoint(&org, &e.id).await.unwrap(), Some(newer.clone()));
    let mut other_org = newer.clone();
    other_org.org_id = OrgId::new();
    assert!(!store.put_endpoint_if(&other_org, 1).await.unwrap(), "another org's write");

    // Two writers that both read version 1: the second re-applies its change on top.
    let updated = update_endpoint(&store, &org, &e.id, |ep| {
        ep.failure.consecutive_exhausted += 1;
        true
    })
    .await
    .unwrap();
    let Updated::Written(after) = updated else { panic!("{updated:?}") };
    assert_eq!(
        (after.version, after.url.as_str(), after.failure.consecutive_exhausted),
        (2, "https://example.com/new", 1)
    );
    let racing = Interfering { inner: store.clone(), raced: std::sync::atomic::AtomicBool::new(false) };
    let updated = update_endpoint(&racing, &org, &e.id, |ep| {
        ep.failure.consecutive_exhausted += 1;
        true
    })
    .await
    .unwrap();
    let after = updated.endpoint().unwrap();
    assert_eq!((after.version, after.description.as_str(), after.failure.consecutive_exhausted), (4, "edited", 2));
    assert_eq!(store.get_endpoint(&org, &e.id).await.unwrap(), Some(after.clone()));

    assert!(store.delete_endpoint(&org, &e.id).await.unwrap());
    assert!(!store.put_endpoint_if(&after, after.version).await.unwrap(), "a deleted endpoint stays deleted");
    assert_eq!(update_endpoint(&store, &org, &e.id, |_| true).await.unwrap(), Updated::Gone);
    assert_eq!(store.get_endpoint(&org, &e.id).await.unwrap(), None);
}

/// A rate-limited endpoint's send slots: concurrent claims (as from concurrent `deliver`
/// invocations) each get their own, one interval apart; an endpoint idle past its next
/// free time starts again from now; endpoints do not share a budget.
async fn send_slots_are_spaced_and_never_shared<S: Store>(store: S) {
    let (ep, other) = (EndpointId::new(), EndpointId::new());
    let now = Utc.timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    let step = Duration::from_millis(20);
    let claims: Vec<_> = (0..24)
        .map(|_| {
            let (store, ep) = (store.clone(), ep.clone());
            tokio::spawn(async move { store.claim_slot(&ep, step, now).await.unwrap() })
        })
        .collect();
    let mut slots = Vec::new();
    for c in claims {
        slots.push(c.await.unwrap());
    }
    slots.sort();
    let want: Vec<_> = (0..24).map(|i| now + Days::milliseconds(20 * i)).collect();
    assert_eq!(slots, want, "one slot each, 20 ms apart, from now");
    assert_eq!(store.claim_slot(&other, step, now).await.unwrap(), now, "another endpoint's budget is its own");
    let later = now + Days::seconds(5);
    assert_eq!(store.claim_slot(&ep, step, later).await.unwrap(), later, "idle since its last slot: now");
    assert_eq!(store.claim_slot(&ep, step, later).await.unwrap(), later + Days::milliseconds(20));
}

/// A job in a lane keyed `key` to `endpoint`, at `sequence`.
fn in_lane(org: &OrgId, endpoint: &EndpointId, key: &str, sequence: u128) -> DeliveryJob {
    let payload = Payload::new(EventId::new(), "order.paid".into(), Utc::now(), json!({"n": sequence}));
    let first = DeliveryJob::first(org.clone(), endpoint.clone(), expiry(0), payload);
    let key = OrderingKey::try_from(key.to_owned()).unwrap();
    DeliveryJob { lane: Some(LanePlace::new(key, sequence)), ..first }
}

/// A lane sends one job at a time in position order; every endpoint and key has its own.
async fn a_lane_lets_out_one_job_at_a_time_in_order<S: Store>(store: S) {
    let (org, ep) = (OrgId::new(), EndpointId::new());
    let [a, b, c] = [9, 10, 25].map(|n| in_lane(&org, &ep, "cus_42", n));
    assert!(store.join_lane(&a).await.unwrap(), "first in an empty lane");
    assert!(!store.join_lane(&c).await.unwrap());
    assert!(!store.join_lane(&b).await.unwrap(), "behind the first, whatever the order of joining");
    assert!(store.join_lane(&a).await.unwrap(), "joining again changes nothing");
    assert!(store.join_lane(&in_lane(&org, &EndpointId::new(), "cus_42", 10)).await.unwrap(), "another endpoint's");
    assert!(store.join_lane(&in_lane(&org, &ep, "cus_43", 10)).await.unwrap(), "another key's");

    assert_eq!(store.leave_lane(&a).await.unwrap(), Some(b.clone()), "by position: 10 before 25");
    assert_eq!(store.leave_lane(&a).await.unwrap(), Some(b.clone()), "a repeated leave names the next again");
    assert_eq!(store.leave_lane(&b).await.unwrap(), Some(c.clone()));
    assert_eq!(store.leave_lane(&c).await.unwrap(), None);
    let plain = DeliveryJob { lane: None, ..a.clone() };
    assert!(store.join_lane(&plain).await.unwrap(), "a job in no lane is always sent");
    assert_eq!(store.leave_lane(&plain).await.unwrap(), None);

    // Places in a stream: increasing, distinct under concurrency, one stream per org and key.
    let key = |k: &str| OrderingKey::try_from(k.to_owned()).unwrap();
    let first = store.next_in_stream(&org, &key("cus_42")).await.unwrap();
    let k42 = key("cus_42");
    let mut places: Vec<u128> = futures::future::join_all((0..8).map(|_| store.next_in_stream(&org, &k42)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    places.sort();
    places.dedup();
    assert_eq!(places.len(), 8, "concurrent places are distinct");
    assert!(places[0] > first, "and after the one before");
    assert_eq!(store.next_in_stream(&org, &key("cus_43")).await.unwrap(), 1, "another key's stream");
    assert_eq!(store.next_in_stream(&OrgId::new(), &key("cus_42")).await.unwrap(), 1, "another org's");

    // A join and a leave at once: at least one of them sends the job behind.
    for n in 0..10 {
        let first = in_lane(&org, &ep, "race", 2 * n);
        let behind = in_lane(&org, &ep, "race", 2 * n + 1);
        assert!(store.join_lane(&first).await.unwrap());
        let (joined, left) = tokio::join!(store.join_lane(&behind), store.leave_lane(&first));
        let sent = joined.unwrap() || left.unwrap() == Some(behind.clone());
        assert!(sent, "round {n}: the job behind was never sent");
        assert_eq!(store.leave_lane(&behind).await.unwrap(), None);
    }
}

conformance!(
    local_delivery, aws_delivery;
    stores: endpoints_are_scoped_to_their_org, attempts_list_by_endpoint_status_time_and_event,
            endpoint_updates_never_undo_a_concurrent_change, concurrent_creates_never_pass_the_plan_limit,
            send_slots_are_spaced_and_never_shared, a_lane_lets_out_one_job_at_a_time_in_order;
    queues:
);

/// Orgs from before the DynamoDB counter have endpoints but no count: the first create
/// counts them, and a delete without a count still deletes.
#[tokio::test]
async fn endpoints_made_before_the_counter_are_counted_on_dynamodb() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let tables = hookline_tests::create_tables(&sdk).await.unwrap();
    let store = DynamoStore::from_sdk(&sdk, tables.clone(), &hookline_tests::secrets_key(&sdk).await.unwrap());
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let a = OrgId::new();
    let drop_counter = || {
        client
            .delete_item()
            .table_name(&tables.subscriptions)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("ORG#{a}")))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("COUNT#EP".into()))
            .send()
    };
    let (e1, e2) = (endpoint(&a, 1_000), endpoint(&a, 2_000));
    store.create_endpoint(&e1, None).await.unwrap();
    store.create_endpoint(&e2, None).await.unwrap();
    drop_counter().await.unwrap();
    assert!(store.create_endpoint(&endpoint(&a, 3_000), Some(3)).await.unwrap());
    assert!(!store.create_endpoint(&endpoint(&a, 4_000), Some(3)).await.unwrap());
    drop_counter().await.unwrap();
    assert!(store.delete_endpoint(&a, &e1.id).await.unwrap());
    assert!(!store.delete_endpoint(&a, &e1.id).await.unwrap());
    assert!(store.create_endpoint(&endpoint(&a, 5_000), Some(3)).await.unwrap());
    assert!(!store.create_endpoint(&endpoint(&a, 6_000), Some(3)).await.unwrap());
    assert_eq!(store.list_endpoints(&a).await.unwrap().len(), 3);
}

fn job(org: &OrgId, at_ms: i64, key: Option<&str>, recurring: Option<(&str, &str)>) -> Job {
    let t = Utc.timestamp_millis_opt(at_ms).unwrap();
    let recurring = recurring.map(|(name, thing)| Recurring { name: name.into(), thing: thing.into() });
    Job {
        id: match &recurring {
            Some(r) => Job::recurring_id(org, r),
            None => ScheduleId::new(),
        },
        org_id: org.clone(),
        version: 1,
        event_type: "digest".into(),
        data: json!({"n": 1}),
        when: When::Cron { cron: "0 9 ? * MON *".into() },
        timezone: "Europe/Berlin".into(),
        start_at: None,
        end_at: None,
        key: key.map(str::to_owned),
        recurring,
        next_run_at: Some(t + Days::days(1)),
        last_run_at: None,
        last_due_at: None,
        runs: 0,
        paused_at: None,
        created_at: t,
        updated_at: t,
    }
}

async fn jobs_list_by_key_and_name_and_update_by_version<S: Store>(store: S) {
    let (org, other) = (OrgId::new(), OrgId::new());
    let base = 1_800_000_000_000;
    let keyed: Vec<Job> = (0..3).map(|i| job(&org, base + i * 1000, Some("user_7"), None)).collect();
    let plain = job(&org, base + 5000, None, None);
    let weekly = job(&org, base + 6000, None, Some(("newsletter", "user_42")));
    let foreign = job(&other, base, Some("user_7"), None);
    for j in keyed.iter().chain([&plain, &weekly, &foreign]) {
        store.put_job(j).await.unwrap();
    }
    assert_eq!(store.get_job(&org, &weekly.id).await.unwrap(), Some(weekly.clone()), "round-trips exactly");
    assert_eq!(store.get_job(&other, &weekly.id).await.unwrap(), None, "scoped to the org");

    let ids = |page: &hookline_shared::ports::Page<Job>| page.items.iter().map(|j| j.id.clone()).collect::<Vec<_>>();
    let q = |key: Option<&str>, recurring: Option<&str>, cursor: Option<String>| JobQuery {
        limit: 2,
        cursor,
        key: key.map(str::to_owned),
        recurring: recurring.map(str::to_owned),
    };
    let first = store.list_jobs(&org, &q(Some("user_7"), None, None)).await.unwrap();
    assert_eq!(ids(&first), [keyed[2].id.clone(), keyed[1].id.clone()], "by key, newest first");
    let rest = store.list_jobs(&org, &q(Some("user_7"), None, first.next_cursor.clone())).await.unwrap();
    assert_eq!((ids(&rest), rest.next_cursor), (vec![keyed[0].id.clone()], None));
    let by_name = store.list_jobs(&org, &q(None, Some("newsletter"), None)).await.unwrap();
    assert_eq!(ids(&by_name), std::slice::from_ref(&weekly.id));
    let all = store.list_jobs(&org, &JobQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(all.items.len(), 5);

    // A write for the version read wins once; a stale one loses.
    let v2 = Job { version: 2, runs: 1, ..plain.clone() };
    assert!(store.put_job_if(&v2, 1).await.unwrap());
    assert!(!store.put_job_if(&Job { runs: 9, ..v2.clone() }, 1).await.unwrap());
    assert_eq!(store.get_job(&org, &plain.id).await.unwrap().unwrap().runs, 1);

    assert!(!store.delete_job(&other, &plain.id).await.unwrap(), "another org cannot delete it");
    assert!(store.delete_job(&org, &plain.id).await.unwrap());
    assert!(!store.put_job_if(&v2, 2).await.unwrap(), "a deleted job is not brought back");
    assert_eq!(store.get_job(&org, &plain.id).await.unwrap(), None);
}

conformance!(
    local_schedules, aws_schedules;
    stores: jobs_list_by_key_and_name_and_update_by_version;
    queues:
);

/// A source keeps its newest `rejection::KEPT` records, listed newest first, at most
/// `rejection::PER_SECOND` written in a second; another source's are its own, and expired
/// ones are not listed.
async fn rejections_keep_a_bounded_ring_newest_first<S: Store>(store: S) {
    use hookline_shared::rejection::{KEPT, PER_SECOND};
    let src = source(&OrgId::new(), "s", Utc::now().timestamp_millis());
    let t0 = Utc.timestamp_opt(Utc::now().timestamp(), 0).unwrap();
    let kept = record_in_one_second(&store, &src, t0, 8, false).await;
    assert_eq!(kept, PER_SECOND as usize, "one second's writes are bounded");

    let mut written = Vec::new();
    for second in 1..=30 {
        for i in 0..PER_SECOND {
            let at = t0 + Days::seconds(second) + Days::milliseconds(10 * i64::from(i));
            assert!(store.record_rejection(&rejected(&src, at)).await.unwrap(), "room in second {second}");
            written.push(at);
        }
    }
    let listed = store.list_rejections(&src.id, t0 + Days::seconds(31)).await.unwrap();
    let newest: Vec<_> = written.iter().rev().take(KEPT as usize).copied().collect();
    assert_eq!(listed.iter().map(|r| r.at).collect::<Vec<_>>(), newest, "the newest 100, newest first");
    assert_eq!(listed[0], rejected(&src, newest[0]), "kept whole");

    assert!(store.list_rejections(&SourceId::new(), t0).await.unwrap().is_empty());
    assert!(store.list_rejections(&src.id, t0 + Days::days(8)).await.unwrap().is_empty(), "expired after 7 days");
}

/// Writes racing in one second stay within its bound. SQLite only: on DynamoDB the bound
/// rests on its conditional updates being atomic per item, which moto does not emulate
/// (it serves requests on threads without a lock around an item's condition and update).
#[tokio::test]
async fn racing_rejections_stay_within_a_seconds_writes_locally() {
    let store = local_store();
    let src = source(&OrgId::new(), "s", Utc::now().timestamp_millis());
    let kept = record_in_one_second(&store, &src, Utc::now(), 20, true).await;
    assert_eq!(kept, hookline_shared::rejection::PER_SECOND as usize);
}

fn rejected(src: &Source, at: chrono::DateTime<Utc>) -> hookline_shared::rejection::RejectedRequest {
    use hookline_shared::rejection::{Reason, RejectedRequest};
    RejectedRequest::new(src, at, Reason::NoMatchingSecret, &http::HeaderMap::new(), 10, Some(b"0123456789"))
}

/// Record `n` rejections of `src` within the second of `t0`, all at once when `racing`;
/// how many were kept.
async fn record_in_one_second<S: Store>(
    store: &S,
    src: &Source,
    t0: chrono::DateTime<Utc>,
    n: i64,
    racing: bool,
) -> usize {
    let second = Utc.timestamp_opt(t0.timestamp(), 0).unwrap();
    let mut tasks = Vec::new();
    let mut kept = 0;
    for i in 0..n {
        let (store, r) = (store.clone(), rejected(src, second + Days::milliseconds(i)));
        let task = tokio::spawn(async move { store.record_rejection(&r).await.unwrap() });
        if racing {
            tasks.push(task);
        } else {
            kept += usize::from(task.await.unwrap());
        }
    }
    for t in tasks {
        kept += usize::from(t.await.unwrap());
    }
    kept
}

conformance!(
    local_rejections, aws_rejections;
    stores: rejections_keep_a_bounded_ring_newest_first;
    queues:
);
