//! Shopify: `X-Shopify-Hmac-Sha256: <base64>` over the raw body, keyed with the app's client secret.

use super::{any_match, decode_b64_32, header, raw_keys, KeyedMac, Rejection};
use crate::domain::Secret;
use http::HeaderMap;

const HEADER: &str = "x-shopify-hmac-sha256";

/// Prepared Shopify check.
#[derive(Clone)]
pub struct Shopify {
    keys: Vec<KeyedMac>,
}

impl Shopify {
    /// The client secret's bytes are the key.
    pub fn new(secrets: &[Secret]) -> Self {
        Self { keys: raw_keys(secrets) }
    }

    /// Verify one request.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
        let sig = decode_b64_32(header(headers, HEADER)?).ok_or(Rejection::MalformedHeader(HEADER))?;
        any_match(&self.keys, &[body], &[sig])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::headers;
    use super::*;

    #[test]
    fn independent_vector() {
        // base64(HMAC-SHA256("shpss_secret", "{\"a\":1}")) computed with Python's hmac module.
        let s = Shopify::new(&[Secret::new("shpss_secret")]);
        let h = headers(&[("X-Shopify-Hmac-Sha256", "A4QrSukM900xPWN3T+QOvBTdvyGDDRgc4+5MeDzZMYw=")]);
        assert_eq!(s.verify(&h, br#"{"a":1}"#), Ok(()));
        assert_eq!(s.verify(&h, br#"{"a":2}"#), Err(Rejection::NoMatchingSignature));
        let h = headers(&[("X-Shopify-Hmac-Sha256", "not-base64")]);
        assert_eq!(s.verify(&h, b""), Err(Rejection::MalformedHeader(HEADER)));
    }
}
