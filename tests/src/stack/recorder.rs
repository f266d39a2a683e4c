//! A recording proxy in front of moto, one per function: every AWS request a function
//! makes passes through it and is written down as the IAM action it needs and the
//! resource it names, which `iam.rs` then checks against the function's role, and
//! counted as AWS would bill it (`meter.rs`).

use super::meter::{self, Meter, Tally};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// One request as IAM sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `dynamodb:PutItem`, `sqs:SendMessage`, …
    pub action: String,
    /// The ARN it acts on.
    pub resource: String,
    /// For DynamoDB item requests: the partition keys it touches (`dynamodb:LeadingKeys`).
    pub leading_keys: Vec<String>,
}

/// Everything one function asked of AWS.
pub type Calls = Arc<Mutex<Vec<Call>>>;

/// Where the recorded ARNs point.
#[derive(Debug, Clone)]
pub struct Account {
    /// The region.
    pub region: String,
    /// The account id.
    pub account: String,
}

impl Account {
    /// `arn:aws:{service}:{region}:{account}:{rest}`.
    pub fn arn(&self, service: &str, rest: &str) -> String {
        format!("arn:aws:{service}:{}:{}:{rest}", self.region, self.account)
    }

    fn key_arn(&self, key: &str) -> String {
        if key.starts_with("arn:") {
            key.to_owned()
        } else {
            self.arn("kms", &format!("key/{key}"))
        }
    }
}

fn pk(item: &Value) -> Option<String> {
    item.get("pk").and_then(|v| v.get("S")).and_then(Value::as_str).map(str::to_owned)
}

fn dynamo_calls(acct: &Account, op: &str, body: &Value) -> Vec<Call> {
    let table = |b: &Value| {
        let t = b["TableName"].as_str().unwrap_or_default();
        match b["IndexName"].as_str() {
            Some(i) => acct.arn("dynamodb", &format!("table/{t}/index/{i}")),
            None => acct.arn("dynamodb", &format!("table/{t}")),
        }
    };
    if op == "TransactWriteItems" || op == "TransactGetItems" {
        // IAM checks each item's own action.
        return body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|i| i.as_object().into_iter().flatten())
            .map(|(kind, it)| {
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    _ => "GetItem",
                };
                let key = pk(&it["Key"]).or_else(|| pk(&it["Item"]));
                Call {
                    action: format!("dynamodb:{action}"),
                    resource: table(it),
                    leading_keys: key.into_iter().collect(),
                }
            })
            .collect();
    }
    let mut keys: Vec<String> = pk(&body["Key"]).or_else(|| pk(&body["Item"])).into_iter().collect();
    if op == "Query" {
        // A query's leading key is in its key condition's values; it is not an item request.
        keys.clear();
    }
    vec![Call { action: format!("dynamodb:{op}"), resource: table(body), leading_keys: keys }]
}

/// The operation of a request to Scheduler's REST API (`/schedules/{name}`).
fn schedule_op(method: &Method) -> &'static str {
    match *method {
        Method::POST => "CreateSchedule",
        Method::PUT => "UpdateSchedule",
        Method::DELETE => "DeleteSchedule",
        _ => "GetSchedule",
    }
}

/// A JSON-protocol request's service and operation, from `X-Amz-Target`
/// (`DynamoDB_20120810.PutItem`); `None` for a REST request.
fn amz_target(headers: &HeaderMap) -> Option<(&str, &str)> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    Some(target.split_once('.').unwrap_or((target, "")))
}

/// The IAM actions and resources of one request.
pub fn classify(acct: &Account, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Vec<Call> {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let call = |action: String, resource: String| Call { action, resource, leading_keys: vec![] };
    if let Some((prefix, op)) = amz_target(headers) {
        return match prefix {
            p if p.starts_with("DynamoDB") => dynamo_calls(acct, op, &json),
            "AmazonSQS" => {
                let url = json["QueueUrl"].as_str().unwrap_or_default();
                let name = url.rsplit('/').next().unwrap_or_default();
                // A batch is authorised by its single action's permission.
                let action = op.strip_suffix("Batch").unwrap_or(op);
                vec![call(format!("sqs:{action}"), acct.arn("sqs", name))]
            }
            "TrentService" => vec![call(format!("kms:{op}"), acct.key_arn(json["KeyId"].as_str().unwrap_or("*")))],
            "AWSEvents" => json["Entries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let bus = e["EventBusName"].as_str().unwrap_or("default");
                    let arn = if bus.starts_with("arn:") {
                        bus.to_owned()
                    } else {
                        acct.arn("events", &format!("event-bus/{bus}"))
                    };
                    call(format!("events:{op}"), arn)
                })
                .collect(),
            "AmazonSSM" => {
                let name = json["Name"].as_str().unwrap_or_default();
                vec![call(format!("ssm:{op}"), acct.arn("ssm", &format!("parameter{name}")))]
            }
            other => vec![call(format!("{other}:{op}"), "*".into())],
        };
    }
    // EventBridge Scheduler is a REST API: /schedules/{name}?groupName=…
    if let Some(name) = uri.path().strip_prefix("/schedules/") {
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
        let group = query
            .iter()
            .find(|(k, _)| k == "groupName")
            .map(|(_, v)| v.clone())
            .or_else(|| json["GroupName"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "default".into());
        let op = schedule_op(method);
        let mut calls =
            vec![call(format!("scheduler:{op}"), acct.arn("scheduler", &format!("schedule/{group}/{name}")))];
        if let Some(role) = json["Target"]["RoleArn"].as_str() {
            calls.push(call("iam:PassRole".into(), role.to_owned()));
        }
        return calls;
    }
    vec![call(format!("unknown:{method} {}", uri.path()), "*".into())]
}

/// What one request is billed as: its operation (`dynamodb:PutItem`) and units.
pub fn billed(
    (method, uri, headers): (&Method, &Uri, &HeaderMap),
    body: &[u8],
    answer: &[u8],
    indexes: &meter::Indexes,
) -> (String, Tally) {
    let json = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap_or(Value::Null);
    let Some((prefix, op)) = amz_target(headers) else {
        // Scheduler's REST API: its management requests are not billed, only its invocations.
        let what =
            if uri.path().starts_with("/schedules/") { schedule_op(method).to_owned() } else { uri.path().to_owned() };
        return (format!("scheduler:{what}"), Tally::requests(1.0));
    };
    match prefix {
        p if p.starts_with("DynamoDB") => {
            (format!("dynamodb:{op}"), meter::dynamodb(op, &json(body), &json(answer), indexes))
        }
        "AmazonSQS" => (format!("sqs:{op}"), meter::sqs_requests(body.len().max(answer.len()))),
        // PutEvents bills each entry (per 64 KiB).
        "AWSEvents" => {
            (format!("events:{op}"), Tally::requests(json(body)["Entries"].as_array().map_or(1, Vec::len) as f64))
        }
        "TrentService" => (format!("kms:{op}"), Tally::requests(1.0)),
        "AmazonSSM" => (format!("ssm:{op}"), Tally::requests(1.0)),
        other => (format!("{other}:{op}"), Tally::requests(1.0)),
    }
}

/// Serve a proxy to `upstream` on `listener` for function `who`, recording into `calls`
/// and `meter`, until dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    upstream: String,
    acct: Account,
    calls: Calls,
    (who, meter): (String, Meter),
) {
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (http, upstream, acct, calls) = (http.clone(), upstream.clone(), acct.clone(), calls.clone());
        let (who, meter) = (who.clone(), meter.clone());
        async move {
            let billing = (method.clone(), uri.clone(), headers.clone(), body.clone());
            let mut made = classify(&acct, &method, &uri, &headers, &body);
            let url = format!("{upstream}{}", uri.path_and_query().map_or("/", |p| p.as_str()));
            let mut req = http.request(method, url).body(body);
            for (k, v) in &headers {
                if k != "host" && k != "content-length" {
                    req = req.header(k, v);
                }
            }
            match req.send().await {
                Ok(res) => {
                    let status = res.status();
                    let headers = res.headers().clone();
                    let bytes = res.bytes().await.unwrap_or_default();
                    // Decrypt names no key: the ciphertext does, and the answer says which.
                    let answered: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if let Some(key) = answered["KeyId"].as_str() {
                        for c in
                            made.iter_mut().filter(|c| c.action.starts_with("kms:") && c.resource.ends_with("key/*"))
                        {
                            c.resource = acct.key_arn(key);
                        }
                    }
                    calls.lock().expect("calls").extend(made);
                    let (what, tally) =
                        billed((&billing.0, &billing.1, &billing.2), &billing.3, &bytes, meter.indexes());
                    meter.add(&who, &what, tally);
                    let mut out = Response::builder().status(status);
                    for (k, v) in &headers {
                        if k != "transfer-encoding" && k != "content-length" {
                            out = out.header(k, v);
                        }
                    }
                    out.body(Body::from(bytes)).unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
                }
                Err(_) => {
                    calls.lock().expect("calls").extend(made);
                    StatusCode::BAD_GATEWAY.into_response()
                }
            }
        }
    });
    let _ = axum::serve(listener, app).await;
}
