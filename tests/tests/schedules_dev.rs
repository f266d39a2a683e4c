//! Scheduling on `hookline dev`: one-off jobs fire on time and reach endpoints, recurring
//! jobs per thing fire until cancelled, cancel by key wins over a due timer, `upcoming`
//! shows DST-correct times, validation names the field, continuation chains loop and
//! stop at their bound, and a restart neither loses nor repeats a run.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use chrono::{DateTime, Utc};
use hookline_cli::dev::DevOptions;
use hookline_shared::Config;
use hookline_tests::{spawn_app_with_options, Receiver, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

/// `hookline dev` allowing rates down to one second, so recurring runs fit in a test.
async fn app_with(config: Config) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let opts = DevOptions::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf(), config);
    spawn_app_with_options(opts, data).await
}

fn fast_config() -> Config {
    Config { min_schedule_rate: Duration::from_secs(1), ..Config::default() }
}

async fn send(app: &TestApp, method: reqwest::Method, key: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method, format!("{}{path}", app.url)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// An org with one endpoint on `rx` for every event; its key.
async fn org_with_endpoint(app: &TestApp, rx: &Receiver, path: &str) -> String {
    let (_, key) = app.create_org("pro").await;
    app.create_webhook(&key, json!({"url": format!("{}{path}", rx.url), "events": ["*"]})).await;
    key
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_one_off_job_reaches_the_endpoint_within_a_second_of_its_time() {
    let app = app_with(Config::default()).await;
    let rx = Receiver::start().await;
    let key = org_with_endpoint(&app, &rx, "/jobs").await;
    let due = Utc::now() + chrono::Duration::seconds(3);
    let (status, job) = app
        .post(&key, "/v1/schedules", json!({"type": "trial.ending", "data": {"user": "u1"}, "at": due.to_rfc3339()}))
        .await;
    assert_eq!(status, 201, "{job}");
    assert!(job["id"].as_str().unwrap().starts_with("sch_"));
    assert_eq!(at(&job["next_run_at"]), due);
    assert_eq!(job["status"], "pending");

    let got = rx.wait_for("/jobs", 1, 10).await;
    let arrived = Utc::now();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["type"], "trial.ending");
    assert_eq!(got[0].json()["data"], json!({"user": "u1"}));
    let late = arrived - due;
    assert!(late >= chrono::Duration::zero() - chrono::Duration::milliseconds(50), "fired early by {late}");
    assert!(late <= chrono::Duration::seconds(1), "arrived {late} after its time");

    let (_, after) = app.get(&key, &format!("/v1/schedules/{}", job["id"].as_str().unwrap())).await;
    assert_eq!((after["runs"].as_u64(), after["status"].as_str()), (Some(1), Some("completed")));
    assert!(after["next_run_at"].is_null());
}

#[tokio::test]
async fn a_recurring_job_per_thing_fires_repeatedly_until_frequency_none() {
    let app = app_with(fast_config()).await;
    let rx = Receiver::start().await;
    let key = org_with_endpoint(&app, &rx, "/newsletter").await;
    let put = |body: Value| send(&app, reqwest::Method::PUT, &key, "/v1/recurring/newsletter/user_42", Some(body));

    // Cancelling what does not exist is a no-op.
    let (status, v) = put(json!({"frequency": "none"})).await;
    assert_eq!((status, &v), (200, &json!({"cancelled": 0})));

    let (status, job) = put(json!({"rate": "1 second", "data": {"edition": 7}})).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!((job["name"].as_str(), job["thing"].as_str()), (Some("newsletter"), Some("user_42")));
    let got = rx.wait_for("/newsletter", 3, 10).await;
    assert!(got.len() >= 3, "fired {} times", got.len());
    assert_eq!(got[0].json()["type"], "newsletter");
    assert_eq!(got[0].json()["data"], json!({"edition": 7, "thing": "user_42"}));
    let ids: std::collections::HashSet<_> = got.iter().map(|g| g.headers["webhook-id"].clone()).collect();
    assert_eq!(ids.len(), got.len(), "each run is its own event");

    // Setting it again replaces it (one job per thing), and GET shows it.
    let (status, replaced) = put(json!({"rate": "2 seconds"})).await;
    assert_eq!(status, 200);
    assert_eq!(replaced["id"], job["id"]);
    let (_, listed) = app.get(&key, "/v1/recurring/newsletter").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["rate"], "2 seconds");

    let (status, v) = put(json!({"frequency": "none"})).await;
    assert_eq!((status, &v), (200, &json!({"cancelled": 1})));
    let (status, _) = app.get(&key, "/v1/recurring/newsletter/user_42").await;
    assert_eq!(status, 404);
    // Let anything already on its way land, then nothing more comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = rx.got("/newsletter").len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rx.got("/newsletter").len(), settled, "runs after frequency none");
}

#[tokio::test]
async fn cancel_by_key_stops_every_pending_job_even_just_before_its_time() {
    let app = app_with(Config::default()).await;
    let rx = Receiver::start().await;
    let key = org_with_endpoint(&app, &rx, "/nudges").await;
    let soon = Utc::now() + chrono::Duration::seconds(2);
    for i in 0..5 {
        let due = soon + chrono::Duration::milliseconds(i * 100);
        let (status, v) = app
            .post(&key, "/v1/schedules", json!({"type": "nudge", "at": due.to_rfc3339(), "key": "user_7:trial"}))
            .await;
        assert_eq!(status, 201, "{v}");
    }
    let (status, other) = app
        .post(&key, "/v1/schedules", json!({"type": "nudge.other", "at": soon.to_rfc3339(), "key": "user_8:trial"}))
        .await;
    assert_eq!(status, 201, "{other}");
    let (_, listed) = app.get(&key, "/v1/schedules?key=user_7:trial").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 5);

    // Just before the first is due.
    tokio::time::sleep((soon - Utc::now() - chrono::Duration::milliseconds(300)).to_std().unwrap_or_default()).await;
    let (status, v) = send(&app, reqwest::Method::DELETE, &key, "/v1/schedules?key=user_7:trial", None).await;
    assert_eq!((status, &v), (200, &json!({"cancelled": 5})));

    let got = rx.wait_for("/nudges", 1, 5).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let types: Vec<Value> = rx.got("/nudges").iter().map(|g| g.json()["type"].clone()).collect();
    assert_eq!(types, [json!("nudge.other")], "only the other key's job ran ({} seen)", got.len());

    let (status, _) = send(&app, reqwest::Method::DELETE, &key, "/v1/schedules", None).await;
    assert_eq!(status, 400, "cancel needs a key");
}

#[tokio::test]
async fn upcoming_runs_follow_daylight_saving_time() {
    let app = app_with(Config::default()).await;
    let (_, key) = app.create_org("pro").await;
    let (status, weekly) = send(
        &app,
        reqwest::Method::PUT,
        &key,
        "/v1/recurring/digest/team_1",
        Some(json!({"frequency": "weekly", "start": "2027-03-22T09:00", "timezone": "Europe/Berlin"})),
    )
    .await;
    assert_eq!(status, 201, "{weekly}");
    assert_eq!(weekly["upcoming"][0], "2027-03-22T08:00:00Z");
    assert_eq!(weekly["upcoming"][1], "2027-03-29T07:00:00Z");
    assert_eq!(weekly["upcoming"].as_array().unwrap().len(), 5);
    let (_, shown) = app.get(&key, "/v1/recurring/digest/team_1").await;
    assert_eq!(shown["next_run_at"], "2027-03-22T08:00:00Z");

    let (status, cron) = app
        .post(
            &key,
            "/v1/schedules",
            json!({"type": "report", "cron": "0 9 ? * MON *", "timezone": "America/New_York", "start_at": "2027-10-31T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 201, "{cron}");
    assert_eq!(cron["upcoming"][0], "2027-11-01T13:00:00Z");
    assert_eq!(cron["upcoming"][1], "2027-11-08T14:00:00Z");
}

#[tokio::test]
async fn invalid_schedules_are_refused_naming_the_field() {
    let app = app_with(Config::default()).await;
    let (_, key) = app.create_org("pro").await;
    let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    for (body, field) in [
        (json!({"type": "x", "cron": "0 9 * * MON *"}), "cron:"),
        (json!({"type": "x", "cron": "0 9 ? * MON *", "timezone": "Mars/Olympus"}), "timezone:"),
        (json!({"type": "x", "at": "2020-01-01T00:00:00Z"}), "at:"),
        (json!({"type": "x", "rate": "30 seconds"}), "rate:"),
        (
            json!({"type": "x", "rate": "5 minutes", "start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"}),
            "end_at:",
        ),
        (json!({"type": "x", "at": future, "rate": "5 minutes"}), "exactly one"),
        (json!({"type": "x"}), "exactly one"),
    ] {
        let (status, v) = app.post(&key, "/v1/schedules", body.clone()).await;
        assert_eq!(status, 400, "{body}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    let (status, v) = send(
        &app,
        reqwest::Method::PUT,
        &key,
        "/v1/recurring/newsletter/u1",
        Some(json!({"frequency": "weekly", "start": "2027-03-28T02:30", "timezone": "Europe/Berlin"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().starts_with("start:"), "{v}");

    // Another org's schedule is not found on any route.
    let (status, mine) = app.post(&key, "/v1/schedules", json!({"type": "x", "rate": "5 minutes"})).await;
    assert_eq!(status, 201);
    let (_, other) = app.create_org("pro").await;
    let path = format!("/v1/schedules/{}", mine["id"].as_str().unwrap());
    for method in [reqwest::Method::GET, reqwest::Method::PATCH, reqwest::Method::DELETE] {
        let (status, _) = send(&app, method.clone(), &other, &path, Some(json!({"type": "y"}))).await;
        assert_eq!(status, 404, "{method}");
    }
    let (status, v) = app.get(&other, "/v1/schedules").await;
    assert_eq!((status, v["data"].as_array().unwrap().len()), (200, 0));
}

#[tokio::test]
async fn a_continuation_chain_runs_its_iterations_and_the_bound_stops_an_endless_one() {
    let app = app_with(Config { max_chain_iterations: 3, ..Config::default() }).await;
    let rx = Receiver::start().await;
    let (_, key) = app.create_org("pro").await;
    let cont = |page: u32| json!({"continue": {"data": {"page": page}}}).to_string();
    let pages: Vec<String> = (1..=2).map(cont).collect();
    // Two continuations, then a plain answer: the chain ends by itself.
    rx.script("/walk", &[(200, &pages[0]), (200, &pages[1]), (200, "{}")]);
    app.create_webhook(&key, json!({"url": format!("{}/walk", rx.url), "events": ["table.walk"]})).await;
    app.publish(&key, "table.walk", json!({"page": 0})).await;
    let got = rx.wait_for("/walk", 3, 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = rx.got("/walk");
    assert_eq!(got_all.len(), 3, "{got:?}");
    let first = got_all[0].json();
    for (i, g) in got_all.iter().enumerate().skip(1) {
        let p = g.json();
        assert_eq!(p["type"], "table.walk");
        assert_eq!(p["iteration"], json!(i));
        assert_eq!(p["chain_id"], first["id"]);
        assert_eq!(p["data"], json!({"page": i}));
    }

    // An endpoint that always continues is stopped at the bound (3), and the log says why.
    rx.script("/forever", &[(200, &cont(9))]);
    let ep = app.create_webhook(&key, json!({"url": format!("{}/forever", rx.url), "events": ["loop.*"]})).await;
    app.publish(&key, "loop.forever", json!({})).await;
    rx.wait_for("/forever", 4, 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.got("/forever").len(), 4, "the first delivery and three continuations");
    let (_, logs) = app.get(&key, &format!("/v1/webhooks/{}/logs", ep["id"].as_str().unwrap())).await;
    let stopped: Vec<&Value> = logs["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["error"].as_str().is_some_and(|e| e.contains("limit of 3")))
        .collect();
    assert_eq!(stopped.len(), 1, "{logs}");
}

#[tokio::test]
async fn a_restart_loses_no_schedule_and_repeats_no_run() {
    let mut app = app_with(fast_config()).await;
    let rx = Receiver::start().await;
    let key = org_with_endpoint(&app, &rx, "/r").await;
    let due = Utc::now() + chrono::Duration::seconds(4);
    let (status, once) = app.post(&key, "/v1/schedules", json!({"type": "once", "at": due.to_rfc3339()})).await;
    assert_eq!(status, 201);
    let (status, _) = app.post(&key, "/v1/schedules", json!({"type": "tick", "rate": "1 second"})).await;
    assert_eq!(status, 201);
    rx.wait_for("/r", 2, 10).await;

    // Stop; the one-off becomes due while the server is down, and five ticks are missed.
    app.server.take().unwrap().shutdown().await;
    let data = app.data;
    let down_at = rx.got("/r").len();
    let back = due.max(Utc::now() + chrono::Duration::seconds(5)) + chrono::Duration::seconds(1);
    tokio::time::sleep((back - Utc::now()).to_std().unwrap_or_default()).await;
    let opts = DevOptions::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf(), fast_config());
    let app = spawn_app_with_options(opts, data).await;
    let restarted = tokio::time::Instant::now();

    // The missed one-off fires once; the rate job fires once for what it missed and goes
    // on from now, not once per missed second.
    rx.wait_for("/r", down_at + 2, 10).await;
    tokio::time::sleep_until(restarted + Duration::from_millis(1200)).await;
    let early_ticks = rx.got("/r")[down_at..].iter().filter(|g| g.json()["type"] == "tick").count();
    assert!((1..=3).contains(&early_ticks), "{early_ticks} ticks in the first 1.2 s after a 5 s outage");
    let got = rx.got("/r");
    let once_runs = got.iter().filter(|g| g.json()["type"] == "once").count();
    assert_eq!(once_runs, 1);
    let mut ids: Vec<_> = got.iter().map(|g| g.headers["webhook-id"].clone()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a run was delivered twice");
    let (_, shown) = app.get(&key, &format!("/v1/schedules/{}", once["id"].as_str().unwrap())).await;
    assert_eq!(shown["runs"], 1);
}

#[tokio::test]
async fn a_paused_recurring_job_skips_its_runs_and_resumes_without_making_them_up() {
    let app = app_with(fast_config()).await;
    let rx = Receiver::start().await;
    let key = org_with_endpoint(&app, &rx, "/digest").await;
    let put = |body: Value| send(&app, reqwest::Method::PUT, &key, "/v1/recurring/digest/user_7", Some(body));
    let (status, job) = put(json!({"rate": "1 second"})).await;
    assert_eq!(status, 201, "{job}");
    let path = format!("/v1/schedules/{}", job["id"].as_str().unwrap());
    assert!(!rx.wait_for("/digest", 1, 10).await.is_empty());
    let (status, v) = send(&app, reqwest::Method::POST, &key, &format!("{path}/resume"), None).await;
    assert_eq!(status, 409, "not paused: {v}");

    let (status, paused) = send(&app, reqwest::Method::POST, &key, &format!("{path}/pause"), None).await;
    assert_eq!((status, paused["status"].as_str()), (200, Some("paused")), "{paused}");
    assert!(paused["next_run_at"].is_null() && paused["upcoming"] == json!([]), "{paused}");
    // A run already on its way lands; then none while paused, and a change keeps it so.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = rx.got("/digest").len();
    let (status, changed) = put(json!({"rate": "2 seconds"})).await;
    assert_eq!((status, changed["status"].as_str()), (200, Some("paused")), "{changed}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rx.got("/digest").len(), settled, "runs while paused");
    let runs = app.get(&key, &path).await.1["runs"].as_u64().unwrap();

    let before = Utc::now();
    let (status, resumed) = send(&app, reqwest::Method::POST, &key, &format!("{path}/resume"), None).await;
    assert_eq!((status, resumed["status"].as_str()), (200, Some("pending")), "{resumed}");
    assert!(at(&resumed["next_run_at"]) >= before, "from now on, not the runs it missed: {resumed}");
    assert_eq!(resumed["upcoming"].as_array().unwrap().len(), 5);
    assert_eq!(rx.wait_for("/digest", settled + 1, 10).await.len(), settled + 1);
    let after = app.get(&key, &path).await.1;
    assert!(after["runs"].as_u64().unwrap() <= runs + 2, "missed runs made up: {after}");
}
