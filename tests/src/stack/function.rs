//! One function of the stack, run as Lambda runs it: its `bootstrap` as a process with
//! Lambda's environment and the template's, polling a Runtime API (`lambda-simulator`)
//! for one invocation at a time.

use anyhow::{anyhow, bail, Context};
use lambda_simulator::{InvocationBuilder, InvocationStatus, Simulator};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tokio::sync::Mutex;

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

/// A running function.
pub struct Function {
    /// From the template.
    pub spec: FunctionSpec,
    simulator: Simulator,
    process: Mutex<tokio::process::Child>,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function").field("id", &self.spec.id).finish()
    }
}

impl Function {
    /// Start `spec`'s binary from `bin_dir` against a new Runtime API. `aws` holds what
    /// the execution role's credentials and the SDK endpoint would be.
    pub async fn start(
        spec: FunctionSpec,
        bin_dir: &Path,
        region: &str,
        aws: &BTreeMap<String, String>,
    ) -> anyhow::Result<Self> {
        let simulator = Simulator::builder()
            .function_name(&spec.name)
            .memory_size_mb(spec.memory_mb)
            .region(region)
            .invocation_timeout(spec.timeout)
            .build()
            .await?;
        let binary = bin_dir.join(&spec.binary);
        if !binary.exists() {
            bail!("{} is not built", binary.display());
        }
        let mut cmd = tokio::process::Command::new(&binary);
        // A function sees Lambda's variables, its template's, and its role's credentials; nothing of ours.
        cmd.env_clear().envs(simulator.lambda_env_vars()).envs(&spec.environment).envs(aws);
        cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin").kill_on_drop(true);
        let process = cmd.spawn().with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self { spec, simulator, process: Mutex::new(process) })
    }

    /// Invoke with `payload` and wait for the answer, as a synchronous invocation does.
    pub async fn invoke(&self, payload: Value) -> anyhow::Result<Value> {
        let invocation = InvocationBuilder::new()
            .payload(payload)
            .timeout_ms(self.spec.timeout.as_millis() as u64)
            .function_arn(&self.spec.arn)
            .build()?;
        let id = self.simulator.enqueue(invocation).await;
        let state = match self.simulator.wait_for_invocation_complete(&id, self.spec.timeout).await {
            Ok(s) => s,
            Err(e) => {
                if let Some(status) = self.process.lock().await.try_wait()? {
                    bail!("{} exited ({status})", self.spec.id);
                }
                return Err(anyhow!("{}: {e}", self.spec.id));
            }
        };
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
