//! `hookline sign`: print the headers a provider would send with a body, so a signed
//! test request is one `curl` away.

use hookline_shared::signature::sign_as::provider_headers;
use hookline_shared::{EventId, Provider};

/// Schemes `hookline sign` and `hookline trigger --url` can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheme {
    /// `Stripe-Signature`.
    Stripe,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    Standard,
    /// `svix-id`, `svix-timestamp`, `svix-signature`.
    Svix,
    /// `X-Hub-Signature-256` (plus `X-GitHub-Event: ping`).
    Github,
    /// `X-Shopify-Hmac-Sha256`.
    Shopify,
    /// `X-Slack-Request-Timestamp`, `X-Slack-Signature`.
    Slack,
    /// `X-Twilio-Signature` (needs `--url`, the URL the request is sent to).
    Twilio,
    /// `Paddle-Signature`.
    Paddle,
}

impl Scheme {
    /// The provider that signs this way.
    pub fn provider(self) -> Provider {
        match self {
            Scheme::Stripe => Provider::Stripe { tolerance_secs: None },
            Scheme::Standard => Provider::Standard { tolerance_secs: None },
            Scheme::Svix => Provider::Svix { tolerance_secs: None },
            Scheme::Github => Provider::Github,
            Scheme::Shopify => Provider::Shopify,
            Scheme::Slack => Provider::Slack { tolerance_secs: None },
            Scheme::Twilio => Provider::Twilio { url: None },
            Scheme::Paddle => Provider::Paddle { tolerance_secs: None },
        }
    }
}

/// The header lines (`Name: value`) for `body` signed with `secret` at Unix time `now`;
/// `url` is where it will be sent (Twilio signs it). GitHub's and Shopify's requests
/// also name an event (a `ping`, an `orders/create`), as those providers always do.
pub fn headers(scheme: Scheme, secret: &str, body: &[u8], url: Option<&str>, now: i64) -> anyhow::Result<Vec<String>> {
    let mut lines = match scheme {
        Scheme::Github => vec![
            "X-GitHub-Event: ping".to_owned(),
            format!("X-GitHub-Delivery: {}", EventId::new().as_str().trim_start_matches("evt_")),
        ],
        Scheme::Shopify => vec!["X-Shopify-Topic: orders/create".to_owned()],
        _ => Vec::new(),
    };
    let signed = provider_headers(&scheme.provider(), secret, body, url, now).map_err(|e| anyhow::anyhow!("{e}"))?;
    lines.extend(signed.into_iter().map(|(k, v)| format!("{k}: {v}")));
    Ok(lines)
}
