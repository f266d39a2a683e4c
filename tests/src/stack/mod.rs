//! The stack run: `template.yaml` as AWS runs it, on one machine. The template is expanded
//! with the SAM translator; its tables, queues, schedule group, bus and key are created in
//! moto; each function's real `bootstrap` runs as a process against a Lambda Runtime API
//! with the environment the template gives it; and the parts AWS's managed services play
//! are played here: API Gateway's HTTP API (`apigw`), the SQS event source mappings
//! (`esm`) and EventBridge Scheduler's firing (`scheduler`). A renamed variable, a
//! missing route or a wrong batch setting in the template shows up here.

pub mod apigw;
pub mod esm;
pub mod function;
pub mod iam;
pub mod load;
pub mod meter;
pub mod recorder;
pub mod resources;
pub mod scheduler;
pub mod template;

use anyhow::{anyhow, Context};
use function::{Function, FunctionSpec};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use template::{Resolver, Template};

/// The function binaries, as `make build` names them.
pub const BINARIES: [&str; 5] =
    ["hookline-ingest", "hookline-verify", "hookline-api", "hookline-deliver", "hookline-schedule"];

/// How to run the stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// A Python with `aws-sam-translator`.
    pub python: String,
    /// Where the function binaries are.
    pub bin_dir: PathBuf,
    /// Every queue's visibility timeout, instead of the template's (so a failed message
    /// comes back in seconds in a test, not minutes).
    pub visibility_timeout: Option<u32>,
    /// Template parameter overrides.
    pub params: Vec<(String, String)>,
    /// Where API Gateway listens (port 0: any).
    pub addr: std::net::SocketAddr,
    /// Where a function's binary is, from the directory above and its binary's name.
    pub layout: BinLayout,
    /// An event waiting for a function (by logical id) before it starts, to measure its cold start.
    pub first_events: BTreeMap<String, Value>,
    /// Variables every function gets on top of the template's: the only departure from
    /// it, for receivers that a test runs on plain HTTP at 127.0.0.1.
    pub test_environment: BTreeMap<String, String>,
}

impl StackOptions {
    /// Debug builds of the functions in this workspace, built if they are not.
    pub fn for_tests(python: String) -> anyhow::Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(&root).args(["build", "--quiet", "--locked"]);
        // What `cargo test` sets for a test binary (its package's CARGO_* variables) would
        // change build scripts' fingerprints and rebuild everything; build as a shell does.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_TARGET_DIR" {
                cmd.env_remove(k.as_ref());
            }
        }
        for b in BINARIES {
            cmd.args(["--bin", b]);
        }
        let status = cmd.status().context("building the function binaries")?;
        anyhow::ensure!(status.success(), "building the function binaries failed");
        Ok(Self {
            python,
            bin_dir: target.join("debug"),
            visibility_timeout: Some(2),
            params: vec![],
            addr: ([127, 0, 0, 1], 0).into(),
            layout: BinLayout::Cargo,
            first_events: BTreeMap::new(),
            test_environment: [("HOOKLINE_ALLOW_HTTP", "1"), ("HOOKLINE_ALLOW_LOOPBACK", "1")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        })
    }
}

/// How the function binaries are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinLayout {
    /// `<dir>/<binary>` (a cargo build).
    Cargo,
    /// `<dir>/<binary>/bootstrap` (`make build`, as Lambda packages it).
    Lambda,
}

/// A running stack.
#[derive(Debug)]
pub struct Stack {
    /// API Gateway's base URL (`http://127.0.0.1:port`).
    pub url: String,
    /// The operator key (the SSM parameter the api reads at start-up).
    pub operator_key: String,
    /// Created resources and parameter values.
    pub resolver: Resolver,
    /// The running functions by logical id.
    pub functions: BTreeMap<String, Arc<Function>>,
    /// Scheduler's clock (a test may move it on).
    pub scheduler_clock: scheduler::SchedulerClock,
    /// Every AWS request each function made, by function id.
    pub calls: BTreeMap<String, recorder::Calls>,
    /// Each function's role, by function id.
    pub roles: BTreeMap<String, Vec<iam::Statement>>,
    /// What the stack would be billed for so far.
    pub meter: meter::Meter,
    /// Function URLs (`http://127.0.0.1:port/`), by the function's logical id.
    pub function_urls: BTreeMap<String, String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        // Before their Runtime API goes away, so they do not report losing it.
        for f in self.functions.values() {
            f.kill();
        }
    }
}

/// The credentials and endpoint a function's SDK finds in its environment.
fn aws_environment() -> BTreeMap<String, String> {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"]
        .into_iter()
        .filter_map(|k| Some((k.to_owned(), std::env::var(k).ok()?)))
        .collect()
}

impl Stack {
    /// Create the resources in moto (`sdk`), start the functions and the managed-service parts.
    pub async fn start(sdk: &aws_config::SdkConfig, opts: StackOptions) -> anyhow::Result<Self> {
        let suffix = ulid::Ulid::new().to_string().to_ascii_lowercase();
        let stack = format!("hl-{}", &suffix[suffix.len() - 10..]);
        let key_param = format!("/hookline/{stack}/operator-key");
        let mut params: Vec<(&str, &str)> = vec![("OperatorKeyParameter", key_param.as_str())];
        params.extend(opts.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
        let mut template = Template::expand(&opts.python, &root.join("template.yaml"), &params)?;
        if let Some(secs) = opts.visibility_timeout {
            template.override_property("AWS::SQS::Queue", "VisibilityTimeout", Value::from(secs));
        }
        let region = sdk.region().map_or("us-east-1".to_owned(), |r| r.to_string());
        let mut resolver = Resolver { params: template.parameters(&params), created: BTreeMap::new(), region, stack };
        resources::create_all(sdk, &template, &mut resolver).await?;

        let operator_key = format!("op_{suffix}");
        aws_sdk_ssm::Client::new(sdk)
            .put_parameter()
            .name(&key_param)
            .value(&operator_key)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await?;

        let mut aws = aws_environment();
        aws.extend(opts.test_environment.clone());
        let mut tasks = Vec::new();
        let meter = meter::Meter::new(table_indexes(&template, &resolver));
        let (mut functions, mut calls, mut roles) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        for (id, props) in template.resources("AWS::Lambda::Function") {
            let (f, recorded, role, proxy) =
                start_function(&template, &resolver, (&opts, &aws), id, props, &meter).await?;
            tasks.push(proxy);
            roles.insert(id.to_owned(), role);
            calls.insert(id.to_owned(), recorded);
            functions.insert(id.to_owned(), Arc::new(f));
        }
        let by_arn: HashMap<String, Arc<Function>> =
            functions.values().map(|f| (f.spec.arn.clone(), f.clone())).collect();

        let sqs = aws_sdk_sqs::Client::new(sdk);
        for (id, p) in template.resources("AWS::Lambda::EventSourceMapping") {
            let m = mapping(&resolver, id, p, &by_arn, &meter)?;
            tasks.push(tokio::spawn(m.run(sqs.clone(), resolver.region.clone())));
        }
        let listener = tokio::net::TcpListener::bind(opts.addr).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let routes = routes(&template, &resolver, &by_arn)?;
        let m = meter.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = apigw::serve(listener, routes, ("apigw", m)).await {
                tracing::error!(error = %e, "API Gateway stopped");
            }
        }));
        let mut function_urls = BTreeMap::new();
        for (id, p) in template.resources("AWS::Lambda::Url") {
            let function = function_url(&template, &resolver, id, p, &by_arn)?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}/", listener.local_addr()?);
            if let Some(c) = resolver.created.get_mut(id) {
                c.attrs.insert("FunctionUrl".into(), url.clone());
            }
            function_urls.insert(function.spec.id.clone(), url);
            let route = apigw::Route { method: "ANY".into(), path: "*".into(), function };
            let m = meter.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = apigw::serve(listener, vec![route], ("function-url", m)).await {
                    tracing::error!(error = %e, "Function URL stopped");
                }
            }));
        }
        let scheduler_clock = scheduler::SchedulerClock::default();
        for (id, _) in template.resources("AWS::Scheduler::ScheduleGroup") {
            let group = resolver.created[id].reference.clone();
            let client = aws_sdk_scheduler::Client::new(sdk);
            tasks.push(tokio::spawn(scheduler::run(
                client,
                group,
                by_arn.clone(),
                scheduler_clock.clone(),
                meter.clone(),
            )));
        }
        Ok(Self { url, operator_key, resolver, functions, scheduler_clock, calls, roles, meter, function_urls, tasks })
    }

    /// Every AWS request a function made that its role does not allow, as
    /// `function: action on resource (leading keys)`.
    pub fn denied(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (id, calls) in &self.calls {
            let calls = calls.lock().expect("calls").clone();
            for c in iam::denied(&self.roles[id], &calls) {
                out.push(format!("{id}: {} on {} {:?}", c.action, c.resource, c.leading_keys));
            }
        }
        out
    }

    /// Every write a function's role grants that it has not made so far, as
    /// `function: sid: action on resource`.
    pub fn unused_writes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (id, calls) in &self.calls {
            let calls = calls.lock().expect("calls").clone();
            out.extend(iam::unused_writes(&self.roles[id], &calls).into_iter().map(|u| format!("{id}: {u}")));
        }
        out
    }

    /// The IAM actions function `id` has used so far.
    pub fn actions(&self, id: &str) -> std::collections::BTreeSet<String> {
        self.calls[id].lock().expect("calls").iter().map(|c| c.action.clone()).collect()
    }

    /// What `Ref` gives for a resource of the template (a queue's URL, a table's name).
    pub fn reference(&self, id: &str) -> &str {
        &self.resolver.created[id].reference
    }
}

/// Each created table's indexes: the attribute each is partitioned on.
fn table_indexes(template: &Template, resolver: &Resolver) -> meter::Indexes {
    template
        .resources("AWS::DynamoDB::Table")
        .into_iter()
        .map(|(id, p)| {
            let keys = p["GlobalSecondaryIndexes"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["KeySchema"].as_array().into_iter().flatten())
                .filter(|k| k["KeyType"] == "HASH")
                .filter_map(|k| k["AttributeName"].as_str().map(str::to_owned))
                .collect();
            (resolver.created[id].reference.clone(), keys)
        })
        .collect()
}

/// Start one function behind its own recorder: the function, what it records, its
/// role's statements, and the recorder's task.
async fn start_function(
    template: &Template,
    resolver: &Resolver,
    (opts, aws): (&StackOptions, &BTreeMap<String, String>),
    id: &str,
    props: &serde_json::Map<String, Value>,
    meter: &meter::Meter,
) -> anyhow::Result<(Function, recorder::Calls, Vec<iam::Statement>, tokio::task::JoinHandle<()>)> {
    let account = recorder::Account { region: resolver.region.clone(), account: template::ACCOUNT_ID.into() };
    let upstream = aws.get("AWS_ENDPOINT_URL").cloned().ok_or_else(|| anyhow!("AWS_ENDPOINT_URL (moto) is not set"))?;
    let spec = function_spec(template, resolver, id)?;
    // The function reaches moto through its own recorder.
    let recorded = recorder::Calls::default();
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut env = aws.clone();
    env.insert("AWS_ENDPOINT_URL".into(), format!("http://{}", proxy.local_addr()?));
    let task =
        tokio::spawn(recorder::serve(proxy, upstream, account, recorded.clone(), (id.to_owned(), meter.clone())));
    let role = props["Role"]["Fn::GetAtt"][0].as_str().ok_or_else(|| anyhow!("{id}: no role"))?;
    let role_props = template.resources("AWS::IAM::Role").into_iter().find(|(r, _)| *r == role);
    let role_props = resolver.resolve(&Value::Object(role_props.map(|(_, p)| p.clone()).unwrap_or_default()))?;
    let binary = match opts.layout {
        BinLayout::Cargo => opts.bin_dir.join(&spec.binary),
        BinLayout::Lambda => opts.bin_dir.join(&spec.binary).join("bootstrap"),
    };
    let first = opts.first_events.get(id).cloned();
    let measured = first.is_some();
    let f = Function::start(spec, &binary, (&resolver.region, &env), first, meter.clone()).await?;
    if measured {
        // One cold start at a time, so they are not measured against each other.
        f.cold_start().await?;
    }
    Ok((f, recorded, iam::statements(&role_props)?, task))
}

fn function_spec(template: &Template, r: &Resolver, id: &str) -> anyhow::Result<FunctionSpec> {
    let props = template.resources("AWS::Lambda::Function").into_iter().find(|(i, _)| *i == id).map(|(_, p)| p);
    let p = r.resolve(&Value::Object(props.cloned().unwrap_or_default()))?;
    let environment = p["Environment"]["Variables"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect();
    let binary = template.metadata(id)["BuildProperties"]["Binary"]
        .as_str()
        .ok_or_else(|| anyhow!("{id}: no Metadata.BuildProperties.Binary"))?;
    Ok(FunctionSpec {
        id: id.to_owned(),
        name: r.created[id].reference.clone(),
        arn: r.created[id].attrs["Arn"].clone(),
        binary: binary.to_owned(),
        memory_mb: p["MemorySize"].as_u64().unwrap_or(128) as u32,
        timeout: Duration::from_secs(p["Timeout"].as_u64().unwrap_or(3)),
        environment,
    })
}

fn mapping(
    r: &Resolver,
    id: &str,
    props: &serde_json::Map<String, Value>,
    functions: &HashMap<String, Arc<Function>>,
    meter: &meter::Meter,
) -> anyhow::Result<esm::Mapping> {
    let p = r.resolve(&Value::Object(props.clone()))?;
    let arn = p["EventSourceArn"].as_str().ok_or_else(|| anyhow!("{id}: no EventSourceArn"))?;
    let queue = r
        .created
        .values()
        .find(|c| c.attrs.get("Arn").map(String::as_str) == Some(arn))
        .ok_or_else(|| anyhow!("{id}: no queue {arn}"))?;
    let name = p["FunctionName"].as_str().unwrap_or_default();
    let function =
        functions.values().find(|f| f.spec.name == name).ok_or_else(|| anyhow!("{id}: no function {name}"))?.clone();
    let report =
        p["FunctionResponseTypes"].as_array().is_some_and(|t| t.iter().any(|t| t == "ReportBatchItemFailures"));
    Ok(esm::Mapping {
        id: id.to_owned(),
        queue_url: queue.attrs["QueueUrl"].clone(),
        queue_arn: arn.to_owned(),
        batch_size: p["BatchSize"].as_u64().unwrap_or(10) as usize,
        window: Duration::from_secs(p["MaximumBatchingWindowInSeconds"].as_u64().unwrap_or(0)),
        report_failures: report,
        function,
        meter: meter.clone(),
    })
}

fn routes(
    template: &Template,
    r: &Resolver,
    functions: &HashMap<String, Arc<Function>>,
) -> anyhow::Result<Vec<apigw::Route>> {
    let mut out = Vec::new();
    for (id, props) in template.resources("AWS::ApiGatewayV2::Api") {
        let body = r.resolve(&props["Body"]).with_context(|| format!("{id}: its routes"))?;
        for (path, methods) in body["paths"].as_object().into_iter().flatten() {
            for (method, op) in methods.as_object().into_iter().flatten() {
                let uri = op["x-amazon-apigateway-integration"]["uri"].as_str().unwrap_or_default();
                let arn = uri.split("/functions/").nth(1).and_then(|s| s.strip_suffix("/invocations"));
                let function =
                    arn.and_then(|a| functions.get(a)).ok_or_else(|| anyhow!("{path}: no function {uri}"))?;
                let method =
                    if method == "x-amazon-apigateway-any-method" { "ANY".into() } else { method.to_ascii_uppercase() };
                out.push(apigw::Route { method, path: path.clone(), function: function.clone() });
            }
        }
    }
    Ok(out)
}

/// The function behind a Function URL. A public one (`AuthType: NONE`) answers only when
/// the function's policy lets anyone call it both ways Lambda asks: `InvokeFunctionUrl`
/// for that auth type, and `InvokeFunction` through the URL.
fn function_url(
    template: &Template,
    r: &Resolver,
    id: &str,
    props: &serde_json::Map<String, Value>,
    functions: &HashMap<String, Arc<Function>>,
) -> anyhow::Result<Arc<Function>> {
    let p = r.resolve(&Value::Object(props.clone()))?;
    let arn = p["TargetFunctionArn"].as_str().unwrap_or_default();
    let function = functions.get(arn).ok_or_else(|| anyhow!("{id}: no function {arn}"))?.clone();
    if p["AuthType"] == "NONE" {
        let mut granted = Vec::new();
        for (_, perm) in template.resources("AWS::Lambda::Permission") {
            let perm = r.resolve(&Value::Object(perm.clone()))?;
            let target = perm["FunctionName"].as_str().unwrap_or_default();
            if perm["Principal"] == "*" && (target == function.spec.name || target == function.spec.arn) {
                granted.push(perm);
            }
        }
        let url =
            granted.iter().any(|g| g["Action"] == "lambda:InvokeFunctionUrl" && g["FunctionUrlAuthType"] == "NONE");
        let invoke =
            granted.iter().any(|g| g["Action"] == "lambda:InvokeFunction" && g["InvokedViaFunctionUrl"] == true);
        anyhow::ensure!(url && invoke, "{id}: a public Function URL needs both lambda:InvokeFunctionUrl (FunctionUrlAuthType NONE) and lambda:InvokeFunction (InvokedViaFunctionUrl) granted to *");
    }
    Ok(function)
}
