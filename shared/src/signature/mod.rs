//! Inbound signature schemes (one module each) and the compiled [`Verifier`].
//!
//! Secrets are decoded and HMAC keys prepared once, when a source is loaded, so the
//! hot path only clones a keyed HMAC state and hashes the message. Every comparison
//! is constant-time, several secrets may be active at once (rotation), and a failed
//! check returns a [`Rejection`] that says why: it is logged, never sent to the caller.

pub mod github;
pub mod hmac_generic;
pub mod paddle;
pub mod shopify;
pub mod sign_as;
pub mod slack;
pub mod standard;
pub mod stripe;
pub mod token;
pub mod twilio;

use crate::domain::Secret;
use crate::provider::Provider;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// `Debug` for a prepared scheme: its name only, never key material.
macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), "(keys redacted)"))
            }
        }
    )*};
}
redacted_debug!(
    stripe::Stripe,
    standard::Standard,
    github::Github,
    shopify::Shopify,
    slack::Slack,
    twilio::Twilio,
    paddle::Paddle,
    hmac_generic::GenericHmac,
    token::Token
);

/// HMAC-SHA256 with its key already absorbed.
pub type KeyedMac = Hmac<Sha256>;

/// Default timestamp tolerance for schemes that sign a timestamp.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Why a request's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A header the scheme requires is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but cannot be parsed.
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    /// The signed timestamp is further from now than the tolerance allows.
    #[error("timestamp outside tolerance ({age_secs} s from now)")]
    StaleTimestamp {
        /// now − timestamp, in seconds (negative for a timestamp in the future).
        age_secs: i64,
    },
    /// The signatures were well formed but none matches any active secret.
    #[error("no matching signature")]
    NoMatchingSignature,
}

/// A secret that cannot be used with its scheme (e.g. a `whsec_` secret that is not base64).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("wrong secret format: {0}")]
pub struct SecretFormatError(pub String);

/// A source's signature check, prepared once from its provider settings and secrets.
#[derive(Clone)]
pub struct Verifier {
    scheme: Scheme,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secret; only say which scheme this is.
        f.debug_struct("Verifier").field("scheme", &self.scheme.name()).finish()
    }
}

#[derive(Clone)]
enum Scheme {
    Stripe(stripe::Stripe),
    Standard(standard::Standard),
    Github(github::Github),
    Shopify(shopify::Shopify),
    Slack(slack::Slack),
    Twilio(twilio::Twilio),
    Paddle(paddle::Paddle),
    Hmac(hmac_generic::GenericHmac),
    Token(token::Token),
    None,
}

impl Scheme {
    fn name(&self) -> &'static str {
        match self {
            Scheme::Stripe(_) => "stripe",
            Scheme::Standard(_) => "standard",
            Scheme::Github(_) => "github",
            Scheme::Shopify(_) => "shopify",
            Scheme::Slack(_) => "slack",
            Scheme::Twilio(_) => "twilio",
            Scheme::Paddle(_) => "paddle",
            Scheme::Hmac(_) => "hmac",
            Scheme::Token(_) => "token",
            Scheme::None => "none",
        }
    }
}

impl Verifier {
    /// Prepare the check for `provider` with the given active secrets.
    pub fn new(provider: &Provider, secrets: &[Secret]) -> Result<Self, SecretFormatError> {
        if secrets.is_empty() && !matches!(provider, Provider::None) {
            return Err(SecretFormatError("at least one secret is required".into()));
        }
        let scheme = match provider {
            Provider::Stripe { tolerance_secs } => {
                Scheme::Stripe(stripe::Stripe::new(secrets, tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS)))
            }
            Provider::Standard { tolerance_secs } | Provider::Svix { tolerance_secs } => {
                Scheme::Standard(standard::Standard::new(secrets, tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS))?)
            }
            Provider::Slack { tolerance_secs } => {
                Scheme::Slack(slack::Slack::new(secrets, tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS)))
            }
            Provider::Twilio { url } => Scheme::Twilio(twilio::Twilio::new(secrets, url.as_deref())),
            Provider::Paddle { tolerance_secs } => {
                Scheme::Paddle(paddle::Paddle::new(secrets, tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS)))
            }
            Provider::Github => Scheme::Github(github::Github::new(secrets)),
            Provider::Shopify => Scheme::Shopify(shopify::Shopify::new(secrets)),
            Provider::Hmac(opts) => Scheme::Hmac(hmac_generic::GenericHmac::new(opts, secrets)?),
            Provider::Token { header } => Scheme::Token(token::Token::new(header.as_deref(), secrets)?),
            Provider::None => Scheme::None,
        };
        Ok(Self { scheme })
    }

    /// Check a request sent to `target` (its path and query, which Twilio signs). `now`
    /// is the current Unix time in seconds.
    pub fn verify(&self, headers: &HeaderMap, target: &str, body: &[u8], now: i64) -> Result<(), Rejection> {
        match &self.scheme {
            Scheme::Stripe(s) => s.verify(headers, body, now),
            Scheme::Standard(s) => s.verify(headers, body, now),
            Scheme::Github(s) => s.verify(headers, body),
            Scheme::Shopify(s) => s.verify(headers, body),
            Scheme::Slack(s) => s.verify(headers, body, now),
            Scheme::Twilio(s) => s.verify(headers, target, body),
            Scheme::Paddle(s) => s.verify(headers, body, now),
            Scheme::Hmac(s) => s.verify(headers, body),
            Scheme::Token(s) => s.verify(headers),
            Scheme::None => Ok(()),
        }
    }
}

/// Keyed HMAC states, one per raw secret (the secret's UTF-8 bytes are the key).
pub(crate) fn raw_keys(secrets: &[Secret]) -> Vec<KeyedMac> {
    secrets.iter().map(|s| keyed(s.expose().as_bytes())).collect()
}

pub(crate) fn keyed(key: &[u8]) -> KeyedMac {
    // HMAC accepts keys of any length, so this cannot fail.
    <KeyedMac as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// The MAC of the concatenated `parts` under one prepared key.
pub(crate) fn mac(key: &KeyedMac, parts: &[&[u8]]) -> [u8; 32] {
    let mut m = key.clone();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Accepted when any candidate equals the MAC of `parts` under any key, compared in constant time.
pub(crate) fn any_match(keys: &[KeyedMac], parts: &[&[u8]], candidates: &[[u8; 32]]) -> Result<(), Rejection> {
    let mut found = subtle::Choice::from(0);
    for key in keys {
        let expected = mac(key, parts);
        for c in candidates {
            found |= expected.ct_eq(c);
        }
    }
    accepted_if(found)
}

/// The verdict of a constant-time comparison.
pub(crate) fn accepted_if(found: subtle::Choice) -> Result<(), Rejection> {
    if bool::from(found) {
        Ok(())
    } else {
        Err(Rejection::NoMatchingSignature)
    }
}

/// A header's value as text, or the reason it cannot be used.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, Rejection> {
    match headers.get(name) {
        None => Err(Rejection::MissingHeader(name)),
        Some(v) => v.to_str().map_err(|_| Rejection::MalformedHeader(name)),
    }
}

/// The first of several alternative header names that is present.
pub(crate) fn header_any<'a>(headers: &'a HeaderMap, names: &[&'static str]) -> Result<&'a str, Rejection> {
    for name in names {
        if let Some(v) = headers.get(*name) {
            return v.to_str().map_err(|_| Rejection::MalformedHeader(name));
        }
    }
    Err(Rejection::MissingHeader(names[0]))
}

/// Check a signed Unix timestamp against now, in both directions.
pub(crate) fn check_timestamp(ts: i64, now: i64, tolerance: u64) -> Result<(), Rejection> {
    let age = now.saturating_sub(ts);
    if age.unsigned_abs() > tolerance {
        return Err(Rejection::StaleTimestamp { age_secs: age });
    }
    Ok(())
}

/// A `key=value` list such as Stripe's `t=…,v1=…` or Paddle's `ts=…;h1=…`: the signed
/// timestamp (as sent, for the signed string, and as a number) and each signature that
/// decodes as hex. One that does not cannot match and is passed over, as the providers'
/// own libraries do; none at all, or no timestamp, is a malformed `header`.
pub(crate) fn timestamp_and_hex_signatures<'a>(
    value: &'a str,
    separator: char,
    keys: (&str, &str),
    header: &'static str,
) -> Result<(&'a str, i64, Vec<[u8; 32]>), Rejection> {
    let mut timestamp = None;
    let mut sigs: Vec<[u8; 32]> = Vec::with_capacity(2);
    for item in value.split(separator) {
        let Some((k, v)) = item.trim().split_once('=') else { continue };
        if k == keys.0 {
            timestamp = Some(v);
        } else if k == keys.1 {
            sigs.extend(decode_hex32(v));
        }
    }
    let ts_text = timestamp.ok_or(Rejection::MalformedHeader(header))?;
    let ts: i64 = ts_text.parse().map_err(|_| Rejection::MalformedHeader(header))?;
    if sigs.is_empty() {
        return Err(Rejection::MalformedHeader(header));
    }
    Ok((ts_text, ts, sigs))
}

pub(crate) fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim(), &mut out).ok()?;
    Some(out)
}

pub(crate) fn decode_b64_32(s: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    // Decode into the stack: this runs on every inbound request.
    let mut buf = [0u8; 48];
    let n = base64::engine::general_purpose::STANDARD.decode_slice(s.trim(), &mut buf).ok()?;
    buf[..n].try_into().ok()
}

#[cfg(test)]
pub(crate) mod test_support {
    use http::{HeaderMap, HeaderName, HeaderValue};

    pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }
}
