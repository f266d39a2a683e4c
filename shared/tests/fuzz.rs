//! Property fuzzing of what parses input from outside: the signature headers of every
//! provider, cron, rates, time zones, cursors, continuation answers, `:name`
//! substitution, event types and the JSON depth limit. No input may panic; where a rule holds for every input
//! (the event type stays in the path), it is checked too.
//!
//! `cargo test` runs each target for proptest's default number of cases; `make fuzz`
//! sets `PROPTEST_CASES` for a long run.

use chrono::{TimeZone, Utc};
use hookline_shared::delivery::{parse_endpoint_url, Continuation, Endpoint};
use hookline_shared::json;
use hookline_shared::ports::cursor;
use hookline_shared::schedule::{parse_rate, parse_timezone, Cron};
use hookline_shared::signature::Verifier;
use hookline_shared::{validate_event_type, validate_filter, HmacEncoding, HmacOptions, Provider, Secret};
use proptest::prelude::*;
use std::time::Duration;

/// Header values as a sender could put them on the wire: anything visible, and the
/// shapes each parser splits (`t=…,v1=…`, `v1,<base64> …`, `sha256=<hex>`).
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,200}",
        "(t=[0-9-]{0,12},)?(v[0-9]=[0-9a-zA-Z+/=]{0,70}[ ,]?){0,4}",
        "(v1,[A-Za-z0-9+/=]{0,50} ?){0,4}",
        "sha256=[0-9a-fA-F]{0,70}",
    ]
}

fn providers() -> Vec<(Provider, Vec<Secret>)> {
    vec![
        (Provider::Stripe { tolerance_secs: None }, vec![Secret::new("whsec_stripe")]),
        (Provider::Standard { tolerance_secs: None }, vec![Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]),
        (Provider::Github, vec![Secret::new("gh")]),
        (Provider::Shopify, vec![Secret::new("shop")]),
        (
            Provider::Hmac(HmacOptions {
                header: "x-sig".into(),
                encoding: HmacEncoding::Base64,
                prefix: Some("sha256=".into()),
            }),
            vec![Secret::new("h")],
        ),
        (Provider::Token { header: None }, vec![Secret::new("Bearer t")]),
        (Provider::Svix { tolerance_secs: None }, vec![Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]),
        (Provider::Slack { tolerance_secs: None }, vec![Secret::new("slack")]),
        (Provider::Twilio { url: None }, vec![Secret::new("twilio")]),
        (Provider::Twilio { url: Some("https://hooks.example.com/in/src_1".into()) }, vec![Secret::new("twilio")]),
        (Provider::Paddle { tolerance_secs: None }, vec![Secret::new("pdl_ntfset_x")]),
    ]
}

const SIGNATURE_HEADERS: &[&str] = &[
    "stripe-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "x-hub-signature-256",
    "x-shopify-hmac-sha256",
    "x-sig",
    "authorization",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-twilio-signature",
    "host",
    "x-forwarded-proto",
    "paddle-signature",
];

fn endpoint_at(url: &str) -> Endpoint {
    Endpoint::new(hookline_shared::OrgId::new(), url.to_owned(), vec!["*".into()], Utc::now())
}

proptest! {
    #[test]
    fn signature_checks_never_panic(
        values in proptest::collection::vec(header_value(), SIGNATURE_HEADERS.len()),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        target in "\\PC{0,80}",
        now in any::<i64>(),
    ) {
        let mut headers = http::HeaderMap::new();
        for (name, v) in SIGNATURE_HEADERS.iter().zip(&values) {
            if let Ok(v) = http::HeaderValue::from_str(v) {
                headers.insert(*name, v);
            }
        }
        for (p, secrets) in providers() {
            let verifier = Verifier::new(&p, &secrets).expect("the secrets are well formed");
            // Random input carries no MAC made with the secret, so it never verifies.
            prop_assert!(verifier.verify(&headers, &target, &body, now).is_err(), "{:?}", p);
        }
    }

    #[test]
    fn cron_rate_and_time_zone_parsing_never_panic(
        text in prop_oneof!["[0-9*?/,LW#A-Z -]{0,40}", "\\PC{0,40}"],
        tz in "[A-Za-z_/+-]{0,30}",
        at in 0i64..4_102_444_800,
    ) {
        let _ = parse_rate(&text, Duration::from_secs(60));
        let _ = parse_timezone(&tz);
        if let Ok(cron) = Cron::parse(&text) {
            let zone = parse_timezone(&tz).unwrap_or(chrono_tz::UTC);
            let from = Utc.timestamp_opt(at, 0).single().expect("in range");
            if let Some(next) = cron.next_from(from, zone) {
                prop_assert!(next >= from);
            }
        }
    }

    #[test]
    fn cursors_decode_only_what_was_encoded(text in "\\PC{0,80}", ms in any::<i64>(), id in "[a-z0-9_]{0,30}") {
        let _ = cursor::decode(&text);
        prop_assert_eq!(cursor::decode(&cursor::encode(ms, &id)), Some((ms, id)));
    }

    /// What ingest accepts as JSON (within depth, and skippable), verify can parse.
    #[test]
    fn json_within_the_depth_limit_parses(text in prop_oneof![
        "[\\[\\]{}\",:1a\\\\ ]{0,300}",
        (1usize..200).prop_map(|n| format!("{}{}", "[{\"a\":".repeat(n), "1}]".repeat(n))),
    ]) {
        let skippable = serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
        if json::within_depth(&text) && skippable {
            prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
        }
    }

    #[test]
    fn continuation_answers_never_panic(body in prop_oneof![
        "\\PC{0,200}",
        "\\{\"continue\": \\{\"data\": \\{\\}, \"delay\": \"[0-9a-z ]{0,20}\"\\}\\}",
    ]) {
        if let Some(c) = Continuation::from_answer(&body) {
            if let Ok(d) = c.delay() {
                prop_assert!(d <= Duration::from_secs(30 * 86_400));
            }
        }
    }

    #[test]
    fn the_event_type_never_leaves_the_path(
        url in prop_oneof![
            "https://[a-z]{1,10}\\.example(:[0-9]{1,5})?/[a-z/:]{0,20}(:name)?[a-z/]{0,10}(\\?[a-z=:]{0,10})?",
            "\\PC{0,60}",
        ],
        event_type in "\\PC{0,40}",
    ) {
        let _ = validate_event_type(&event_type);
        let _ = validate_filter(&event_type);
        if let Ok(parsed) = parse_endpoint_url(&url) {
            if let Ok(sent) = url::Url::parse(&endpoint_at(&url).url_for(&event_type)) {
                prop_assert_eq!(sent.host_str(), parsed.host_str());
                prop_assert_eq!(sent.port_or_known_default(), parsed.port_or_known_default());
                prop_assert_eq!(sent.query(), parsed.query());
            }
        }
    }
}
