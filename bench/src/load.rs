//! End-to-end load on `hookline dev` (durable SQLite queues), bounded in count and time:
//! `--concurrency` publishers POST `/v1/events` for `--seconds`, each event fans out to
//! `--fanout` endpoints on a loopback receiver, and the receiver measures
//! publish-to-receipt latency from a timestamp in the event. Only 127.0.0.1 is used.
//!
//! `cargo run --release -p hookline-bench --bin load -- --fanout 10 --seconds 60`

#![allow(clippy::print_stdout)] // the report is the tool's output

use clap::Parser;
use hookline_shared::local::DB_THREAD;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
struct Args {
    /// Endpoints each event is delivered to.
    #[arg(long, default_value_t = 1)]
    fanout: usize,
    /// Concurrent publishers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long to publish.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Stop publishing after this many events, whatever the time.
    #[arg(long, default_value_t = 2_000_000)]
    max_events: u64,
    /// Publish at most this many events per second in all (0: as fast as accepted). A
    /// capped rate shows latency at a load the pipeline keeps up with.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Messages `hookline dev` handles at once per queue (its default when absent).
    #[arg(long)]
    in_flight: Option<usize>,
    /// Requests one endpoint may have open at once (`hookline dev`'s default when absent).
    #[arg(long)]
    max_open_per_endpoint: Option<usize>,
    /// Give every endpoint this `rate_limit` (deliveries per second), to measure what
    /// the limit's bookkeeping costs when it is well above the load.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Print progress and queue depths every second.
    #[arg(long)]
    verbose: bool,
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or_default()
}

/// What the receiver reads of a delivery.
#[derive(serde::Deserialize)]
struct Probe {
    data: ProbeData,
}

#[derive(serde::Deserialize)]
struct ProbeData {
    sent_us: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (_data, server) = hookline_bench::start_dev_with(|opts| {
        if let Some(n) = args.max_open_per_endpoint {
            opts.policies.max_open_per_endpoint = n;
        }
        if let Some(n) = args.in_flight {
            opts.in_flight = n;
        }
    })
    .await?;
    let base = format!("http://{}", server.addr);

    // Receiver: counts deliveries and records latency from the event's `sent_us`.
    let received = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<u64>::with_capacity(1 << 20)));
    let (r, l) = (received.clone(), latencies.clone());
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let (r, l) = (r.clone(), l.clone());
        async move {
            // Only the timestamp is read, so the receiver costs the pipeline little CPU.
            if let Ok(Probe { data: ProbeData { sent_us: Some(sent) } }) = serde_json::from_slice::<Probe>(&body) {
                l.lock().expect("lock").push(now_us().saturating_sub(sent));
            }
            r.fetch_add(1, Ordering::Relaxed);
            "{}"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let rx = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let org: Value = http
        .post(format!("{base}/v1/orgs"))
        .bearer_auth(server.operator_key.expose())
        .json(&json!({"name": "load", "plan": "pro"}))
        .send()
        .await?
        .json()
        .await?;
    let key = org["api_key"].as_str().unwrap_or_default().to_owned();
    for i in 0..args.fanout {
        let res = http
            .post(format!("{base}/v1/webhooks"))
            .bearer_auth(&key)
            .json(&json!({"url": format!("{rx}/ep{i}"), "events": ["load.*"], "rate_limit": args.rate_limit}))
            .send()
            .await?;
        anyhow::ensure!(res.status() == 201, "creating endpoint: {}", res.status());
    }

    let published = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let cpu_at_start = hookline_bench::cpu_time()?;
    let db_at_start = hookline_bench::thread_cpu_time(DB_THREAD)?;
    let mut publishers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, base, key, published, stop) =
            (http.clone(), base.clone(), key.clone(), published.clone(), stop.clone());
        let max = args.max_events;
        let mut pace = (args.rate > 0).then(|| {
            let mut t = tokio::time::interval(Duration::from_secs_f64(args.concurrency as f64 / args.rate as f64));
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            t
        });
        publishers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) && published.load(Ordering::Relaxed) < max {
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                let body = json!({"type": "load.test", "data": {"sent_us": now_us(), "pad": "x".repeat(200)}});
                match http.post(format!("{base}/v1/events")).bearer_auth(&key).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 202 => {
                        published.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
        }));
    }
    for _ in 0..args.seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if args.verbose {
            println!(
                "t={:>3.0}s published={} received={} inbox={} deliveries={}",
                started.elapsed().as_secs_f64(),
                published.load(Ordering::Relaxed),
                received.load(Ordering::Relaxed),
                server.inbox.depth().await?,
                server.deliveries.urgent.depth().await? + server.deliveries.regular.depth().await?,
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for p in publishers {
        p.await?;
    }
    let publish_secs = started.elapsed().as_secs_f64();
    let expected = published.load(Ordering::Relaxed) * args.fanout as u64;
    // Drain: wait (bounded) until every delivery arrived.
    let drain_deadline = Instant::now() + Duration::from_secs(args.seconds.max(30) * 3);
    while received.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total_secs = started.elapsed().as_secs_f64();
    let got = received.load(Ordering::Relaxed);
    let cpu = (hookline_bench::cpu_time()? - cpu_at_start).as_secs_f64();
    let db_cpu = (hookline_bench::thread_cpu_time(DB_THREAD)? - db_at_start).as_secs_f64();
    let mut lat = latencies.lock().expect("lock").clone();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "fanout={} concurrency={} published={} in {:.1}s ({:.0}/s) deliveries={}/{} in {:.1}s => {:.0} deliveries/s; latency ms p50={:.1} p99={:.1} max={:.1}; CPU {:.0} s = {:.0} µs per delivery ({:.0} µs on the database thread), {:.0}% of one core over the run",
        args.fanout,
        args.concurrency,
        published.load(Ordering::Relaxed),
        publish_secs,
        published.load(Ordering::Relaxed) as f64 / publish_secs,
        got,
        expected,
        total_secs,
        got as f64 / total_secs,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        cpu,
        cpu * 1e6 / got.max(1) as f64,
        db_cpu * 1e6 / got.max(1) as f64,
        cpu * 100.0 / total_secs,
    );
    server.shutdown().await;
    Ok(())
}
