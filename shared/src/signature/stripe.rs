//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` over `"{t}.{body}"`.

use super::{any_match, check_timestamp, header, raw_keys, timestamp_and_hex_signatures, KeyedMac, Rejection};
use crate::domain::Secret;
use http::HeaderMap;

const HEADER: &str = "stripe-signature";

/// Prepared Stripe check.
#[derive(Clone)]
pub struct Stripe {
    keys: Vec<KeyedMac>,
    tolerance: u64,
}

impl Stripe {
    /// Stripe uses the whole `whsec_…` string as the HMAC key.
    pub fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self { keys: raw_keys(secrets), tolerance }
    }

    /// Verify one request at Unix time `now`.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Rejection> {
        let value = header(headers, HEADER)?;
        let (ts_text, ts, sigs) = timestamp_and_hex_signatures(value, ',', ("t", "v1"), HEADER)?;
        check_timestamp(ts, now, self.tolerance)?;
        any_match(&self.keys, &[ts_text.as_bytes(), b".", body], &sigs)
    }
}

/// Produce a `Stripe-Signature` value (for tests, the CLI and benchmarks).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let m = super::mac(&super::keyed(secret.as_bytes()), &[ts.as_bytes(), b".", body]);
    format!("t={ts},v1={}", hex::encode(m))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::headers;
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    fn stripe() -> Stripe {
        Stripe::new(&[Secret::new(SECRET)], 300)
    }

    #[test]
    fn accepts_own_signature_and_rejects_tampering() {
        let h = headers(&[("Stripe-Signature", &sign(SECRET, 1000, BODY))]);
        assert_eq!(stripe().verify(&h, BODY, 1010), Ok(()));
        let mut tampered = BODY.to_vec();
        tampered[3] ^= 1;
        assert_eq!(stripe().verify(&h, &tampered, 1010), Err(Rejection::NoMatchingSignature));
    }

    #[test]
    fn independent_vector() {
        // HMAC-SHA256("whsec_test_secret", "1000.{body}") computed with Python's hmac module.
        let expected = "5a117b5e1378d9e96b31db2b6b5924ff1282208cd4af84992b75e7acd4e00701";
        assert_eq!(sign(SECRET, 1000, BODY), format!("t=1000,v1={expected}"));
        let h = headers(&[("Stripe-Signature", &format!("t=1000,v1={expected}"))]);
        assert_eq!(stripe().verify(&h, BODY, 1000), Ok(()));
    }

    #[test]
    fn stale_and_future_timestamps_are_rejected() {
        let h = headers(&[("Stripe-Signature", &sign(SECRET, 1000, BODY))]);
        assert!(matches!(stripe().verify(&h, BODY, 1000 + 301), Err(Rejection::StaleTimestamp { age_secs: 301 })));
        assert!(matches!(stripe().verify(&h, BODY, 1000 - 301), Err(Rejection::StaleTimestamp { .. })));
    }

    #[test]
    fn any_active_secret_and_any_v1_signature_matches() {
        let s = Stripe::new(&[Secret::new("whsec_old"), Secret::new(SECRET)], 300);
        let good = sign(SECRET, 1000, BODY);
        let other = sign("whsec_nope", 1000, BODY);
        let combined = format!("{},{}", other, good.split_once(',').unwrap().1);
        assert_eq!(s.verify(&headers(&[("Stripe-Signature", &combined)]), BODY, 1000), Ok(()));
        assert_eq!(
            stripe().verify(&headers(&[("Stripe-Signature", &other)]), BODY, 1000),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn malformed_headers_say_so() {
        assert_eq!(stripe().verify(&headers(&[]), BODY, 0), Err(Rejection::MissingHeader(HEADER)));
        for bad in ["v1=abc", "t=x,v1=00", "t=1000", "garbage"] {
            assert_eq!(
                stripe().verify(&headers(&[("Stripe-Signature", bad)]), BODY, 1000),
                Err(Rejection::MalformedHeader(HEADER)),
                "{bad}"
            );
        }
    }
}
