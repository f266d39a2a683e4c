//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]` over
//! `"{ts}:{body}"`, keyed with the notification destination's secret as written.

use super::{any_match, check_timestamp, header, raw_keys, timestamp_and_hex_signatures, KeyedMac, Rejection};
use crate::domain::Secret;
use http::HeaderMap;

const HEADER: &str = "paddle-signature";

/// Prepared Paddle check.
#[derive(Clone)]
pub struct Paddle {
    keys: Vec<KeyedMac>,
    tolerance: u64,
}

impl Paddle {
    /// The secret's bytes (`pdl_ntfset_…`) are the key.
    pub fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self { keys: raw_keys(secrets), tolerance }
    }

    /// Verify one request at Unix time `now`.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Rejection> {
        let value = header(headers, HEADER)?;
        let (ts_text, ts, sigs) = timestamp_and_hex_signatures(value, ';', ("ts", "h1"), HEADER)?;
        check_timestamp(ts, now, self.tolerance)?;
        any_match(&self.keys, &[ts_text.as_bytes(), b":", body], &sigs)
    }
}

/// Produce a `Paddle-Signature` value.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let m = super::mac(&super::keyed(secret.as_bytes()), &[ts.as_bytes(), b":", body]);
    format!("ts={ts};h1={}", hex::encode(m))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::headers;
    use super::*;

    // The vector of Paddle's Python SDK (`test_validate_paddle_signature_header_integrity`):
    // of its three secrets only the last signed it, and its `h1=dummy` is passed over.
    const HEADER_VALUE: &str =
        "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02";
    const RIGHT: &str = "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh";
    const WRONG: &str = "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4";

    #[test]
    fn published_vector() {
        let h = headers(&[("Paddle-Signature", HEADER_VALUE)]);
        let both = Paddle::new(&[Secret::new(WRONG), Secret::new(RIGHT)], 300);
        assert_eq!(both.verify(&h, b"hello-world", 1696195954), Ok(()));
        assert_eq!(both.verify(&h, b"hello-worle", 1696195954), Err(Rejection::NoMatchingSignature));
        let wrong = Paddle::new(&[Secret::new(WRONG)], 300);
        assert_eq!(wrong.verify(&h, b"hello-world", 1696195954), Err(Rejection::NoMatchingSignature));
        assert!(matches!(both.verify(&h, b"hello-world", 1696195954 + 301), Err(Rejection::StaleTimestamp { .. })));
        assert!(sign(RIGHT, 1696195954, b"hello-world").ends_with(HEADER_VALUE.rsplit_once(';').unwrap().1));
    }

    #[test]
    fn header_problems() {
        let p = Paddle::new(&[Secret::new(RIGHT)], 300);
        assert_eq!(p.verify(&headers(&[]), b"", 0), Err(Rejection::MissingHeader(HEADER)));
        for bad in ["h1=00", "ts=x;h1=00", "ts=1", "ts=1;h1=zz"] {
            assert_eq!(
                p.verify(&headers(&[("Paddle-Signature", bad)]), b"", 1),
                Err(Rejection::MalformedHeader(HEADER))
            );
        }
    }
}
