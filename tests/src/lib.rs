//! Test support shared by the suites: start `hookline dev` in process, reach moto, run
//! the Python signature peers.
//!
//! External parts (moto, the Python peers) come from `make test`. Run alone, a suite that
//! needs one says so and passes over it; with `HOOKLINE_REQUIRE_EXTERNAL=1` (set by
//! `make test` and CI) a missing part fails the test instead, so nothing is skipped silently.

pub mod aws_inbound;
pub mod fake_github;
pub mod fake_stripe;
pub mod stack;

use anyhow::Context as _;
use hookline_cli::dev::{self, DevOptions, DevServer};
use hookline_shared::aws::{DynamoStore, SchedulerTimer, TableNames, TimerTarget};
use hookline_shared::Config;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;

/// True when `make test` promised every external part.
pub fn external_required() -> bool {
    std::env::var("HOOKLINE_REQUIRE_EXTERNAL").as_deref() == Ok("1")
}

/// Say that `what` is missing: a failure under `make test`, a skip otherwise.
pub fn unavailable<T>(what: &str) -> Option<T> {
    assert!(!external_required(), "{what} is required (HOOKLINE_REQUIRE_EXTERNAL=1) but not configured");
    eprintln!("skipping: {what} not configured; run `make test`");
    None
}

/// The Python interpreter of the test venv, if configured.
pub fn python() -> Option<String> {
    match std::env::var("HOOKLINE_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => unavailable("HOOKLINE_PYTHON (the venv with stripe and standardwebhooks)"),
    }
}

/// Run the peer script: `args` on the command line, `body` on stdin; `Ok(stdout)` on exit 0.
pub async fn peer(python: &str, args: &[&str], body: &[u8]) -> anyhow::Result<Result<String, String>> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/sign.py");
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the Python peer")?;
    let mut stdin = child.stdin.take().context("peer stdin")?;
    stdin.write_all(body).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() {
        Ok(Ok(text))
    } else {
        Ok(Err(String::from_utf8_lossy(&out.stderr).into_owned()))
    }
}

/// Try `attempt` every 200 ms for up to `secs`: `Ok` with what it gave once it was ready
/// (`Ok` from it), else `Err` with what the last try gave, for the test's message.
pub async fn until<T, F, Fut>(secs: u64, mut attempt: F) -> Result<T, T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(v) if tokio::time::Instant::now() > deadline => return Err(v),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Whether `check` comes true within `secs`, tried as [`until`] tries.
pub async fn until_true<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    until(secs, || {
        let done = check();
        async move {
            if done.await {
                Ok(())
            } else {
                Err(())
            }
        }
    })
    .await
    .is_ok()
}

/// The SDK configuration pointing at moto, if configured (`AWS_ENDPOINT_URL`).
pub async fn moto() -> Option<aws_config::SdkConfig> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(u) if !u.is_empty() => Some(hookline_shared::aws::sdk_config().await),
        _ => unavailable("AWS_ENDPOINT_URL (moto)"),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A KMS key to seal secrets under, as the stack's `SecretsKey`.
pub async fn secrets_key(sdk: &aws_config::SdkConfig) -> anyhow::Result<String> {
    let key = aws_sdk_kms::Client::new(sdk).create_key().description("hookline secrets (test)").send().await?;
    key.key_metadata.map(|m| m.key_id).ok_or_else(|| anyhow::anyhow!("no key id"))
}

/// A DynamoDB store on fresh tables, sealing secrets under a fresh KMS key.
pub async fn aws_store(sdk: &aws_config::SdkConfig) -> anyhow::Result<DynamoStore> {
    Ok(DynamoStore::from_sdk(sdk, create_tables(sdk).await?, &secrets_key(sdk).await?))
}

/// Create the template's tables as the stack run creates them (`template.yaml` through
/// the SAM translator, read once per test binary), under fresh names.
pub async fn create_tables(sdk: &aws_config::SdkConfig) -> anyhow::Result<TableNames> {
    let tables = template_tables()?;
    let names = TableNames { subscriptions: unique("subscriptions"), logs: unique("logs") };
    for (id, name) in [("SubscriptionsTable", &names.subscriptions), ("LogsTable", &names.logs)] {
        let props = tables.get(id).with_context(|| format!("template.yaml has no {id}"))?;
        stack::resources::create_table(sdk, name, props).await?;
    }
    Ok(names)
}

/// The properties of the template's tables, by logical id.
fn template_tables() -> anyhow::Result<&'static BTreeMap<String, Map<String, Value>>> {
    static TABLES: OnceLock<BTreeMap<String, Map<String, Value>>> = OnceLock::new();
    if let Some(t) = TABLES.get() {
        return Ok(t);
    }
    let python = python().context("the tables come from template.yaml through the SAM translator")?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let template = stack::template::Template::expand(&python, &root.join("template.yaml"), &[])?;
    let tables = template.resources("AWS::DynamoDB::Table");
    Ok(TABLES.get_or_init(|| tables.into_iter().map(|(id, p)| (id.to_owned(), p.clone())).collect()))
}

/// A Scheduler timer in a new schedule group on moto, targeting a made-up `schedule` function.
pub async fn scheduler_timer(
    sdk: &aws_config::SdkConfig,
) -> anyhow::Result<(aws_sdk_scheduler::Client, String, SchedulerTimer)> {
    let client = aws_sdk_scheduler::Client::new(sdk);
    let group = unique("hookline");
    client.create_schedule_group().name(&group).send().await?;
    let timer = SchedulerTimer::new(
        client.clone(),
        group.clone(),
        TimerTarget {
            arn: SCHEDULE_FUNCTION_ARN.into(),
            role_arn: "arn:aws:iam::123456789012:role/hookline-scheduler".into(),
            dead_letter_arn: TIMER_DEAD_LETTER_ARN.into(),
        },
    );
    Ok((client, group, timer))
}

/// Where [`scheduler_timer`]'s schedules send an input they could not deliver.
pub const TIMER_DEAD_LETTER_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:hookline-timers-dlq";

/// The target of [`scheduler_timer`]'s schedules.
pub const SCHEDULE_FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:hookline-schedule";

/// Create a queue (with the template's 1 MiB message size) and return its URL.
pub async fn create_queue(sdk: &aws_config::SdkConfig, visibility_secs: u32) -> anyhow::Result<String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let out = aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(unique("queue"))
        .attributes(QueueAttributeName::MaximumMessageSize, "1048576")
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_secs.to_string())
        .send()
        .await?;
    out.queue_url.context("no queue url")
}

/// A FIFO queue on moto (its name ends in `.fifo`, as SQS requires).
pub async fn create_fifo_queue(sdk: &aws_config::SdkConfig, visibility_secs: u32) -> anyhow::Result<String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let out = aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(format!("{}.fifo", unique("ordered")))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_secs.to_string())
        .send()
        .await?;
    out.queue_url.context("no queue url")
}

/// A queue on moto whose messages move to a dead-letter queue after `max_receives`
/// receives, as the template's queues do; (queue URL, dead-letter queue URL).
pub async fn create_queue_with_dead_letters(
    sdk: &aws_config::SdkConfig,
    visibility_secs: u32,
    max_receives: u32,
) -> anyhow::Result<(String, String)> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dead = create_queue(sdk, 30).await?;
    let attrs =
        sqs.get_queue_attributes().queue_url(&dead).attribute_names(QueueAttributeName::QueueArn).send().await?;
    let arn = attrs.attributes.and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned()).context("no queue arn")?;
    let queue = create_queue(sdk, visibility_secs).await?;
    let redrive = json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives.to_string()}).to_string();
    sqs.set_queue_attributes().queue_url(&queue).attributes(QueueAttributeName::RedrivePolicy, redrive).send().await?;
    Ok((queue, dead))
}

/// The event an SQS event source mapping hands a function for these messages.
pub fn sqs_event(msgs: &[hookline_shared::ports::Received]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<Value> = msgs
        .iter()
        .map(|m| json!({"messageId": m.message_id, "receiptHandle": m.receipt, "body": m.body, "eventSource": "aws:sqs"}))
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
}

/// A `hookline dev` started in this process on 127.0.0.1:0 with a fresh data directory.
#[derive(Debug)]
pub struct TestApp {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The address.
    pub addr: SocketAddr,
    /// The operator key.
    pub operator_key: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// The server.
    pub server: Option<DevServer>,
    /// Keeps the data directory alive.
    pub data: tempfile::TempDir,
}

/// Start `hookline dev` in process.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config::default()).await
}

/// Start `hookline dev` in process with `config`.
pub async fn spawn_app_with(config: Config) -> TestApp {
    let data = tempfile::tempdir().expect("temp dir");
    let opts = DevOptions::new("127.0.0.1:0".parse().expect("addr"), data.path().to_path_buf(), config);
    spawn_app_with_options(opts, data).await
}

/// Start `hookline dev` in process with full options (policies, name resolution).
pub async fn spawn_app_with_options(opts: DevOptions, data: tempfile::TempDir) -> TestApp {
    let server = dev::start(opts).await.expect("hookline dev starts");
    TestApp {
        url: format!("http://{}", server.addr),
        addr: server.addr,
        operator_key: server.operator_key.expose().to_owned(),
        http: reqwest::Client::new(),
        server: Some(server),
        data,
    }
}

impl TestApp {
    /// Create an org and return (id, api key).
    pub async fn create_org(&self, plan: &str) -> (String, String) {
        let res = self
            .http
            .post(format!("{}/v1/orgs", self.url))
            .bearer_auth(&self.operator_key)
            .json(&json!({"name": "Acme", "plan": plan}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.expect("json");
        (v["id"].as_str().expect("id").to_owned(), v["api_key"].as_str().expect("key").to_owned())
    }

    /// Create a source and return its JSON.
    pub async fn create_source(&self, key: &str, body: Value) -> Value {
        let res = self
            .http
            .post(format!("{}/v1/sources", self.url))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 201, "creating source {body}");
        res.json().await.expect("json")
    }

    /// GET with an API key; (status, JSON body).
    pub async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        let res = self.http.get(format!("{}{path}", self.url)).bearer_auth(key).send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The org's events (first page, up to 100), waiting up to 10 s for at least `n`.
    pub async fn wait_for_events(&self, key: &str, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v) = self.get(key, "/v1/events?limit=100").await;
            let events = v["data"].as_array().cloned().unwrap_or_default();
            if events.len() >= n || tokio::time::Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until the inbox is drained (every accepted request processed).
    pub async fn drain(&self) {
        let inbox = &self.server.as_ref().expect("running").inbox;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while inbox.depth().await.expect("depth") > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(inbox.depth().await.expect("depth"), 0, "inbox drained");
    }
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Got {
    /// The path.
    pub path: String,
    /// Headers, lower-case names.
    pub headers: std::collections::HashMap<String, String>,
    /// The body.
    pub body: String,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Got {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

type Scripts = std::collections::HashMap<String, Vec<(u16, String)>>;
type RetryAfter = std::collections::HashMap<String, u64>;
type Holds = std::collections::HashMap<String, std::sync::Arc<tokio::sync::Semaphore>>;

/// A webhook receiver on 127.0.0.1:0 that records every request. Each path answers
/// from its script (the n-th request gets the n-th answer, the last one repeats);
/// unscripted paths answer 200 `{}`, and `/echo` answers a handshake's `magic`. A held
/// path records each request at once but answers only once released. A path given a
/// `Retry-After` sends it with each of its failures.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:port`.
    pub url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<Got>>>,
    scripts: std::sync::Arc<std::sync::Mutex<Scripts>>,
    holds: std::sync::Arc<std::sync::Mutex<Holds>>,
    retry_after: std::sync::Arc<std::sync::Mutex<RetryAfter>>,
}

impl Receiver {
    /// Start one.
    pub async fn start() -> Self {
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Got>::new()));
        let scripts = std::sync::Arc::new(std::sync::Mutex::new(Scripts::new()));
        let holds = std::sync::Arc::new(std::sync::Mutex::new(Holds::new()));
        let retry_after = std::sync::Arc::new(std::sync::Mutex::new(RetryAfter::new()));
        let (g, s, h, ra) = (got.clone(), scripts.clone(), holds.clone(), retry_after.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (g, s, h, ra) = (g.clone(), s.clone(), h.clone(), ra.clone());
            async move {
                let path = req.uri().path().to_owned();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                    .collect();
                let bytes = axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap_or_default();
                let body = String::from_utf8_lossy(&bytes).into_owned();
                let n = {
                    let mut got = g.lock().expect("lock");
                    let n = got.iter().filter(|r| r.path == path).count();
                    got.push(Got { path: path.clone(), headers, body: body.clone(), at: std::time::Instant::now() });
                    n
                };
                let gate = h.lock().expect("lock").get(&path).cloned();
                if let Some(gate) = gate {
                    // A released gate has permits to spare; keep them for the next request.
                    gate.acquire().await.expect("gates are never closed").forget();
                    gate.add_permits(1);
                }
                let (status, answer) = if path == "/echo" {
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    (200, json!({"magic": v["data"]["magic"], "events": ["user.*"]}).to_string())
                } else {
                    let scripts = s.lock().expect("lock");
                    match scripts.get(&path) {
                        Some(script) => script[n.min(script.len() - 1)].clone(),
                        None => (200, "{}".to_owned()),
                    }
                };
                let mut headers = http::HeaderMap::new();
                if let Some(secs) = ra.lock().expect("lock").get(&path).filter(|_| status >= 400) {
                    headers.insert(http::header::RETRY_AFTER, (*secs).into());
                }
                (http::StatusCode::from_u16(status).expect("status"), headers, answer)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, got, scripts, holds, retry_after }
    }

    /// Hold every request to `path` unanswered until [`Receiver::release`].
    pub fn hold(&self, path: &str) {
        self.holds.lock().expect("lock").insert(path.to_owned(), std::sync::Arc::new(tokio::sync::Semaphore::new(0)));
    }

    /// Answer the requests held on `path`, and those that come later.
    pub fn release(&self, path: &str) {
        if let Some(gate) = self.holds.lock().expect("lock").get(path) {
            gate.add_permits(1);
        }
    }

    /// Answer requests to `path` from `script`.
    pub fn script(&self, path: &str, script: &[(u16, &str)]) {
        self.scripts
            .lock()
            .expect("lock")
            .insert(path.to_owned(), script.iter().map(|(c, b)| (*c, (*b).to_owned())).collect());
    }

    /// Send `Retry-After: secs` with each failure on `path`.
    pub fn retry_after(&self, path: &str, secs: u64) {
        self.retry_after.lock().expect("lock").insert(path.to_owned(), secs);
    }

    /// Everything received on `path`.
    pub fn got(&self, path: &str) -> Vec<Got> {
        self.got.lock().expect("lock").iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Everything received.
    pub fn all(&self) -> Vec<Got> {
        self.got.lock().expect("lock").clone()
    }

    /// Wait up to `secs` until `path` has at least `n` requests.
    pub async fn wait_for(&self, path: &str, n: usize, secs: u64) -> Vec<Got> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.got(path);
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl TestApp {
    /// POST JSON with an API key; (status, JSON body).
    pub async fn post(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        self.send_json(reqwest::Method::POST, key, path, body).await
    }

    /// PATCH JSON with an API key; (status, JSON body).
    pub async fn patch(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        self.send_json(reqwest::Method::PATCH, key, path, body).await
    }

    async fn send_json(&self, method: reqwest::Method, key: &str, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let res = self.http.request(method, url).bearer_auth(key).json(&body).send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// POST `body` to an ingest `url` as a provider would, with `content_type` and
    /// `headers`; (status, JSON body).
    pub async fn send_inbound(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(&str, String)],
        body: &str,
    ) -> (u16, Value) {
        let mut req = self.http.post(url).header("content-type", content_type).body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Create a webhook and return its JSON (with the secret).
    pub async fn create_webhook(&self, key: &str, body: Value) -> Value {
        let (status, v) = self.post(key, "/v1/webhooks", body.clone()).await;
        assert_eq!(status, 201, "creating webhook {body}: {v}");
        v
    }

    /// Publish an event; its id.
    pub async fn publish(&self, key: &str, event_type: &str, data: Value) -> String {
        let (status, v) = self.post(key, "/v1/events", json!({"type": event_type, "data": data})).await;
        assert_eq!(status, 202);
        v["id"].as_str().expect("id").to_owned()
    }
}

/// Check deliveries with the official `standardwebhooks` library: each (secret, request)
/// pair must verify. Returns the failures.
pub async fn verify_with_library(python: &str, checks: &[(String, Got)]) -> Vec<String> {
    let input: Vec<Value> = checks
        .iter()
        .map(|(secret, g)| {
            json!({
                "secret": secret,
                "body": g.body,
                "headers": {
                    "webhook-id": g.headers.get("webhook-id"),
                    "webhook-timestamp": g.headers.get("webhook-timestamp"),
                    "webhook-signature": g.headers.get("webhook-signature"),
                },
            })
        })
        .collect();
    let out = peer(python, &["verify-standard-batch"], Value::Array(input).to_string().as_bytes()).await.expect("peer");
    match out {
        Ok(_) => Vec::new(),
        Err(e) => e.lines().map(str::to_owned).collect(),
    }
}

/// The API Gateway v2 event the Lambda adapters are tested with.
const APIGW_V2: &str = include_str!("../../infra/events/ingest-apigw-v2.json");

/// An API Gateway HTTP API (v2) event for `method path` with `headers` and `body`.
pub fn apigw_event(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> lambda_http::Request {
    let mut v: Value = serde_json::from_str(APIGW_V2).expect("the event fixture is JSON");
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    v["rawQueryString"] = json!(query);
    v["rawPath"] = json!(path);
    v["routeKey"] = json!(format!("{method} {path}"));
    v["requestContext"]["http"]["method"] = json!(method);
    v["requestContext"]["http"]["path"] = json!(path);
    for (k, val) in headers {
        v["headers"][k.to_ascii_lowercase()] = json!(val);
    }
    v["body"] = json!(body);
    lambda_http::request::from_str(&v.to_string()).expect("a valid API Gateway v2 event")
}

/// Hand a request to a router as `lambda_http` would; (status, JSON body).
pub async fn call(router: &axum::Router, req: lambda_http::Request) -> (u16, Value) {
    let res = tower::ServiceExt::oneshot(router.clone(), req).await.expect("routers do not fail");
    let status = res.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(res.into_body()).await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}
