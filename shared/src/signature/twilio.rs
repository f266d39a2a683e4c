//! Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1>` over the full URL Twilio requested
//! followed by each form parameter's name and value, sorted by name, keyed with the
//! account's auth token. A JSON body is covered instead by a `bodySHA256` query
//! parameter, its hex SHA-256. Twilio may or may not count a default port as part of
//! the URL, so both forms are tried, as its own library does.

use super::{accepted_if, header, Rejection};
use crate::domain::Secret;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const HEADER: &str = "x-twilio-signature";

type KeyedSha1 = Hmac<Sha1>;

/// Prepared Twilio check.
#[derive(Clone)]
pub struct Twilio {
    keys: Vec<KeyedSha1>,
    /// The source's URL as configured at Twilio (scheme, host and path); without it, the
    /// URL is rebuilt from the request's `Host` and `X-Forwarded-Proto`.
    url: Option<String>,
}

impl Twilio {
    /// The auth token's bytes are the key.
    pub fn new(secrets: &[Secret], url: Option<&str>) -> Self {
        let keys = secrets.iter().map(|s| keyed(s.expose().as_bytes())).collect();
        Self { keys, url: url.map(|u| u.trim_end_matches('?').to_owned()) }
    }

    /// Verify one request sent to `target` (its path and query).
    pub fn verify(&self, headers: &HeaderMap, target: &str, body: &[u8]) -> Result<(), Rejection> {
        let sig = decode_b64_20(header(headers, HEADER)?).ok_or(Rejection::MalformedHeader(HEADER))?;
        let url = match &self.url {
            Some(base) => format!("{base}{}", target.find('?').map_or("", |i| &target[i..])),
            None => {
                let host = header(headers, "host")?;
                let proto = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok());
                let proto = proto.and_then(|p| p.split(',').next()).map_or("http", str::trim);
                format!("{proto}://{host}{target}")
            }
        };
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let params = match url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "bodySHA256") {
            Some((_, hash)) => {
                let matches = hex::encode(Sha256::digest(body)).as_bytes().ct_eq(hash.to_lowercase().as_bytes());
                accepted_if(matches)?;
                String::new()
            }
            None => sorted_params(body),
        };
        let mut found = subtle::Choice::from(0);
        for url in port_forms(&url) {
            for key in &self.keys {
                let mut m = key.clone();
                m.update(url.as_bytes());
                m.update(params.as_bytes());
                found |= m.finalize().into_bytes().as_slice().ct_eq(&sig);
            }
        }
        accepted_if(found)
    }
}

/// Produce an `X-Twilio-Signature` value for a form `body` posted to `url`.
pub fn sign(token: &str, url: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    let mut m = keyed(token.as_bytes());
    m.update(url.as_bytes());
    if !url.contains("bodySHA256=") {
        m.update(sorted_params(body).as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

fn keyed(key: &[u8]) -> KeyedSha1 {
    <KeyedSha1 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// Each distinct form parameter as `name` then `value`, sorted by name, then value.
fn sorted_params(body: &[u8]) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    pairs.sort();
    pairs.dedup();
    pairs.into_iter().map(|(k, v)| k + &v).collect()
}

/// `url` as written, and with its port removed when it has one or the scheme's default
/// added when it has none (Twilio signs one or the other).
fn port_forms(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_owned()];
    let Some((scheme, after)) = url.split_once("://") else { return forms };
    let default = match scheme {
        "https" => 443,
        "http" => 80,
        _ => return forms,
    };
    let (authority, rest) = after.split_at(after.find(['/', '?']).unwrap_or(after.len()));
    let other = match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host.to_owned(),
        _ => format!("{authority}:{default}"),
    };
    forms.push(format!("{scheme}://{other}{rest}"));
    forms
}

fn decode_b64_20(s: &str) -> Option<[u8; 20]> {
    use base64::Engine as _;
    let mut buf = [0u8; 32];
    let n = base64::engine::general_purpose::STANDARD.decode_slice(s.trim(), &mut buf).ok()?;
    buf[..n].try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::headers;
    use super::*;

    // Twilio's documented example ("Webhooks security"), signed by the Python library
    // in its own tests: the URL with a query, the form parameters, and the token.
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const BODY: &[u8] =
        b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
    const EXPECTED: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    #[test]
    fn published_vector_with_the_configured_url() {
        assert_eq!(sign(TOKEN, URL, BODY), EXPECTED);
        let t = Twilio::new(&[Secret::new(TOKEN)], Some("https://mycompany.com/myapp.php"));
        let h = headers(&[("X-Twilio-Signature", EXPECTED)]);
        assert_eq!(t.verify(&h, "/in/src_1?foo=1&bar=2", BODY), Ok(()));
        assert_eq!(t.verify(&h, "/in/src_1?foo=1&bar=3", BODY), Err(Rejection::NoMatchingSignature));
        let tampered = [BODY, b"5"].concat();
        assert_eq!(t.verify(&h, "/in/src_1?foo=1&bar=2", &tampered), Err(Rejection::NoMatchingSignature));
    }

    #[test]
    fn the_url_is_rebuilt_from_the_request_with_or_without_its_default_port() {
        let t = Twilio::new(&[Secret::new("other"), Secret::new(TOKEN)], None);
        let with_port = sign(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", BODY);
        for sig in [EXPECTED, with_port.as_str()] {
            let h = headers(&[("X-Twilio-Signature", sig), ("Host", "mycompany.com"), ("X-Forwarded-Proto", "https")]);
            assert_eq!(t.verify(&h, "/myapp.php?foo=1&bar=2", BODY), Ok(()), "{sig}");
        }
        let h =
            headers(&[("X-Twilio-Signature", EXPECTED), ("Host", "mycompany.com:443"), ("X-Forwarded-Proto", "https")]);
        assert_eq!(t.verify(&h, "/myapp.php?foo=1&bar=2", BODY), Ok(()));
        let h = headers(&[("X-Twilio-Signature", EXPECTED), ("Host", "mycompany.com")]);
        assert_eq!(t.verify(&h, "/myapp.php?foo=1&bar=2", BODY), Err(Rejection::NoMatchingSignature), "http");
    }

    #[test]
    fn a_json_body_is_covered_by_its_hash_in_the_url() {
        let body = br#"{"property":"value","boolean":true}"#;
        let target = format!("/in/src_1?bodySHA256={}", hex::encode(Sha256::digest(body)));
        let url = format!("https://hooks.example.com{target}");
        let t = Twilio::new(&[Secret::new(TOKEN)], Some("https://hooks.example.com/in/src_1"));
        let h = headers(&[("X-Twilio-Signature", &sign(TOKEN, &url, body))]);
        assert_eq!(t.verify(&h, &target, body), Ok(()));
        assert_eq!(
            t.verify(&h, &target, br#"{"property":"valuf","boolean":true}"#),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn header_problems() {
        let t = Twilio::new(&[Secret::new(TOKEN)], None);
        assert_eq!(t.verify(&headers(&[]), "/", b""), Err(Rejection::MissingHeader(HEADER)));
        let h = headers(&[("X-Twilio-Signature", "not base64!")]);
        assert_eq!(t.verify(&h, "/", b""), Err(Rejection::MalformedHeader(HEADER)));
        let h = headers(&[("X-Twilio-Signature", EXPECTED)]);
        assert_eq!(t.verify(&h, "/", b""), Err(Rejection::MissingHeader("host")));
    }
}
