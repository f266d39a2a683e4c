//! Slack: `X-Slack-Request-Timestamp: <unix>` and `X-Slack-Signature: v0=<hex>` over
//! `"v0:{timestamp}:{body}"`, keyed with the app's signing secret.

use super::{any_match, check_timestamp, decode_hex32, header, raw_keys, KeyedMac, Rejection};
use crate::domain::Secret;
use http::HeaderMap;

const SIGNATURE: &str = "x-slack-signature";
const TIMESTAMP: &str = "x-slack-request-timestamp";

/// Prepared Slack check.
#[derive(Clone)]
pub struct Slack {
    keys: Vec<KeyedMac>,
    tolerance: u64,
}

impl Slack {
    /// The signing secret's bytes are the key.
    pub fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self { keys: raw_keys(secrets), tolerance }
    }

    /// Verify one request at Unix time `now`.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Rejection> {
        let ts_text = header(headers, TIMESTAMP)?.trim();
        let value = header(headers, SIGNATURE)?;
        let ts: i64 = ts_text.parse().map_err(|_| Rejection::MalformedHeader(TIMESTAMP))?;
        let sig = value.strip_prefix("v0=").and_then(decode_hex32).ok_or(Rejection::MalformedHeader(SIGNATURE))?;
        check_timestamp(ts, now, self.tolerance)?;
        any_match(&self.keys, &[b"v0:", ts_text.as_bytes(), b":", body], &[sig])
    }
}

/// Produce an `X-Slack-Signature` value.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let m = super::mac(&super::keyed(secret.as_bytes()), &[b"v0:", ts.as_bytes(), b":", body]);
    format!("v0={}", hex::encode(m))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::headers;
    use super::*;

    // Slack's documented example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn slack() -> Slack {
        Slack::new(&[Secret::new(SECRET)], 300)
    }

    #[test]
    fn published_vector() {
        assert_eq!(sign(SECRET, TS.parse().unwrap(), BODY), EXPECTED);
        let h = headers(&[("X-Slack-Request-Timestamp", TS), ("X-Slack-Signature", EXPECTED)]);
        assert_eq!(slack().verify(&h, BODY, 1531420618), Ok(()));
        let mut tampered = BODY.to_vec();
        tampered[0] ^= 1;
        assert_eq!(slack().verify(&h, &tampered, 1531420618), Err(Rejection::NoMatchingSignature));
        assert!(matches!(slack().verify(&h, BODY, 1531420618 + 301), Err(Rejection::StaleTimestamp { .. })));
    }

    #[test]
    fn header_problems() {
        assert_eq!(slack().verify(&headers(&[]), BODY, 0), Err(Rejection::MissingHeader(TIMESTAMP)));
        let h = headers(&[("X-Slack-Request-Timestamp", TS), ("X-Slack-Signature", "v1=00")]);
        assert_eq!(slack().verify(&h, BODY, 0), Err(Rejection::MalformedHeader(SIGNATURE)));
        let h = headers(&[("X-Slack-Request-Timestamp", "soon"), ("X-Slack-Signature", EXPECTED)]);
        assert_eq!(slack().verify(&h, BODY, 0), Err(Rejection::MalformedHeader(TIMESTAMP)));
    }
}
