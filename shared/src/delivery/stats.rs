//! Delivery statistics: attempts counted per time bucket by outcome, and each endpoint's
//! health over the same window (the console's overview and endpoint list).

use super::{Attempt, AttemptStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Attempts of one outcome each, in a bucket or in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    /// Answered 2xx.
    pub delivered: u64,
    /// Failed; another attempt was scheduled.
    pub retrying: u64,
    /// Failed with no retry.
    pub failed: u64,
    /// Failed and the policy gave up.
    pub exhausted: u64,
}

impl Outcomes {
    fn count(&mut self, status: AttemptStatus) -> bool {
        let slot = match status {
            AttemptStatus::Delivered => &mut self.delivered,
            AttemptStatus::Retrying => &mut self.retrying,
            AttemptStatus::Failed => &mut self.failed,
            AttemptStatus::Exhausted => &mut self.exhausted,
            // Not attempts yet: held for a paused endpoint, pending for a listener.
            AttemptStatus::Held | AttemptStatus::Pending => return false,
        };
        *slot += 1;
        true
    }

    fn add(&mut self, other: &Outcomes) {
        self.delivered += other.delivered;
        self.retrying += other.retrying;
        self.failed += other.failed;
        self.exhausted += other.exhausted;
    }

    /// All attempts counted.
    pub fn total(&self) -> u64 {
        self.delivered + self.retrying + self.failed + self.exhausted
    }

    /// The share of attempts delivered, when there were any.
    pub fn success_rate(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.delivered as f64 / total as f64)
    }
}

/// One bucket of the series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Its start.
    pub start: DateTime<Utc>,
    /// What it counted.
    #[serde(flatten)]
    pub outcomes: Outcomes,
}

/// Attempts per bucket from `since`, by outcome.
#[derive(Debug, Clone)]
pub struct Series {
    since: DateTime<Utc>,
    bucket_secs: i64,
    buckets: BTreeMap<i64, Outcomes>,
    totals: Outcomes,
}

impl Series {
    /// A series of buckets of `bucket` (whole seconds, at least one) from the bucket that
    /// holds `since`. Buckets start on whole multiples of their width (whole minutes for
    /// `1m`), so two readings a moment apart bucket alike.
    pub fn new(since: DateTime<Utc>, bucket: Duration) -> Self {
        let bucket_secs = i64::try_from(bucket.as_secs().clamp(1, 86_400)).unwrap_or(60);
        let start = since.timestamp() - since.timestamp().rem_euclid(bucket_secs);
        let since = DateTime::from_timestamp(start, 0).unwrap_or(since);
        Self { since, bucket_secs, buckets: BTreeMap::new(), totals: Outcomes::default() }
    }

    /// The first bucket's start.
    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }

    /// Count `attempt` if it was made in the window and is an outcome; true when counted.
    pub fn add(&mut self, attempt: &Attempt) -> bool {
        let offset = (attempt.created_at - self.since).num_seconds();
        if offset < 0 {
            return false;
        }
        let slot = self.buckets.entry(offset / self.bucket_secs).or_default();
        if !slot.count(attempt.status) {
            return false;
        }
        self.totals.count(attempt.status);
        true
    }

    /// Add what `other`, a series of the same window and width, counted.
    pub fn merge(&mut self, other: &Series) {
        for (n, o) in &other.buckets {
            self.buckets.entry(*n).or_default().add(o);
        }
        self.totals.add(&other.totals);
    }

    /// The buckets that counted something, oldest first (a missing bucket counted none).
    pub fn buckets(&self) -> Vec<Bucket> {
        self.buckets
            .iter()
            .filter(|(_, o)| o.total() > 0)
            .map(|(n, o)| Bucket { start: self.since + chrono::Duration::seconds(n * self.bucket_secs), outcomes: *o })
            .collect()
    }

    /// Everything counted.
    pub fn totals(&self) -> Outcomes {
        self.totals
    }
}

/// How one endpoint has been doing over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Health {
    /// Its attempts by outcome.
    #[serde(flatten)]
    pub outcomes: Outcomes,
    /// The share delivered (`null`: no attempts).
    pub success_rate: Option<f64>,
    /// Its newest attempt: when, what became of it, and the code it answered.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The newest attempt's outcome.
    pub last_status: Option<AttemptStatus>,
    /// The newest attempt's response code (`null`: no answer).
    pub last_response_code: Option<u16>,
}

impl Health {
    /// Count `attempt`, the next one of a listing newest first, if it was made at or
    /// after `since` and is an outcome.
    pub fn add(&mut self, since: DateTime<Utc>, a: &Attempt) {
        if a.created_at < since || !self.outcomes.count(a.status) {
            return;
        }
        if self.last_attempt_at.is_none() {
            self.last_attempt_at = Some(a.created_at);
            self.last_status = Some(a.status);
            self.last_response_code = a.response_code;
        }
        self.success_rate = self.outcomes.success_rate();
    }

    /// Failed attempts (retrying, failed, exhausted): what ranks an endpoint as in trouble.
    pub fn failures(&self) -> u64 {
        self.outcomes.total() - self.outcomes.delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AttemptId, EndpointId, EventId, OrgId};

    fn attempt(at: DateTime<Utc>, status: AttemptStatus, code: Option<u16>) -> Attempt {
        Attempt {
            id: AttemptId::new(),
            org_id: OrgId::new(),
            endpoint_id: EndpointId::new(),
            event_id: EventId::new(),
            event_type: "t".into(),
            status,
            response_code: code,
            response_body: None,
            duration_ms: 1,
            error: None,
            attempt: 1,
            next_attempt_at: None,
            created_at: at,
            job: None,
            follow_up_pending: false,
            expires_at: None,
        }
    }

    #[test]
    fn attempts_fall_in_their_minute_by_outcome_and_held_or_earlier_ones_do_not_count() {
        let since: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let at = |s: i64| since + chrono::Duration::seconds(s);
        let mut series = Series::new(since, Duration::from_secs(60));
        assert!(series.add(&attempt(at(5), AttemptStatus::Delivered, Some(200))));
        assert!(series.add(&attempt(at(59), AttemptStatus::Retrying, Some(500))));
        assert!(series.add(&attempt(at(60), AttemptStatus::Exhausted, Some(500))));
        assert!(series.add(&attempt(at(185), AttemptStatus::Failed, None)));
        assert!(!series.add(&attempt(at(70), AttemptStatus::Held, None)));
        assert!(!series.add(&attempt(at(-1), AttemptStatus::Delivered, Some(200))));
        let buckets = series.buckets();
        let starts: Vec<i64> = buckets.iter().map(|b| (b.start - since).num_seconds()).collect();
        assert_eq!(starts, [0, 60, 180]);
        assert_eq!(buckets[0].outcomes, Outcomes { delivered: 1, retrying: 1, failed: 0, exhausted: 0 });
        assert_eq!(buckets[1].outcomes.exhausted, 1);
        assert_eq!(series.totals(), Outcomes { delivered: 1, retrying: 1, failed: 1, exhausted: 1 });
        let mut merged = Series::new(since, Duration::from_secs(60));
        merged.merge(&series);
        merged.merge(&series);
        assert_eq!(merged.buckets()[0].outcomes, Outcomes { delivered: 2, retrying: 2, failed: 0, exhausted: 0 });
        assert_eq!(merged.totals().total(), 8);
        let late = Series::new(at(150) + chrono::Duration::milliseconds(300), Duration::from_secs(60));
        assert_eq!(late.since(), at(120), "buckets start on the minute");
    }

    #[test]
    fn health_is_the_window_s_rate_and_the_newest_answer() {
        let since: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let at = |s: i64| since + chrono::Duration::seconds(s);
        let newest_first = [
            attempt(at(30), AttemptStatus::Retrying, Some(500)),
            attempt(at(20), AttemptStatus::Delivered, Some(200)),
            attempt(at(10), AttemptStatus::Delivered, Some(200)),
            attempt(at(-10), AttemptStatus::Exhausted, Some(500)),
        ];
        let mut h = Health::default();
        newest_first.iter().for_each(|a| h.add(since, a));
        assert_eq!(h.last_response_code, Some(500));
        assert_eq!(h.last_status, Some(AttemptStatus::Retrying));
        assert_eq!(h.failures(), 1);
        assert!((h.success_rate.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(Health::default().success_rate, None);
    }
}
