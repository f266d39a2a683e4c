//! What the load tools share: a `hookline dev` on 127.0.0.1:0 with a fresh data directory,
//! and the process's CPU time.

use hookline_cli::dev::{self, DevOptions, DevServer};

/// Start `hookline dev` with default settings; the directory lives as long as the result.
pub async fn start_dev() -> anyhow::Result<(tempfile::TempDir, DevServer)> {
    start_dev_with(|_| {}).await
}

/// Start `hookline dev` with default settings changed by `adjust`.
pub async fn start_dev_with(adjust: impl FnOnce(&mut DevOptions)) -> anyhow::Result<(tempfile::TempDir, DevServer)> {
    let data = tempfile::tempdir()?;
    let mut opts = DevOptions::new("127.0.0.1:0".parse()?, data.path().to_path_buf(), Default::default());
    adjust(&mut opts);
    let server = dev::start(opts).await?;
    Ok((data, server))
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> anyhow::Result<std::time::Duration> {
    stat_cpu_time(&std::fs::read_to_string("/proc/self/stat")?)
}

/// CPU time used so far by this process's threads named `name` (the database thread,
/// `hookline-db`, is the pipeline's one serial stage, so its time per delivery says
/// more about the store's cost than throughput does on a shared machine).
pub fn thread_cpu_time(name: &str) -> anyhow::Result<std::time::Duration> {
    let mut total = std::time::Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task")? {
        let dir = task?.path();
        if std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim_end() == name) {
            total += stat_cpu_time(&std::fs::read_to_string(dir.join("stat"))?)?;
        }
    }
    Ok(total)
}

/// User + system time from a `/proc/…/stat` line.
fn stat_cpu_time(stat: &str) -> anyhow::Result<std::time::Duration> {
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).unwrap_or(&"0").parse::<u64>()? + fields.get(12).unwrap_or(&"0").parse::<u64>()?;
    // Linux reports in clock ticks of 1/100 s.
    Ok(std::time::Duration::from_millis(ticks * 10))
}
