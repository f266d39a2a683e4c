//! Property fuzzing of the API's JSON bodies on a running `hookline dev`: any JSON (and
//! any bytes) sent to any route that takes a body gets an answer below 500, as JSON.
//! `make fuzz` raises `PROPTEST_CASES` for a long run.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_tests::{spawn_app, TestApp};
use proptest::prelude::*;
use serde_json::Value;

/// Routes that read a body, with the ids they need filled in. `/call` is left out: a
/// well-formed call goes out to the endpoint, and its 502 when that cannot be reached is
/// the documented answer, not a fault.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/orgs"),
    ("POST", "/v1/sources"),
    ("PATCH", "/v1/sources/{src}"),
    ("POST", "/v1/events"),
    ("POST", "/v1/webhooks"),
    ("PATCH", "/v1/webhooks/{ep}"),
    ("POST", "/v1/webhooks/{ep}/replay"),
    ("POST", "/v1/schedules"),
    ("PATCH", "/v1/schedules/{sch}"),
    ("PUT", "/v1/recurring/news/user_1"),
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,30}".prop_map(Value::String),
        // Values the handlers look for, so cases get past the first check.
        prop_oneof![
            Just("https://hooks.example/x"),
            Just("stripe"),
            Just("invoice.paid"),
            Just("*"),
            Just("0 9 ? * MON *"),
            Just("5 minutes"),
            Just("2030-01-01T00:00:00Z"),
            Just("Europe/Berlin"),
            Just("weekly"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    let key = prop_oneof![
        Just("name"),
        Just("url"),
        Just("events"),
        Just("type"),
        Just("data"),
        Just("provider"),
        Just("secrets"),
        Just("secret"),
        Just("cron"),
        Just("rate"),
        Just("at"),
        Just("timezone"),
        Just("key"),
        Just("frequency"),
        Just("start"),
        Just("since"),
        Just("headers"),
        Just("urgency"),
        Just("handshake"),
        Just("plan"),
        Just("description"),
        Just("end_at"),
        Just("start_at"),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone().prop_map(String::from), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

struct World {
    rt: tokio::runtime::Runtime,
    app: TestApp,
    key: String,
    ids: [(&'static str, String); 3],
}

fn world() -> World {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, key, ids) = rt.block_on(async {
        let app = spawn_app().await;
        let (_, key) = app.create_org("pro").await;
        let src = app.create_source(&key, serde_json::json!({"name": "s", "provider": "none"})).await;
        let ep = app.create_webhook(&key, serde_json::json!({"url": "https://hooks.example/x", "events": ["*"]})).await;
        let (_, sch) =
            app.post(&key, "/v1/schedules", serde_json::json!({"type": "t", "at": "2030-01-01T00:00:00Z"})).await;
        let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
        (app, key, [("{src}", id(&src)), ("{ep}", id(&ep)), ("{sch}", id(&sch))])
    });
    World { rt, app, key, ids }
}

fn send(w: &World, route: usize, body: Vec<u8>) -> (u16, Value) {
    let (method, path) = ROUTES[route];
    let path = w.ids.iter().fold(path.to_owned(), |p, (k, v)| p.replace(k, v));
    // Orgs are the operator's; everything else the org's.
    let key = if path == "/v1/orgs" { &w.app.operator_key } else { &w.key };
    w.rt.block_on(async {
        let res = w
            .app
            .http
            .request(method.parse().unwrap(), format!("{}{path}", w.app.url))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_json_body_gets_an_answer_below_500(route in 0..ROUTES.len(), body in json_value()) {
        thread_local!(static WORLD: World = world());
        WORLD.with(|w| {
            let (status, v) = send(w, route, serde_json::to_vec(&body).unwrap());
            prop_assert!(status < 500, "{:?} {} → {} {}", ROUTES[route], body, status, v);
            if status >= 400 {
                prop_assert!(v["error"]["code"].is_string(), "{:?} → {} {}", ROUTES[route], status, v);
            }
            Ok(())
        })?;
    }

    #[test]
    fn any_bytes_get_a_json_4xx(route in 0..ROUTES.len(), body in proptest::collection::vec(any::<u8>(), 0..256)) {
        thread_local!(static WORLD: World = world());
        WORLD.with(|w| {
            let (status, v) = send(w, route, body.clone());
            prop_assert!(status < 500, "{:?} → {}", ROUTES[route], status);
            if status >= 400 {
                prop_assert!(v["error"]["code"].is_string(), "{:?} → {} {}", ROUTES[route], status, v);
            }
            Ok(())
        })?;
    }
}
