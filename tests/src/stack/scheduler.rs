//! EventBridge Scheduler's firing, which moto does not do: the schedules of the group are
//! read from moto, each evaluated (`at`, `rate`, `cron` in its time zone, with the
//! project's own evaluator), and when one is due its target is invoked with its input,
//! placeholders substituted. A one-off schedule with `ActionAfterCompletion: DELETE`
//! is deleted after it fired.

use super::function::Function;
use super::meter::{Meter, Tally};
use chrono::{DateTime, Utc};
use hookline_shared::schedule::{local_time, parse_rate, parse_timezone, Cron};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the group is read.
const TICK: Duration = Duration::from_millis(250);

/// When a schedule next fires after `after` (`None`: never again).
pub fn next_fire(
    expression: &str,
    timezone: &str,
    created: DateTime<Utc>,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let tz = parse_timezone(timezone).ok()?;
    let e = expression.trim();
    if let Some(at) = e.strip_prefix("at(").and_then(|s| s.strip_suffix(')')) {
        let t = local_time(at, tz).ok()?;
        return (t > after).then_some(t);
    }
    if e.starts_with("rate(") {
        let every = chrono::Duration::from_std(parse_rate(e, Duration::from_secs(60)).ok()?).ok()?;
        let n = ((after - created).num_milliseconds() / every.num_milliseconds()).max(0) + 1;
        return Some(created + every * n as i32);
    }
    Cron::parse(e).ok()?.next_from(after + chrono::Duration::seconds(1), tz)
}

/// Scheduler's clock: the real time moved on by what a test asked, so a weekly job can
/// fire now. Only the firing sees it; the functions keep the real time.
#[derive(Debug, Clone, Default)]
pub struct SchedulerClock(Arc<AtomicI64>);

impl SchedulerClock {
    /// Move the clock on by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.0.load(Ordering::SeqCst))
    }
}

/// Fire the group's schedules into `functions` (by ARN) until the task is dropped.
pub async fn run(
    client: aws_sdk_scheduler::Client,
    group: String,
    functions: HashMap<String, Arc<Function>>,
    clock: SchedulerClock,
    meter: Meter,
) {
    // name → (expression, when it was last fired or first seen)
    let mut seen: HashMap<String, (String, DateTime<Utc>)> = HashMap::new();
    loop {
        if let Err(e) = round(&client, &group, &functions, &mut seen, (clock.now(), &meter)).await {
            tracing::error!(error = %e, "scheduler round failed");
        }
        tokio::time::sleep(TICK).await;
    }
}

async fn round(
    client: &aws_sdk_scheduler::Client,
    group: &str,
    functions: &HashMap<String, Arc<Function>>,
    seen: &mut HashMap<String, (String, DateTime<Utc>)>,
    (now, meter): (DateTime<Utc>, &Meter),
) -> anyhow::Result<()> {
    let list = client.list_schedules().group_name(group).send().await?;
    for summary in list.schedules {
        let Some(name) = summary.name else { continue };
        let s = client.get_schedule().group_name(group).name(&name).send().await?;
        let expression = s.schedule_expression.unwrap_or_default();
        let time = |d: Option<aws_sdk_scheduler::primitives::DateTime>| {
            d.and_then(|d| DateTime::from_timestamp_millis(d.to_millis().ok()?))
        };
        let created = time(s.creation_date).unwrap_or(now);
        // A changed definition starts counting afresh, and never before its start date.
        let from = match seen.get(&name) {
            Some((e, last)) if *e == expression => *last,
            _ => created.min(now) - chrono::Duration::seconds(1),
        };
        let from = time(s.start_date).map_or(from, |start| from.max(start - chrono::Duration::seconds(1)));
        let tz = s.schedule_expression_timezone.unwrap_or_else(|| "UTC".into());
        let due = next_fire(&expression, &tz, created, from);
        let end = time(s.end_date);
        let Some(due) = due.filter(|d| end.is_none_or(|e| *d <= e)) else {
            seen.insert(name.clone(), (expression, from));
            continue;
        };
        if due > now {
            seen.insert(name.clone(), (expression, from));
            continue;
        }
        let target = s.target.ok_or_else(|| anyhow::anyhow!("{name}: no target"))?;
        let input = target
            .input
            .unwrap_or_default()
            .replace("<aws.scheduler.scheduled-time>", &due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .replace("<aws.scheduler.schedule-arn>", s.arn.as_deref().unwrap_or_default())
            .replace("<aws.scheduler.execution-id>", &ulid::Ulid::new().to_string())
            .replace("<aws.scheduler.attempt-number>", "1");
        let Some(function) = functions.get(&target.arn) else {
            anyhow::bail!("{name}: target {} is not a function of the stack", target.arn);
        };
        let payload: serde_json::Value = serde_json::from_str(&input).unwrap_or(serde_json::Value::String(input));
        // Scheduler invokes asynchronously; the function's own retries stand behind it.
        meter.add("scheduler", "invocation", Tally::requests(1.0));
        if let Err(e) = function.invoke(payload).await {
            tracing::warn!(schedule = %name, error = %e, "target failed");
        }
        seen.insert(name.clone(), (expression.clone(), due));
        let one_off = next_fire(&expression, &tz, created, due).is_none_or(|n| end.is_some_and(|e| n > e));
        let delete = s.action_after_completion.is_some_and(|a| a.as_str() == "DELETE");
        if one_off && delete {
            client.delete_schedule().group_name(group).name(&name).send().await?;
            seen.remove(&name);
        }
    }
    Ok(())
}
