//! `hookline sign`: print the headers a provider would send with a body, so a signed
//! test request is one `curl` away.

use hookline_shared::signature::{paddle, slack, standard, stripe, twilio};
use hookline_shared::EventId;

/// Schemes `hookline sign` can produce.
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

/// The header lines (`Name: value`) for `body` signed with `secret` at Unix time `now`;
/// `url` is where it will be sent (Twilio signs it).
pub fn headers(scheme: Scheme, secret: &str, body: &[u8], url: Option<&str>, now: i64) -> anyhow::Result<Vec<String>> {
    use base64::Engine as _;
    let raw_mac = || {
        use hmac::Mac as _;
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        m.update(body);
        m.finalize().into_bytes()
    };
    Ok(match scheme {
        Scheme::Stripe => vec![format!("Stripe-Signature: {}", stripe::sign(secret, now, body))],
        Scheme::Standard | Scheme::Svix => {
            let id = format!("msg_{}", EventId::new().as_str().trim_start_matches("evt_"));
            let prefix = if scheme == Scheme::Svix { "svix" } else { "webhook" };
            vec![
                format!("{prefix}-id: {id}"),
                format!("{prefix}-timestamp: {now}"),
                format!("{prefix}-signature: {}", standard::sign(secret, &id, now, body)?),
            ]
        }
        Scheme::Github => vec![
            "X-GitHub-Event: ping".to_owned(),
            format!("X-GitHub-Delivery: {}", EventId::new().as_str().trim_start_matches("evt_")),
            format!("X-Hub-Signature-256: sha256={}", hex::encode(raw_mac())),
        ],
        Scheme::Shopify => vec![
            "X-Shopify-Topic: orders/create".to_owned(),
            format!("X-Shopify-Hmac-Sha256: {}", base64::engine::general_purpose::STANDARD.encode(raw_mac())),
        ],
        Scheme::Slack => vec![
            format!("X-Slack-Request-Timestamp: {now}"),
            format!("X-Slack-Signature: {}", slack::sign(secret, now, body)),
        ],
        Scheme::Twilio => {
            let url = url.ok_or_else(|| anyhow::anyhow!("twilio signs the URL: give --url"))?;
            vec![
                "Content-Type: application/x-www-form-urlencoded".to_owned(),
                format!("X-Twilio-Signature: {}", twilio::sign(secret, url, body)),
            ]
        }
        Scheme::Paddle => vec![format!("Paddle-Signature: {}", paddle::sign(secret, now, body))],
    })
}
