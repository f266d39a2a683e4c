//! A source's provider: its signature scheme and the scheme's options.

use serde::{Deserialize, Serialize};

/// How a generic HMAC sender encodes its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HmacEncoding {
    /// Lower or upper case hex.
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

fn default_hmac_header() -> String {
    "x-signature".to_owned()
}

/// Options of the generic HMAC-SHA256 scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmacOptions {
    /// The header that carries the signature.
    #[serde(default = "default_hmac_header")]
    pub header: String,
    /// Hex or base64.
    #[serde(default)]
    pub encoding: HmacEncoding,
    /// An optional prefix before the signature, such as `sha256=`.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// The provider (signature scheme) of a source, with its scheme options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum Provider {
    /// `Stripe-Signature`.
    Stripe {
        /// Timestamp tolerance in seconds (default 300).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_secs: Option<u64>,
    },
    /// Standard Webhooks (Resend and others).
    Standard {
        /// Timestamp tolerance in seconds (default 300).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_secs: Option<u64>,
    },
    /// A sender that signs with Svix (`svix-id`, `svix-timestamp`, `svix-signature`):
    /// the Standard Webhooks scheme under Svix's name.
    Svix {
        /// Timestamp tolerance in seconds (default 300).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_secs: Option<u64>,
    },
    /// Slack `X-Slack-Signature` over `v0:{timestamp}:{body}`.
    Slack {
        /// Timestamp tolerance in seconds (default 300).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_secs: Option<u64>,
    },
    /// Twilio `X-Twilio-Signature`: HMAC-SHA1 over the URL and the sorted form parameters.
    Twilio {
        /// The source's URL as configured at Twilio (`https://…/in/src_…`, no query),
        /// when the URL the request arrives at differs (a proxy or a custom domain in
        /// front); without it, the URL is rebuilt from `Host` and `X-Forwarded-Proto`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Paddle Billing `Paddle-Signature: ts=…;h1=…`.
    Paddle {
        /// Timestamp tolerance in seconds (default 300).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_secs: Option<u64>,
    },
    /// GitHub `X-Hub-Signature-256`.
    Github,
    /// Shopify `X-Shopify-Hmac-Sha256`.
    Shopify,
    /// Generic HMAC-SHA256.
    Hmac(HmacOptions),
    /// A static token in a header.
    Token {
        /// The header to compare (default `Authorization`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
    },
    /// No authentication (for trusted senders and local testing).
    None,
}

impl Provider {
    /// The options this provider takes, beside `provider` itself.
    pub fn option_names(&self) -> &'static [&'static str] {
        match self {
            Provider::Stripe { .. }
            | Provider::Standard { .. }
            | Provider::Svix { .. }
            | Provider::Slack { .. }
            | Provider::Paddle { .. } => &["tolerance_secs"],
            Provider::Twilio { .. } => &["url"],
            Provider::Hmac(_) => &["header", "encoding", "prefix"],
            Provider::Token { .. } => &["header"],
            Provider::Github | Provider::Shopify | Provider::None => &[],
        }
    }

    /// The provider's name as used in event types and the API.
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Stripe { .. } => "stripe",
            Provider::Standard { .. } => "standard",
            Provider::Svix { .. } => "svix",
            Provider::Slack { .. } => "slack",
            Provider::Twilio { .. } => "twilio",
            Provider::Paddle { .. } => "paddle",
            Provider::Github => "github",
            Provider::Shopify => "shopify",
            Provider::Hmac(_) => "hmac",
            Provider::Token { .. } => "token",
            Provider::None => "none",
        }
    }

    /// Check the options beside the secrets: a Twilio `url` is an absolute `http(s)` URL
    /// without a query or fragment (the query is the request's own).
    pub fn check_options(&self) -> Result<(), String> {
        if let Provider::Twilio { url: Some(u) } = self {
            let parsed = url::Url::parse(u).map_err(|e| format!("url: {e}"))?;
            let ok = matches!(parsed.scheme(), "http" | "https")
                && parsed.host().is_some()
                && parsed.query().is_none()
                && parsed.fragment().is_none()
                && u.len() <= 2048;
            if !ok {
                return Err("url: an absolute http(s) URL of at most 2048 characters, without a query".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_serialises_flat_with_options() {
        let p: Provider = serde_json::from_str(r#"{"provider":"hmac","header":"X-Sig","prefix":"sha256="}"#).unwrap();
        assert_eq!(
            p,
            Provider::Hmac(HmacOptions {
                header: "X-Sig".into(),
                encoding: HmacEncoding::Hex,
                prefix: Some("sha256=".into())
            })
        );
        let p: Provider = serde_json::from_str(r#"{"provider":"stripe"}"#).unwrap();
        assert_eq!(p, Provider::Stripe { tolerance_secs: None });
        assert!(serde_json::from_str::<Provider>(r#"{"provider":"paypal"}"#).is_err());
    }
}
