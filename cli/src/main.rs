//! The `hookline` command.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hookline_cli::dev::{self, DevOptions};
use hookline_cli::sign::{self, Scheme};
use hookline_shared::Config;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "hookline", version, about = "Receive, verify, deliver and schedule webhooks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every function in one process on the embedded store.
    Dev {
        /// Address to listen on.
        #[arg(long, env = "HOOKLINE_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Data directory.
        #[arg(long, env = "HOOKLINE_DATA", default_value = ".hookline")]
        data: PathBuf,
    },
    /// Print the headers a provider would send with BODY (for curl -H).
    Sign {
        /// The signature scheme.
        #[arg(value_enum)]
        scheme: Scheme,
        /// The source's secret.
        #[arg(long)]
        secret: String,
        /// The request body.
        #[arg(long)]
        body: String,
        /// The URL the request will be sent to (Twilio signs it, with its query).
        #[arg(long)]
        url: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Dev { addr, data } => {
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
        }
        Command::Sign { scheme, secret, body, url } => {
            let now = chrono::Utc::now().timestamp();
            let mut out = std::io::stdout().lock();
            for line in sign::headers(scheme, &secret, body.as_bytes(), url.as_deref(), now)? {
                writeln!(out, "{line}")?;
            }
        }
    }
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
