//! Any HMAC-SHA256 sender: a configurable header carrying the body's MAC in hex or
//! base64, optionally behind a prefix such as `sha256=`.

use super::{any_match, decode_b64_32, decode_hex32, raw_keys, KeyedMac, Rejection, SecretFormatError};
use crate::domain::Secret;
use crate::provider::{HmacEncoding, HmacOptions};
use http::{HeaderMap, HeaderName};

const WHICH: &str = "configured signature header";

/// The hex HMAC-SHA256 of `body` keyed by the secret's own bytes: what such a sender
/// puts in its header (after any prefix).
pub fn sign_hex(secret: &str, body: &[u8]) -> String {
    hex::encode(super::mac(&super::keyed(secret.as_bytes()), &[body]))
}

/// Prepared generic HMAC check.
#[derive(Clone)]
pub struct GenericHmac {
    keys: Vec<KeyedMac>,
    header: HeaderName,
    encoding: HmacEncoding,
    prefix: Option<String>,
}

impl GenericHmac {
    /// Prepare the check; the header name must be a valid HTTP header name.
    pub fn new(opts: &HmacOptions, secrets: &[Secret]) -> Result<Self, SecretFormatError> {
        let header = HeaderName::from_bytes(opts.header.as_bytes())
            .map_err(|_| SecretFormatError(format!("`{}` is not a valid header name", opts.header)))?;
        Ok(Self {
            keys: raw_keys(secrets),
            header,
            encoding: opts.encoding,
            prefix: opts.prefix.clone().filter(|p| !p.is_empty()),
        })
    }

    /// Verify one request.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
        let value = headers
            .get(&self.header)
            .ok_or(Rejection::MissingHeader(WHICH))?
            .to_str()
            .map_err(|_| Rejection::MalformedHeader(WHICH))?
            .trim();
        // The prefix is optional on the wire: some senders include it, some don't.
        let value = match &self.prefix {
            Some(p) => value.strip_prefix(p.as_str()).unwrap_or(value),
            None => value,
        };
        let sig = match self.encoding {
            HmacEncoding::Hex => decode_hex32(value),
            HmacEncoding::Base64 => decode_b64_32(value),
        }
        .ok_or(Rejection::MalformedHeader(WHICH))?;
        any_match(&self.keys, &[body], &[sig])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::headers;
    use super::*;

    // HMAC-SHA256("gh_secret", "Hello, World!") computed with Python's hmac module.
    const HEX: &str = "a3218e24995001135eb598aa9b84e3248ab74d5a73b1f1080e051fc58b97c954";

    fn opts(encoding: HmacEncoding, prefix: Option<&str>) -> HmacOptions {
        HmacOptions { header: "X-Signature".into(), encoding, prefix: prefix.map(str::to_owned) }
    }

    #[test]
    fn hex_with_and_without_prefix() {
        let v = GenericHmac::new(&opts(HmacEncoding::Hex, Some("sha256=")), &[Secret::new("gh_secret")]).unwrap();
        for value in [HEX.to_owned(), format!("sha256={HEX}")] {
            assert_eq!(v.verify(&headers(&[("X-Signature", &value)]), b"Hello, World!"), Ok(()));
        }
        assert_eq!(v.verify(&headers(&[("X-Signature", HEX)]), b"Hello"), Err(Rejection::NoMatchingSignature));
    }

    #[test]
    fn base64_encoding() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(HEX).unwrap());
        let v = GenericHmac::new(&opts(HmacEncoding::Base64, None), &[Secret::new("gh_secret")]).unwrap();
        assert_eq!(v.verify(&headers(&[("x-signature", &b64)]), b"Hello, World!"), Ok(()));
        assert_eq!(
            v.verify(&headers(&[("x-signature", HEX)]), b"Hello, World!"),
            Err(Rejection::MalformedHeader(WHICH))
        );
        assert_eq!(v.verify(&headers(&[]), b""), Err(Rejection::MissingHeader(WHICH)));
    }

    #[test]
    fn invalid_header_name_is_refused() {
        let mut o = opts(HmacEncoding::Hex, None);
        o.header = "bad header".into();
        assert!(GenericHmac::new(&o, &[Secret::new("s")]).is_err());
    }
}
