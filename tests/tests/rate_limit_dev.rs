//! An endpoint's rate limit on `hookline dev`, watched at the receiver. In a test binary
//! of its own, so no other test shares the process while it counts deliveries per second.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_tests::{spawn_app, Receiver};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_rate_limited_endpoint_is_paced_while_the_others_of_its_org_are_not() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    let body = json!({"url": format!("{}/limited", rx.url), "events": ["*"], "rate_limit": 20});
    assert_eq!(app.create_webhook(&key, body).await["rate_limit"], 20);
    app.create_webhook(&key, json!({"url": format!("{}/free", rx.url), "events": ["*"]})).await;

    // A burst of 200 events, published ten at a time.
    let start = Instant::now();
    for round in 0..20 {
        let publishes = (0..10).map(|i| app.publish(&key, "order.created", json!({"n": round * 10 + i})));
        futures::future::join_all(publishes).await;
    }
    let free = rx.wait_for("/free", 200, 10).await;
    assert_eq!(free.len(), 200);
    let free_took = free.iter().map(|g| g.at).max().unwrap() - start;
    assert!(free_took <= Duration::from_secs(2), "the unlimited endpoint took {free_took:?}");

    let limited = rx.wait_for("/limited", 200, 30).await;
    let ids: HashSet<&String> = limited.iter().map(|g| &g.headers["webhook-id"]).collect();
    assert_eq!((limited.len(), ids.len()), (200, 200), "every event, once");
    let times: Vec<Instant> = limited.iter().map(|g| g.at).collect();
    let span = *times.last().unwrap() - times[0];
    assert!((Duration::from_secs(9)..=Duration::from_secs(11)).contains(&span), "200 at 20/s over {span:?}");
    let busiest = times.iter().map(|t| times.iter().filter(|u| **u >= *t && **u - *t < Duration::from_secs(1)).count());
    let busiest = busiest.max().unwrap();
    assert!(busiest <= 22, "{busiest} deliveries within one second");
}
