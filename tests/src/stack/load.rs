//! A steady run on a stack, metered: events published through the API to endpoints, or
//! Stripe-signed requests through ingest, until every delivery has reached the receiver;
//! then what the stack would be billed for, per delivery.

use super::meter::{self, Line};
use super::Stack;
use crate::Receiver;
use anyhow::{anyhow, bail, Context};
use futures::StreamExt as _;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How events enter the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// `POST /v1/events` through API Gateway.
    Api,
    /// Stripe-signed `charge.failed` requests to `/in/{source}` through ingest's Function URL.
    StripeFunctionUrl,
}

/// One steady run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scenario {
    /// A name for the report.
    pub name: &'static str,
    /// Events sent.
    pub events: usize,
    /// Endpoints each event goes to.
    pub fan_out: usize,
    /// How they enter.
    pub entry: Entry,
}

/// What a run cost.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The run.
    pub scenario: Scenario,
    /// Deliveries that reached the receiver.
    pub deliveries: usize,
    /// Bytes of each event's payload as sent.
    pub payload_bytes: usize,
    /// Seconds from the first send to the last delivery.
    pub seconds: f64,
    /// Every billed request, by who made it.
    pub lines: Vec<Line>,
}

/// DynamoDB operations that write.
const WRITES: [&str; 5] = ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"];

impl Report {
    /// DynamoDB requests per delivery, by every part of the stack: (writes, reads).
    pub fn dynamodb_requests_per_delivery(&self) -> (f64, f64) {
        let all = meter::total(&self.lines, None, "dynamodb:").requests;
        let writes: f64 =
            WRITES.iter().map(|op| meter::total(&self.lines, None, &format!("dynamodb:{op}")).requests).sum();
        let n = self.deliveries as f64;
        (writes / n, (all - writes) / n)
    }
}

/// The Stripe event the Stripe run sends (1.6 KB, a `charge.failed` as Stripe sends it).
fn stripe_charge_failed(n: usize) -> anyhow::Result<Value> {
    let text = include_str!("../../stack/charge.failed.json");
    let mut v: Value = serde_json::from_str(text)?;
    v["id"] = json!(format!("evt_load_{n:08}"));
    Ok(v)
}

/// The event the API runs publish: an invoice with a customer and two lines (0.5 KB).
fn invoice(n: usize) -> Value {
    json!({
        "id": format!("in_load_{n:08}"),
        "customer": "cus_R4bXyWq8kHnA2m",
        "amount_due": 2900,
        "currency": "eur",
        "status": "paid",
        "period": {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
        "lines": [
            {"description": "Pro plan", "amount": 2500, "quantity": 1},
            {"description": "Extra seats", "amount": 400, "quantity": 2},
        ],
        "hosted_invoice_url": "https://pay.example.com/invoice/in_load",
    })
}

fn stripe_signature(secret: &str, ts: i64, body: &str) -> anyhow::Result<String> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| anyhow!("{e}"))?;
    mac.update(format!("{ts}.{body}").as_bytes());
    Ok(format!("t={ts},v1={}", hex::encode(mac.finalize().into_bytes())))
}

async fn post(http: &reqwest::Client, url: &str, key: &str, body: Value) -> anyhow::Result<Value> {
    let res = http.post(url).bearer_auth(key).json(&body).send().await?;
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("POST {url}: {status} {v}");
    }
    Ok(v)
}

/// Run `s` on `stack` for a new org of its own, delivering to `receiver`.
pub async fn run(stack: &Stack, receiver: &Receiver, s: Scenario) -> anyhow::Result<Report> {
    let http = reqwest::Client::new();
    let org = json!({"name": s.name, "plan": "pro"});
    let org = post(&http, &format!("{}/v1/orgs", stack.url), &stack.operator_key, org).await?;
    let key = org["api_key"].as_str().context("no api key")?;
    let prefix = format!("/load-{}", s.name);
    for i in 0..s.fan_out {
        let events = if s.entry == Entry::Api { "*" } else { "stripe.*" };
        let hook = json!({"url": format!("{}{prefix}-{i}", receiver.url), "events": [events]});
        post(&http, &format!("{}/v1/webhooks", stack.url), key, hook).await?;
    }
    let secret = "whsec_load_stripe_secret_0001";
    let ingest = match s.entry {
        Entry::Api => String::new(),
        Entry::StripeFunctionUrl => {
            // Named as a user would: its events are `stripe.*`.
            let src = json!({"name": "stripe", "provider": "stripe", "secrets": [secret]});
            let source = post(&http, &format!("{}/v1/sources", stack.url), key, src).await?;
            let base = stack.function_urls.get("IngestFunction").context("ingest has no Function URL")?;
            format!("{base}in/{}", source["id"].as_str().unwrap_or_default())
        }
    };
    let before = stack.meter.read();
    let started = Instant::now();
    let payload_bytes = match s.entry {
        Entry::Api => invoice(0).to_string().len(),
        Entry::StripeFunctionUrl => stripe_charge_failed(0)?.to_string().len(),
    };
    let sent = futures::stream::iter(0..s.events)
        .map(|n| {
            let (http, ingest) = (http.clone(), ingest.clone());
            async move {
                match s.entry {
                    Entry::Api => {
                        let url = format!("{}/v1/events", stack.url);
                        post(&http, &url, key, json!({"type": "invoice.paid", "data": invoice(n)})).await.map(|_| ())
                    }
                    Entry::StripeFunctionUrl => {
                        let body = stripe_charge_failed(n)?.to_string();
                        let sig = stripe_signature(secret, chrono::Utc::now().timestamp(), &body)?;
                        let res = http.post(&ingest).header("Stripe-Signature", sig).body(body).send().await?;
                        anyhow::ensure!(res.status().is_success(), "ingest answered {}", res.status());
                        Ok(())
                    }
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    sent.into_iter().collect::<anyhow::Result<Vec<()>>>()?;

    let want = s.events * s.fan_out;
    let deadline = Instant::now() + Duration::from_secs(120 + want as u64 / 20);
    let delivered = || (0..s.fan_out).map(|i| receiver.got(&format!("{prefix}-{i}")).len()).sum::<usize>();
    while delivered() < want {
        if Instant::now() > deadline {
            bail!("{}: {} of {want} deliveries arrived", s.name, delivered());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    // The last attempts are logged and the last batches deleted just after their POSTs.
    let mut last = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now: Vec<Line> = stack.meter.since(&before).into_iter().filter(|l| !l.what.ends_with("(empty)")).collect();
        if now == last {
            break;
        }
        last = now;
    }
    Ok(Report { scenario: s, deliveries: delivered(), payload_bytes, seconds, lines: last })
}
