//! An endpoint's own retry schedule: the delays before each retry, in place of its
//! urgency's policy.

use super::RetryPolicy;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// The delays before each retry (`["5m", "30m", "2h", "24h"]`): retry n waits entry n;
/// after the last entry the delivery is exhausted. 1 to 20 entries, each 1 s to 7 d.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

/// The most entries a schedule may have.
pub const MAX_RETRIES: usize = 20;
const SHORTEST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(7 * 86_400);

impl RetrySchedule {
    /// A schedule of these delays, if it keeps to the bounds.
    pub fn new(delays: Vec<Duration>) -> Result<Self, String> {
        if delays.is_empty() || delays.len() > MAX_RETRIES {
            return Err(format!("give 1-{MAX_RETRIES} delays"));
        }
        if let Some(d) = delays.iter().find(|d| !(SHORTEST..=LONGEST).contains(*d)) {
            return Err(format!("{} is outside 1s-7d", format_delay(*d)));
        }
        Ok(Self(delays))
    }

    /// A schedule from its written form: each entry a whole number and a unit, `s`,
    /// `m`, `h` or `d` (`"90s"`, `"5m"`, `"24h"`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let delays = entries.iter().map(|e| parse_delay(e.as_ref())).collect::<Result<_, _>>()?;
        Self::new(delays)
    }

    /// The delays, in order.
    pub fn delays(&self) -> &[Duration] {
        &self.0
    }

    /// The retry policy it makes of `base` (the urgency's): these delays and one
    /// attempt more than there are delays, with `base`'s timeout and jitter; no time
    /// limit beyond the schedule's own length.
    pub fn policy(&self, base: &RetryPolicy) -> RetryPolicy {
        RetryPolicy {
            delays: self.0.clone(),
            give_up_after: Duration::MAX,
            timeout: base.timeout,
            max_attempts: self.0.len() as u32 + 1,
            jitter: base.jitter,
        }
    }
}

/// `"5m"` → 300 s.
pub fn parse_delay(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}`: give a whole number and a unit, s, m, h or d (`30s`, `5m`, `2h`, `1d`)");
    let unit = text.chars().last().ok_or_else(bad)?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        's' => Some(n),
        'm' => n.checked_mul(60),
        'h' => n.checked_mul(3600),
        'd' => n.checked_mul(86_400),
        _ => None,
    };
    secs.map(Duration::from_secs).ok_or_else(bad)
}

/// A delay in the largest unit that writes it whole: 300 s → `"5m"`.
fn format_delay(d: Duration) -> String {
    let s = d.as_secs();
    let unit = [(86_400, 'd'), (3600, 'h'), (60, 'm')].into_iter().find(|(n, _)| s > 0 && s.is_multiple_of(*n));
    match unit {
        Some((n, u)) => format!("{}{u}", s / n),
        None => format!("{s}s"),
    }
}

impl Serialize for RetrySchedule {
    fn serialize<Se: Serializer>(&self, s: Se) -> Result<Se::Ok, Se::Error> {
        s.collect_seq(self.0.iter().map(|d| format_delay(*d)))
    }
}

impl<'de> Deserialize<'de> for RetrySchedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(d)?;
        Self::parse(&entries).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Urgency;
    use chrono::Utc;

    #[test]
    fn written_forms_parse_and_come_back_canonical() {
        let s = RetrySchedule::parse(&["1s", "90s", "5m", "120m", "24h", "7d"]).unwrap();
        let secs: Vec<u64> = s.delays().iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 90, 300, 7200, 86_400, 604_800]);
        assert_eq!(serde_json::to_value(&s).unwrap(), serde_json::json!(["1s", "90s", "5m", "2h", "1d", "7d"]));
        let back: RetrySchedule = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn out_of_bounds_or_malformed_entries_are_refused() {
        for bad in [
            &[][..],
            &["0s"],
            &["8d"],
            &["169h"],
            &["5"],
            &["m"],
            &["-5m"],
            &["+5m"],
            &["5 m"],
            &["1.5h"],
            &["5w"],
            &["99999999999999999999d"],
        ] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad:?}");
        }
        let twenty_one = vec!["1m"; 21];
        assert!(RetrySchedule::parse(&twenty_one).is_err());
        assert!(RetrySchedule::parse(&twenty_one[..20]).is_ok());
        assert!(serde_json::from_str::<RetrySchedule>(r#"["5m", "8d"]"#).unwrap_err().to_string().contains("8d"));
    }

    #[test]
    fn the_policy_retries_once_per_entry_then_gives_up() {
        let base = RetryPolicy::for_urgency(Urgency::Regular);
        let p = RetrySchedule::parse(&["1s", "2s", "4s"]).unwrap().policy(&base);
        let t0 = Utc::now();
        let far = t0 + chrono::Duration::days(365);
        assert!(p.may_retry(1, t0, far) && p.may_retry(3, t0, far), "no time limit of its own");
        assert!(!p.may_retry(4, t0, t0), "four attempts, then exhausted");
        for (n, want) in [(1, 1.0), (2, 2.0), (3, 4.0)] {
            let d = p.delay_after(n, None).as_secs_f64();
            assert!((want * (1.0 - base.jitter)..=want * (1.0 + base.jitter)).contains(&d), "{n}: {d}");
        }
        assert_eq!((p.timeout, p.jitter), (base.timeout, base.jitter));
    }
}
