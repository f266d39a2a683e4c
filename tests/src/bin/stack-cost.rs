//! `make bench` (after `make build`): the `make build` bootstraps in the stack run, with
//! ingest's Function URL on, metered through three steady runs (events through the API
//! at fan-out 1 and 10, Stripe events through the Function URL). Prints one JSON report
//! per run for `tests/stack/price.py`. `HOOKLINE_COST_EVENTS` sets the events per run
//! (1,000 by default).

use hookline_tests::stack::load::{self, Entry, Scenario};
use hookline_tests::stack::{BinLayout, Stack, StackOptions};
use hookline_tests::Receiver;
use std::io::Write as _;
use std::path::Path;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let python = std::env::var("HOOKLINE_PYTHON").unwrap_or_else(|_| ".venv/bin/python".into());
    let events: usize = std::env::var("HOOKLINE_COST_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let mut opts = StackOptions::for_tests(python)?;
    opts.bin_dir = root.join("target/lambda");
    opts.layout = BinLayout::Lambda;
    // The template's own visibility timeouts: nothing comes back early under load.
    opts.visibility_timeout = None;
    opts.params.push(("IngestFunctionUrl".into(), "true".into()));
    let sdk = hookline_shared::aws::sdk_config().await;
    let stack = Stack::start(&sdk, opts).await?;
    let receiver = Receiver::start().await;
    for s in [
        Scenario { name: "api-fan-out-1", events, fan_out: 1, entry: Entry::Api },
        Scenario { name: "api-fan-out-10", events, fan_out: 10, entry: Entry::Api },
        Scenario { name: "stripe-function-url", events, fan_out: 1, entry: Entry::StripeFunctionUrl },
    ] {
        let report = load::run(&stack, &receiver, s).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        out.flush()?;
    }
    anyhow::ensure!(stack.denied().is_empty(), "requests the roles do not allow: {:?}", stack.denied());
    Ok(())
}
