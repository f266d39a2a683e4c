//! What the load tools share: a `hookline dev` on 127.0.0.1:0 with a fresh data directory.

use hookline_cli::dev::{self, DevOptions, DevServer};

/// Start `hookline dev` with default settings; the directory lives as long as the result.
pub async fn start_dev() -> anyhow::Result<(tempfile::TempDir, DevServer)> {
    let data = tempfile::tempdir()?;
    let server =
        dev::start(DevOptions::new("127.0.0.1:0".parse()?, data.path().to_path_buf(), Default::default())).await?;
    Ok((data, server))
}
