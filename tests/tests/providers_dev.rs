//! Slack, Twilio, Paddle and Svix-signed senders on `hookline dev`: requests signed by
//! each provider's own library are accepted once and become typed events; tampered,
//! stale or wrongly keyed ones are refused. The other direction, `hookline sign` checked
//! by the same libraries, is in `peers_verify_ours.rs`.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_tests::{peer, python, spawn_app, TestApp};
use serde_json::{json, Value};

async fn send(app: &TestApp, url: &str, content_type: &str, headers: &[(&str, String)], body: &str) -> (u16, Value) {
    app.send_inbound(url, content_type, headers, body).await
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn signed(py: &str, args: &[&str], body: &str) -> String {
    peer(py, args, body.as_bytes()).await.unwrap().unwrap()
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn slack_events_commands_and_the_url_handshake_signed_by_slack_sdk() {
    let Some(py) = python() else { return };
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let src = app.create_source(&key, json!({"name": "slack", "provider": "slack", "secrets": [secret]})).await;
    let url = src["ingest_url"].as_str().unwrap().to_owned();
    let headers =
        |ts: i64, sig: String| vec![("X-Slack-Request-Timestamp", ts.to_string()), ("X-Slack-Signature", sig)];

    let event =
        r#"{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention","text":"<@U0LAN0Z89> hi"}}"#;
    let ts = now();
    let sig = signed(&py, &["slack", secret, &ts.to_string()], event).await;
    for _ in 0..2 {
        assert_eq!(send(&app, &url, JSON, &headers(ts, sig.clone()), event).await.0, 200, "a retry is the same event");
    }
    let command = "token=x&team_id=T1DC2JH3J&command=%2Fdeploy&text=api+now&user_id=U2CERLKJA";
    let csig = signed(&py, &["slack", secret, &ts.to_string()], command).await;
    assert_eq!(send(&app, &url, FORM, &headers(ts, csig.clone()), command).await.0, 200);

    // The Events API's handshake is answered with its challenge and kept as no event.
    let handshake =
        r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let hsig = signed(&py, &["slack", secret, &ts.to_string()], handshake).await;
    let (status, v) = send(&app, &url, JSON, &headers(ts, hsig), handshake).await;
    assert_eq!((status, v), (200, json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})));
    let (status, _) = send(&app, &url, JSON, &headers(ts, "v0=00".into()), handshake).await;
    assert_eq!(status, 401, "an unsigned handshake gets no challenge");

    let stale = signed(&py, &["slack", secret, &(ts - 600).to_string()], event).await;
    let other = signed(&py, &["slack", "another-signing-secret", &ts.to_string()], event).await;
    for (t, s, b) in
        [(ts, sig, event.replace("hi", "ho")), (ts - 600, stale, event.to_owned()), (ts, other, event.to_owned())]
    {
        assert_eq!(send(&app, &url, JSON, &headers(t, s), &b).await.0, 401);
    }

    app.drain().await;
    let events = app.wait_for_events(&key, 2).await;
    let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["slack.app_mention", "slack.command"], "{events:?}");
    let cmd = events.iter().find(|e| e["type"] == "slack.command").unwrap();
    assert_eq!((&cmd["data"]["command"], &cmd["data"]["text"]), (&json!("/deploy"), &json!("api now")), "form fields");
}

#[tokio::test]
async fn twilio_forms_and_json_signed_by_the_twilio_library() {
    let Some(py) = python() else { return };
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let token = "12345678901234567890123456789012";
    let src = app.create_source(&key, json!({"name": "sms", "provider": "twilio", "secrets": [token]})).await;
    let url = src["ingest_url"].as_str().unwrap().to_owned();

    // Signed over the URL the request is sent to, as Twilio does.
    let form = "ToCountry=US&SmsStatus=received&Body=Where%27s+my+order%3F&From=%2B14155550100&To=%2B14155550199&MessageSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&NumMedia=0";
    let sig = signed(&py, &["twilio", token, &url], form).await;
    let h = |sig: String| vec![("X-Twilio-Signature", sig), ("I-Twilio-Idempotency-Token", "ab12cd34".to_owned())];
    for _ in 0..2 {
        assert_eq!(send(&app, &url, FORM, &h(sig.clone()), form).await.0, 200, "a retry is the same event");
    }
    assert_eq!(send(&app, &url, FORM, &h(sig.clone()), &form.replace("order", "ordeR")).await.0, 401);
    let elsewhere = signed(&py, &["twilio", token, &format!("{url}x")], form).await;
    assert_eq!(send(&app, &url, FORM, &h(elsewhere), form).await.0, 401, "signed for another URL");

    // A JSON body: covered by its hash in the URL's query.
    let body = r#"{"MessageSid":"SM2","MessageStatus":"delivered"}"#;
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
    let json_url = format!("{url}?bodySHA256={hash}");
    let sig = signed(&py, &["twilio", token, &json_url], body).await;
    assert_eq!(send(&app, &json_url, JSON, &[("X-Twilio-Signature", sig.clone())], body).await.0, 200);
    let tampered = body.replace("delivered", "failed");
    assert_eq!(send(&app, &json_url, JSON, &[("X-Twilio-Signature", sig)], &tampered).await.0, 401);

    // Behind a proxy, Twilio signs the URL it was given: the source is told it.
    let public = "https://hooks.example.com/twilio/inbound";
    let (status, proxied) =
        app.patch(&key, &format!("/v1/sources/{}", src["id"].as_str().unwrap()), json!({"url": public})).await;
    assert_eq!((status, &proxied["url"]), (200, &json!(public)), "{proxied}");
    let call = "CallSid=CA42&CallStatus=completed&From=%2B14155550100";
    let sig = signed(&py, &["twilio", token, public], call).await;
    assert_eq!(send(&app, &url, FORM, &[("X-Twilio-Signature", sig)], call).await.0, 200);
    for bad in [json!({"url": "ftp://x/y"}), json!({"url": "https://x/y?q=1"}), json!({"tolerance_secs": 5})] {
        let (status, v) = app.patch(&key, &format!("/v1/sources/{}", src["id"].as_str().unwrap()), bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }

    app.drain().await;
    let events = app.wait_for_events(&key, 3).await;
    let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["sms.call.completed", "sms.message.delivered", "sms.message.received"], "{events:?}");
    let sms = events.iter().find(|e| e["type"] == "sms.message.received").unwrap();
    assert_eq!(sms["data"]["Body"], "Where's my order?", "form fields, decoded");
}

#[tokio::test]
async fn paddle_and_svix_signed_by_their_libraries() {
    let Some(py) = python() else { return };
    let app = spawn_app().await;
    let (_, key) = app.create_org("pro").await;
    let paddle_secret = "pdl_ntfset_01hs0t3tw21j988db1pam5xg8m_GrOWLNef+vmtjJYq4mSnHNzvc8uWoJ1I";
    let paddle =
        app.create_source(&key, json!({"name": "paddle", "provider": "paddle", "secrets": [paddle_secret]})).await;
    let purl = paddle["ingest_url"].as_str().unwrap().to_owned();
    let body = r#"{"event_id":"evt_01hv8x2acma2gz8nn0n4j1wxyn","event_type":"transaction.completed","occurred_at":"2024-04-12T10:18:49.621022Z","data":{"id":"txn_01hv8wptq8987qeep44cyrewp9","customer_id":"ctm_01hv6y1jedq4p1n0yqn5ba3ky4"}}"#;
    let ts = now();
    let sig = signed(&py, &["paddle", paddle_secret, &ts.to_string()], body).await;
    for _ in 0..2 {
        assert_eq!(send(&app, &purl, JSON, &[("Paddle-Signature", sig.clone())], body).await.0, 200);
    }
    assert_eq!(
        send(&app, &purl, JSON, &[("Paddle-Signature", sig.clone())], &body.replace("ctm_01", "ctm_02")).await.0,
        401
    );
    let stale = signed(&py, &["paddle", paddle_secret, &(ts - 600).to_string()], body).await;
    assert_eq!(send(&app, &purl, JSON, &[("Paddle-Signature", stale)], body).await.0, 401);

    let svix_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let clerk = app.create_source(&key, json!({"name": "clerk", "provider": "svix", "secrets": [svix_secret]})).await;
    assert_eq!(clerk["provider"], "svix");
    let curl = clerk["ingest_url"].as_str().unwrap().to_owned();
    let body = r#"{"type":"user.created","data":{"id":"user_29w83sxmDNGwOuEthce5gg56FcC"}}"#;
    let sig = signed(&py, &["svix", svix_secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", &ts.to_string()], body).await;
    let h = |sig: String| {
        vec![
            ("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".to_owned()),
            ("svix-timestamp", ts.to_string()),
            ("svix-signature", sig),
        ]
    };
    for _ in 0..2 {
        assert_eq!(send(&app, &curl, JSON, &h(sig.clone()), body).await.0, 200);
    }
    assert_eq!(send(&app, &curl, JSON, &h(sig), &body.replace("created", "deleted")).await.0, 401);

    app.drain().await;
    let events = app.wait_for_events(&key, 2).await;
    let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["clerk.user.created", "paddle.transaction.completed"], "{events:?}");
}
