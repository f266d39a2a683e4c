//! The AWS six-field cron form (`minutes hours day-of-month month day-of-week year`),
//! evaluated in an IANA time zone the way EventBridge Scheduler evaluates it, so a
//! schedule means the same in `hookline dev` and in AWS.
//!
//! Daylight saving time: a local time that does not exist (the spring-forward gap) is
//! skipped; a local time that happens twice (the fall-back overlap) runs once, at its
//! first occurrence.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

const MONTHS: &[&str] = &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/// The years the AWS form accepts.
const YEARS: (u32, u32) = (1970, 2199);
/// How many days ahead the next run is looked for (covers 29 February on a given weekday).
const SEARCH_DAYS: u32 = 366 * 30;

/// A set of field values, `min..=max`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Set {
    min: u32,
    bits: Vec<bool>,
}

impl Set {
    fn contains(&self, v: u32) -> bool {
        v >= self.min && self.bits.get((v - self.min) as usize).copied().unwrap_or(false)
    }

    fn values(&self) -> impl Iterator<Item = u32> + '_ {
        self.bits.iter().enumerate().filter(|(_, b)| **b).map(|(i, _)| self.min + i as u32)
    }
}

/// The day-of-month field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfMonth {
    Any,
    Days(Set),
    /// `L`: the last day of the month.
    Last,
    /// `LW`: the last weekday (Monday to Friday) of the month.
    LastWeekday,
    /// `15W`: the weekday nearest the 15th, within the month.
    NearestWeekday(u32),
}

/// The day-of-week field (1 = Sunday … 7 = Saturday).
#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfWeek {
    Any,
    Days(Set),
    /// `6L`: the last Friday of the month.
    Last(u32),
    /// `2#1`: the first Monday of the month.
    Nth(u32, u32),
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Set,
    hours: Set,
    dom: DayOfMonth,
    months: Set,
    dow: DayOfWeek,
    years: Set,
}

fn value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let v = match names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        Some(i) => min + i as u32,
        None => text.parse::<u32>().map_err(|_| format!("'{text}' is not a number or name"))?,
    };
    if v < min || v > max {
        return Err(format!("{v} is outside {min}-{max}"));
    }
    Ok(v)
}

/// Parse a list of values, ranges and steps (`*`, `5`, `1-5`, `0/15`, `MON-FRI`, `1,15`).
fn set(field: &str, min: u32, max: u32, names: &[&str]) -> Result<Set, String> {
    let mut bits = vec![false; (max - min + 1) as usize];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("step '{s}' is not a number"))?;
                if step == 0 {
                    return Err("a step must be at least 1".into());
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, min, max, names)?, value(b, min, max, names)?)
        } else {
            let v = value(range, min, max, names)?;
            (v, if step.is_some() { max } else { v })
        };
        if lo > hi {
            return Err(format!("range '{range}' runs backwards"));
        }
        let mut v = lo;
        while v <= hi {
            bits[(v - min) as usize] = true;
            v += step.unwrap_or(1);
        }
    }
    Ok(Set { min, bits })
}

fn day_of_month(field: &str) -> Result<DayOfMonth, String> {
    Ok(match field {
        "?" => DayOfMonth::Any,
        "L" => DayOfMonth::Last,
        "LW" => DayOfMonth::LastWeekday,
        f if f.ends_with('W') => DayOfMonth::NearestWeekday(value(&f[..f.len() - 1], 1, 31, &[])?),
        f => DayOfMonth::Days(set(f, 1, 31, &[])?),
    })
}

fn day_of_week(field: &str) -> Result<DayOfWeek, String> {
    if field == "?" {
        return Ok(DayOfWeek::Any);
    }
    if field == "L" {
        return Ok(DayOfWeek::Days(set("7", 1, 7, DAYS)?));
    }
    if let Some(d) = field.strip_suffix('L') {
        return Ok(DayOfWeek::Last(value(d, 1, 7, DAYS)?));
    }
    if let Some((d, n)) = field.split_once('#') {
        return Ok(DayOfWeek::Nth(value(d, 1, 7, DAYS)?, value(n, 1, 5, &[])?));
    }
    Ok(DayOfWeek::Days(set(field, 1, 7, DAYS)?))
}

fn at<T>(name: &str, r: Result<T, String>) -> Result<T, String> {
    r.map_err(|e| format!("{name} field: {e}"))
}

fn days_in_month(d: NaiveDate) -> u32 {
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).and_then(|n| n.pred_opt()).map_or(31, |n| n.day())
}

/// 1 = Sunday … 7 = Saturday, as the AWS form counts.
fn aws_weekday(d: NaiveDate) -> u32 {
    d.weekday().num_days_from_sunday() + 1
}

fn is_weekday(d: NaiveDate) -> bool {
    (2..=6).contains(&aws_weekday(d))
}

impl Cron {
    /// Parse `0 9 ? * MON *` (optionally wrapped as `cron(…)`). Errors say which field and why.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = super::unwrap_call(text, "cron").split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields[..] else {
            return Err(format!(
                "needs six fields (minutes hours day-of-month month day-of-week year), found {}",
                fields.len()
            ));
        };
        let cron = Self {
            minutes: at("minutes", set(minutes, 0, 59, &[]))?,
            hours: at("hours", set(hours, 0, 23, &[]))?,
            dom: at("day-of-month", day_of_month(dom))?,
            months: at("month", set(month, 1, 12, MONTHS))?,
            dow: at("day-of-week", day_of_week(dow))?,
            years: at("year", set(year, YEARS.0, YEARS.1, &[]))?,
        };
        match (&cron.dom, &cron.dow) {
            (DayOfMonth::Any, DayOfWeek::Any) => {
                Err("one of day-of-month and day-of-week must be a value, not ?".into())
            }
            (DayOfMonth::Any, _) | (_, DayOfWeek::Any) => Ok(cron),
            _ => Err("one of day-of-month and day-of-week must be ? (they cannot both be set)".into()),
        }
    }

    /// The expression as a job keeps it: checked, without `cron(…)`, single-spaced.
    pub fn canonical(text: &str) -> Result<String, String> {
        Self::parse(text)?;
        Ok(super::unwrap_call(text, "cron").split_whitespace().collect::<Vec<_>>().join(" "))
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        if !self.months.contains(d.month()) || !self.years.contains(d.year() as u32) {
            return false;
        }
        let last = days_in_month(d);
        let dom_ok = match &self.dom {
            DayOfMonth::Any => true,
            DayOfMonth::Days(s) => s.contains(d.day()),
            DayOfMonth::Last => d.day() == last,
            DayOfMonth::LastWeekday => {
                let mut x = d.with_day(last).unwrap_or(d);
                while !is_weekday(x) {
                    x = x.pred_opt().unwrap_or(x);
                }
                x == d
            }
            DayOfMonth::NearestWeekday(n) => {
                let target = d.with_day((*n).min(last)).unwrap_or(d);
                let nearest = match aws_weekday(target) {
                    7 if target.day() == 1 => target + chrono::Days::new(2),
                    7 => target - chrono::Days::new(1),
                    1 if target.day() == last => target - chrono::Days::new(2),
                    1 => target + chrono::Days::new(1),
                    _ => target,
                };
                nearest == d
            }
        };
        let dow_ok = match &self.dow {
            DayOfWeek::Any => true,
            DayOfWeek::Days(s) => s.contains(aws_weekday(d)),
            DayOfWeek::Last(w) => aws_weekday(d) == *w && d.day() + 7 > last,
            DayOfWeek::Nth(w, n) => aws_weekday(d) == *w && (d.day() - 1) / 7 + 1 == *n,
        };
        dom_ok && dow_ok
    }

    /// The first run at or after `from`, in `tz`; `None` when there is none (the year field ran out).
    pub fn next_from(&self, from: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let mut date = from.with_timezone(&tz).date_naive();
        for _ in 0..SEARCH_DAYS {
            if date.year() as u32 > YEARS.1 {
                return None;
            }
            if self.day_matches(date) {
                for h in self.hours.values() {
                    for m in self.minutes.values() {
                        let Some(local) = date.and_hms_opt(h, m, 0) else { continue };
                        let utc = match tz.from_local_datetime(&local) {
                            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                            LocalResult::None => continue,
                        };
                        if utc >= from {
                            return Some(utc);
                        }
                    }
                }
            }
            date = date.succ_opt()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn runs(cron: &str, tz: Tz, from: &str, n: usize) -> Vec<String> {
        let c = Cron::parse(cron).unwrap();
        let mut t = utc(from);
        let mut out = Vec::new();
        while out.len() < n {
            let Some(next) = c.next_from(t, tz) else { break };
            out.push(next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            t = next + chrono::Duration::seconds(1);
        }
        out
    }

    #[test]
    fn weekly_in_new_york_follows_the_fall_change() {
        assert_eq!(
            runs("0 9 ? * MON *", chrono_tz::America::New_York, "2027-10-31T00:00:00Z", 3),
            ["2027-11-01T13:00:00Z", "2027-11-08T14:00:00Z", "2027-11-15T14:00:00Z"]
        );
    }

    #[test]
    fn spring_forward_gap_is_skipped() {
        // 28 March 2027: Berlin jumps from 02:00 to 03:00, so 02:30 does not exist that day.
        assert_eq!(
            runs("30 2 * * ? *", chrono_tz::Europe::Berlin, "2027-03-27T00:00:00Z", 3),
            ["2027-03-27T01:30:00Z", "2027-03-29T00:30:00Z", "2027-03-30T00:30:00Z"]
        );
    }

    #[test]
    fn fall_back_overlap_runs_once_at_the_first_occurrence() {
        // 7 November 2027: New York repeats 01:00-02:00; 01:30 EDT is 05:30Z, 01:30 EST would be 06:30Z.
        assert_eq!(
            runs("30 1 * * ? *", chrono_tz::America::New_York, "2027-11-06T12:00:00Z", 3),
            ["2027-11-07T05:30:00Z", "2027-11-08T06:30:00Z", "2027-11-09T06:30:00Z"]
        );
        // Every 30 minutes across the overlap: the repeated hour is not run twice.
        assert_eq!(
            runs("0/30 * * * ? *", chrono_tz::America::New_York, "2027-11-07T04:30:00Z", 5),
            [
                "2027-11-07T04:30:00Z",
                "2027-11-07T05:00:00Z",
                "2027-11-07T05:30:00Z",
                "2027-11-07T07:00:00Z",
                "2027-11-07T07:30:00Z"
            ]
        );
    }

    #[test]
    fn steps_lists_names_and_special_days() {
        assert_eq!(
            runs("0/20 8-9 ? * MON-FRI *", chrono_tz::UTC, "2027-01-01T08:50:00Z", 4),
            ["2027-01-01T09:00:00Z", "2027-01-01T09:20:00Z", "2027-01-01T09:40:00Z", "2027-01-04T08:00:00Z"]
        );
        // Last day of the month, through a leap February.
        assert_eq!(
            runs("0 0 L * ? *", chrono_tz::UTC, "2028-01-15T00:00:00Z", 3),
            ["2028-01-31T00:00:00Z", "2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z"]
        );
        // The first Monday, and the last Friday.
        assert_eq!(runs("0 12 ? * 2#1 *", chrono_tz::UTC, "2027-02-02T00:00:00Z", 1), ["2027-03-01T12:00:00Z"]);
        assert_eq!(runs("0 12 ? * 6L *", chrono_tz::UTC, "2027-02-01T00:00:00Z", 1), ["2027-02-26T12:00:00Z"]);
        // The weekday nearest the 1st, when the 1st is a Saturday (May 2027): Monday the 3rd.
        assert_eq!(runs("0 12 1W * ? *", chrono_tz::UTC, "2027-04-02T00:00:00Z", 1), ["2027-05-03T12:00:00Z"]);
        // The year field runs out.
        assert_eq!(runs("0 0 1 1 ? 2027", chrono_tz::UTC, "2027-06-01T00:00:00Z", 1), Vec::<String>::new());
    }

    #[test]
    fn invalid_expressions_say_which_field() {
        for (expr, needle) in [
            ("0 9 * * MON *", "cannot both be set"),
            ("0 9 ? * ? *", "must be a value"),
            ("0 9 * *", "six fields"),
            ("60 9 * * ? *", "minutes field"),
            ("0 24 * * ? *", "hours field"),
            ("0 9 * FOO ? *", "month field"),
            ("0 9 ? * 8 *", "day-of-week field"),
            ("0/0 9 * * ? *", "step"),
            ("0 9 * * ? 1969", "year field"),
        ] {
            let err = Cron::parse(expr).unwrap_err();
            assert!(err.contains(needle), "{expr}: {err}");
        }
        assert!(Cron::parse("cron(0 9 ? * MON *)").is_ok());
    }
}
