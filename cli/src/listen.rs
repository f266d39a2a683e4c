//! `hookline listen`: open a listen session, long-poll it for deliveries, forward each
//! to the local server exactly as Hookline would have sent it (signed with the session's
//! secret), report the answer so the attempt log shows it, and close the session on
//! Ctrl-C.

use crate::client::{encode, ApiFailure, Client};
use crate::commands::ListenArgs;
use crate::output::Out;
use anyhow::Context as _;
use hookline_shared::delivery::capped_body;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// `hookline listen`.
pub async fn run(client: Client, args: ListenArgs) -> anyhow::Result<()> {
    let out = Out::new(args.json);
    let forward_to = reqwest::Url::parse(&args.forward_to).context("--forward-to is not a URL")?;
    let mut open = json!({});
    if !args.events.is_empty() {
        open["events"] = json!(args.events);
    }
    let session = client.call(Method::POST, "/v1/listen-sessions", Some(&open)).await?;
    let id = session["id"].as_str().context("the session has no id")?.to_owned();
    let secret = session["secret"].as_str().unwrap_or_default();
    let what = if args.events.is_empty() { "every event".to_owned() } else { args.events.join(",") };
    eprintln!(
        "Ready! Forwarding {what} to {forward_to}\nYour webhook signing secret is {secret} (session {id}; ^C to quit)"
    );
    let local = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let result = tokio::select! {
        r = forward_loop(&client, &local, &id, &forward_to, &out) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    // Closed however the loop ended; a session left open expires by itself anyway.
    let closed = client.call(Method::DELETE, &format!("/v1/listen-sessions/{}", encode(&id)), None).await;
    if result.is_ok() {
        if let Err(e) = closed {
            eprintln!("could not close the session ({e}); it expires by itself in two minutes");
        } else {
            eprintln!("session {id} closed");
        }
    }
    result
}

async fn forward_loop(
    client: &Client,
    local: &reqwest::Client,
    id: &str,
    forward_to: &reqwest::Url,
    out: &Out,
) -> anyhow::Result<()> {
    let poll = format!("/v1/listen-sessions/{}/deliveries?wait=20", encode(id));
    let mut backoff = Duration::from_millis(500);
    loop {
        let page = match client.get(&poll).await {
            Ok(p) => {
                backoff = Duration::from_millis(500);
                p
            }
            Err(e) if e.downcast_ref::<ApiFailure>().is_some_and(|f| f.status == 404) => {
                anyhow::bail!("the listen session expired or was closed: start `hookline listen` again");
            }
            Err(e) if e.downcast_ref::<ApiFailure>().is_some_and(|f| f.status < 500) => return Err(e),
            Err(e) => {
                eprintln!("polling failed ({e}); trying again in {} ms", backoff.as_millis());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        for delivery in page["data"].as_array().map_or(&[][..], Vec::as_slice) {
            let answer = forward(local, forward_to, delivery).await;
            let path = format!(
                "/v1/listen-sessions/{}/deliveries/{}",
                encode(id),
                encode(delivery["id"].as_str().unwrap_or_default())
            );
            // Reported first, so a printed line is one the attempt log already shows.
            if let Err(e) = client.call(Method::POST, &path, Some(&answer)).await {
                eprintln!("could not report the answer to {}: {e}", delivery["event_id"]);
            }
            print(out, delivery, &answer);
        }
    }
}

/// Send one delivery to the local server; the report of what it answered.
async fn forward(local: &reqwest::Client, to: &reqwest::Url, delivery: &Value) -> Value {
    let mut req = local.post(to.clone()).body(delivery["body"].as_str().unwrap_or_default().to_owned());
    if let Some(headers) = delivery["headers"].as_object() {
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str().unwrap_or_default());
        }
    }
    let started = Instant::now();
    let res = req.send().await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let event_id = delivery["event_id"].clone();
    match res {
        Ok(r) => {
            let status = r.status().as_u16();
            // Only as much as the attempt log keeps.
            let text = capped_body(r.text().await.unwrap_or_default());
            json!({"event_id": event_id, "response_code": status, "response_body": text, "duration_ms": duration_ms})
        }
        Err(e) => {
            // With its causes: "connection refused" is what the developer needs to read.
            let causes: Vec<String> = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                .map(ToString::to_string)
                .collect();
            json!({"event_id": event_id, "duration_ms": duration_ms, "error": causes.join(": ")})
        }
    }
}

fn print(out: &Out, delivery: &Value, answer: &Value) {
    let time = chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string();
    if out.json {
        out.compact(&json!({
            "time": chrono::Utc::now(),
            "event_id": delivery["event_id"],
            "type": delivery["event_type"],
            "status": answer["response_code"],
            "error": answer["error"],
            "duration_ms": answer["duration_ms"],
        }));
        return;
    }
    let status = match answer["response_code"].as_u64() {
        Some(code) => out.status(&code.to_string()),
        None => out.status("failed") + &format!(" ({})", answer["error"].as_str().unwrap_or("no answer")),
    };
    out.line(&format!(
        "{}  --> {}  [{}]  <-- {}  {} ms",
        out.dim(&time),
        delivery["event_type"].as_str().unwrap_or("?"),
        delivery["event_id"].as_str().unwrap_or("?"),
        status,
        answer["duration_ms"],
    ));
}
