//! Scheduled jobs: what runs (an event type and data) and when (`at`, `cron`, `rate`,
//! in an IANA time zone, between optional start and end times). Each run publishes the
//! event into the normal pipeline.

pub mod cron;
mod timers;

pub use cron::Cron;
pub use timers::{JobTimerError, JobTimers};

use crate::ids::{OrgId, ScheduleId};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The `at()` expression for a UTC time (Scheduler takes whole seconds, no zone suffix).
pub fn at_expression(at: DateTime<Utc>) -> String {
    format!("at({})", at.format("%Y-%m-%dT%H:%M:%S"))
}

/// When a job runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum When {
    /// Once.
    At {
        /// The time.
        at: DateTime<Utc>,
    },
    /// On a six-field cron expression, in the job's time zone.
    Cron {
        /// The expression, as given (without `cron(…)`).
        cron: String,
    },
    /// Every `every_secs`, from the start time (or creation).
    Rate {
        /// The interval in seconds.
        every_secs: u64,
    },
}

/// Parse a rate: `<n> minute(s)|hour(s)|day(s)` (or `second(s)` where the operator's
/// minimum allows it), optionally wrapped as `rate(…)`.
pub fn parse_rate(text: &str, min: Duration) -> Result<Duration, String> {
    let inner = unwrap_call(text, "rate");
    let (n, unit) = inner.split_once(' ').ok_or("expected '<n> minutes', '<n> hours' or '<n> days'")?;
    let n: u64 = n.trim().parse().map_err(|_| format!("'{n}' is not a whole number"))?;
    let unit_secs = match unit.trim().to_ascii_lowercase().as_str() {
        "second" | "seconds" => 1,
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        u => return Err(format!("unknown unit '{u}' (minutes, hours or days)")),
    };
    let every = Duration::from_secs(n.saturating_mul(unit_secs));
    if every < min {
        return Err(format!("must be at least {}", rate_text(min.as_secs())));
    }
    Ok(every)
}

/// `text` without a `name(…)` wrapper, trimmed: `rate(5 minutes)` and `5 minutes` read alike.
pub(crate) fn unwrap_call<'a>(text: &'a str, name: &str) -> &'a str {
    let t = text.trim();
    t.strip_prefix(name).and_then(|s| s.strip_prefix('(')).and_then(|s| s.strip_suffix(')')).map_or(t, str::trim)
}

/// An interval in the largest whole unit, as rates are written: `7200` → `2 hours`,
/// `60` → `1 minute` (the form `rate(…)` takes, and the one the API shows).
pub fn rate_text(secs: u64) -> String {
    let (n, unit) = match secs {
        s if s > 0 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s > 0 && s % 3600 == 0 => (s / 3600, "hour"),
        s if s > 0 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Parse an IANA time zone name (`Europe/Berlin`).
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| format!("unknown time zone '{name}' (use an IANA name like Europe/Berlin)"))
}

/// A local wall-clock time (`2026-11-24T09:00`, seconds optional) in `tz`, as UTC. A time
/// in the spring-forward gap is an error; one in the fall-back overlap is its first occurrence.
pub fn local_time(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .map_err(|_| format!("'{text}' is not a local time like 2026-11-24T09:00"))?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => Ok(t.with_timezone(&Utc)),
        chrono::LocalResult::None => Err(format!("{text} does not exist in {tz} (a daylight-saving gap)")),
    }
}

/// A recurring job's identity: one per (name, thing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurring {
    /// The job's name, which is also the event type of each run.
    pub name: String,
    /// The thing it runs for (`user_42`).
    pub thing: String,
}

/// A scheduled job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// `sch_…`
    pub id: ScheduleId,
    /// Owner.
    pub org_id: OrgId,
    /// Bumped by every change; a timer carries the version it was set for and fires
    /// only while it still matches, so a cancel or an update always wins.
    pub version: u64,
    /// The event type of each run.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The event data of each run.
    pub data: serde_json::Value,
    /// When it runs.
    pub when: When,
    /// The IANA time zone `cron` is read in.
    pub timezone: String,
    /// No run before this.
    pub start_at: Option<DateTime<Utc>>,
    /// No run after this.
    pub end_at: Option<DateTime<Utc>>,
    /// A caller's key to cancel by.
    pub key: Option<String>,
    /// Set for a recurring job per thing.
    pub recurring: Option<Recurring>,
    /// The next run; `None` once the job is done.
    pub next_run_at: Option<DateTime<Utc>>,
    /// The last run.
    pub last_run_at: Option<DateTime<Utc>>,
    /// The due time of the last run (a repeated invocation for it is dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_due_at: Option<DateTime<Utc>>,
    /// How many times it ran.
    pub runs: u64,
    /// Paused since: no run (and no timer) until it resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Job {
    /// A new job of `org`, made `now`: first version, no runs yet, no key, window or
    /// recurring name (set those on the result), its next run still to be planned.
    pub fn new(
        org_id: OrgId,
        event_type: String,
        data: serde_json::Value,
        when: When,
        timezone: Tz,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: ScheduleId::new(),
            org_id,
            version: 1,
            event_type,
            data,
            when,
            timezone: timezone.name().to_owned(),
            start_at: None,
            end_at: None,
            key: None,
            recurring: None,
            next_run_at: None,
            last_run_at: None,
            last_due_at: None,
            runs: 0,
            paused_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// This job paused at `now`: no next run (saving it removes its timer), and a new
    /// version, so a timer already on its way skips it.
    pub fn pause(self, now: DateTime<Utc>) -> Self {
        Self { paused_at: Some(now), next_run_at: None, version: self.version + 1, updated_at: now, ..self }
    }

    /// This job resumed at `now`: its next run is the first from now on; the runs it
    /// missed while paused are not made up (a one-off whose time passed is done).
    pub fn resume(self, now: DateTime<Utc>) -> Self {
        let next_run_at = self.next_from(now);
        Self { paused_at: None, next_run_at, version: self.version + 1, updated_at: now, ..self }
    }

    /// This job, a change of `old`, kept paused if `old` was.
    pub fn paused_as(self, old: &Job) -> Self {
        match old.paused_at {
            Some(at) => Self { paused_at: Some(at), next_run_at: None, ..self },
            None => self,
        }
    }

    /// The id of the recurring job for (org, name, thing): the same triple is always the same job.
    pub fn recurring_id(org: &OrgId, r: &Recurring) -> ScheduleId {
        ScheduleId::derived(&[b"recurring", org.as_str().as_bytes(), r.name.as_bytes(), r.thing.as_bytes()])
    }

    fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The first run at or after `from`, within the start and end times.
    pub fn next_from(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = self.start_at.map_or(from, |s| s.max(from));
        let next = match &self.when {
            When::At { at } => (*at >= from).then_some(*at),
            When::Cron { cron } => Cron::parse(cron).ok()?.next_from(from, self.tz()),
            When::Rate { every_secs } => {
                let anchor = self.start_at.unwrap_or(self.created_at);
                let every = (*every_secs as i64).max(1) * 1000;
                let behind = (from - anchor).num_milliseconds();
                let steps = if behind <= 0 { 0 } else { (behind + every - 1) / every };
                Some(anchor + chrono::Duration::milliseconds(steps * every))
            }
        }?;
        self.end_at.is_none_or(|end| next <= end).then_some(next)
    }

    /// The next `n` runs at or after `from`.
    pub fn upcoming(&self, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = from;
        while out.len() < n {
            let Some(next) = self.next_from(t) else { break };
            out.push(next);
            t = next + chrono::Duration::seconds(1);
        }
        out
    }

    /// The next run after a run due at `due` that happened at `now`: a late run (after
    /// downtime) is not followed by the runs it missed, only by the next one from now.
    pub fn next_after_run(&self, due: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_from(due.max(now) + chrono::Duration::seconds(1))
    }

    /// The data of each run: a recurring job's carries `thing` as well.
    pub fn event_data(&self) -> serde_json::Value {
        let mut data = self.data.clone();
        if let (Some(r), Some(obj)) = (&self.recurring, data.as_object_mut()) {
            obj.insert("thing".into(), serde_json::Value::String(r.thing.clone()));
        }
        data
    }

    /// The expression EventBridge Scheduler evaluates for this job.
    pub fn expression(&self) -> String {
        match &self.when {
            When::At { at } => at_expression(*at),
            When::Cron { cron } => format!("cron({cron})"),
            // Scheduler counts in minutes; shorter rates exist only in `hookline dev`.
            When::Rate { every_secs } => format!("rate({})", rate_text(every_secs.div_ceil(60).max(1) * 60)),
        }
    }

    /// The time zone EventBridge Scheduler evaluates the expression in (`at` is UTC).
    pub fn expression_timezone(&self) -> &str {
        match self.when {
            When::At { .. } => "UTC",
            _ => &self.timezone,
        }
    }

    /// True while a run is still to come (a paused job's may come once it resumes).
    pub fn pending(&self) -> bool {
        self.next_run_at.is_some() || self.paused_at.is_some()
    }
}

/// A recurring job's frequency (`daily`, `weekly`, `monthly`), as a cron expression at
/// its first run's local time.
pub fn frequency_cron(frequency: &str, start: DateTime<Utc>, tz: Tz) -> Result<String, String> {
    use chrono::{Datelike, Timelike};
    let local = start.with_timezone(&tz);
    let (m, h) = (local.minute(), local.hour());
    match frequency {
        "daily" => Ok(format!("{m} {h} * * ? *")),
        "weekly" => Ok(format!("{m} {h} ? * {} *", local.weekday().num_days_from_sunday() + 1)),
        "monthly" => Ok(format!("{m} {h} {} * ? *", local.day())),
        f => Err(format!("unknown frequency '{f}' (daily, weekly, monthly or none)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn job(when: When, tz: &str, start: Option<&str>) -> Job {
        let tz: Tz = tz.parse().unwrap();
        Job {
            start_at: start.map(utc),
            ..Job::new(OrgId::new(), "a.b".into(), serde_json::json!({}), when, tz, utc("2026-11-23T10:00:00Z"))
        }
    }

    fn iso(ts: &[DateTime<Utc>]) -> Vec<String> {
        ts.iter().map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).collect()
    }

    #[test]
    fn weekly_from_a_berlin_morning_keeps_nine_oclock_across_the_spring_change() {
        let tz = parse_timezone("Europe/Berlin").unwrap();
        let start = local_time("2027-03-22T09:00", tz).unwrap();
        let cron = frequency_cron("weekly", start, tz).unwrap();
        assert_eq!(cron, "0 9 ? * 2 *");
        let mut j = job(When::Cron { cron }, "Europe/Berlin", None);
        j.start_at = Some(start);
        assert_eq!(
            iso(&j.upcoming(utc("2026-11-23T10:00:00Z"), 3)),
            ["2027-03-22T08:00:00Z", "2027-03-29T07:00:00Z", "2027-04-05T07:00:00Z"]
        );
    }

    #[test]
    fn cron_with_a_start_in_new_york() {
        let j = job(When::Cron { cron: "0 9 ? * MON *".into() }, "America/New_York", Some("2027-10-31T00:00:00Z"));
        assert_eq!(iso(&j.upcoming(utc("2026-11-23T10:00:00Z"), 2)), ["2027-11-01T13:00:00Z", "2027-11-08T14:00:00Z"]);
    }

    #[test]
    fn a_run_after_downtime_is_followed_by_the_next_from_now_not_the_missed_ones() {
        let j = job(When::Rate { every_secs: 60 }, "UTC", Some("2027-01-01T00:00:00Z"));
        assert_eq!(j.next_from(utc("2026-12-01T00:00:00Z")), Some(utc("2027-01-01T00:00:00Z")));
        assert_eq!(j.next_from(utc("2027-01-01T00:00:30Z")), Some(utc("2027-01-01T00:01:00Z")));
        // Due at 00:01, run only at 00:10:30 after a restart: next is 00:11, not 00:02.
        let next = j.next_after_run(utc("2027-01-01T00:01:00Z"), utc("2027-01-01T00:10:30Z"));
        assert_eq!(next, Some(utc("2027-01-01T00:11:00Z")));
    }

    #[test]
    fn one_off_and_end_times() {
        let mut j = job(When::At { at: utc("2027-01-01T00:00:00Z") }, "UTC", None);
        assert_eq!(j.next_from(utc("2026-12-01T00:00:00Z")), Some(utc("2027-01-01T00:00:00Z")));
        assert_eq!(j.next_after_run(utc("2027-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z")), None);
        j.when = When::Rate { every_secs: 3600 };
        j.end_at = Some(utc("2026-11-23T12:00:00Z"));
        assert_eq!(iso(&j.upcoming(utc("2026-11-23T10:00:00Z"), 5)).len(), 3);
    }

    #[test]
    fn dst_gap_and_overlap_in_local_start_times() {
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        assert!(local_time("2027-03-28T02:30", berlin).unwrap_err().contains("daylight-saving gap"));
        assert_eq!(local_time("2027-10-31T02:30", berlin).unwrap(), utc("2027-10-31T00:30:00Z"));
        assert!(parse_timezone("Mars/Olympus").unwrap_err().contains("unknown time zone"));
    }

    #[test]
    fn rates_parse_with_a_minimum() {
        let min = Duration::from_secs(60);
        assert_eq!(parse_rate("5 minutes", min), Ok(Duration::from_secs(300)));
        assert_eq!(parse_rate("rate(1 day)", min), Ok(Duration::from_secs(86_400)));
        assert!(parse_rate("30 seconds", min).unwrap_err().contains("at least 1 minute"));
        assert!(parse_rate("5 fortnights", min).is_err());
        assert_eq!(parse_rate("2 seconds", Duration::from_secs(1)), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn expressions_for_the_scheduler() {
        let mut j = job(When::Rate { every_secs: 7200 }, "Europe/Berlin", None);
        assert_eq!(j.expression(), "rate(2 hours)");
        j.when = When::Rate { every_secs: 60 };
        assert_eq!(j.expression(), "rate(1 minute)");
        j.when = When::Cron { cron: "0 9 ? * MON *".into() };
        assert_eq!((j.expression().as_str(), j.expression_timezone()), ("cron(0 9 ? * MON *)", "Europe/Berlin"));
        j.when = When::At { at: utc("2027-01-01T09:30:00Z") };
        assert_eq!((j.expression().as_str(), j.expression_timezone()), ("at(2027-01-01T09:30:00)", "UTC"));
    }

    #[test]
    fn recurring_ids_are_stable_per_thing() {
        let org = OrgId::new();
        let r = |t: &str| Recurring { name: "newsletter".into(), thing: t.into() };
        assert_eq!(Job::recurring_id(&org, &r("u1")), Job::recurring_id(&org, &r("u1")));
        assert_ne!(Job::recurring_id(&org, &r("u1")), Job::recurring_id(&org, &r("u2")));
    }
}
