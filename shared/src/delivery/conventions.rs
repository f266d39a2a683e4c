//! Receivers written to another platform's conventions: how their deliveries are
//! signed, and which headers a delivery's sender owns.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

/// Headers an endpoint may not set or sign into: they carry Hookline's signature and
/// its own data. Names starting `x-hookline-` are Hookline's too.
pub const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-request-id",
    "transfer-encoding",
    "connection",
];

/// Whether a (lower-case) header name is one a delivery's sender owns.
pub fn is_reserved_header(name: &str) -> bool {
    RESERVED_HEADERS.contains(&name) || name.starts_with("x-hookline-")
}

/// The longest prefix a signature header may carry before the MAC.
const MAX_PREFIX: usize = 64;

/// How deliveries to an endpoint are signed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SignatureScheme {
    /// Standard Webhooks: `webhook-signature: v1,<base64>` over `id.timestamp.body`,
    /// keyed by the base64 of a `whsec_` secret.
    #[default]
    Standard,
    /// `<header>: <prefix><hex HMAC-SHA256 of the raw body>`, keyed by the secret's
    /// own bytes, as a receiver written for such a platform checks it.
    HmacSha256Hex {
        /// The header, lower-case.
        header: String,
        /// Written before the hex, e.g. `sha256=`; may be empty.
        prefix: String,
    },
}

impl SignatureScheme {
    /// The written name of the custom scheme.
    const HMAC_HEX: &'static str = "hmac-sha256-hex";

    /// A custom HMAC scheme, if its header is a valid name Hookline does not own and its
    /// prefix is short printable ASCII.
    pub fn hmac_sha256_hex(header: &str, prefix: &str) -> Result<Self, String> {
        let name = http::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| format!("header: `{header}` is not a valid header name"))?;
        if is_reserved_header(name.as_str()) {
            return Err(format!("header: `{header}` is set by Hookline"));
        }
        if prefix.len() > MAX_PREFIX || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("prefix: at most {MAX_PREFIX} printable characters, no spaces"));
        }
        Ok(Self::HmacSha256Hex { header: name.as_str().to_owned(), prefix: prefix.to_owned() })
    }

    /// Whether deliveries are signed the Standard Webhooks way (secrets are `whsec_`).
    pub fn is_standard(&self) -> bool {
        matches!(self, Self::Standard)
    }

    /// The custom header that carries the signature, if any.
    pub fn header(&self) -> Option<&str> {
        match self {
            Self::Standard => None,
            Self::HmacSha256Hex { header, .. } => Some(header),
        }
    }
}

impl Serialize for SignatureScheme {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Standard => s.serialize_str("standard"),
            Self::HmacSha256Hex { header, prefix } => {
                json!({"scheme": Self::HMAC_HEX, "header": header, "prefix": prefix}).serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for SignatureScheme {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let expected = || {
            D::Error::custom(format!(
                "give \"standard\" or {{\"scheme\": \"{}\", \"header\", \"prefix\"?}}",
                Self::HMAC_HEX
            ))
        };
        match Value::deserialize(d)? {
            Value::String(s) if s == "standard" => Ok(Self::Standard),
            Value::Object(mut o) => {
                if let Some(k) = o.keys().find(|k| !["scheme", "header", "prefix"].contains(&k.as_str())) {
                    return Err(D::Error::custom(format!("unknown field `{k}`")));
                }
                if o.remove("scheme").as_ref().and_then(Value::as_str) != Some(Self::HMAC_HEX) {
                    return Err(expected());
                }
                let header = o.remove("header");
                let header = header.as_ref().and_then(Value::as_str).ok_or_else(expected)?;
                let prefix = match o.remove("prefix") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(p)) => p,
                    Some(_) => return Err(expected()),
                };
                Self::hmac_sha256_hex(header, &prefix).map_err(D::Error::custom)
            }
            _ => Err(expected()),
        }
    }
}

/// Whether `secret` can sign under `scheme`: a `whsec_` secret for Standard Webhooks;
/// for a custom scheme, whatever the receiver holds (16 to 256 printable characters).
pub fn validate_secret(scheme: &SignatureScheme, secret: &str) -> Result<(), String> {
    match scheme {
        SignatureScheme::Standard => {
            if !secret.starts_with("whsec_") {
                return Err("must be `whsec_` followed by base64".into());
            }
            crate::signature::standard::decode_secret(secret).map(|_| ()).map_err(|e| e.0)
        }
        SignatureScheme::HmacSha256Hex { .. } => {
            if (16..=256).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_graphic()) {
                Ok(())
            } else {
                Err("16 to 256 printable characters, no spaces".into())
            }
        }
    }
}

/// The signature headers of one delivery: for Standard Webhooks the id, timestamp and
/// one `v1,` signature per secret that signs now (during a rotation, two); for a custom
/// scheme the id and timestamp too, and its header with the newest secret's MAC (a
/// receiver of such a platform holds one secret).
pub fn signature_headers(
    scheme: &SignatureScheme,
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Vec<(String, String)>, crate::signature::SecretFormatError> {
    let mut headers =
        vec![("webhook-id".to_owned(), msg_id.to_owned()), ("webhook-timestamp".to_owned(), timestamp.to_string())];
    match scheme {
        SignatureScheme::Standard => {
            let sigs = secrets
                .iter()
                .map(|s| crate::signature::standard::sign(s, msg_id, timestamp, body))
                .collect::<Result<Vec<_>, _>>()?;
            headers.push(("webhook-signature".to_owned(), sigs.join(" ")));
        }
        SignatureScheme::HmacSha256Hex { header, prefix } => {
            let newest =
                secrets.last().ok_or_else(|| crate::signature::SecretFormatError("no signing secret".into()))?;
            let mac = crate::signature::hmac_generic::sign_hex(newest, body);
            headers.push((header.clone(), format!("{prefix}{mac}")));
        }
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_forms_parse_and_come_back() {
        let s: SignatureScheme = serde_json::from_value(json!("standard")).unwrap();
        assert_eq!(s, SignatureScheme::Standard);
        let custom = json!({"scheme": "hmac-sha256-hex", "header": "X-SubscribeFlow-Signature", "prefix": "sha256="});
        let c: SignatureScheme = serde_json::from_value(custom).unwrap();
        assert_eq!(c.header(), Some("x-subscribeflow-signature"));
        let back = json!({"scheme": "hmac-sha256-hex", "header": "x-subscribeflow-signature", "prefix": "sha256="});
        assert_eq!(serde_json::to_value(&c).unwrap(), back);
        assert_eq!(serde_json::from_value::<SignatureScheme>(back).unwrap(), c);
        let bare: SignatureScheme =
            serde_json::from_value(json!({"scheme": "hmac-sha256-hex", "header": "x-sig"})).unwrap();
        assert_eq!(bare, SignatureScheme::HmacSha256Hex { header: "x-sig".into(), prefix: String::new() });
    }

    #[test]
    fn unknown_schemes_fields_and_owned_headers_are_refused() {
        for bad in [
            json!("hmac"),
            json!(7),
            json!({"scheme": "hmac-sha1-hex", "header": "x-sig"}),
            json!({"scheme": "hmac-sha256-hex"}),
            json!({"scheme": "hmac-sha256-hex", "header": "x sig"}),
            json!({"scheme": "hmac-sha256-hex", "header": "Webhook-Signature"}),
            json!({"scheme": "hmac-sha256-hex", "header": "x-hookline-sig"}),
            json!({"scheme": "hmac-sha256-hex", "header": "x-sig", "prefix": "sha 256="}),
            json!({"scheme": "hmac-sha256-hex", "header": "x-sig", "prefix": "a".repeat(65)}),
            json!({"scheme": "hmac-sha256-hex", "header": "x-sig", "encoding": "base64"}),
        ] {
            assert!(serde_json::from_value::<SignatureScheme>(bad.clone()).is_err(), "{bad}");
        }
    }
}
