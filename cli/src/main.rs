//! The `hookline` command.

use clap::FromArgMatches as _;
use hookline_cli::commands::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = match Cli::from_arg_matches(&hookline_cli::examples::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match hookline_cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": "));
            std::process::ExitCode::FAILURE
        }
    }
}
