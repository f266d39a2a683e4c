//! `hookline trigger`: a provider's event, of that provider's own shape (a fixture in
//! `fixtures/<provider>/<event>.json`), signed as that provider signs it, sent to a
//! source: through the API, which signs with the source's stored secret
//! (`POST /v1/sources/{id}/trigger`), or straight to an ingest URL, signed here.

use crate::client::Client;
use crate::commands::TriggerArgs;
use crate::fields;
use crate::output::Out;
use crate::sign::Scheme;
use anyhow::Context as _;
use hookline_shared::signature::sign_as::provider_headers;
use rand::Rng as _;
use serde::Deserialize;
use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

/// A fixture file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    /// What the event means, for `--list`.
    description: String,
    /// Headers the provider sends beside its signature.
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    /// The body.
    body: Value,
}

/// The request a fixture becomes: headers and body, fresh ids and times filled in.
#[derive(Debug)]
pub struct Prepared {
    /// Headers beside the signature.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Value,
}

/// The scheme a provider's fixtures are signed with when sent to a URL.
fn scheme_of(provider: &str) -> Option<Scheme> {
    match provider {
        "stripe" => Some(Scheme::Stripe),
        "github" => Some(Scheme::Github),
        "shopify" => Some(Scheme::Shopify),
        // Resend sends through Svix.
        "resend" => Some(Scheme::Svix),
        _ => None,
    }
}

/// The fixture of `provider`'s `event` with fresh ids and times and `--set` applied.
pub fn prepare(
    provider: &str,
    event: &str,
    set: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Prepared> {
    if !FIXTURES.iter().any(|(p, _, _)| *p == provider) {
        let known: Vec<&str> = providers();
        anyhow::bail!("unknown provider `{provider}`: one of {}", known.join(", "));
    }
    let (_, _, text) = FIXTURES.iter().find(|(p, e, _)| *p == provider && *e == event).with_context(|| {
        format!("unknown {provider} event `{event}`: `hookline trigger --list` shows what can be sent")
    })?;
    let fixture: Fixture = serde_json::from_str(text).with_context(|| format!("fixture {provider}/{event}"))?;
    let fresh = Fresh::new(now);
    let mut body = fresh.fill(fixture.body);
    for s in set {
        fields::assign(&mut body, s)?;
    }
    let headers = fixture.headers.into_iter().map(|(k, v)| (k, fresh.fill_text(&v))).collect();
    Ok(Prepared { headers, body })
}

fn providers() -> Vec<&'static str> {
    let mut p: Vec<&str> = FIXTURES.iter().map(|(p, _, _)| *p).collect();
    p.dedup();
    p
}

/// Placeholders in fixtures: `{{id}}` (the same random id throughout one event, so its
/// objects refer to each other), `{{uuid}}`, `{{now}}` (Unix seconds: a number when it
/// is the whole string), `{{now_iso}}`.
struct Fresh {
    id: String,
    uuid: String,
    now: chrono::DateTime<chrono::Utc>,
}

impl Fresh {
    fn new(now: chrono::DateTime<chrono::Utc>) -> Self {
        let mut rng = rand::rng();
        let id: String = (0..24).map(|_| rng.sample(rand::distr::Alphanumeric) as char).collect();
        let b: [u8; 16] = rng.random();
        let h = hex::encode(b);
        let uuid = format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32]);
        Self { id, uuid, now }
    }

    fn fill(&self, v: Value) -> Value {
        match v {
            Value::String(s) if s == "{{now}}" => Value::from(self.now.timestamp()),
            Value::String(s) => Value::String(self.fill_text(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|i| self.fill(i)).collect()),
            Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, self.fill(v))).collect()),
            other => other,
        }
    }

    fn fill_text(&self, s: &str) -> String {
        s.replace("{{id}}", &self.id)
            .replace("{{uuid}}", &self.uuid)
            .replace("{{now_iso}}", &self.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .replace("{{now}}", &self.now.timestamp().to_string())
    }
}

/// `hookline trigger`.
pub async fn run(args: TriggerArgs, client: impl FnOnce() -> anyhow::Result<Client>) -> anyhow::Result<()> {
    let out = Out::new(args.out.json);
    if args.list {
        return list(&out);
    }
    let (Some(provider), Some(event)) = (args.provider.as_deref(), args.event.as_deref()) else {
        anyhow::bail!("give a provider and an event, or --list");
    };
    let now = chrono::Utc::now();
    let prepared = prepare(provider, event, &args.set, now)?;
    match (&args.source, &args.url, &args.secret) {
        (Some(source), _, _) => {
            let client = client()?;
            let headers: serde_json::Map<String, Value> =
                prepared.headers.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            let req = serde_json::json!({"body": prepared.body, "headers": headers});
            let path = format!("/v1/sources/{}/trigger", crate::client::encode(source));
            let answer = client.call(reqwest::Method::POST, &path, Some(&req)).await?;
            if out.json {
                out.value(&answer);
            } else {
                out.line(&format!(
                    "sent {provider} {event} through {source}: event {} ({})",
                    answer["event_id"].as_str().unwrap_or("?"),
                    answer["type"].as_str().unwrap_or("?")
                ));
            }
            Ok(())
        }
        (None, Some(url), Some(secret)) => {
            let scheme =
                args.scheme.or_else(|| scheme_of(provider)).context("no signature scheme for this provider")?;
            let body = serde_json::to_vec(&prepared.body)?;
            let signed = provider_headers(&scheme.provider(), secret, &body, Some(url), now.timestamp())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
            let mut req = http.post(url).header("content-type", "application/json").body(body);
            for (k, v) in prepared.headers.iter().chain(&signed) {
                req = req.header(k.as_str(), v.as_str());
            }
            let res = req.send().await.with_context(|| format!("cannot reach {url}"))?;
            let status = res.status().as_u16();
            let text = res.text().await.unwrap_or_default();
            if out.json {
                out.value(&serde_json::json!({"status": status, "body": text}));
            } else {
                out.line(&format!("sent {provider} {event} to {url}: {status} {}", text.trim()));
            }
            if !(200..300).contains(&status) {
                anyhow::bail!("{url} answered {status}");
            }
            Ok(())
        }
        _ => anyhow::bail!("say where to send it: --source src_… (signed by Hookline), or --url URL --secret SECRET"),
    }
}

fn list(out: &Out) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut json = Vec::new();
    for (provider, event, text) in FIXTURES {
        let f: Fixture = serde_json::from_str(text).with_context(|| format!("fixture {provider}/{event}"))?;
        json.push(serde_json::json!({"provider": provider, "event": event, "description": f.description}));
        rows.push(vec![(*provider).to_owned(), (*event).to_owned(), f.description]);
    }
    if out.json {
        out.value(&Value::Array(json));
    } else {
        out.table(&["PROVIDER", "EVENT", "WHAT IT IS"], &rows);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_parses_and_gets_fresh_ids_each_time() {
        let now = chrono::Utc::now();
        for (provider, event, _) in FIXTURES {
            let a = prepare(provider, event, &[], now).unwrap();
            let b = prepare(provider, event, &[], now).unwrap();
            let text = a.body.to_string() + &format!("{:?}", a.headers);
            assert!(!text.contains("{{"), "{provider}/{event} left a placeholder: {text}");
            assert!(
                a.body != b.body || a.headers != b.headers,
                "{provider}/{event} is the same twice: dedupe would drop it"
            );
        }
        let stripe = prepare("stripe", "invoice.payment_failed", &["data.object.customer=cus_42".into()], now).unwrap();
        assert_eq!(stripe.body["type"], "invoice.payment_failed");
        assert_eq!(stripe.body["created"], now.timestamp());
        assert_eq!(stripe.body["data"]["object"]["customer"], "cus_42");
        assert!(prepare("stripe", "nope", &[], now).unwrap_err().to_string().contains("unknown stripe event"));
        assert!(prepare("nope", "push", &[], now).unwrap_err().to_string().contains("unknown provider"));
        for required in [
            ("stripe", "invoice.payment_failed"),
            ("stripe", "charge.failed"),
            ("stripe", "customer.subscription.created"),
            ("stripe", "customer.subscription.deleted"),
            ("stripe", "checkout.session.completed"),
            ("github", "push"),
            ("github", "pull_request.opened"),
            ("github", "issues.opened"),
            ("shopify", "orders/create"),
            ("resend", "email.delivered"),
            ("resend", "email.bounced"),
        ] {
            assert!(FIXTURES.iter().any(|(p, e, _)| (*p, *e) == required), "{required:?} missing");
            assert!(scheme_of(required.0).is_some());
        }
    }
}
