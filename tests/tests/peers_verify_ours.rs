//! The other direction: signatures Hookline produces are accepted by the official
//! libraries (`stripe`, `standardwebhooks`), and rejected by them once tampered.

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
