//! `make stack`: the SAM stack run by hand, over the moto that `infra/stack.sh` starts.
//! Prints the API's URL and the operator key, then serves until Ctrl-C.

use hookline_tests::stack::{Stack, StackOptions};
use std::io::Write as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let python = std::env::var("HOOKLINE_PYTHON").unwrap_or_else(|_| ".venv/bin/python".into());
    let mut opts = StackOptions::for_tests(python)?;
    // The template's own visibility timeouts, as deployed.
    opts.visibility_timeout = None;
    if let Ok(addr) = std::env::var("HOOKLINE_STACK_ADDR") {
        opts.addr = addr.parse()?;
    }
    let sdk = hookline_shared::aws::sdk_config().await;
    let stack = Stack::start(&sdk, opts).await?;
    let mut out = std::io::stdout().lock();
    let url = &stack.url;
    writeln!(out, "API Gateway: {url}  (ingest: {url}/in/{{source}}, api: {url}/v1/...)")?;
    writeln!(out, "operator key: {}", stack.operator_key)?;
    for (id, f) in &stack.functions {
        writeln!(out, "{id}: {} ({})", f.spec.name, f.spec.binary)?;
    }
    drop(out);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
