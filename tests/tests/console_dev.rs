//! The console and the customer portal in headless Chromium against `hookline dev`
//! (`tests/peers/console.py`, Selenium): sign in, a published event and its attempts, a
//! failing endpoint, replay, markup in a payload, and a portal link's reach. Screenshots
//! go to `target/console-screenshots/`.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_tests::{python, spawn_app, unavailable, Receiver};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

const XSS: &str = "<img src=x onerror=alert(1)>";

/// Chromium and its driver, or `None` (a failure when external tools are required).
fn browser() -> Option<()> {
    let chromium = std::env::var("HOOKLINE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let driver = std::env::var("HOOKLINE_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    if Path::new(&chromium).exists() && Path::new(&driver).exists() {
        return Some(());
    }
    unavailable(&format!("{chromium} and {driver} (Debian's chromium and chromium-driver)"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_deliveries_replays_renders_payloads_as_text_and_a_portal_reaches_only_endpoints() {
    let Some(py) = python() else { return };
    let Some(()) = browser() else { return };
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver.script("/fail", &[(500, "<img src=y onerror=alert(2)> upstream exploded"); 30]);
    let (org_id, key) = app.create_org("pro").await;
    let (_, other_key) = app.create_org("pro").await;
    let other_url = format!("{}/another-org", receiver.url);
    app.create_webhook(&other_key, json!({"url": other_url, "events": ["*"]})).await;

    let ok = app.create_webhook(&key, json!({"url": format!("{}/ok", receiver.url), "events": ["*"]})).await;
    let fail_url = format!("{}/fail", receiver.url);
    let fail = app.create_webhook(&key, json!({"url": fail_url, "events": ["*"]})).await;
    let (status, source) = app
        .post(&key, "/v1/sources", json!({"name": "payments", "provider": "stripe", "secrets": ["whsec_console_test"]}))
        .await;
    assert_eq!(status, 201, "{source}");
    let ingest = source["ingest_url"].as_str().unwrap();
    assert_eq!(app.send_inbound(ingest, "application/json", &[], "{}").await.0, 401, "an unsigned request refused");
    let (status, job) = app
        .post(
            &key,
            "/v1/schedules",
            json!({"type": "report.weekly", "cron": "0 9 ? * MON *", "timezone": "Europe/Paris"}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let recurring = json!({"frequency": "weekly", "start": "2030-01-07T09:00", "timezone": "Europe/Berlin"});
    let res = app.http.put(format!("{}/v1/recurring/newsletter/user_42", app.url)).bearer_auth(&key).json(&recurring);
    assert!(res.send().await.unwrap().status().is_success());

    let event_id = app.publish(&key, "order.created", json!({"order_id": "ord_1", "total": 4200})).await;
    let xss_event_id = app.publish(&key, "order.note", json!({"note": XSS})).await;
    assert_eq!(receiver.wait_for("/ok", 2, 15).await.len(), 2);
    assert!(receiver.wait_for("/fail", 2, 15).await.len() >= 2);
    // Both events' attempts are logged before the browser looks.
    for id in [&event_id, &xss_event_id] {
        let logged = hookline_tests::until_true(15, || async {
            let (_, e) = app.get(&key, &format!("/v1/events/{id}")).await;
            e["attempts"].as_array().is_some_and(|a| a.len() >= 2)
        })
        .await;
        assert!(logged, "attempts of {id} logged");
    }
    let (status, portal) = app.post(&key, "/v1/portal-sessions", json!({"expires_in": "1h"})).await;
    assert_eq!(status, 201, "{portal}");

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    let setup = json!({
        "url": app.url,
        "key": key,
        "org_id": org_id,
        "event_id": event_id,
        "xss_event_id": xss_event_id,
        "xss": XSS,
        "ok_endpoint": ok["id"],
        "ok_secret": ok["secret"],
        "fail_endpoint": fail["id"],
        "fail_url": fail_url,
        "org_endpoints": [ok["id"], fail["id"]],
        "other_url": other_url,
        "ingest_url": source["ingest_url"],
        "portal_url": portal["url"],
        "portal_id": portal["id"],
        "job_id": job["id"],
        "screenshots": shots,
    });
    let checked = drive(&py, &setup).await;
    println!("console checks:\n{}", checked.join("\n"));
    assert!(checked.len() >= 25, "every step ran: {checked:?}");
    let (status, cancelled) = app.get(&key, &format!("/v1/schedules/{}", job["id"].as_str().unwrap())).await;
    assert!(status == 404 || cancelled["status"] != "pending", "the job cancelled in the console: {cancelled}");

    // The click on replay sent the delivered event to its endpoint again.
    let again = receiver.wait_for("/ok", 3, 15).await;
    let copies = again.iter().filter(|g| g.headers["webhook-id"] == event_id).count();
    assert_eq!(copies, 2, "the replayed event reached the endpoint a second time");
}

/// Run the browser script on `setup`; the checks it reports, or a panic with its output.
async fn drive(py: &str, setup: &Value) -> Vec<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/console.py");
    let mut child = tokio::process::Command::new(py)
        .arg(script)
        .env("SE_OFFLINE", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(setup.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out =
        tokio::time::timeout(std::time::Duration::from_secs(180), child.wait_with_output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the browser script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["checked"].as_str().map(str::to_owned))
        .collect()
}
