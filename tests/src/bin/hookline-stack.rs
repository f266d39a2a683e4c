//! `make stack`: the SAM stack run by hand, over the moto that `infra/stack.sh` starts.
//! Prints the API's URL and the operator key, then serves until Ctrl-C. Template
//! parameters come from `HOOKLINE_STACK_PARAMS` (`IngestFunctionUrl=true,LogLevel=debug`).

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
    for pair in std::env::var("HOOKLINE_STACK_PARAMS").unwrap_or_default().split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| anyhow::anyhow!("{pair}: not Name=Value"))?;
        opts.params.push((k.to_owned(), v.to_owned()));
    }
    let sdk = hookline_shared::aws::sdk_config().await;
    let stack = Stack::start(&sdk, opts).await?;
    let mut out = std::io::stdout().lock();
    let url = &stack.url;
    writeln!(out, "API Gateway: {url}  (ingest: {url}/in/{{source}}, api: {url}/v1/...)")?;
    writeln!(out, "operator key: {}", stack.operator_key)?;
    for (id, url) in &stack.function_urls {
        writeln!(out, "{id} Function URL: {url}")?;
    }
    for (id, f) in &stack.functions {
        writeln!(out, "{id}: {} ({})", f.spec.name, f.spec.binary)?;
    }
    drop(out);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
