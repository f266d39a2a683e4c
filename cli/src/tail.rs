//! `hookline tail`: follow new events and delivery attempts, oldest first. Events come
//! from `GET /v1/events?after=…` (oldest first from a time), attempts from each
//! webhook's log since a time. An event is recorded a moment after it is received (and
//! listed by when it was received), so each poll looks back a little before the newest
//! item seen and skips what it printed already.

use crate::client::{encode, Client};
use crate::commands::TailArgs;
use crate::output::Out;
use chrono::{DateTime, Utc};
use hookline_shared::delivery::{filter_matches, AttemptStatus};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// How far back each poll looks before the newest item it saw.
const LOOK_BACK: chrono::Duration = chrono::Duration::seconds(30);
/// Time between polls.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How often the list of webhooks is read again.
const WEBHOOKS_EVERY: u32 = 10;

/// `hookline tail`.
pub async fn run(client: Client, args: TailArgs) -> anyhow::Result<()> {
    let start = match &args.since {
        Some(s) => Utc::now() - parse_ago(s)?,
        None => Utc::now(),
    };
    // The statuses are the API's own (`AttemptStatus`); a wrong one is refused here, not
    // by the first poll.
    if let Some(s) = &args.status {
        if serde_json::from_value::<AttemptStatus>(Value::String(s.clone())).is_err() {
            anyhow::bail!("--status `{s}`: delivered, failed, retrying, exhausted, held or pending");
        }
    }
    let out = Out::new(args.json);
    eprintln!(
        "Following events and attempts from {} (^C to quit)",
        start.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S")
    );
    let mut follower = Follower { client, args, out, start, seen: HashMap::new(), webhooks: Vec::new() };
    tokio::select! {
        r = follower.follow() => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// `30s`, `10m`, `2h`, `1d`.
fn parse_ago(s: &str) -> anyhow::Result<chrono::Duration> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| anyhow::anyhow!("--since `{s}`: a number and s, m, h or d (`10m`)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => anyhow::bail!("--since `{s}`: a number and s, m, h or d (`10m`)"),
    };
    Ok(chrono::Duration::seconds(secs))
}

struct Follower {
    client: Client,
    args: TailArgs,
    out: Out,
    /// Nothing before this is shown.
    start: DateTime<Utc>,
    /// What was printed, by key, with its time (forgotten once behind the look-back).
    seen: HashMap<String, DateTime<Utc>>,
    webhooks: Vec<String>,
}

/// One thing to print.
struct Item {
    at: DateTime<Utc>,
    key: String,
    value: Value,
}

impl Follower {
    async fn follow(&mut self) -> anyhow::Result<()> {
        let mut polls = 0u32;
        loop {
            if polls.is_multiple_of(WEBHOOKS_EVERY) {
                let list = self.client.get("/v1/webhooks").await?;
                self.webhooks = list["data"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|w| w["id"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
            }
            polls = polls.wrapping_add(1);
            let from = self.seen.values().max().map_or(self.start, |newest| (*newest - LOOK_BACK).max(self.start));
            let mut items = Vec::new();
            if self.args.status.is_none() {
                items.extend(self.events(from).await?);
            }
            items.extend(self.attempts(from).await?);
            items.sort_by(|a, b| (a.at, &a.key).cmp(&(b.at, &b.key)));
            for item in items {
                if self.seen.insert(item.key.clone(), item.at).is_none() {
                    self.print(&item.value);
                }
            }
            let horizon = from - LOOK_BACK;
            self.seen.retain(|_, at| *at >= horizon);
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    fn wanted(&self, event_type: &str) -> bool {
        self.args.types.is_empty() || self.args.types.iter().any(|t| filter_matches(t, event_type))
    }

    async fn events(&self, from: DateTime<Utc>) -> anyhow::Result<Vec<Item>> {
        let path = format!("/v1/events?after={}", encode(&from.to_rfc3339()));
        let all = self.client.all(&path, |_| {}).await?;
        Ok(all
            .into_iter()
            .filter(|e| self.wanted(e["type"].as_str().unwrap_or_default()))
            .filter_map(|e| {
                let at = time(&e["created_at"])?;
                let key = format!("event {}", e["id"].as_str()?);
                Some(Item { at, key, value: json!({"kind": "event", "event": e}) })
            })
            .collect())
    }

    async fn attempts(&self, from: DateTime<Utc>) -> anyhow::Result<Vec<Item>> {
        let mut items = Vec::new();
        for id in &self.webhooks {
            let mut path = format!("/v1/webhooks/{}/logs?since={}", encode(id), encode(&from.to_rfc3339()));
            if let Some(s) = &self.args.status {
                path.push_str(&format!("&status={}", encode(s)));
            }
            let logs = match self.client.all(&path, |_| {}).await {
                Ok(l) => l,
                // Deleted since the list was read.
                Err(e) if e.downcast_ref::<crate::client::ApiFailure>().is_some_and(|f| f.status == 404) => continue,
                Err(e) => return Err(e),
            };
            items.extend(
                logs.into_iter().filter(|a| self.wanted(a["event_type"].as_str().unwrap_or_default())).filter_map(
                    |a| {
                        let at = time(&a["created_at"])?;
                        // An attempt's entry changes (held or pending, then sent): each state once.
                        let key = format!("attempt {} {}", a["id"].as_str()?, a["status"].as_str()?);
                        Some(Item { at, key, value: json!({"kind": "attempt", "attempt": a}) })
                    },
                ),
            );
        }
        Ok(items)
    }

    fn print(&self, v: &Value) {
        if self.out.json {
            self.out.compact(v);
            return;
        }
        let out = &self.out;
        if let Some(e) = v.get("event") {
            out.line(&format!(
                "{}  event    {}  {}",
                out.dim(&local(&e["created_at"])),
                e["type"].as_str().unwrap_or("?"),
                out.dim(e["id"].as_str().unwrap_or("?")),
            ));
        } else if let Some(a) = v.get("attempt") {
            let code = a["response_code"].as_u64().map_or_else(|| "-".to_owned(), |c| out.status(&c.to_string()));
            out.line(&format!(
                "{}  attempt  {}  {}  -> {}  {} {} {} ms{}",
                out.dim(&local(&a["created_at"])),
                a["event_type"].as_str().unwrap_or("?"),
                out.dim(a["event_id"].as_str().unwrap_or("?")),
                a["endpoint_id"].as_str().unwrap_or("?"),
                out.status(a["status"].as_str().unwrap_or("?")),
                code,
                a["duration_ms"],
                a["error"].as_str().map(|e| format!("  ({e})")).unwrap_or_default(),
            ));
        }
    }
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?).ok().map(|t| t.with_timezone(&Utc))
}

fn local(v: &Value) -> String {
    time(v).map(|t| t.with_timezone(&chrono::Local).format("%H:%M:%S").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_number_and_a_unit() {
        assert_eq!(parse_ago("10m").unwrap(), chrono::Duration::minutes(10));
        assert_eq!(parse_ago("2h").unwrap(), chrono::Duration::hours(2));
        assert_eq!(parse_ago("1d").unwrap(), chrono::Duration::days(1));
        assert_eq!(parse_ago("45s").unwrap(), chrono::Duration::seconds(45));
        assert!(parse_ago("10").is_err());
        assert!(parse_ago("m").is_err());
        assert!(parse_ago("10w").is_err());
    }
}
