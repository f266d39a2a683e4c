//! The ingest handler in process: a signed 1 KB request in, bytes on an in-memory queue out.
//! Budget: p50 ≤ 10 µs. Measures both `Ingest::accept` and the full axum router.

#![allow(clippy::unwrap_used)] // a benchmark fails loudly on bad setup

use axum::body::Body;
use criterion::{criterion_group, criterion_main, Criterion};
use hookline_ingest::{router, Ingest};
use hookline_shared::local::{LocalDb, LocalStore};
use hookline_shared::memory::MemoryQueue;
use hookline_shared::ports::{SourceStore, SystemClock};
use hookline_shared::signature::stripe;
use hookline_shared::source_cache::SourceCache;
use hookline_shared::{OrgId, Provider, Secret, Source};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt as _;

const SECRET: &str = "whsec_0123456789abcdef0123456789abcdef";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = LocalStore::new(LocalDb::in_memory().unwrap());
    let now = chrono::Utc::now();
    let source = Source::new(
        OrgId::new(),
        "stripe".into(),
        Provider::Stripe { tolerance_secs: None },
        vec![Secret::new(SECRET)],
        now,
    );
    rt.block_on(store.put_source(&source)).unwrap();
    let queue = MemoryQueue::new();
    let cache = Arc::new(SourceCache::new(store, Duration::from_secs(3600)));
    let ingest = Arc::new(Ingest::new(cache, queue.clone(), SystemClock, 512 * 1024));

    let mut body = br#"{"id":"evt_1","type":"invoice.paid","data":{"pad":""#.to_vec();
    body.resize(1021, b'x');
    body.extend_from_slice(br#""}}"#);
    let sig = stripe::sign(SECRET, now.timestamp(), &body);
    let mut headers = http::HeaderMap::new();
    headers.insert("stripe-signature", sig.parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    let id = source.id.to_string();

    c.bench_function("ingest_accept_1k", |b| {
        b.iter(|| {
            rt.block_on(ingest.accept(&id, "/in/src", &headers, &body)).unwrap();
            if queue.len() > 10_000 {
                queue.take();
            }
        })
    });

    let app = router(ingest.clone());
    let uri = format!("/in/{id}");
    c.bench_function("ingest_router_1k", |b| {
        b.iter(|| {
            let req = http::Request::post(&uri)
                .header("stripe-signature", &sig)
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
                .unwrap();
            let res = rt.block_on(app.clone().oneshot(req)).unwrap();
            assert_eq!(res.status(), 200);
            if queue.len() > 10_000 {
                queue.take();
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
