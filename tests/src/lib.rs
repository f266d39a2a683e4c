//! Test support shared by the suites: start `hookline dev` in process, reach moto, run
//! the Python signature peers.
//!
//! External parts (moto, the Python peers) come from `make test`. Run alone, a suite that
//! needs one says so and passes over it; with `HOOKLINE_REQUIRE_EXTERNAL=1` (set by
//! `make test` and CI) a missing part fails the test instead, so nothing is skipped silently.

use anyhow::Context as _;
use hookline_cli::dev::{self, DevOptions, DevServer};
use hookline_shared::aws::TableNames;
use hookline_shared::Config;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;

/// True when `make test` promised every external part.
pub fn external_required() -> bool {
    std::env::var("HOOKLINE_REQUIRE_EXTERNAL").as_deref() == Ok("1")
}

fn unavailable(what: &str) -> Option<()> {
    assert!(!external_required(), "{what} is required (HOOKLINE_REQUIRE_EXTERNAL=1) but not configured");
    eprintln!("skipping: {what} not configured; run `make test`");
    None
}

/// The Python interpreter of the test venv, if configured.
pub fn python() -> Option<String> {
    match std::env::var("HOOKLINE_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => unavailable("HOOKLINE_PYTHON (the venv with stripe and standardwebhooks)").and(None),
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

/// The SDK configuration pointing at moto, if configured (`AWS_ENDPOINT_URL`).
pub async fn moto() -> Option<aws_config::SdkConfig> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(u) if !u.is_empty() => Some(hookline_shared::aws::sdk_config().await),
        _ => unavailable("AWS_ENDPOINT_URL (moto)").and(None),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Create the three tables with the template's key schema, under fresh names.
pub async fn create_tables(sdk: &aws_config::SdkConfig) -> anyhow::Result<TableNames> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType, TimeToLiveSpecification,
    };
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let names =
        TableNames { subscriptions: unique("subscriptions"), logs: unique("logs"), idempotency: unique("idempotency") };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |n: &str, t: KeyType| KeySchemaElement::builder().attribute_name(n).key_type(t).build().expect("key");
    for table in [&names.subscriptions, &names.logs] {
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .attribute_definitions(attr("gsi1pk"))
            .attribute_definitions(attr("gsi1sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name("gsi1")
                    .key_schema(key("gsi1pk", KeyType::Hash))
                    .key_schema(key("gsi1sk", KeyType::Range))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()?,
            )
            .send()
            .await?;
    }
    client
        .create_table()
        .table_name(&names.idempotency)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .key_schema(key("pk", KeyType::Hash))
        .send()
        .await?;
    for table in [&names.logs, &names.idempotency] {
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(true).build()?,
            )
            .send()
            .await?;
    }
    Ok(names)
}

/// Create a queue (with the template's 1 MiB message size) and return its URL.
pub async fn create_queue(sdk: &aws_config::SdkConfig, visibility_secs: u32) -> anyhow::Result<String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let out = aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(unique("inbox"))
        .attributes(QueueAttributeName::MaximumMessageSize, "1048576")
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_secs.to_string())
        .send()
        .await?;
    out.queue_url.context("no queue url")
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
    let server =
        dev::start(DevOptions { addr: "127.0.0.1:0".parse().expect("addr"), data: data.path().to_path_buf(), config })
            .await
            .expect("hookline dev starts");
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
        while inbox.depth().expect("depth") > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(inbox.depth().expect("depth"), 0, "inbox drained");
    }
}
