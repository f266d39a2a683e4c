//! The inbound gateway on `hookline dev`, driven over HTTP as a provider and a user would:
//! requests signed by the official libraries are accepted once, tampered ones are not.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_tests::{peer, python, spawn_app, TestApp};
use serde_json::{json, Value};

async fn send(app: &TestApp, url: &str, headers: &[(&str, String)], body: &str) -> (u16, Value) {
    app.send_inbound(url, "application/json", headers, body).await
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn tamper(body: &str) -> String {
    body.replacen("invoice", "invoicf", 1)
}

#[tokio::test]
async fn stripe_signed_by_the_official_library() {
    let Some(py) = python() else { return };
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let secret = "whsec_stripe_test_secret_123456";
    let src = app.create_source(&key, json!({"name": "stripe", "provider": "stripe", "secrets": [secret]})).await;
    let url = src["ingest_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&app.url) && url.ends_with(&format!("/in/{}", src["id"].as_str().unwrap())));
    assert_eq!(src["secrets"][0], "whsec_…3456", "secrets are shown only as hints");

    let body =
        r#"{"id":"evt_1Q2w3E4r","object":"event","type":"invoice.payment_failed","data":{"object":{"id":"in_1"}}}"#;
    let sig = |secret: &'static str, ts: i64| {
        let py = py.clone();
        async move { peer(&py, &["stripe", secret, &ts.to_string()], body.as_bytes()).await.unwrap().unwrap() }
    };
    let good = sig("whsec_stripe_test_secret_123456", now()).await;
    for _ in 0..3 {
        let (status, v) = send(&app, &url, &[("Stripe-Signature", good.clone())], body).await;
        assert_eq!((status, v), (200, json!({"ok": true})));
    }

    // One byte changed, a wrong secret, a timestamp ten minutes old: 401 with a JSON error.
    let wrong = sig("whsec_another_secret_abcdefgh", now()).await;
    let stale = sig("whsec_stripe_test_secret_123456", now() - 600).await;
    for (hdr, b) in [(good.clone(), tamper(body)), (wrong, body.to_owned()), (stale, body.to_owned())] {
        let (status, v) = send(&app, &url, &[("Stripe-Signature", hdr)], &b).await;
        assert_eq!(status, 401);
        assert_eq!(v["error"]["code"], "invalid_signature");
        assert!(!v.to_string().contains(secret));
    }

    app.drain().await;
    let events = app.wait_for_events(&key, 1).await;
    assert_eq!(events.len(), 1, "three copies are one event: {events:?}");
    assert_eq!(events[0]["type"], "stripe.invoice.payment_failed");
    assert_eq!(events[0]["source"], src["id"]);
    assert_eq!(events[0]["data"], serde_json::from_str::<Value>(body).unwrap());
    let id = events[0]["id"].as_str().unwrap();
    let (status, one) = app.get(&key, &format!("/v1/events/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["type"], "stripe.invoice.payment_failed");
}

#[tokio::test]
async fn standard_webhooks_signed_by_the_official_library() {
    let Some(py) = python() else { return };
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let src = app.create_source(&key, json!({"name": "resend", "provider": "standard", "secrets": [secret]})).await;
    let url = src["ingest_url"].as_str().unwrap().to_owned();
    let body = r#"{"type":"email.delivered","data":{"email_id":"e_1"}}"#;
    let sign = |id: &'static str, ts: i64, secret: &'static str, body: String| {
        let py = py.clone();
        async move { peer(&py, &["standard", secret, id, &ts.to_string()], body.as_bytes()).await.unwrap().unwrap() }
    };
    let ts = now();
    let sig = sign("msg_2abc", ts, secret, body.to_owned()).await;
    // Standard Webhooks header names, then Svix's for the same message: still one event.
    let std_headers = vec![
        ("webhook-id", "msg_2abc".to_owned()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig.clone()),
    ];
    let svix_headers =
        vec![("svix-id", "msg_2abc".to_owned()), ("svix-timestamp", ts.to_string()), ("svix-signature", sig)];
    for h in [&std_headers, &std_headers, &svix_headers] {
        assert_eq!(send(&app, &url, h, body).await.0, 200);
    }
    let wrong = sign("msg_2abc", ts, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", body.to_owned()).await;
    let old_ts = now() - 600;
    let stale = sign("msg_2abc", old_ts, secret, body.to_owned()).await;
    let cases = [
        (ts, std_headers[2].1.clone(), tamper(body).replacen("email", "emaik", 1)),
        (ts, wrong, body.to_owned()),
        (old_ts, stale, body.to_owned()),
    ];
    for (t, s, b) in cases {
        let h = [("webhook-id", "msg_2abc".to_owned()), ("webhook-timestamp", t.to_string()), ("webhook-signature", s)];
        assert_eq!(send(&app, &url, &h, &b).await.0, 401);
    }
    app.drain().await;
    let events = app.wait_for_events(&key, 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "resend.email.delivered");
}

#[tokio::test]
async fn github_and_shopify_signed_independently() {
    let Some(py) = python() else { return };
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let gh = app.create_source(&key, json!({"name": "gh", "provider": "github", "secrets": ["gh-secret"]})).await;
    let shop =
        app.create_source(&key, json!({"name": "shop", "provider": "shopify", "secrets": ["shpss_secret"]})).await;

    let body = r#"{"action":"opened","number":7}"#;
    let sig = peer(&py, &["github", "gh-secret"], body.as_bytes()).await.unwrap().unwrap();
    let gh_url = gh["ingest_url"].as_str().unwrap();
    let headers = [
        ("X-GitHub-Event", "pull_request".to_owned()),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned()),
        ("X-Hub-Signature-256", sig.clone()),
    ];
    for _ in 0..3 {
        assert_eq!(send(&app, gh_url, &headers, body).await.0, 200);
    }
    let mut bad = headers.clone();
    bad[2].1 = peer(&py, &["github", "other"], body.as_bytes()).await.unwrap().unwrap();
    assert_eq!(send(&app, gh_url, &bad, body).await.0, 401);
    assert_eq!(send(&app, gh_url, &headers, &body.replace("7", "8")).await.0, 401);

    let body2 = r#"{"id":820982911946154508,"email":"jon@example.com"}"#;
    let sig = peer(&py, &["shopify", "shpss_secret"], body2.as_bytes()).await.unwrap().unwrap();
    let shop_url = shop["ingest_url"].as_str().unwrap();
    let headers = [
        ("X-Shopify-Topic", "orders/create".to_owned()),
        ("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".to_owned()),
        ("X-Shopify-Hmac-Sha256", sig),
    ];
    for _ in 0..3 {
        assert_eq!(send(&app, shop_url, &headers, body2).await.0, 200);
    }
    assert_eq!(send(&app, shop_url, &headers, &body2.replace("jon", "jim")).await.0, 401);

    app.drain().await;
    let events = app.wait_for_events(&key, 2).await;
    let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["gh.pull_request.opened", "shop.orders/create"]);
    // The number survives exactly as sent (no float rounding).
    let shop_event = events.iter().find(|e| e["type"] == "shop.orders/create").unwrap();
    assert_eq!(shop_event["data"]["id"].to_string(), "820982911946154508");
}

/// GitHub does not sign `X-GitHub-Delivery`: a source set to dedupe by body makes a
/// replayed body one event whatever delivery id comes with it.
#[tokio::test]
async fn a_source_deduped_by_body_ignores_the_unsigned_delivery_id() {
    let Some(py) = python() else { return };
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let by_id = app.create_source(&key, json!({"name": "byid", "provider": "github", "secrets": ["s"]})).await;
    assert_eq!(by_id["dedupe"], "provider");
    let by_body = app
        .create_source(&key, json!({"name": "bybody", "provider": "github", "secrets": ["s"], "dedupe": "body"}))
        .await;
    assert_eq!(by_body["dedupe"], "body");
    let body = r#"{"action":"opened","number":7}"#;
    let sig = peer(&py, &["github", "s"], body.as_bytes()).await.unwrap().unwrap();
    for src in [&by_id, &by_body] {
        for delivery in ["d-1", "d-2", "d-3"] {
            let headers = [
                ("X-GitHub-Event", "issues".to_owned()),
                ("X-GitHub-Delivery", delivery.to_owned()),
                ("X-Hub-Signature-256", sig.clone()),
            ];
            assert_eq!(send(&app, src["ingest_url"].as_str().unwrap(), &headers, body).await.0, 200);
        }
    }
    app.drain().await;
    let events = app.wait_for_events(&key, 4).await;
    let from = |src: &Value| events.iter().filter(|e| e["source"] == src["id"]).count();
    assert_eq!((from(&by_id), from(&by_body)), (3, 1));

    // The setting can be changed; options the provider does not take are refused.
    let url = format!("/v1/sources/{}", by_id["id"].as_str().unwrap());
    let (status, v) = app.patch(&key, &url, json!({"dedupe": "body"})).await;
    assert_eq!((status, v["dedupe"].as_str()), (200, Some("body")));
    for bad in [json!({"prefix": "sha256="}), json!({"tolerance_secs": 5}), json!({"dedupe": "headers"})] {
        let (status, v) = app.patch(&key, &url, bad.clone()).await;
        assert_eq!((status, v["error"]["code"].as_str()), (400, Some("invalid_request")), "{bad}");
    }
    for bad in [
        json!({"name": "x", "provider": "github", "bogus": 1}),
        json!({"name": "x", "provider": "github", "tolerance_secs": 5}),
        json!({"name": "x", "provider": "stripe", "secrets": ["whsec_x"], "header": "x-sig"}),
    ] {
        let (status, v) = app.post(&key, "/v1/sources", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("unknown field"), "{v}");
    }
}

#[tokio::test]
async fn generic_hmac_token_and_unsigned_sources() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let hmac_src = app
        .create_source(
            &key,
            json!({"name": "billing", "provider": "hmac", "header": "X-Signature", "encoding": "hex", "prefix": "sha256=", "secrets": ["s3cret"]}),
        )
        .await;
    let token_src =
        app.create_source(&key, json!({"name": "crm", "provider": "token", "secrets": ["Bearer t0ken"]})).await;
    let open_src = app.create_source(&key, json!({"name": "open", "provider": "none"})).await;

    use hmac::Mac as _;
    let body = r#"{"type":"payment.settled","amount":5}"#;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(body.as_bytes());
    let hex_sig = hex::encode(mac.finalize().into_bytes());
    let url = hmac_src["ingest_url"].as_str().unwrap();
    assert_eq!(send(&app, url, &[("X-Signature", format!("sha256={hex_sig}"))], body).await.0, 200);
    assert_eq!(send(&app, url, &[("X-Signature", hex_sig.clone())], &body.replace('5', "6")).await.0, 401);

    let url = token_src["ingest_url"].as_str().unwrap();
    assert_eq!(send(&app, url, &[("Authorization", "Bearer t0ken".to_owned())], "plain text, not JSON").await.0, 200);
    assert_eq!(send(&app, url, &[("Authorization", "Bearer nope".to_owned())], "x").await.0, 401);
    assert_eq!(send(&app, url, &[], "x").await.0, 401);

    let url = open_src["ingest_url"].as_str().unwrap();
    assert_eq!(send(&app, url, &[("Idempotency-Key", "k1".to_owned())], "{}").await.0, 200);
    assert_eq!(send(&app, url, &[("Idempotency-Key", "k1".to_owned())], r#"{"other":1}"#).await.0, 200);

    app.drain().await;
    let events = app.wait_for_events(&key, 3).await;
    let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["billing.payment.settled", "crm.received", "open.received"]);
    let crm = events.iter().find(|e| e["type"] == "crm.received").unwrap();
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.encode("plain text, not JSON");
    assert_eq!(crm["data"], json!({ "raw": raw }));
}

#[tokio::test]
async fn ingest_refuses_bad_requests_with_json_errors() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let src = app.create_source(&key, json!({"name": "stripe", "provider": "stripe", "secrets": ["whsec_x"]})).await;
    let url = src["ingest_url"].as_str().unwrap().to_owned();
    let client = &app.http;

    let unknown = format!("{}/in/src_01ARZ3NDEKTSV4RRFFQ69G5FAV", app.url);
    let malformed_id = format!("{}/in/not-an-id", app.url);
    let big = "x".repeat(512 * 1024 + 1);
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (client.post(&unknown).body("{}"), 404, "not_found"),
        (client.post(&malformed_id).body("{}"), 404, "not_found"),
        (client.get(&url), 405, "method_not_allowed"),
        (client.put(&url).body("{}"), 405, "method_not_allowed"),
        (client.post(&url).body(big), 413, "payload_too_large"),
        (client.post(&url).body("{}"), 401, "invalid_signature"),
        (
            client
                .post(&url)
                .header("Stripe-Signature", hookline_shared::signature::stripe::sign("whsec_x", now(), b"not json"))
                .body("not json"),
            400,
            "invalid_body",
        ),
    ];
    for (req, status, code) in cases {
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status);
        assert_eq!(res.headers()["content-type"], "application/json");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], code);
    }
    // A deleted source stops accepting at once.
    let res = client
        .delete(format!("{}/v1/sources/{}", app.url, src["id"].as_str().unwrap()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let body = b"{}";
    let sig = hookline_shared::signature::stripe::sign("whsec_x", now(), body);
    let res = client.post(&url).header("Stripe-Signature", sig).body(&body[..]).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(app.server.as_ref().unwrap().inbox.depth().await.unwrap(), 0, "nothing refused was kept");
}

/// An event type is a path segment at most: a published one outside the documented set is
/// refused, an inbound one is recorded as `<source>.invalid_type`, a URL may hold `:name`
/// only in its path, and what is substituted there is percent-encoded.
#[tokio::test]
async fn event_types_cannot_steer_a_delivery() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let rx = hookline_tests::Receiver::start().await;
    for (url, events) in [
        (format!("http://:name.{}/x", rx.url.trim_start_matches("http://")), json!(["*"])),
        (format!("{}/x?type=:name", rx.url), json!(["*"])),
        (format!("{}/x", rx.url), json!(["a?b"])),
        (format!("{}/x", rx.url), json!(["*.paid"])),
    ] {
        let (status, v) = app.post(&key, "/v1/webhooks", json!({"url": url, "events": events})).await;
        assert_eq!(status, 400, "{url} {events}: {v}");
        assert_eq!(v["error"]["code"], "invalid_request");
    }
    app.create_webhook(&key, json!({"url": format!("{}/by-type/:name", rx.url), "events": ["*"]})).await;
    for bad in ["a b", "x@evil.example/", "../admin", "é", ""] {
        let (status, _) = app.post(&key, "/v1/events", json!({"type": bad, "data": {}})).await;
        assert_eq!(status, 400, "{bad:?}");
    }

    // Inbound, the provider's type is not ours to refuse: the event is kept, typed safely.
    let open = app.create_source(&key, json!({"name": "open", "provider": "none"})).await;
    let url = open["ingest_url"].as_str().unwrap();
    assert_eq!(send(&app, url, &[], r#"{"type":"x@evil.example/#"}"#).await.0, 200);
    assert_eq!(send(&app, url, &[], r#"{"type":"orders/create"}"#).await.0, 200);
    app.drain().await;
    let got = rx.wait_for("/by-type/open.invalid_type", 1, 10).await;
    assert_eq!(got.len(), 1, "{:?}", rx.all().iter().map(|g| &g.path).collect::<Vec<_>>());
    assert_eq!(rx.wait_for("/by-type/open.orders%2Fcreate", 1, 10).await.len(), 1);
    assert_eq!(rx.all().len(), 2, "nothing went anywhere else");
}

/// Every body accepted fits where it is kept: over the cap, or JSON that would be kept
/// larger than an event holds, gets 413 with a JSON error at once; a body at the cap is
/// recorded and listed.
#[tokio::test]
async fn bodies_are_refused_at_the_edge_unless_they_can_be_kept() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let open = app.create_source(&key, json!({"name": "open", "provider": "none"})).await;
    let url = open["ingest_url"].as_str().unwrap();
    let cap = hookline_shared::config::MAX_BODY_LIMIT;
    let too_big = "x".repeat(cap + 1);
    let grows = format!("[{}1]", "1e15,".repeat(50_000));
    for body in [too_big.as_str(), grows.as_str()] {
        let (status, v) = send(&app, url, &[], body).await;
        assert_eq!((status, v["error"]["code"].as_str()), (413, Some("payload_too_large")), "{} bytes", body.len());
    }
    // Control characters quote six times larger, so they travel and are kept as base64.
    let controls = "\u{1}".repeat(cap);
    assert_eq!(send(&app, url, &[], &controls).await.0, 200);
    // The same through the publish API: the request fits, the event it makes would not.
    let res = app
        .http
        .post(format!("{}/v1/events", app.url))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(format!(r#"{{"type": "big", "data": {{"n": {grows}}}}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    app.drain().await;
    let events = app.wait_for_events(&key, 1).await;
    assert_eq!(events.len(), 1, "only the body at the cap was kept");
    assert_eq!(events[0]["type"], "open.received");
}
