//! Signing as a provider signs: the headers a provider would send with a body. For
//! `hookline sign` and `hookline trigger` (which sign locally) and the API's trigger
//! (which signs with a source's stored secret); the verifiers in this module's siblings
//! check the result.

use super::{paddle, slack, standard, stripe, twilio};
use crate::ids::EventId;
use crate::provider::{HmacEncoding, Provider};
use base64::Engine as _;

/// The headers `provider` sends with `body` signed with `secret` at Unix time `now`;
/// `url` is where it is sent (Twilio signs it). Event headers (GitHub's event name,
/// Shopify's topic) are the caller's.
pub fn provider_headers(
    provider: &Provider,
    secret: &str,
    body: &[u8],
    url: Option<&str>,
    now: i64,
) -> Result<Vec<(String, String)>, String> {
    let raw_mac = || super::mac(&super::keyed(secret.as_bytes()), &[body]);
    let h = |name: &str, value: String| (name.to_owned(), value);
    Ok(match provider {
        Provider::Stripe { .. } => vec![h("Stripe-Signature", stripe::sign(secret, now, body))],
        Provider::Standard { .. } | Provider::Svix { .. } => {
            let id = format!("msg_{}", EventId::new().as_str().trim_start_matches("evt_"));
            let prefix = if matches!(provider, Provider::Svix { .. }) { "svix" } else { "webhook" };
            let signature = standard::sign(secret, &id, now, body).map_err(|e| e.to_string())?;
            vec![
                h(&format!("{prefix}-id"), id),
                h(&format!("{prefix}-timestamp"), now.to_string()),
                h(&format!("{prefix}-signature"), signature),
            ]
        }
        Provider::Github => vec![h("X-Hub-Signature-256", format!("sha256={}", hex::encode(raw_mac())))],
        Provider::Shopify => {
            vec![h("X-Shopify-Hmac-Sha256", base64::engine::general_purpose::STANDARD.encode(raw_mac()))]
        }
        Provider::Slack { .. } => vec![
            h("X-Slack-Request-Timestamp", now.to_string()),
            h("X-Slack-Signature", slack::sign(secret, now, body)),
        ],
        Provider::Twilio { .. } => {
            let url = url.ok_or("twilio signs the URL the request is sent to")?;
            vec![
                h("Content-Type", "application/x-www-form-urlencoded".to_owned()),
                h("X-Twilio-Signature", twilio::sign(secret, url, body)),
            ]
        }
        Provider::Paddle { .. } => vec![h("Paddle-Signature", paddle::sign(secret, now, body))],
        Provider::Hmac(o) => {
            let mac = raw_mac();
            let encoded = match o.encoding {
                HmacEncoding::Hex => hex::encode(mac),
                HmacEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(mac),
            };
            vec![h(&o.header, format!("{}{encoded}", o.prefix.as_deref().unwrap_or("")))]
        }
        Provider::Token { header } => vec![h(header.as_deref().unwrap_or("Authorization"), secret.to_owned())],
        Provider::None => Vec::new(),
    })
}
