//! Standard Webhooks (and Svix): `webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64> [v1,<base64>…]` over `"{id}.{timestamp}.{body}"`,
//! keyed with the base64-decoded `whsec_` secret. The `svix-*` header names work too.

use super::{any_match, check_timestamp, decode_b64_32, header_any, keyed, KeyedMac, Rejection, SecretFormatError};
use crate::domain::Secret;
use base64::Engine as _;
use http::HeaderMap;

/// Header names, Standard Webhooks first, then Svix's.
pub const ID_HEADERS: [&str; 2] = ["webhook-id", "svix-id"];
const TIMESTAMP_HEADERS: [&str; 2] = ["webhook-timestamp", "svix-timestamp"];
const SIGNATURE_HEADERS: [&str; 2] = ["webhook-signature", "svix-signature"];

/// Prepared Standard Webhooks check.
#[derive(Clone)]
pub struct Standard {
    keys: Vec<KeyedMac>,
    tolerance: u64,
}

/// Decode a `whsec_<base64>` (or bare base64) secret into key bytes.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, SecretFormatError> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| SecretFormatError("a Standard Webhooks secret is `whsec_` followed by base64".into()))
}

impl Standard {
    /// Prepare the check; fails when a secret is not `whsec_<base64>`.
    pub fn new(secrets: &[Secret], tolerance: u64) -> Result<Self, SecretFormatError> {
        let keys = secrets.iter().map(|s| decode_secret(s.expose()).map(|k| keyed(&k))).collect::<Result<_, _>>()?;
        Ok(Self { keys, tolerance })
    }

    /// Verify one request at Unix time `now`.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Rejection> {
        let id = header_any(headers, &ID_HEADERS)?;
        let ts_text = header_any(headers, &TIMESTAMP_HEADERS)?;
        let sig_header = header_any(headers, &SIGNATURE_HEADERS)?;
        let ts: i64 = ts_text.trim().parse().map_err(|_| Rejection::MalformedHeader(TIMESTAMP_HEADERS[0]))?;
        check_timestamp(ts, now, self.tolerance)?;
        let sigs: Vec<[u8; 32]> =
            sig_header.split(' ').filter_map(|s| s.strip_prefix("v1,")).filter_map(decode_b64_32).collect();
        if sigs.is_empty() {
            return Err(Rejection::MalformedHeader(SIGNATURE_HEADERS[0]));
        }
        any_match(&self.keys, &[id.as_bytes(), b".", ts_text.as_bytes(), b".", body], &sigs)
    }
}

/// Produce a `webhook-signature` value `v1,<base64>` for one secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SecretFormatError> {
    let key = keyed(&decode_secret(secret)?);
    let ts = timestamp.to_string();
    let m = super::mac(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    Ok(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(m)))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::headers;
    use super::*;

    // The reference libraries' `test_sign` vector.
    const KEY: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const MSG_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1649367553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const EXPECTED: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn std() -> Standard {
        Standard::new(&[Secret::new(KEY)], 300).unwrap()
    }

    #[test]
    fn published_sign_vector() {
        assert_eq!(sign(KEY, MSG_ID, TS, BODY).unwrap(), EXPECTED);
    }

    #[test]
    fn published_vector_verifies_with_both_header_families() {
        for prefix in ["webhook", "svix"] {
            let h = headers(&[
                (&format!("{prefix}-id") as &str, MSG_ID),
                (&format!("{prefix}-timestamp"), &TS.to_string()),
                (&format!("{prefix}-signature"), &format!("v1a,abc {EXPECTED}")),
            ]);
            assert_eq!(std().verify(&h, BODY, TS + 5), Ok(()), "{prefix}");
            assert_eq!(std().verify(&h, b"{}", TS), Err(Rejection::NoMatchingSignature));
        }
    }

    #[test]
    fn wrong_id_secret_or_time_is_rejected() {
        let h = |id: &str| {
            headers(&[("webhook-id", id), ("webhook-timestamp", &TS.to_string()), ("webhook-signature", EXPECTED)])
        };
        assert_eq!(std().verify(&h("msg_other"), BODY, TS), Err(Rejection::NoMatchingSignature));
        let other = Standard::new(&[Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")], 300).unwrap();
        assert_eq!(other.verify(&h(MSG_ID), BODY, TS), Err(Rejection::NoMatchingSignature));
        assert!(matches!(std().verify(&h(MSG_ID), BODY, TS + 600), Err(Rejection::StaleTimestamp { .. })));
        assert!(matches!(std().verify(&h(MSG_ID), BODY, TS - 600), Err(Rejection::StaleTimestamp { .. })));
    }

    #[test]
    fn rotation_accepts_either_secret() {
        let rotated =
            Standard::new(&[Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Secret::new(KEY)], 300).unwrap();
        let h =
            headers(&[("webhook-id", MSG_ID), ("webhook-timestamp", &TS.to_string()), ("webhook-signature", EXPECTED)]);
        assert_eq!(rotated.verify(&h, BODY, TS), Ok(()));
    }

    #[test]
    fn bad_secret_format_is_refused() {
        assert!(Standard::new(&[Secret::new("whsec_not base64!")], 300).is_err());
    }

    #[test]
    fn missing_and_malformed_headers() {
        assert_eq!(std().verify(&headers(&[]), BODY, TS), Err(Rejection::MissingHeader("webhook-id")));
        let h = headers(&[("webhook-id", MSG_ID), ("webhook-timestamp", "soon"), ("webhook-signature", EXPECTED)]);
        assert_eq!(std().verify(&h, BODY, TS), Err(Rejection::MalformedHeader("webhook-timestamp")));
        let h =
            headers(&[("webhook-id", MSG_ID), ("webhook-timestamp", &TS.to_string()), ("webhook-signature", "v2,xyz")]);
        assert_eq!(std().verify(&h, BODY, TS), Err(Rejection::MalformedHeader("webhook-signature")));
    }
}
