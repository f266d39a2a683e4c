//! One behavioural suite, run on both adapter sets: `local` (SQLite) and `aws`
//! (DynamoDB and SQS, against moto). Each behaviour is a generic function; the macro at
//! the bottom instantiates it once per backend.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use chrono::{Duration as Days, TimeZone, Utc};
use hookline_shared::aws::{DynamoStore, SqsQueue};
use hookline_shared::local::{LocalDb, LocalQueue, LocalStore};
use hookline_shared::ports::{Claim, EventQuery, Queue, QueueConsumer, Store};
use hookline_shared::{Event, EventId, KeyHash, Org, OrgId, Plan, Provider, Secret, Source, SourceId, StoreError};
use serde_json::json;
use std::time::Duration;

fn org(name: &str) -> Org {
    Org { id: OrgId::new(), name: name.into(), plan: Plan::Starter, created_at: Utc::now() }
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
    }
}

async fn orgs_and_keys<S: Store>(store: S) {
    let a = org("a");
    let key = KeyHash::of("hk_secret_a");
    store.create_org(&a, &key).await.unwrap();
    assert_eq!(store.org_for_key(&key).await.unwrap(), Some(a.clone()));
    assert_eq!(store.org_for_key(&KeyHash::of("hk_other")).await.unwrap(), None);
    // The same key hash cannot be taken by a second org.
    assert!(store.create_org(&org("b"), &key).await.is_err());
    assert_eq!(store.org_for_key(&key).await.unwrap().unwrap().id, a.id);
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
        let page = store.list_events(&a, &EventQuery { limit: 3, cursor, event_type: None }).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|e| e.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, expected.iter().map(|e| e.id.clone()).collect::<Vec<_>>());

    let paid = store
        .list_events(&a, &EventQuery { limit: 2, cursor: None, event_type: Some("invoice.paid".into()) })
        .await
        .unwrap();
    assert_eq!(paid.items.len(), 2);
    assert!(paid.items.iter().all(|e| e.event_type == "invoice.paid"));
    let rest = store
        .list_events(&a, &EventQuery { limit: 2, cursor: paid.next_cursor, event_type: Some("invoice.paid".into()) })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_cursor, None);

    let bad = store.list_events(&a, &EventQuery { limit: 2, cursor: Some("garbage!".into()), event_type: None }).await;
    assert!(matches!(bad, Err(StoreError::InvalidCursor)));
}

async fn idempotency_keys_are_claimed_once_until_expiry<S: Store>(store: S) {
    let now = Utc::now();
    let ttl = Duration::from_secs(3600);
    let key = format!("src#{}#id:evt_1", SourceId::new());
    assert_eq!(store.claim(&key, "first", ttl, now).await.unwrap(), Claim::New);
    assert_eq!(store.claim(&key, "second", ttl, now).await.unwrap(), Claim::Existing("first".into()));
    assert_eq!(
        store.claim(&key, "third", ttl, now + Days::minutes(59)).await.unwrap(),
        Claim::Existing("first".into())
    );
    // Past its TTL the key is free again, even before the backend deletes it.
    assert_eq!(store.claim(&key, "fourth", ttl, now + Days::minutes(61)).await.unwrap(), Claim::New);
    assert_eq!(
        store.claim(&key, "fifth", ttl, now + Days::minutes(62)).await.unwrap(),
        Claim::Existing("fourth".into())
    );
}

async fn concurrent_claims_have_one_winner<S: Store>(store: S) {
    let now = Utc::now();
    let key = format!("pub#{}", OrgId::new());
    let claims = futures::future::join_all((0..8).map(|i| {
        let store = store.clone();
        let key = key.clone();
        async move { store.claim(&key, &i.to_string(), Duration::from_secs(60), now).await.unwrap() }
    }))
    .await;
    assert_eq!(claims.iter().filter(|c| **c == Claim::New).count(), 1, "{claims:?}");
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
    Some(DynamoStore::from_sdk(&sdk, tables))
}

async fn aws_queue() -> Option<SqsQueue> {
    let sdk = hookline_tests::moto().await?;
    let url = hookline_tests::create_queue(&sdk, 30).await.unwrap();
    Some(SqsQueue::from_sdk(&sdk, url))
}

macro_rules! conformance {
    (stores: $($s:ident),* ; queues: $($q:ident),*) => {
        mod local {
            $( #[tokio::test] async fn $s() { super::$s(super::local_store()).await } )*
            $( #[tokio::test] async fn $q() { super::$q(super::local_queue()).await } )*
        }
        mod aws {
            $( #[tokio::test] async fn $s() { if let Some(s) = super::aws_store().await { super::$s(s).await } } )*
            $( #[tokio::test] async fn $q() { if let Some(q) = super::aws_queue().await { super::$q(q).await } } )*
        }
    };
}

conformance!(
    stores: orgs_and_keys, sources_are_scoped_to_their_org, events_insert_once_and_list_newest_first,
            idempotency_keys_are_claimed_once_until_expiry, concurrent_claims_have_one_winner;
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
        assert_eq!(q.dead_letters().unwrap(), vec!["poison".to_owned()]);
        assert_eq!(q.depth().unwrap(), 0);
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
        assert_eq!(q.release_leases().unwrap(), 1, "only the leased message, not the delayed one");
        let again = q.receive(10, Duration::from_secs(600)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].body.as_str(), again[0].receive_count), ("in flight", 2));
    });
}
