//! The `/v1` API on `hookline dev` over real HTTP: auth, org scoping, sources, publish,
//! listings, and a JSON error for every malformed request.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_tests::spawn_app;
use serde_json::{json, Value};

#[tokio::test]
async fn orgs_need_the_operator_key_and_keys_are_shown_once() {
    let app = spawn_app().await;
    let url = format!("{}/v1/orgs", app.url);
    for auth in [None, Some("wrong"), Some("hk_not_an_org_key")] {
        let mut req = app.http.post(&url).json(&json!({"name": "x"}));
        if let Some(a) = auth {
            req = req.bearer_auth(a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");
    }
    // X-API-Key works as well as Bearer.
    let res = app
        .http
        .post(&url)
        .header("X-API-Key", &app.operator_key)
        .json(&json!({"name": "Acme", "plan": "starter"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let org: Value = res.json().await.unwrap();
    assert!(org["id"].as_str().unwrap().starts_with("org_"));
    assert_eq!(org["plan"], "starter");
    let key = org["api_key"].as_str().unwrap();
    // The org key works for org routes but is not an operator key.
    assert_eq!(app.get(key, "/v1/sources").await, (200, json!({"data": []})));
    let res = app.http.post(&url).bearer_auth(key).json(&json!({"name": "y"})).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // A bad plan or name is a 400 naming the problem.
    for body in [json!({"name": "x", "plan": "gold"}), json!({"name": ""}), json!({"plan": "pro"})] {
        let res = app.http.post(&url).bearer_auth(&app.operator_key).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 400, "{body}");
    }
}

#[tokio::test]
async fn sources_crud_and_secrets_are_write_only() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("free").await;
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let src = app
        .create_source(
            &key,
            json!({"name": "resend", "provider": "standard", "secrets": [secret], "tolerance_secs": 60}),
        )
        .await;
    let id = src["id"].as_str().unwrap();
    assert_eq!(src["provider"], "standard");
    assert_eq!(src["tolerance_secs"], 60);
    assert!(!src.to_string().contains("C2FVsBQIhrscChlQIMV"), "secret never echoed: {src}");

    let (status, got) = app.get(&key, &format!("/v1/sources/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "resend");
    assert!(!got.to_string().contains("C2FVsBQIhrscChlQIMV"));

    // PATCH: rotate to two secrets and change an option; the provider stays.
    let res = app
        .http
        .patch(format!("{}/v1/sources/{id}", app.url))
        .bearer_auth(&key)
        .json(&json!({"secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", secret], "tolerance_secs": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let patched: Value = res.json().await.unwrap();
    assert_eq!(patched["secrets"].as_array().unwrap().len(), 2);
    assert_eq!(patched["tolerance_secs"], 120);
    assert_eq!(patched["provider"], "standard");

    // Invalid secrets for the scheme, an invalid name, an unknown provider: 400.
    for body in [
        json!({"name": "bad", "provider": "standard", "secrets": ["whsec_not base64!"]}),
        json!({"name": "Bad Name", "provider": "github", "secrets": ["x"]}),
        json!({"name": "x", "provider": "paypal", "secrets": ["x"]}),
        json!({"name": "x", "provider": "stripe", "secrets": []}),
        json!({"name": "x", "provider": "hmac", "header": "bad header", "secrets": ["x"]}),
    ] {
        let res = app.http.post(format!("{}/v1/sources", app.url)).bearer_auth(&key).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 400, "{body}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_request");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }

    let (_, list) = app.get(&key, "/v1/sources").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let res = app.http.delete(format!("{}/v1/sources/{id}", app.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.get(&key, &format!("/v1/sources/{id}")).await.0, 404);
    let res = app.http.delete(format!("{}/v1/sources/{id}", app.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn another_orgs_ids_answer_404_everywhere() {
    let app = spawn_app().await;
    let (_, key_a) = app.create_org("pro").await;
    let (_, key_b) = app.create_org("pro").await;
    let src = app.create_source(&key_a, json!({"name": "gh", "provider": "github", "secrets": ["s"]})).await;
    let sid = src["id"].as_str().unwrap();
    let res = app
        .http
        .post(format!("{}/v1/events", app.url))
        .bearer_auth(&key_a)
        .json(&json!({"type": "a.b", "data": {}}))
        .send()
        .await
        .unwrap();
    let eid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    app.drain().await;
    assert_eq!(app.get(&key_a, &format!("/v1/events/{eid}")).await.0, 200);

    assert_eq!(app.get(&key_b, &format!("/v1/sources/{sid}")).await.0, 404);
    assert_eq!(app.get(&key_b, &format!("/v1/events/{eid}")).await.0, 404);
    let res = app
        .http
        .patch(format!("{}/v1/sources/{sid}", app.url))
        .bearer_auth(&key_b)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app.http.delete(format!("{}/v1/sources/{sid}", app.url)).bearer_auth(&key_b).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(app.get(&key_b, "/v1/sources").await.1, json!({"data": []}));
    assert_eq!(app.get(&key_b, "/v1/events").await.1["data"], json!([]));
    // Org A's source is untouched.
    assert_eq!(app.get(&key_a, &format!("/v1/sources/{sid}")).await.1["name"], "gh");
}

#[tokio::test]
async fn publish_is_idempotent_and_listing_pages_newest_first() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let publish = |t: &str, key_header: Option<&str>| {
        let mut req = app
            .http
            .post(format!("{}/v1/events", app.url))
            .bearer_auth(&key)
            .json(&json!({"type": t, "data": {"n": 1}}));
        if let Some(k) = key_header {
            req = req.header("Idempotency-Key", k);
        }
        req.send()
    };
    let a = publish("user.created", Some("order-42")).await.unwrap();
    assert_eq!(a.status(), 202);
    let a: Value = a.json().await.unwrap();
    let b: Value = publish("user.created", Some("order-42")).await.unwrap().json().await.unwrap();
    assert_eq!(a["id"], b["id"], "same key, same id");
    for i in 0..5 {
        let t = if i % 2 == 0 { "invoice.paid" } else { "user.created" };
        assert_eq!(publish(t, None).await.unwrap().status(), 202);
    }
    app.drain().await;
    let events = app.wait_for_events(&key, 6).await;
    assert_eq!(events.len(), 6, "the repeated key made no second event");
    // Compared as times: RFC 3339 text leaves out a zero fraction, so it does not sort as text.
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        events.iter().map(|e| e["created_at"].as_str().unwrap().parse().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(times, sorted, "newest first");

    // Pages of two cover everything once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/events?limit=2&cursor={c}"),
            None => "/v1/events?limit=2".to_owned(),
        };
        let (status, page) = app.get(&key, &path).await;
        assert_eq!(status, 200);
        seen.extend(page["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, events.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>());

    let (_, paid) = app.get(&key, "/v1/events?type=invoice.paid").await;
    assert_eq!(paid["data"].as_array().unwrap().len(), 3);
    assert!(paid["data"].as_array().unwrap().iter().all(|e| e["type"] == "invoice.paid"));
}

#[tokio::test]
async fn malformed_requests_get_json_4xx_never_5xx() {
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let u = |p: &str| format!("{}{p}", app.url);
    let c = &app.http;
    let ep = app.create_webhook(&key, json!({"url": "https://hooks.example.com/in", "events": ["*"]})).await;
    let ep_path = format!("/v1/webhooks/{}", ep["id"].as_str().unwrap());
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (c.get(u("/v1/nope")).bearer_auth(&key), 404, "not_found"),
        // An array is not read as a struct's fields in order.
        (c.post(u("/v1/events")).bearer_auth(&key).json(&json!(["a", {}])), 400, "invalid_request"),
        (c.patch(u(&ep_path)).bearer_auth(&key).json(&Value::Array(vec![Value::Null; 11])), 400, "invalid_request"),
        (c.get(u("/nope")), 404, "not_found"),
        (c.delete(u("/v1/events")).bearer_auth(&key), 405, "method_not_allowed"),
        (c.put(u("/v1/orgs")), 405, "method_not_allowed"),
        (c.get(u("/v1/events")), 401, "unauthorized"),
        (c.get(u("/v1/events")).bearer_auth("hk_wrong"), 401, "unauthorized"),
        (
            c.post(u("/v1/events")).bearer_auth(&key).header("content-type", "application/json").body("{not json"),
            400,
            "invalid_request",
        ),
        (c.post(u("/v1/events")).bearer_auth(&key).body(r#"{"type":"a"}"#), 415, "unsupported_media_type"),
        (c.post(u("/v1/events")).bearer_auth(&key).json(&json!({"data": {}})), 400, "invalid_request"),
        (c.post(u("/v1/events")).bearer_auth(&key).json(&json!({"type": "has space"})), 400, "invalid_request"),
        (c.post(u("/v1/events")).bearer_auth(&key).json(&json!({"type": "a", "data": [1]})), 400, "invalid_request"),
        (c.post(u("/v1/events")).bearer_auth(&key).json(&json!({"type": "a", "extra": 1})), 400, "invalid_request"),
        (
            c.post(u("/v1/events"))
                .bearer_auth(&key)
                .json(&json!({"type": "a", "data": {"big": "x".repeat(600 * 1024)}})),
            413,
            "payload_too_large",
        ),
        (c.get(u("/v1/events?limit=0")).bearer_auth(&key), 400, "invalid_request"),
        (c.get(u("/v1/events?limit=abc")).bearer_auth(&key), 400, "invalid_request"),
        (c.get(u("/v1/events?cursor=garbage")).bearer_auth(&key), 400, "invalid_request"),
        (c.get(u("/v1/events/evt_nope")).bearer_auth(&key), 404, "not_found"),
        (c.get(u("/v1/events/evt_01ARZ3NDEKTSV4RRFFQ69G5FAV")).bearer_auth(&key), 404, "not_found"),
        (c.get(u("/v1/sources/src_nope")).bearer_auth(&key), 404, "not_found"),
        (c.post(u("/v1/sources")).bearer_auth(&key).json(&json!({"provider": "stripe"})), 400, "invalid_request"),
    ];
    for (req, status, code) in cases {
        let req = req.build().unwrap();
        let what = format!("{} {}", req.method(), req.url());
        let res = c.execute(req).await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{what}");
        assert_eq!(res.headers()["content-type"], "application/json", "{what}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{what}: {v}");
        assert!(v["error"]["message"].is_string(), "{what}");
    }
}

#[tokio::test]
async fn openapi_document_lists_exactly_the_served_routes() {
    let app = spawn_app().await;
    let res = app.http.get(format!("{}/v1/openapi.json", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut served: Vec<(String, String)> =
        hookline_api::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    served.sort();
    assert_eq!(documented, served);
    // Every documented route answers something other than "no such route".
    let (_, key) = app.create_org("pro").await;
    for (method, path) in served {
        let path = path.replace("{id}", "x");
        let req =
            app.http.request(method.to_uppercase().parse().unwrap(), format!("{}{path}", app.url)).bearer_auth(&key);
        let res = req.send().await.unwrap();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        assert!(!(v["error"]["message"] == "no such route"), "{method} {path} is not served");
    }
}

/// An org holds several keys, lists them without their text, and revokes them; a revoked
/// key is refused at once. The operator can replace every key of an org.
#[tokio::test]
async fn api_keys_are_added_listed_and_revoked() {
    let app = spawn_app().await;
    let (org, first) = app.create_org("pro").await;
    let (_, other_org_key) = app.create_org("pro").await;
    let (status, second) = app.post(&first, "/v1/api-keys", json!({})).await;
    assert_eq!(status, 201, "{second}");
    let second_key = second["api_key"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&second_key, "/v1/webhooks").await.0, 200);

    let (status, list) = app.get(&first, "/v1/api-keys").await;
    assert_eq!(status, 200);
    let keys = list["data"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let today = chrono::Utc::now().date_naive().to_string();
    for k in keys {
        assert!(k["id"].as_str().unwrap().starts_with("key_"));
        assert_eq!(k["prefix"].as_str().unwrap().len(), 8);
        assert_eq!(k["last_used_on"], today.as_str(), "both keys were used today: {k}");
    }
    assert!(!list.to_string().contains(&first[8..]) && !list.to_string().contains(&second_key[8..]));
    let first_id = keys.iter().find(|k| first.starts_with(k["prefix"].as_str().unwrap())).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let delete = |key: String, id: String| {
        let http = app.http.clone();
        let url = format!("{}/v1/api-keys/{id}", app.url);
        async move { http.delete(url).bearer_auth(key).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(delete(other_org_key.clone(), first_id.clone()).await, 404, "another org's key");
    assert_eq!(delete(second_key.clone(), first_id.clone()).await, 204);
    let (status, v) = app.get(&first, "/v1/webhooks").await;
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("unauthorized")), "revoked at once");
    let second_id = second["id"].as_str().unwrap().to_owned();
    assert_eq!(delete(second_key.clone(), second_id).await, 409, "the last key stays");

    // The operator's way back in: every old key goes, one new key comes.
    let rotate = format!("/v1/orgs/{org}/rotate-key");
    assert_eq!(app.post(&second_key, &rotate, json!({})).await.0, 401, "operator only");
    let (status, fresh) = app.post(&app.operator_key, &rotate, json!({})).await;
    assert_eq!(status, 201);
    let fresh_key = fresh["api_key"].as_str().unwrap();
    assert_eq!(app.get(&second_key, "/v1/webhooks").await.0, 401);
    assert_eq!(app.get(fresh_key, "/v1/webhooks").await.0, 200);
    assert_eq!(app.get(fresh_key, "/v1/api-keys").await.1["data"].as_array().unwrap().len(), 1);
    assert_eq!(app.post(&app.operator_key, &format!("/v1/orgs/{}/rotate-key", "org_nope"), json!({})).await.0, 404);
}
