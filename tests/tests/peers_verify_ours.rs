//! The other direction: signatures Hookline produces are accepted by the official
//! libraries (`stripe`, `standardwebhooks`; for `hookline sign`, `slack_sdk`, `twilio`,
//! `paddle-python-sdk` and `svix` too), and rejected by them once tampered.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use hookline_shared::signature::{standard, stripe};
use hookline_tests::{peer, python};

#[tokio::test]
async fn stripe_library_accepts_our_signature() {
    let Some(py) = python() else { return };
    let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    let header = stripe::sign("whsec_ours", chrono::Utc::now().timestamp(), body);
    assert_eq!(peer(&py, &["verify-stripe", "whsec_ours", &header], body).await.unwrap(), Ok(String::new()));
    assert!(peer(&py, &["verify-stripe", "whsec_ours", &header], br#"{"id":"evt_2"}"#).await.unwrap().is_err());
    assert!(peer(&py, &["verify-stripe", "whsec_other", &header], body).await.unwrap().is_err());
}

#[tokio::test]
async fn standardwebhooks_library_accepts_our_signature() {
    let Some(py) = python() else { return };
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let body = br#"{"email":"test@example.com"}"#;
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = standard::sign(secret, "msg_1", ts.parse().unwrap(), body).unwrap();
    let verify = |id: &'static str, body: &'static [u8]| {
        let (py, ts, sig) = (py.clone(), ts.clone(), sig.clone());
        async move { peer(&py, &["verify-standard", secret, id, &ts, &sig], body).await.unwrap() }
    };
    assert!(verify("msg_1", body).await.is_ok());
    assert!(verify("msg_2", body).await.is_err());
    assert!(verify("msg_1", br#"{"email":"x@example.com"}"#).await.is_err());
}

/// `hookline sign` for each newer provider: the header values it prints pass that
/// provider's own library, and a changed body does not.
#[tokio::test]
async fn hookline_sign_is_accepted_by_slack_twilio_paddle_and_svix_libraries() {
    use hookline_cli::sign::{headers, Scheme};
    let Some(py) = python() else { return };
    let now = chrono::Utc::now().timestamp();
    let value = |lines: &[String], name: &str| {
        let prefix = format!("{name}: ");
        lines.iter().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("{name} in {lines:?}")).to_owned()
    };
    let check = |args: Vec<String>, body: &'static [u8]| {
        let py = py.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let tampered = [body, b" "].concat();
            (peer(&py, &args, body).await.unwrap(), peer(&py, &args, &tampered).await.unwrap().is_err())
        }
    };

    let body: &[u8] = br#"{"type":"event_callback","event":{"type":"app_mention"}}"#;
    let lines = headers(Scheme::Slack, "slack-secret", body, None, now).unwrap();
    let args = vec![
        "verify-slack".into(),
        "slack-secret".into(),
        value(&lines, "X-Slack-Request-Timestamp"),
        value(&lines, "X-Slack-Signature"),
    ];
    assert_eq!(check(args, body).await, (Ok(String::new()), true), "slack");

    let body: &[u8] = b"From=%2B14155550100&Body=hi+there&SmsStatus=received";
    let url = "https://hooks.example.com/in/src_1";
    let lines = headers(Scheme::Twilio, "twilio-token", body, Some(url), now).unwrap();
    let args = vec!["verify-twilio".into(), "twilio-token".into(), url.into(), value(&lines, "X-Twilio-Signature")];
    assert_eq!(check(args, body).await, (Ok(String::new()), true), "twilio");
    assert!(headers(Scheme::Twilio, "twilio-token", body, None, now).is_err(), "twilio needs the URL");

    let body: &[u8] = br#"{"event_type":"transaction.completed"}"#;
    let lines = headers(Scheme::Paddle, "pdl_ntfset_x", body, None, now).unwrap();
    let args = vec!["verify-paddle".into(), "pdl_ntfset_x".into(), value(&lines, "Paddle-Signature")];
    assert_eq!(check(args, body).await, (Ok(String::new()), true), "paddle");

    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body: &[u8] = br#"{"type":"user.created"}"#;
    let lines = headers(Scheme::Svix, secret, body, None, now).unwrap();
    let args = vec![
        "verify-svix".into(),
        secret.into(),
        value(&lines, "svix-id"),
        value(&lines, "svix-timestamp"),
        value(&lines, "svix-signature"),
    ];
    assert_eq!(check(args, body).await, (Ok(String::new()), true), "svix");
}
