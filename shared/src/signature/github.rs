//! GitHub: `X-Hub-Signature-256: sha256=<hex>` over the raw body.

use super::{any_match, decode_hex32, header, raw_keys, KeyedMac, Rejection};
use crate::domain::Secret;
use http::HeaderMap;

const HEADER: &str = "x-hub-signature-256";

/// Prepared GitHub check.
#[derive(Clone)]
pub struct Github {
    keys: Vec<KeyedMac>,
}

impl Github {
    /// The webhook secret's bytes are the key.
    pub fn new(secrets: &[Secret]) -> Self {
        Self { keys: raw_keys(secrets) }
    }

    /// Verify one request.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
        let value = header(headers, HEADER)?;
        let sig = value.strip_prefix("sha256=").and_then(decode_hex32).ok_or(Rejection::MalformedHeader(HEADER))?;
        any_match(&self.keys, &[body], &[sig])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::headers;
    use super::*;

    // GitHub's published example ("Validating webhook deliveries").
    const SECRET: &str = "It's a Secret to Everybody";
    const SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn published_vector() {
        let g = Github::new(&[Secret::new(SECRET)]);
        let h = headers(&[("X-Hub-Signature-256", SIG)]);
        assert_eq!(g.verify(&h, b"Hello, World!"), Ok(()));
        assert_eq!(g.verify(&h, b"Hello, World?"), Err(Rejection::NoMatchingSignature));
        let wrong = Github::new(&[Secret::new("another")]);
        assert_eq!(wrong.verify(&h, b"Hello, World!"), Err(Rejection::NoMatchingSignature));
    }

    #[test]
    fn header_problems() {
        let g = Github::new(&[Secret::new(SECRET)]);
        assert_eq!(g.verify(&headers(&[]), b""), Err(Rejection::MissingHeader(HEADER)));
        let h = headers(&[("X-Hub-Signature-256", "sha1=abc")]);
        assert_eq!(g.verify(&h, b""), Err(Rejection::MalformedHeader(HEADER)));
    }
}
