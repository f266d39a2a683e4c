//! One function of the stack, run as Lambda runs it: its `bootstrap` as a process with
//! Lambda's environment and the template's, polling a Runtime API (`lambda-simulator`)
//! for one invocation at a time.

use super::meter::{self, Meter};
use anyhow::{anyhow, bail, Context};
use lambda_simulator::{InvocationBuilder, InvocationStatus, Simulator};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long an invocation may wait behind others for the one process of its function.
const QUEUE_ALLOWANCE: Duration = Duration::from_secs(120);

/// What the stack run knows about a function from the template.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The logical id (`IngestFunction`).
    pub id: String,
    /// Its name (what `Ref` gives, and what Lambda calls `AWS_LAMBDA_FUNCTION_NAME`).
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// The binary it is built from (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    /// `MemorySize` in MB.
    pub memory_mb: u32,
    /// `Timeout`.
    pub timeout: Duration,
    /// `Environment.Variables`, resolved.
    pub environment: BTreeMap<String, String>,
}

/// How a function started, measured on an event that was waiting when it was started.
#[derive(Debug, Clone, Copy)]
pub struct ColdStart {
    /// From exec to its first `GET /runtime/invocation/next`.
    pub to_first_poll: Duration,
    /// From exec to the first answer.
    pub to_first_answer: Duration,
    /// Peak resident memory after the first answer (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
}

/// A running function.
pub struct Function {
    /// From the template.
    pub spec: FunctionSpec,
    simulator: Simulator,
    process: Mutex<tokio::process::Child>,
    exec: chrono::DateTime<chrono::Utc>,
    first: Option<String>,
    meter: Meter,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function").field("id", &self.spec.id).finish()
    }
}

impl Function {
    /// Start `spec`'s binary from `bin_dir` against a new Runtime API. `aws` holds what
    /// the execution role's credentials and the SDK endpoint would be.
    /// With `first`, that event is waiting before the process starts (see [`Function::cold_start`]).
    /// Each invocation's billed duration goes to `meter`.
    pub async fn start(
        spec: FunctionSpec,
        binary: &Path,
        (region, aws): (&str, &BTreeMap<String, String>),
        first: Option<Value>,
        meter: Meter,
    ) -> anyhow::Result<Self> {
        let simulator = Simulator::builder()
            .function_name(&spec.name)
            .memory_size_mb(spec.memory_mb)
            .region(region)
            .invocation_timeout(spec.timeout)
            .build()
            .await?;
        if !binary.exists() {
            bail!("{} is not built", binary.display());
        }
        let first = match first {
            Some(event) => Some(simulator.enqueue(Self::invocation(&spec, event)?).await),
            None => None,
        };
        let mut cmd = tokio::process::Command::new(binary);
        // A function sees Lambda's variables, its template's, and its role's credentials; nothing of ours.
        cmd.env_clear().envs(simulator.lambda_env_vars()).envs(&spec.environment).envs(aws);
        cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin").kill_on_drop(true);
        let exec = chrono::Utc::now();
        let process = cmd.spawn().with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self { spec, simulator, process: Mutex::new(process), exec, first, meter })
    }

    fn invocation(spec: &FunctionSpec, payload: Value) -> anyhow::Result<lambda_simulator::Invocation> {
        Ok(InvocationBuilder::new()
            .payload(payload)
            .timeout_ms(spec.timeout.as_millis() as u64)
            .function_arn(&spec.arn)
            .build()?)
    }

    /// The start figures, once the event given to [`Function::start`] has been answered.
    pub async fn cold_start(&self) -> anyhow::Result<ColdStart> {
        let id = self.first.as_deref().ok_or_else(|| anyhow!("{} was started without a first event", self.spec.id))?;
        let state = self.simulator.wait_for_invocation_complete(id, self.spec.timeout).await?;
        let answered = match (&state.response, &state.error) {
            (Some(r), _) => r.received_at,
            (None, Some(e)) => bail!("{}: the first event failed: {}", self.spec.id, e.error_message),
            _ => bail!("{}: the first event was not answered", self.spec.id),
        };
        let polled = state.started_at.ok_or_else(|| anyhow!("never polled"))?;
        let pid = self.process.lock().await.id().ok_or_else(|| anyhow!("{} exited", self.spec.id))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let peak = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap_or("0 kB");
        Ok(ColdStart {
            to_first_poll: (polled - self.exec).to_std()?,
            to_first_answer: (answered - self.exec).to_std()?,
            peak_rss_kib: peak.trim().trim_end_matches("kB").trim().parse()?,
        })
    }

    /// Invoke with `payload` and wait for the answer, as a synchronous invocation does.
    pub async fn invoke(&self, payload: Value) -> anyhow::Result<Value> {
        let id = self.simulator.enqueue(Self::invocation(&self.spec, payload)?).await;
        // One process serves one invocation at a time, where Lambda would start more: the
        // wait includes the queue ahead of it, not only the function's own timeout.
        let wait = self.spec.timeout + QUEUE_ALLOWANCE;
        let state = match self.simulator.wait_for_invocation_complete(&id, wait).await {
            Ok(s) => s,
            Err(e) => {
                if let Some(status) = self.process.lock().await.try_wait()? {
                    bail!("{} exited ({status})", self.spec.id);
                }
                return Err(anyhow!("{}: {e}", self.spec.id));
            }
        };
        let ended = state.response.as_ref().map(|r| r.received_at).or(state.error.as_ref().map(|e| e.received_at));
        if let (Some(started), Some(ended)) = (state.started_at, ended) {
            let took = (ended - started).to_std().unwrap_or_default();
            self.meter.add(&self.spec.id, "lambda:Invoke", meter::lambda(took, self.spec.memory_mb));
        }
        match state.status {
            InvocationStatus::Success => Ok(state.response.map(|r| r.payload).unwrap_or(Value::Null)),
            _ => {
                let e = state.error.map(|e| format!("{}: {}", e.error_type, e.error_message));
                bail!("{} failed: {}", self.spec.id, e.unwrap_or_else(|| format!("{:?}", state.status)))
            }
        }
    }

    /// Stop the process.
    pub fn kill(&self) {
        if let Ok(mut p) = self.process.try_lock() {
            let _ = p.start_kill();
        }
    }
}
