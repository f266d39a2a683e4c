//! `hookline` as a library: [`dev::start`] runs every function in one process on the
//! embedded store, for `hookline dev` and for the end-to-end tests; [`run`] carries out
//! every command, the others being clients of a Hookline's API (`hookline dev` or a
//! deployed stack).

pub mod client;
pub mod commands;
pub mod dev;
pub mod examples;
mod fields;
mod listen;
mod output;
pub mod profile;
mod resources;
mod serve;
pub mod sign;
mod tail;
mod trigger;

use client::Client;
use commands::{Cli, Command};
use output::Out;

/// `hookline dev` runs the store on its own thread beside the runtime's workers, and
/// memory allocated on one is freed on another; glibc's allocator serialises much of
/// that, mimalloc does not (end-to-end load: about 45% more deliveries per second).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Carry out a command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let profile = cli.profile.clone();
    let client = || Client::new(profile::resolve(profile.as_deref())?);
    match cli.command {
        Command::Dev { addr, data } => dev::run(addr, data).await,
        Command::Login { url, api_key } => login(profile.as_deref(), url, api_key).await,
        Command::Whoami { out } => {
            let c = client()?;
            let me = c.get("/v1/me").await?;
            let out = Out::new(out.json);
            if out.json {
                out.value(&serde_json::json!({"url": c.url(), "org": me}));
            } else {
                out.line(&format!(
                    "{} ({}, plan {}) at {}",
                    me["name"].as_str().unwrap_or("?"),
                    me["id"].as_str().unwrap_or("?"),
                    me["plan"].as_str().unwrap_or("?"),
                    c.url()
                ));
            }
            Ok(())
        }
        Command::Sources(cmd) => resources::sources(&client()?, cmd).await,
        Command::Webhooks(cmd) => resources::webhooks(&client()?, cmd).await,
        Command::Events(cmd) => resources::events(&client()?, cmd).await,
        Command::Schedules(cmd) => resources::schedules(&client()?, cmd).await,
        Command::Recurring(cmd) => resources::recurring(&client()?, cmd).await,
        Command::Trigger(args) => trigger::run(args, client).await,
        Command::Listen(args) => listen::run(client()?, args).await,
        Command::Tail(args) => tail::run(client()?, args).await,
        Command::Sign { scheme, secret, body, url } => {
            let now = chrono::Utc::now().timestamp();
            let out = Out::new(false);
            for line in sign::headers(scheme, &secret, body.as_bytes(), url.as_deref(), now)? {
                out.line(&line);
            }
            Ok(())
        }
        Command::Completions { shell } => {
            let mut cmd = examples::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "hookline", &mut script);
            Out::new(false).line(String::from_utf8_lossy(&script).trim_end());
            Ok(())
        }
    }
}

/// Check the key against the URL (`GET /v1/me`), then keep the profile.
async fn login(name: Option<&str>, url: String, api_key: String) -> anyhow::Result<()> {
    let candidate = profile::Profile { url: url.trim_end_matches('/').to_owned(), api_key };
    let me = Client::new(candidate.clone())?.get("/v1/me").await?;
    let name = name.unwrap_or(profile::DEFAULT_PROFILE);
    let path = profile::save(name, candidate)?;
    eprintln!(
        "logged in to {} as {} ({}); profile `{name}` kept in {}",
        url,
        me["name"].as_str().unwrap_or("?"),
        me["id"].as_str().unwrap_or("?"),
        path.display()
    );
    Ok(())
}
