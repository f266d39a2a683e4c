//! The `hookline` command.

use anyhow::Context as _;
use clap::FromArgMatches as _;
use hookline_cli::commands::{Cli, Command};
use hookline_cli::dev::{self, DevOptions};
use hookline_shared::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = match Cli::from_arg_matches(&hookline_cli::examples::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Dev { addr, data } => run_dev(addr, data).await,
        _ => hookline_cli::run(cli).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": "));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_dev(addr: std::net::SocketAddr, data: std::path::PathBuf) -> anyhow::Result<()> {
    init_tracing();
    let config = Config::from_env()?;
    let server = dev::start(DevOptions::new(addr, data, config)).await?;
    if server.generated_key {
        tracing::info!(
            operator_key = server.operator_key.expose(),
            "generated an operator key (saved in the data directory; set HOOKLINE_OPERATOR_KEY to choose one)"
        );
    }
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if std::env::var("HOOKLINE_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
