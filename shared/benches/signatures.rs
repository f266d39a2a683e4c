//! Signature verification against raw HMAC-SHA256 over the same bytes, in one run.
//! Budget: verifying a 1 KB Stripe or Standard Webhooks request ≤ 1.3× raw HMAC.

#![allow(clippy::unwrap_used)] // a benchmark fails loudly on bad setup

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::Mac as _;
use hookline_shared::signature::{standard, stripe, Verifier};
use hookline_shared::{Provider, Secret};
use http::HeaderMap;
use std::hint::black_box;

const STRIPE_SECRET: &str = "whsec_0123456789abcdef0123456789abcdef";
const STD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn body() -> Vec<u8> {
    let mut b = br#"{"id":"evt_1","type":"invoice.paid","data":{"pad":""#.to_vec();
    b.resize(1024 - 3, b'x');
    b.extend_from_slice(br#""}}"#);
    b
}

fn bench(c: &mut Criterion) {
    let body = body();
    let now = 1_700_000_000;
    let mut g = c.benchmark_group("verify_1k");
    g.throughput(Throughput::Bytes(body.len() as u64));

    g.bench_function("raw_hmac_sha256", |b| {
        b.iter(|| {
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(black_box(STRIPE_SECRET.as_bytes())).unwrap();
            m.update(black_box(&body));
            black_box(m.finalize().into_bytes())
        })
    });

    let v = Verifier::new(&Provider::Stripe { tolerance_secs: None }, &[Secret::new(STRIPE_SECRET)]).unwrap();
    let mut h = HeaderMap::new();
    h.insert("stripe-signature", stripe::sign(STRIPE_SECRET, now, &body).parse().unwrap());
    g.bench_function("stripe", |b| b.iter(|| v.verify(black_box(&h), "/in/src", black_box(&body), now).unwrap()));

    let v = Verifier::new(&Provider::Standard { tolerance_secs: None }, &[Secret::new(STD_SECRET)]).unwrap();
    let mut h = HeaderMap::new();
    h.insert("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk".parse().unwrap());
    h.insert("webhook-timestamp", now.to_string().parse().unwrap());
    h.insert(
        "webhook-signature",
        standard::sign(STD_SECRET, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", now, &body).unwrap().parse().unwrap(),
    );
    g.bench_function("standard", |b| b.iter(|| v.verify(black_box(&h), "/in/src", black_box(&body), now).unwrap()));

    // Outbound: signing one delivery (Standard Webhooks headers, one secret).
    g.bench_function("sign_delivery", |b| {
        b.iter(|| {
            hookline_shared::delivery::signature_headers(
                &hookline_shared::delivery::SignatureScheme::Standard,
                &[STD_SECRET],
                black_box("evt_01JD3Q5N7Z8X9Y0A1B2C3D4E5F"),
                now,
                black_box(&body),
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
