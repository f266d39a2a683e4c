//! What the load tools share: a `hookline dev` on 127.0.0.1:0 with a fresh data directory,
//! and the process's CPU time.

use hookline_cli::dev::{self, DevOptions, DevServer};

/// Start `hookline dev` with default settings; the directory lives as long as the result.
pub async fn start_dev() -> anyhow::Result<(tempfile::TempDir, DevServer)> {
    let data = tempfile::tempdir()?;
    let server =
        dev::start(DevOptions::new("127.0.0.1:0".parse()?, data.path().to_path_buf(), Default::default())).await?;
    Ok((data, server))
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> anyhow::Result<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).unwrap_or(&"0").parse::<u64>()? + fields.get(12).unwrap_or(&"0").parse::<u64>()?;
    // Linux reports in clock ticks of 1/100 s.
    Ok(std::time::Duration::from_millis(ticks * 10))
}
