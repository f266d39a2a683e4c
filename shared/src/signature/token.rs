//! Static token: a header (by default `Authorization`) must equal one of the configured values.

use super::{accepted_if, Rejection, SecretFormatError};
use crate::domain::Secret;
use http::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const WHICH: &str = "token header";

/// Prepared static-token check. Only digests are kept, so comparisons do not leak length.
#[derive(Clone)]
pub struct Token {
    header: HeaderName,
    digests: Vec<[u8; 32]>,
}

impl Token {
    /// Prepare the check against `header` (default `Authorization`).
    pub fn new(header: Option<&str>, secrets: &[Secret]) -> Result<Self, SecretFormatError> {
        let header = HeaderName::from_bytes(header.unwrap_or("authorization").as_bytes())
            .map_err(|_| SecretFormatError("the token header is not a valid header name".into()))?;
        let digests = secrets.iter().map(|s| Sha256::digest(s.expose().as_bytes()).into()).collect();
        Ok(Self { header, digests })
    }

    /// Verify one request.
    pub fn verify(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        let got: [u8; 32] =
            Sha256::digest(headers.get(&self.header).ok_or(Rejection::MissingHeader(WHICH))?.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        for d in &self.digests {
            found |= d.ct_eq(&got);
        }
        accepted_if(found)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::headers;
    use super::*;

    #[test]
    fn exact_value_only() {
        let t = Token::new(None, &[Secret::new("Bearer s3cret"), Secret::new("Bearer next")]).unwrap();
        assert_eq!(t.verify(&headers(&[("Authorization", "Bearer s3cret")])), Ok(()));
        assert_eq!(t.verify(&headers(&[("Authorization", "Bearer next")])), Ok(()));
        assert_eq!(t.verify(&headers(&[("Authorization", "Bearer s3cre")])), Err(Rejection::NoMatchingSignature));
        assert_eq!(t.verify(&headers(&[])), Err(Rejection::MissingHeader(WHICH)));
    }

    #[test]
    fn custom_header() {
        let t = Token::new(Some("X-Token"), &[Secret::new("abc")]).unwrap();
        assert_eq!(t.verify(&headers(&[("x-token", "abc")])), Ok(()));
    }
}
