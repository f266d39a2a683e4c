//! What an accepted request or a publish becomes: its event, its dedupe key (which
//! its id is derived from) and the provider part of its type.

use crate::VerifyError;
use chrono::SubsecRound as _;
use hookline_shared::delivery::HOPS_HEADER;
use hookline_shared::{
    event_data, inbound_event_id, provider_dedupe_key, validate_event_type, DedupeBy, Event, InboundRequest,
    PublishRequest, EVENT_TYPE_MAX,
};
use sha2::{Digest, Sha256};

/// The event of a provider's request, its id derived from the source and the dedupe key.
/// Event times are kept to the millisecond, because listings order by (time, id) at that precision.
pub fn inbound_event(req: &InboundRequest) -> Result<Event, VerifyError> {
    let raw = req.body.to_bytes().map_err(|e| VerifyError::Malformed(format!("body: {e}")))?;
    let json: Option<serde_json::Value> = serde_json::from_slice(&raw).ok().or_else(|| form_data(req, &raw));
    let dedupe = dedupe_key(req, json.as_ref(), &raw);
    Ok(Event {
        id: inbound_event_id(&req.source_id, &dedupe),
        org_id: req.org_id.clone(),
        event_type: format!("{}.{}", req.source_name, provider_type(req, json.as_ref())),
        data: json.unwrap_or_else(|| event_data(&raw)),
        source: Some(req.source_id.clone()),
        created_at: req.received_at.trunc_subsecs(3),
        hops: req.header(HOPS_HEADER).and_then(|h| h.trim().parse().ok()).unwrap_or(0),
        fetched_at: req.fetched_at,
        expires_at: None,
        ordering: None,
    })
}

pub(crate) fn published_event(p: PublishRequest) -> Event {
    Event {
        id: p.event_id,
        org_id: p.org_id,
        event_type: p.event_type,
        data: p.data,
        source: None,
        created_at: p.received_at.trunc_subsecs(3),
        hops: 0,
        fetched_at: None,
        expires_at: None,
        ordering: None,
    }
}

fn json_str<'a>(json: Option<&'a serde_json::Value>, field: &str) -> Option<&'a str> {
    json?.get(field)?.as_str().filter(|s| !s.is_empty())
}

/// The provider's own delivery id where it has one, else `Idempotency-Key`, else the
/// SHA-256 of the body; only the body's hash for a source set to dedupe by body.
pub fn dedupe_key(req: &InboundRequest, json: Option<&serde_json::Value>, raw: &[u8]) -> String {
    let own = match req.provider.as_str() {
        _ if req.dedupe == DedupeBy::Body => None,
        "stripe" => json_str(json, "id"),
        "standard" | "svix" => req.header("webhook-id").or_else(|| req.header("svix-id")),
        "slack" | "paddle" => json_str(json, "event_id"),
        "twilio" => req.header("i-twilio-idempotency-token"),
        "github" => req.header("x-github-delivery"),
        "shopify" => req.header("x-shopify-webhook-id"),
        _ => None,
    };
    match own.or_else(|| req.header("idempotency-key").filter(|_| req.dedupe != DedupeBy::Body)) {
        Some(k) => provider_dedupe_key(k),
        None => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    }
}

/// The provider part of the event type (after `<source name>.`).
pub fn provider_type(req: &InboundRequest, json: Option<&serde_json::Value>) -> String {
    let t = match req.provider.as_str() {
        "github" => req.header("x-github-event").map(|e| match json_str(json, "action") {
            Some(a) => format!("{e}.{a}"),
            None => e.to_owned(),
        }),
        "shopify" => req.header("x-shopify-topic").map(str::to_owned),
        "paddle" => json_str(json, "event_type").map(str::to_owned),
        "slack" => slack_type(json),
        "twilio" => twilio_type(json),
        _ => json_str(json, "type").map(str::to_owned),
    };
    match t {
        // `<source name>.` comes first; source names are at most 64 characters.
        Some(t) if validate_event_type(&t).is_ok() && t.len() < EVENT_TYPE_MAX - 64 => t,
        Some(_) => INVALID_TYPE.to_owned(),
        None => "received".to_owned(),
    }
}

/// Slack: an Events API callback by its event's type (`app_mention`), an interaction by
/// its payload's type (`block_actions`), a slash command as `command`, else the body's type
/// (`url_verification`).
fn slack_type(json: Option<&serde_json::Value>) -> Option<String> {
    let json = json?;
    let inner = |field: &str| json.get(field).and_then(|v| json_str(Some(v), "type"));
    let t = match json_str(Some(json), "type") {
        Some("event_callback") => inner("event"),
        Some(t) => Some(t),
        None if json.get("command").is_some() => Some("command"),
        None => inner("payload"),
    };
    t.map(str::to_owned)
}

/// Twilio: a message's or a call's status (`message.delivered`, `message.received`,
/// `call.completed`).
fn twilio_type(json: Option<&serde_json::Value>) -> Option<String> {
    let status = |field| json_str(json, field).map(str::to_ascii_lowercase);
    status("MessageStatus")
        .or_else(|| status("SmsStatus"))
        .map(|s| format!("message.{s}"))
        .or_else(|| status("CallStatus").map(|s| format!("call.{s}")))
}

/// The fields of a form-encoded body from a provider that posts forms (Slack's commands
/// and interactions, Twilio), as a JSON object; an interaction's `payload` (JSON text) is
/// kept as JSON. A field sent more than once keeps its last value.
fn form_data(req: &InboundRequest, raw: &[u8]) -> Option<serde_json::Value> {
    let is_form = req.header("content-type").is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !matches!(req.provider.as_str(), "slack" | "twilio") || !is_form || std::str::from_utf8(raw).is_err() {
        return None;
    }
    let fields = url::form_urlencoded::parse(raw)
        .map(|(k, v)| {
            let value = match k.as_ref() {
                "payload" => serde_json::from_str(&v).unwrap_or_else(|_| serde_json::Value::String(v.into_owned())),
                _ => serde_json::Value::String(v.into_owned()),
            };
            (k.into_owned(), value)
        })
        .collect();
    Some(serde_json::Value::Object(fields))
}

/// The provider part of an event's type when the provider's own is not a valid event
/// type: the event is kept, and a filter can still select it.
pub const INVALID_TYPE: &str = "invalid_type";
