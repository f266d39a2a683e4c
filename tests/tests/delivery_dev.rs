//! Outbound delivery on `hookline dev`: published events reach every matching endpoint,
//! signed so the official `standardwebhooks` library verifies them; retries, 410,
//! auto-disable, enable + replay, rotation, SSRF refusals, org scoping and plan limits.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_cli::dev::DevOptions;
use hookline_deliver::Policies;
use hookline_shared::delivery::{DisablePolicy, RetryPolicy};
use hookline_shared::outbound::StaticLookup;
use hookline_shared::Config;
use hookline_tests::{python, spawn_app, spawn_app_with_options, verify_with_library, Receiver, TestApp};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn short_policy(delays_ms: &[u64], give_up_ms: u64) -> RetryPolicy {
    RetryPolicy {
        delays: delays_ms.iter().map(|d| Duration::from_millis(*d)).collect(),
        give_up_after: Duration::from_millis(give_up_ms),
        timeout: Duration::from_secs(5),
        max_attempts: u32::MAX,
        jitter: 0.0,
    }
}

async fn app_with(policies: Policies, lookup: Option<StaticLookup>) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let mut opts = DevOptions::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf(), Config::default());
    opts.policies = policies;
    if let Some(l) = lookup {
        opts.lookup = Arc::new(l);
    }
    spawn_app_with_options(opts, data).await
}

#[tokio::test]
async fn ten_endpoints_receive_exactly_their_events_signed() {
    let Some(py) = python() else { return };
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    let filters: [&[&str]; 10] = [
        &["*"],
        &["invoice.*"],
        &["invoice.paid"],
        &["user.created"],
        &["user.*", "invoice.failed"],
        &["order.*"],
        &["nothing.here"],
        &["invoice.paid", "user.deleted"],
        &["user.created", "order.shipped"],
        &["invoice.failed"],
    ];
    let mut endpoints = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let ep = app.create_webhook(&key, json!({"url": format!("{}/ep{i}", rx.url), "events": f})).await;
        assert!(ep["secret"].as_str().unwrap().starts_with("whsec_"));
        endpoints.push(ep);
    }
    let types = ["invoice.paid", "invoice.failed", "user.created", "user.deleted", "order.shipped", "misc.thing"];
    let mut published = Vec::new();
    for t in types {
        published.push((t, app.publish(&key, t, json!({"kind": t})).await));
    }
    let mut checks = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let expected: Vec<&str> = types
            .iter()
            .copied()
            .filter(|t| f.iter().any(|p| hookline_shared::delivery::filter_matches(p, t)))
            .collect();
        let got = rx.wait_for(&format!("/ep{i}"), expected.len(), 10).await;
        let mut got_types: Vec<String> = got.iter().map(|g| g.json()["type"].as_str().unwrap().to_owned()).collect();
        got_types.sort();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got_types, want, "endpoint {i} with filter {f:?}");
        for g in got {
            let body = g.json();
            let id = published.iter().find(|(t, _)| *t == body["type"]).unwrap().1.clone();
            assert_eq!(body["id"], json!(id));
            assert_eq!(g.headers["webhook-id"], id, "webhook-id is the event id");
            assert_eq!(body["data"], json!({"kind": body["type"]}));
            assert!(body["created_at"].is_string());
            assert_eq!(g.headers["x-hookline-event-type"], body["type"].as_str().unwrap());
            assert_eq!(g.headers["x-hookline-urgency"], "regular");
            assert!(g.headers["user-agent"].starts_with("Hookline/"));
            assert!(g.headers.contains_key("x-request-id"));
            checks.push((endpoints[i]["secret"].as_str().unwrap().to_owned(), g));
        }
    }
    assert_eq!(checks.len(), 19, "every matching (endpoint, event) pair once");
    assert_eq!(verify_with_library(&py, &checks).await, Vec::<String>::new());
    // A wrong secret fails in the library too, so the check above means something.
    let wrong: Vec<_> =
        checks.iter().take(1).map(|(_, g)| ("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_owned(), g.clone())).collect();
    assert_eq!(verify_with_library(&py, &wrong).await.len(), 1);

    // Each published event's attempts are visible on the event.
    let (_, ev) = app.get(&key, &format!("/v1/events/{}", published[0].1)).await;
    let attempts = ev["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4, "invoice.paid matches 4 endpoints: {ev}");
    assert!(attempts.iter().all(|a| a["status"] == "delivered" && a["response_code"] == 200));
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_and_custom_headers_arrive() {
    let Some(py) = python() else { return };
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let ep = app
        .create_webhook(
            &key,
            json!({"url": format!("{}/hooks/:name", rx.url), "events": ["*"], "secret": secret, "headers": {"Authorization": "Bearer rx-token"}}),
        )
        .await;
    assert_eq!(ep["secret"], secret);
    let id = ep["id"].as_str().unwrap();
    let (status, rotated) = app.post(&key, &format!("/v1/webhooks/{id}/rotate-secret"), json!({})).await;
    assert_eq!(status, 200);
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    app.publish(&key, "user.created", json!({"id": 1})).await;
    let got = rx.wait_for("/hooks/user.created", 1, 10).await;
    assert_eq!(got.len(), 1, "the :name placeholder becomes the event type");
    assert_eq!(got[0].headers["authorization"], "Bearer rx-token");
    assert_eq!(got[0].headers["webhook-signature"].split(' ').count(), 2, "both secrets sign during the grace period");
    let checks = vec![(secret.to_owned(), got[0].clone()), (new_secret, got[0].clone())];
    assert_eq!(verify_with_library(&py, &checks).await, Vec::<String>::new());
    // The secret is never shown again.
    let (_, shown) = app.get(&key, &format!("/v1/webhooks/{id}")).await;
    assert!(shown.get("secret").is_none());
    assert!(!shown.to_string().contains("MfKQ9r8GKYqrTwjUPD8"));
}

#[tokio::test]
async fn failing_twice_then_succeeding_shows_three_attempts_with_policy_delays() {
    let policies = Policies { regular: short_policy(&[300, 600], 60_000), ..Policies::default() };
    let app = app_with(policies, None).await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    rx.script("/flaky", &[(500, "oops"), (503, "busy"), (200, "{}")]);
    let ep = app.create_webhook(&key, json!({"url": format!("{}/flaky", rx.url), "events": ["*"]})).await;
    let event = app.publish(&key, "invoice.paid", json!({})).await;
    let got = rx.wait_for("/flaky", 3, 10).await;
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|g| g.headers["webhook-id"] == event), "retries keep the webhook-id");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, logs) = app.get(&key, &format!("/v1/webhooks/{}/logs", ep["id"].as_str().unwrap())).await;
    let logs = logs["data"].as_array().unwrap().clone();
    let statuses: Vec<(&str, u64, i64)> = logs
        .iter()
        .map(|a| (a["status"].as_str().unwrap(), a["attempt"].as_u64().unwrap(), a["response_code"].as_i64().unwrap()))
        .collect();
    assert_eq!(statuses, [("delivered", 3, 200), ("retrying", 2, 503), ("retrying", 1, 500)], "newest first");
    let at = |a: &Value, f: &str| chrono::DateTime::parse_from_rfc3339(a[f].as_str().unwrap()).unwrap();
    let d1 = at(&logs[2], "next_attempt_at") - at(&logs[2], "created_at");
    let d2 = at(&logs[1], "next_attempt_at") - at(&logs[1], "created_at");
    assert_eq!((d1.num_milliseconds(), d2.num_milliseconds()), (300, 600), "delays from the policy");
    // The retries actually waited.
    assert!(at(&logs[1], "created_at") >= at(&logs[2], "next_attempt_at") - chrono::Duration::milliseconds(5));
    let (_, failed_only) =
        app.get(&key, &format!("/v1/webhooks/{}/logs?status=retrying", ep["id"].as_str().unwrap())).await;
    assert_eq!(failed_only["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn gone_disables_at_once() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    rx.script("/gone", &[(410, "")]);
    let ep = app.create_webhook(&key, json!({"url": format!("{}/gone", rx.url), "events": ["*"]})).await;
    let id = ep["id"].as_str().unwrap();
    app.publish(&key, "a.b", json!({})).await;
    rx.wait_for("/gone", 1, 10).await;
    let mut status = Value::Null;
    for _ in 0..100 {
        status = app.get(&key, &format!("/v1/webhooks/{id}")).await.1;
        if status["status"] == "disabled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status["status"], "disabled");
    assert!(status["disabled_reason"].as_str().unwrap().contains("410"));
    let ops = app.server.as_ref().unwrap().ops.all().await.unwrap();
    assert!(ops.iter().any(|o| o.kind == "endpoint.disabled" && o.endpoint_id.as_str() == id));
    // No retry follows a 410.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.got("/gone").len(), 1);
}

#[tokio::test]
async fn flapping_endpoint_is_disabled_then_enable_and_replay_deliver_what_it_missed() {
    let policies = Policies {
        regular: short_policy(&[50], 80),
        disable: DisablePolicy { after: Duration::ZERO, min_exhausted: 3 },
        ..Policies::default()
    };
    let app = app_with(policies, None).await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    rx.script("/flap", &[(500, "down")]);
    let ep = app.create_webhook(&key, json!({"url": format!("{}/flap", rx.url), "events": ["*"]})).await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let start = chrono::Utc::now().to_rfc3339();
    let mut events = Vec::new();
    for i in 0..3 {
        events.push(app.publish(&key, "job.done", json!({"i": i})).await);
        // One at a time, so the exhausted streak is counted in order.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, logs) = app.get(&key, &format!("/v1/webhooks/{id}/logs?status=exhausted")).await;
            if logs["data"].as_array().unwrap().len() > i || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (_, shown) = app.get(&key, &format!("/v1/webhooks/{id}")).await;
    assert_eq!(shown["status"], "disabled", "{shown}");
    let ops = app.server.as_ref().unwrap().ops.all().await.unwrap();
    assert_eq!(ops.iter().filter(|o| o.kind == "attempt.exhausted").count(), 3);
    assert!(ops.iter().any(|o| o.kind == "endpoint.disabled"));

    // While disabled, deliveries are kept as failed without calling the endpoint.
    let before = rx.got("/flap").len();
    for i in 3..5 {
        events.push(app.publish(&key, "job.done", json!({"i": i})).await);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, logs) = app.get(&key, &format!("/v1/webhooks/{id}/logs?status=failed")).await;
        if logs["data"].as_array().unwrap().len() >= 2 || tokio::time::Instant::now() > deadline {
            assert_eq!(logs["data"].as_array().unwrap().len(), 2);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rx.got("/flap").len(), before);

    // The endpoint recovers; enable + replay delivers all five.
    rx.script("/flap", &[(200, "{}")]);
    let (status, enabled) = app.post(&key, &format!("/v1/webhooks/{id}/enable"), json!({})).await;
    assert_eq!((status, enabled["status"].as_str()), (200, Some("active")));
    let (status, replayed) = app.post(&key, &format!("/v1/webhooks/{id}/replay"), json!({"since": start})).await;
    assert_eq!((status, replayed["replayed"].as_u64()), (200, Some(5)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, logs) = app.get(&key, &format!("/v1/webhooks/{id}/logs?status=delivered")).await;
        let mut delivered: Vec<String> =
            logs["data"].as_array().unwrap().iter().map(|a| a["event_id"].as_str().unwrap().to_owned()).collect();
        delivered.sort();
        if delivered.len() >= 5 || tokio::time::Instant::now() > deadline {
            let mut want = events.clone();
            want.sort();
            assert_eq!(delivered, want);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn ssrf_targets_are_refused_and_never_connected() {
    let lookup =
        StaticLookup([("internal.example".to_owned(), vec!["10.0.0.7".parse().unwrap()])].into_iter().collect());
    let app = app_with(Policies::default(), Some(lookup)).await;
    let (_, key) = app.create_org("pro").await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/hook",
        "http://10.1.1.1/",
        "ftp://example.com/",
    ] {
        let (status, v) = app.post(&key, "/v1/webhooks", json!({"url": url, "events": ["*"]})).await;
        assert!(status == 422 || status == 400, "{url}: {status} {v}");
        assert!(v["error"]["message"].is_string());
    }
    // A name resolving to a private address is checked when connecting, on every delivery.
    let ep = app.create_webhook(&key, json!({"url": "http://internal.example/hook", "events": ["*"]})).await;
    let (status, attempt) =
        app.post(&key, &format!("/v1/webhooks/{}/test", ep["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(attempt["status"], "failed");
    assert_eq!(attempt["response_code"], Value::Null);
    let err = attempt["error"].as_str().unwrap();
    assert!(err.contains("refused") && err.contains("10.0.0.7") || err.contains("private"), "{err}");

    // Without the loopback allowance (Lambda's default) 127.0.0.1 is refused too.
    let data = tempfile::tempdir().unwrap();
    let mut opts = DevOptions::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf(), Config::default());
    opts.config.allow_loopback = false;
    let strict = spawn_app_with_options(opts, data).await;
    let (_, key) = strict.create_org("pro").await;
    let (status, _) = strict.post(&key, "/v1/webhooks", json!({"url": "http://127.0.0.1:9/x", "events": ["*"]})).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn plan_limits_and_cross_org_ids() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (_, free) = app.create_org("free").await;
    let (status, v) = app.post(&free, "/v1/webhooks", json!({"url": format!("{}/x", rx.url), "events": ["*"]})).await;
    assert_eq!((status, v["error"]["code"].as_str()), (403, Some("limit_exceeded")));
    let (_, starter) = app.create_org("starter").await;
    for _ in 0..3 {
        app.create_webhook(&starter, json!({"url": format!("{}/x", rx.url), "events": ["*"]})).await;
    }
    let (status, v) =
        app.post(&starter, "/v1/webhooks", json!({"url": format!("{}/x", rx.url), "events": ["*"]})).await;
    assert_eq!((status, v["error"]["code"].as_str()), (403, Some("limit_exceeded")));
    // Concurrent creates never pass the limit either.
    let (_, racing) = app.create_org("starter").await;
    let body = json!({"url": format!("{}/x", rx.url), "events": ["*"]});
    let answers = futures::future::join_all((0..10).map(|_| app.post(&racing, "/v1/webhooks", body.clone()))).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    assert!(answers.iter().all(|(s, _)| *s == 201 || *s == 403), "{answers:?}");
    let (_, list) = app.get(&racing, "/v1/webhooks").await;
    assert_eq!((created, list["data"].as_array().unwrap().len()), (3, 3));

    let (_, a) = app.create_org("pro").await;
    let (_, b) = app.create_org("pro").await;
    let ep = app.create_webhook(&a, json!({"url": format!("{}/x", rx.url), "events": ["*"]})).await;
    let id = ep["id"].as_str().unwrap();
    let c = &app.http;
    let u = |p: &str| format!("{}/v1/webhooks/{id}{p}", app.url);
    let requests = [
        c.get(u("")),
        c.patch(u("")).json(&json!({"description": "x"})),
        c.delete(u("")),
        c.post(u("/test")),
        c.get(u("/logs")),
        c.post(u("/rotate-secret")),
        c.post(u("/replay")).json(&json!({"since": "2020-01-01T00:00:00Z"})),
        c.post(u("/enable")),
        c.post(u("/call")).json(&json!({"type": "x", "data": {}})),
    ];
    for req in requests {
        let res = req.bearer_auth(&b).send().await.unwrap();
        assert_eq!(res.status(), 404);
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "not_found");
    }
    assert_eq!(app.get(&b, "/v1/webhooks").await.1, json!({"data": []}));
    assert_eq!(app.get(&a, &format!("/v1/webhooks/{id}")).await.0, 200, "untouched");
    assert!(rx.all().is_empty(), "nothing was sent for the other org");
}

#[tokio::test]
async fn real_time_call_returns_the_answer_and_handshake_sets_the_filter() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    rx.script("/rt", &[(503, "busy"), (200, r#"{"price": 42}"#)]);
    let ep = app
        .create_webhook(&key, json!({"url": format!("{}/rt", rx.url), "events": ["quote.*"], "urgency": "urgent"}))
        .await;
    let (status, answer) = app
        .post(
            &key,
            &format!("/v1/webhooks/{}/call", ep["id"].as_str().unwrap()),
            json!({"type": "quote.requested", "data": {"sku": "a"}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["body"], json!({"price": 42}));
    assert_eq!(answer["attempts"], 2, "retried after 100 ms");
    assert_eq!(rx.got("/rt")[1].headers["x-hookline-urgency"], "real-time");

    // Handshake: the endpoint echoes the magic and picks its own filter.
    let hs = app.create_webhook(&key, json!({"url": format!("{}/echo", rx.url), "handshake": true})).await;
    assert_eq!(hs["events"], json!(["user.*"]));
    assert_eq!(rx.got("/echo")[0].json()["type"], "hello");
    // A handshake that is not answered properly refuses the endpoint.
    rx.script("/no-echo", &[(200, "{}")]);
    let (status, v) = app
        .post(&key, "/v1/webhooks", json!({"url": format!("{}/no-echo", rx.url), "events": ["*"], "handshake": true}))
        .await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("unprocessable")));
    assert_eq!(
        app.get(&key, "/v1/webhooks").await.1["data"].as_array().unwrap().len(),
        2,
        "the failed one was not saved"
    );
}

#[tokio::test]
async fn an_endpoint_that_hangs_does_not_hold_up_deliveries_to_others() {
    // A receiver that holds every request until released.
    let (release, released) = tokio::sync::watch::channel(false);
    let held = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = held.clone();
    let slow = axum::Router::new().fallback(move || {
        let (mut released, h) = (released.clone(), h.clone());
        async move {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = released.wait_for(|r| *r).await;
            "{}"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_url = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, slow).await });

    // One batch's worth of slots: held deliveries must not keep others waiting.
    let data = tempfile::tempdir().unwrap();
    let mut opts = DevOptions::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf(), Config::default());
    opts.in_flight = 1;
    let app = spawn_app_with_options(opts, data).await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    app.create_webhook(&key, json!({"url": slow_url, "events": ["slow.*"]})).await;
    app.create_webhook(&key, json!({"url": format!("{}/fast", rx.url), "events": ["fast.*"]})).await;

    for i in 0..8 {
        app.publish(&key, "slow.x", json!({"i": i})).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while held.load(std::sync::atomic::Ordering::SeqCst) < 8 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(held.load(std::sync::atomic::Ordering::SeqCst), 8, "the slow endpoint holds 8 deliveries");
    app.publish(&key, "fast.x", json!({})).await;
    assert_eq!(rx.wait_for("/fast", 1, 10).await.len(), 1, "delivered while the slow endpoint still holds its 8");
    let _ = release.send(true);
}

#[tokio::test]
async fn a_held_endpoint_takes_at_most_its_share_of_the_slots_and_loses_nothing() {
    // 32 slots per queue, 8 open requests per endpoint: 40 held deliveries to one
    // endpoint would fill every slot without a per-endpoint bound.
    let data = tempfile::tempdir().unwrap();
    let mut opts = DevOptions::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf(), Config::default());
    opts.in_flight = 32;
    opts.policies.max_open_per_endpoint = 8;
    let app = spawn_app_with_options(opts, data).await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    rx.hold("/slow");
    app.create_webhook(&key, json!({"url": format!("{}/slow", rx.url), "events": ["slow.*"]})).await;
    app.create_webhook(&key, json!({"url": format!("{}/fast", rx.url), "events": ["fast.*"]})).await;

    let mut slow = std::collections::BTreeSet::new();
    for i in 0..40 {
        slow.insert(app.publish(&key, "slow.x", json!({"i": i})).await);
    }
    assert!(rx.wait_for("/slow", 8, 10).await.len() >= 8, "the held endpoint gets its requests");
    let fast = app.publish(&key, "fast.x", json!({})).await;
    let got = rx.wait_for("/fast", 1, 10).await;
    assert_eq!(got.len(), 1, "another endpoint is served while 40 deliveries wait on the held one");
    assert_eq!(got[0].json()["id"], fast.as_str());
    assert_eq!(rx.got("/slow").len(), 8, "no more than 8 requests were ever open to the held endpoint");

    rx.release("/slow");
    let got = rx.wait_for("/slow", 40, 60).await;
    let ids: std::collections::BTreeSet<String> =
        got.iter().map(|g| g.json()["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, slow, "every held delivery arrives once released");
    assert_eq!(got.len(), 40, "and exactly once: putting a job back is not an attempt");
    for id in &slow {
        assert_eq!(wait_for_final_attempt(&app, &key, id).await["status"], "delivered");
        let (_, ev) = app.get(&key, &format!("/v1/events/{id}")).await;
        assert_eq!(ev["attempts"].as_array().unwrap().len(), 1, "one attempt logged: {ev}");
    }
}

/// Wait up to 10 s until event `id` has an attempt that is neither in flight nor retrying.
async fn wait_for_final_attempt(app: &TestApp, key: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = app.get(key, &format!("/v1/events/{id}")).await;
        let done = v["attempts"].as_array().and_then(|a| a.iter().find(|a| a["status"] != "retrying").cloned());
        if let Some(a) = done {
            return a;
        }
        assert!(tokio::time::Instant::now() < deadline, "no final attempt for {id}: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A delivery writes its endpoint's failure record after the endpoint answered, up to
/// 30 s after it read the endpoint. Edits made meanwhile (a new URL, a rotated secret, a
/// delete) must survive that write.
#[tokio::test]
async fn edits_made_while_a_delivery_is_in_flight_are_not_undone() {
    // Any failure exhausts at once, so each delivery ends in a failure-record write.
    let app = app_with(Policies { regular: short_policy(&[10], 0), ..Policies::default() }, None).await;
    let (_, key) = app.create_org("pro").await;
    let rx = Receiver::start().await;
    for (path, status) in [("/moved", 500), ("/rotated", 500), ("/deleted", 410)] {
        rx.hold(path);
        rx.script(path, &[(status, "no")]);
    }
    let mut hooks = Vec::new();
    for name in ["moved", "rotated", "deleted"] {
        let ep = app
            .create_webhook(&key, json!({"url": format!("{}/{name}", rx.url), "events": [format!("a.{name}")]}))
            .await;
        let event = app.publish(&key, &format!("a.{name}"), json!({})).await;
        assert_eq!(rx.wait_for(&format!("/{name}"), 1, 10).await.len(), 1, "{name} is in flight");
        hooks.push((ep["id"].as_str().unwrap().to_owned(), event));
    }
    let [(moved, moved_evt), (rotated, rotated_evt), (deleted, deleted_evt)] = hooks.try_into().unwrap();

    // While the three requests are held: move one, rotate one, delete one.
    let new_url = format!("{}/new", rx.url);
    let res = app
        .http
        .patch(format!("{}/v1/webhooks/{moved}", app.url))
        .bearer_auth(&key)
        .json(&json!({"url": new_url}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, rotation) = app.post(&key, &format!("/v1/webhooks/{rotated}/rotate-secret"), json!({})).await;
    assert_eq!(status, 200);
    let res = app.http.delete(format!("{}/v1/webhooks/{deleted}", app.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), 204);

    for path in ["/moved", "/rotated", "/deleted"] {
        rx.release(path);
    }
    for evt in [&moved_evt, &rotated_evt, &deleted_evt] {
        wait_for_final_attempt(&app, &key, evt).await;
    }

    let (_, ep) = app.get(&key, &format!("/v1/webhooks/{moved}")).await;
    assert_eq!(ep["url"], new_url.as_str(), "the new URL stands");
    assert_eq!(ep["failure"]["consecutive_exhausted"], 0, "the old URL's failure is not the new one's");
    let (_, ep) = app.get(&key, &format!("/v1/webhooks/{rotated}")).await;
    assert_eq!(ep["failure"]["consecutive_exhausted"], 1, "the failure is still recorded");
    // Deliveries now sign with the rotated-in secret (and the old one, for its grace period).
    app.publish(&key, "a.rotated", json!({})).await;
    let got = rx.wait_for("/rotated", 2, 10).await;
    assert_eq!(got.len(), 2);
    let sigs = got[1].headers["webhook-signature"].split(' ').count();
    assert_eq!(sigs, 2, "both secrets sign after the rotation: {:?}", got[1].headers);
    assert!(rotation["secret"].as_str().unwrap().starts_with("whsec_"));
    let (status, _) = app.get(&key, &format!("/v1/webhooks/{deleted}")).await;
    assert_eq!(status, 404, "a deleted endpoint stays deleted");
}

/// A relay that posts every request it gets on to `target`, with the `webhook-id` header
/// and, when `keep_hops`, Hookline's hops header; it counts what it relayed.
async fn relay(target: String, keep_hops: bool) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (c, client) = (count.clone(), reqwest::Client::new());
    let app = axum::Router::new().fallback(move |headers: http::HeaderMap, body: String| {
        let (c, client, target) = (c.clone(), client.clone(), target.clone());
        async move {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut req = client.post(&target).header("content-type", "application/json").body(body);
            let mut pass = vec!["webhook-id"];
            if keep_hops {
                pass.push("x-hookline-hops");
            }
            for name in pass {
                if let Some(v) = headers.get(name) {
                    req = req.header(name, v.clone());
                }
            }
            let status = req.send().await.map(|r| r.status().as_u16()).unwrap_or(502);
            http::StatusCode::from_u16(status).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/relay", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, count)
}

/// An endpoint may not point at Hookline itself, and a loop through an outside relay
/// stops after a few rounds: whether the relay keeps Hookline's hops header or only the
/// `webhook-id`, each event that came back is recorded, and the third is not sent again.
#[tokio::test]
async fn deliveries_that_come_back_in_stop_after_a_few_rounds() {
    let app = app_with(Policies::default(), None).await;
    let (_, key) = app.create_org("pro").await;
    let src = app.create_source(&key, json!({"name": "loop", "provider": "none"})).await;
    let ingest = src["ingest_url"].as_str().unwrap().to_owned();
    for url in [ingest.clone(), ingest.replace("127.0.0.1", "localhost"), format!("{}/v1/events", app.url)] {
        let (status, v) = app.post(&key, "/v1/webhooks", json!({"url": url, "events": ["*"]})).await;
        assert_eq!(status, 422, "{url}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("Hookline itself"), "{v}");
    }

    for (round, keep_hops) in [true, false].into_iter().enumerate() {
        let (url, relayed) = relay(ingest.clone(), keep_hops).await;
        let hook = app.create_webhook(&key, json!({"url": url, "events": ["*"]})).await;
        let first = app.publish(&key, "order.paid", json!({"keep_hops": keep_hops})).await;
        // The first delivery and two of the events it fed back: three rounds, then quiet.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while relayed.load(std::sync::atomic::Ordering::SeqCst) < 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(relayed.load(std::sync::atomic::Ordering::SeqCst), 3, "keep_hops: {keep_hops}");
        let (_, events) = app.get(&key, "/v1/events?limit=100").await;
        let looped = events["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"].as_str().unwrap().starts_with("loop."))
            .count();
        assert_eq!(looped, 3 * (round + 1), "every event that came back is kept: {events}");
        assert!(events["data"].as_array().unwrap().iter().any(|e| e["id"] == first.as_str()));
        let res = app
            .http
            .delete(format!("{}/v1/webhooks/{}", app.url, hook["id"].as_str().unwrap()))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
}
