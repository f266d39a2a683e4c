//! Scheduler budget on `hookline dev`: with `--pending` jobs waiting (due in a day), how
//! much CPU the whole server uses while idle, and how long `--burst` jobs due in the
//! same second take to run (each run published into the inbox and recorded). Bounded in
//! count and time; only the local database is used.
//!
//! `cargo run --release -p hookline-bench --bin timers -- --pending 100000 --burst 10000`

#![allow(clippy::print_stdout)] // the report is the tool's output

use chrono::Utc;
use clap::Parser;
use hookline_shared::local::{LocalDb, LocalStore, LocalTimer};
use hookline_shared::ports::TimerPayload;
use hookline_shared::ports::{ScheduleStore, Timer};
use hookline_shared::schedule::{Job, When};
use hookline_shared::{OrgId, ScheduleId};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Jobs pending (due tomorrow) while idle.
    #[arg(long, default_value_t = 100_000)]
    pending: usize,
    /// Jobs due in the same second.
    #[arg(long, default_value_t = 10_000)]
    burst: usize,
    /// How long to measure idle CPU.
    #[arg(long, default_value_t = 10)]
    idle_seconds: u64,
}

fn job(org: &OrgId, at: chrono::DateTime<Utc>, i: usize) -> Job {
    let now = Utc::now();
    Job {
        id: ScheduleId::new(),
        org_id: org.clone(),
        version: 1,
        event_type: "bench.tick".into(),
        data: serde_json::json!({ "i": i }),
        when: When::At { at },
        timezone: "UTC".into(),
        start_at: None,
        end_at: None,
        key: None,
        recurring: None,
        next_run_at: Some(at),
        last_run_at: None,
        last_due_at: None,
        runs: 0,
        paused_at: None,
        created_at: now,
        updated_at: now,
    }
}

async fn add(store: &LocalStore, timer: &LocalTimer, job: &Job) -> anyhow::Result<()> {
    store.put_job(job).await?;
    timer.arm(job, &TimerPayload::for_job(job)).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (data, server) = hookline_bench::start_dev().await?;
    // A second connection to the same database, to set the jobs up quickly.
    let db = LocalDb::open(&data.path().join("hookline.db"))?;
    let (store, timer) = (LocalStore::new(db.clone()), LocalTimer::new(db));
    let org = OrgId::new();

    let started = Instant::now();
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    for i in 0..args.pending {
        add(&store, &timer, &job(&org, tomorrow + chrono::Duration::seconds(i as i64 % 3600), i)).await?;
    }
    println!("{} pending jobs created in {:.1} s", args.pending, started.elapsed().as_secs_f64());

    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu0, t0) = (hookline_bench::cpu_time()?, Instant::now());
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let idle = (hookline_bench::cpu_time()? - cpu0).as_secs_f64() / t0.elapsed().as_secs_f64();
    println!(
        "idle with {} pending: {:.2}% of one core (whole server: timer loop and queue pollers)",
        args.pending,
        idle * 100.0
    );

    // A burst due at the same second, a few seconds from now.
    let due = Utc::now() + chrono::Duration::seconds(5);
    let due = due - chrono::Duration::nanoseconds(due.timestamp_subsec_nanos() as i64);
    for i in 0..args.burst {
        add(&store, &timer, &job(&org, due, i)).await?;
    }
    let wait = (due - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    let fired_from = Instant::now();
    let deadline = fired_from + Duration::from_secs(60);
    while server.timer.pending().await? > args.pending as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = server.timer.pending().await?.saturating_sub(args.pending as u64);
    println!(
        "{} jobs due at the same second: all run (published and recorded) {:.2} s after their time{}",
        args.burst,
        fired_from.elapsed().as_secs_f64(),
        if left > 0 { format!(" — {left} still pending at the 60 s bound") } else { String::new() }
    );
    server.shutdown().await;
    Ok(())
}
