//! The resource commands (`sources`, `webhooks`, `events`, `schedules`, `recurring`):
//! each a call of the API, its answer as a table or as JSON.

use crate::client::{encode, Client};
use crate::commands::{BodyArgs, EventsCmd, ListArgs, OutArgs, RecurringCmd, SchedulesCmd, SourcesCmd, WebhooksCmd};
use crate::fields;
use crate::output::{cell, Out};
use reqwest::Method;
use serde_json::Value;

/// Columns of a table: header and JSON pointer.
type Columns = &'static [(&'static str, &'static str)];

const SOURCE_COLUMNS: Columns =
    &[("ID", "/id"), ("NAME", "/name"), ("PROVIDER", "/provider"), ("INGEST URL", "/ingest_url")];
const WEBHOOK_COLUMNS: Columns = &[("ID", "/id"), ("URL", "/url"), ("EVENTS", "/events"), ("STATUS", "/status")];
const EVENT_COLUMNS: Columns = &[("ID", "/id"), ("TYPE", "/type"), ("CREATED", "/created_at"), ("SOURCE", "/source")];
const ATTEMPT_COLUMNS: Columns = &[
    ("TIME", "/created_at"),
    ("EVENT", "/event_id"),
    ("TYPE", "/event_type"),
    ("STATUS", "/status"),
    ("CODE", "/response_code"),
    ("MS", "/duration_ms"),
    ("ERROR", "/error"),
];
const SCHEDULE_COLUMNS: Columns =
    &[("ID", "/id"), ("TYPE", "/type"), ("STATUS", "/status"), ("NEXT RUN (UTC)", "/next_run_at"), ("KEY", "/key")];
const RECURRING_COLUMNS: Columns =
    &[("THING", "/thing"), ("ID", "/id"), ("STATUS", "/status"), ("NEXT RUN (UTC)", "/next_run_at"), ("CRON", "/cron")];
const REJECTION_COLUMNS: Columns =
    &[("TIME", "/at"), ("REASON", "/reason"), ("HEADER", "/header"), ("SIZE", "/body_size")];

/// `sources …`.
pub async fn sources(c: &Client, cmd: SourcesCmd) -> anyhow::Result<()> {
    match cmd {
        SourcesCmd::List(l) => list(c, "/v1/sources", &l, SOURCE_COLUMNS).await,
        SourcesCmd::Get(a) => show(c, Method::GET, &format!("/v1/sources/{}", seg(&a.id)), None, a.out).await,
        SourcesCmd::Create(a) => show(c, Method::POST, "/v1/sources", Some(body(&a.body)?), a.out).await,
        SourcesCmd::Update(a) => {
            show(c, Method::PATCH, &format!("/v1/sources/{}", seg(&a.id)), Some(body(&a.body)?), a.out).await
        }
        SourcesCmd::Delete(a) => delete(c, &format!("/v1/sources/{}", seg(&a.id)), &a.id, a.out).await,
        SourcesCmd::Rejections(a) => {
            let path = format!("/v1/sources/{}/rejections", seg(&a.id));
            let l = ListArgs { all: false, limit: None, cursor: None, out: a.out };
            list(c, &path, &l, REJECTION_COLUMNS).await
        }
        SourcesCmd::Backfill(a) => {
            show(c, Method::POST, &format!("/v1/sources/{}/backfill", seg(&a.id)), Some(body(&a.body)?), a.out).await
        }
    }
}

/// `webhooks …`.
pub async fn webhooks(c: &Client, cmd: WebhooksCmd) -> anyhow::Result<()> {
    let action = |id: &str, what: &str| format!("/v1/webhooks/{}/{what}", seg(id));
    match cmd {
        WebhooksCmd::List(l) => list(c, "/v1/webhooks", &l, WEBHOOK_COLUMNS).await,
        WebhooksCmd::Get(a) => show(c, Method::GET, &format!("/v1/webhooks/{}", seg(&a.id)), None, a.out).await,
        WebhooksCmd::Create(a) => show(c, Method::POST, "/v1/webhooks", Some(body(&a.body)?), a.out).await,
        WebhooksCmd::Update(a) => {
            show(c, Method::PATCH, &format!("/v1/webhooks/{}", seg(&a.id)), Some(body(&a.body)?), a.out).await
        }
        WebhooksCmd::Delete(a) => delete(c, &format!("/v1/webhooks/{}", seg(&a.id)), &a.id, a.out).await,
        WebhooksCmd::Test(a) => show(c, Method::POST, &action(&a.id, "test"), Some(empty()), a.out).await,
        WebhooksCmd::Replay(a) => {
            // One call that may queue thousands: say so while it runs.
            let out = Out::new(a.out.json);
            out.progress(&format!("replaying {}…", a.id));
            let done = show(c, Method::POST, &action(&a.id, "replay"), Some(body(&a.body)?), a.out).await;
            out.progress_done();
            done
        }
        WebhooksCmd::Enable(a) => show(c, Method::POST, &action(&a.id, "enable"), Some(empty()), a.out).await,
        WebhooksCmd::Pause(a) => show(c, Method::POST, &action(&a.id, "pause"), Some(empty()), a.out).await,
        WebhooksCmd::Resume(a) => show(c, Method::POST, &action(&a.id, "resume"), Some(empty()), a.out).await,
        WebhooksCmd::RotateSecret(a) => {
            show(c, Method::POST, &action(&a.id, "rotate-secret"), Some(empty()), a.out).await
        }
        WebhooksCmd::Logs(a) => {
            let mut path = action(&a.id, "logs");
            if let Some(s) = &a.status {
                path.push_str(&format!("?status={}", encode(s)));
            }
            list(c, &path, &a.list, ATTEMPT_COLUMNS).await
        }
    }
}

/// `events …`.
pub async fn events(c: &Client, cmd: EventsCmd) -> anyhow::Result<()> {
    match cmd {
        EventsCmd::List(a) => {
            let path = match &a.event_type {
                Some(t) => format!("/v1/events?type={}", encode(t)),
                None => "/v1/events".to_owned(),
            };
            list(c, &path, &a.list, EVENT_COLUMNS).await
        }
        EventsCmd::Get(a) => {
            let event = c.get(&format!("/v1/events/{}", seg(&a.id))).await?;
            let out = Out::new(a.out.json);
            if out.json {
                out.value(&event);
                return Ok(());
            }
            describe(&out, &event, &["attempts"]);
            out.line("");
            out.line("attempts:");
            table(&out, event["attempts"].as_array().map_or(&[][..], Vec::as_slice), ATTEMPT_COLUMNS);
            Ok(())
        }
        EventsCmd::Publish(a) => {
            let data = body(&a.data)?;
            let mut req = serde_json::json!({"type": a.event_type, "data": data});
            if let Some(k) = a.ordering_key {
                req["ordering_key"] = Value::String(k);
            }
            show(c, Method::POST, "/v1/events", Some(req), a.out).await
        }
    }
}

/// `schedules …`.
pub async fn schedules(c: &Client, cmd: SchedulesCmd) -> anyhow::Result<()> {
    let one = |id: &str| format!("/v1/schedules/{}", seg(id));
    match cmd {
        SchedulesCmd::List(l) => list(c, "/v1/schedules", &l, SCHEDULE_COLUMNS).await,
        SchedulesCmd::Get(a) => show(c, Method::GET, &one(&a.id), None, a.out).await,
        SchedulesCmd::Create(a) => show(c, Method::POST, "/v1/schedules", Some(body(&a.body)?), a.out).await,
        SchedulesCmd::Update(a) => show(c, Method::PATCH, &one(&a.id), Some(body(&a.body)?), a.out).await,
        SchedulesCmd::Delete(a) => delete(c, &one(&a.id), &a.id, a.out).await,
        SchedulesCmd::Pause(a) => show(c, Method::POST, &format!("{}/pause", one(&a.id)), Some(empty()), a.out).await,
        SchedulesCmd::Resume(a) => show(c, Method::POST, &format!("{}/resume", one(&a.id)), Some(empty()), a.out).await,
        SchedulesCmd::Cancel(a) => match (a.id, a.key) {
            (Some(id), _) => delete(c, &one(&id), &id, a.out).await,
            (None, Some(key)) => {
                let path = format!("/v1/schedules?key={}", encode(&key));
                show(c, Method::DELETE, &path, None, a.out).await
            }
            (None, None) => anyhow::bail!("give a job id or --key"),
        },
        SchedulesCmd::Upcoming(a) => {
            let job = c.get(&one(&a.id)).await?;
            let out = Out::new(a.out.json);
            if out.json {
                out.value(&serde_json::json!({"id": job["id"], "upcoming": job["upcoming"]}));
                return Ok(());
            }
            let runs: Vec<Vec<String>> = job["upcoming"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(|t| vec![t.to_owned(), local_time(t)]).collect())
                .unwrap_or_default();
            out.table(&["UTC", "LOCAL"], &runs);
            Ok(())
        }
    }
}

/// `recurring …`.
pub async fn recurring(c: &Client, cmd: RecurringCmd) -> anyhow::Result<()> {
    let one = |name: &str, thing: &str| format!("/v1/recurring/{}/{}", seg(name), seg(thing));
    match cmd {
        RecurringCmd::List(a) => {
            let l = ListArgs { all: false, limit: None, cursor: None, out: a.out };
            list(c, &format!("/v1/recurring/{}", seg(&a.name)), &l, RECURRING_COLUMNS).await
        }
        RecurringCmd::Get(a) => show(c, Method::GET, &one(&a.name, &a.thing), None, a.out).await,
        RecurringCmd::Create(a) | RecurringCmd::Update(a) => {
            show(c, Method::PUT, &one(&a.name, &a.thing), Some(body(&a.body)?), a.out).await
        }
        RecurringCmd::Delete(a) => delete(c, &one(&a.name, &a.thing), &a.thing, a.out).await,
    }
}

fn body(b: &BodyArgs) -> anyhow::Result<Value> {
    fields::body(b.body.as_deref(), &b.fields)
}

fn empty() -> Value {
    Value::Object(serde_json::Map::new())
}

/// An id as one path segment (so no id can reach another route).
fn seg(id: &str) -> String {
    encode(id).replace('+', "%20")
}

/// A time in this machine's time zone.
fn local_time(utc: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(utc)
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S %Z").to_string())
        .unwrap_or_default()
}

/// One call whose answer is one object, shown field by field or as JSON.
async fn show(c: &Client, method: Method, path: &str, body: Option<Value>, out: OutArgs) -> anyhow::Result<()> {
    let v = c.call(method, path, body.as_ref()).await?;
    let out = Out::new(out.json);
    if out.json {
        out.value(&v);
    } else {
        describe(&out, &v, &[]);
    }
    Ok(())
}

async fn delete(c: &Client, path: &str, id: &str, out: OutArgs) -> anyhow::Result<()> {
    c.call(Method::DELETE, path, None).await?;
    let out = Out::new(out.json);
    if out.json {
        out.value(&serde_json::json!({"deleted": id}));
    } else {
        out.line(&format!("deleted {id}"));
    }
    Ok(())
}

/// A listing: one page, or every page with `--all` (progress on a terminal).
async fn list(c: &Client, path: &str, l: &ListArgs, columns: Columns) -> anyhow::Result<()> {
    let out = Out::new(l.out.json);
    let sep = if path.contains('?') { '&' } else { '?' };
    let (items, next) = if l.all {
        let items = c.all(path, |n| out.progress(&format!("fetched {n}…"))).await?;
        out.progress_done();
        (items, None)
    } else {
        let mut query = Vec::new();
        if let Some(n) = l.limit {
            query.push(format!("limit={n}"));
        }
        if let Some(cur) = &l.cursor {
            query.push(format!("cursor={}", encode(cur)));
        }
        let page_path = if query.is_empty() { path.to_owned() } else { format!("{path}{sep}{}", query.join("&")) };
        let page = c.get(&page_path).await?;
        let items = page["data"].as_array().cloned().unwrap_or_default();
        (items, page["next_cursor"].as_str().map(str::to_owned))
    };
    if out.json {
        out.value(&Value::Array(items));
    } else {
        table(&out, &items, columns);
    }
    if let Some(cursor) = next {
        eprintln!("more: --all, or --cursor {cursor}");
    }
    Ok(())
}

fn table(out: &Out, items: &[Value], columns: Columns) {
    let headers: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|(h, p)| {
                    let text = cell(item, p);
                    if matches!(*h, "STATUS" | "CODE") {
                        out.status(&text)
                    } else {
                        text
                    }
                })
                .collect()
        })
        .collect();
    out.table(&headers, &rows);
}

/// An object field by field; nested values as compact JSON; `skip` left out.
fn describe(out: &Out, v: &Value, skip: &[&str]) {
    let Some(map) = v.as_object() else {
        out.value(v);
        return;
    };
    let width = map.keys().map(String::len).max().unwrap_or(0);
    for (k, val) in map.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
        let text = match val {
            Value::String(s) => s.clone(),
            Value::Null => "-".to_owned(),
            other => other.to_string(),
        };
        let text = if k == "status" { out.status(&text) } else { text };
        out.line(&format!("{:width$}  {text}", format!("{k}:"), width = width + 1));
    }
}
