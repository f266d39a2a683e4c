//! `make bench` (after `make build`): each function's `make build` bootstrap as Lambda
//! packages it, started by the stack run with one event already waiting, as a cold start
//! is. Prints a Markdown table: stripped size, zip size, exec → first poll, exec → first
//! answer, peak resident memory after the first event.

use axum::http::{HeaderMap, Method, Uri};
use hookline_shared::ports::TimerPayload;
use hookline_shared::{OrgId, ScheduleId};
use hookline_tests::stack::{apigw, BinLayout, Stack, StackOptions};
use serde_json::{json, Map, Value};
use std::io::Write as _;
use std::path::Path;

fn http_event(route: &str, method: Method, path: &str) -> anyhow::Result<Value> {
    let uri: Uri = path.parse()?;
    Ok(apigw::event(route, Map::new(), &method, &uri, &HeaderMap::new(), b""))
}

/// The size of `file` zipped as Lambda takes it (deflate, as `sam build` and `cargo lambda` zip).
fn zipped_size(python: &str, file: &Path) -> anyhow::Result<u64> {
    let script = "import io,sys,zipfile\nb=io.BytesIO()\nz=zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED)\nz.write(sys.argv[1],'bootstrap')\nz.close()\nprint(len(b.getvalue()))";
    let out = std::process::Command::new(python).args(["-c", script]).arg(file).output()?;
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let python = std::env::var("HOOKLINE_PYTHON").unwrap_or_else(|_| ".venv/bin/python".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let mut opts = StackOptions::for_tests(python.clone())?;
    opts.bin_dir = root.join("target/lambda");
    opts.layout = BinLayout::Lambda;
    let job = TimerPayload::Job {
        org_id: OrgId::new(),
        schedule_id: ScheduleId::new(),
        version: 1,
        scheduled_time: Some(chrono::Utc::now().to_rfc3339()),
    };
    opts.first_events = [
        ("IngestFunction", http_event("POST /in/{source}", Method::POST, "/in/src_01HZZZZZZZZZZZZZZZZZZZZZZZ")?),
        ("ApiFunction", http_event("ANY /v1/{proxy+}", Method::GET, "/v1/sources")?),
        ("VerifyFunction", json!({"Records": []})),
        ("DeliverFunction", json!({"Records": []})),
        ("ScheduleFunction", serde_json::to_value(&job)?),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let sdk = hookline_shared::aws::sdk_config().await;
    let stack = Stack::start(&sdk, opts).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "| function | bootstrap (stripped) | zip | exec → first poll | exec → first answer | peak RSS |")?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
    for (id, f) in &stack.functions {
        let c = f.cold_start().await?;
        let file = root.join("target/lambda").join(&f.spec.binary).join("bootstrap");
        let size = std::fs::metadata(&file)?.len();
        let zip = zipped_size(&python, &file)?;
        writeln!(
            out,
            "| {} | {:.1} MB | {:.1} MB | {:.1} ms | {:.1} ms | {:.1} MB |",
            id.trim_end_matches("Function").to_lowercase(),
            size as f64 / 1e6,
            zip as f64 / 1e6,
            c.to_first_poll.as_secs_f64() * 1e3,
            c.to_first_answer.as_secs_f64() * 1e3,
            c.peak_rss_kib as f64 / 1024.0,
        )?;
    }
    Ok(())
}
