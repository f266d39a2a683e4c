//! When to retry a delivery, when to give up, and when to disable an endpoint.

use super::Urgency;
use chrono::{DateTime, Utc};
use rand::Rng as _;
use std::time::Duration;

/// When to retry and when to give up.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before attempt n+1 after attempt n fails (the last one repeats).
    pub delays: Vec<Duration>,
    /// No retry is scheduled after this much time since the first attempt.
    pub give_up_after: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Maximum number of attempts (real-time calls bound tries, not time).
    pub max_attempts: u32,
    /// ± this fraction of jitter on every delay.
    pub jitter: f64,
}

impl RetryPolicy {
    /// The policy of an urgency class.
    pub fn for_urgency(u: Urgency) -> Self {
        let s = Duration::from_secs;
        match u {
            Urgency::Regular => Self {
                delays: vec![s(1), s(5), s(30), s(120), s(600), s(1800), s(3600), s(7200), s(14400)],
                give_up_after: s(48 * 3600),
                timeout: s(30),
                max_attempts: u32::MAX,
                jitter: 0.2,
            },
            Urgency::Urgent => Self {
                delays: vec![s(1), s(5), s(15), s(60), s(300)],
                give_up_after: s(3600),
                timeout: s(30),
                max_attempts: u32::MAX,
                jitter: 0.2,
            },
            Urgency::RealTime => Self {
                delays: vec![Duration::from_millis(100), s(1)],
                give_up_after: s(10),
                timeout: s(10),
                max_attempts: 5,
                jitter: 0.1,
            },
        }
    }

    /// The delay after failed attempt `attempt` (1-based), jittered, raised to a
    /// `Retry-After` the endpoint asked for (bounded by the longest delay of the policy).
    pub fn delay_after(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let base =
            self.delays.get(attempt.saturating_sub(1) as usize).or(self.delays.last()).copied().unwrap_or_default();
        let jittered = if self.jitter > 0.0 {
            base.mul_f64(1.0 + rand::rng().random_range(-self.jitter..=self.jitter))
        } else {
            base
        };
        let cap = self.delays.iter().max().copied().unwrap_or_default();
        match retry_after {
            Some(r) => jittered.max(r.min(cap)),
            None => jittered,
        }
    }

    /// Whether another attempt may follow failed attempt `attempt` made at `now`.
    pub fn may_retry(&self, attempt: u32, first_attempt_at: DateTime<Utc>, next_at: DateTime<Utc>) -> bool {
        attempt < self.max_attempts && (next_at - first_attempt_at).to_std().unwrap_or_default() <= self.give_up_after
    }
}

/// When an endpoint that keeps failing is disabled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DisablePolicy {
    /// Failing for at least this long (no success in between)…
    pub after: Duration,
    /// …and at least this many events exhausted in a row.
    pub min_exhausted: u32,
}

impl Default for DisablePolicy {
    fn default() -> Self {
        Self { after: Duration::from_secs(5 * 24 * 3600), min_exhausted: 5 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_the_policy_with_bounded_jitter_and_retry_after() {
        let p = RetryPolicy::for_urgency(Urgency::Regular);
        for _ in 0..100 {
            let d = p.delay_after(1, None).as_secs_f64();
            assert!((0.8..=1.2).contains(&d), "{d}");
            let d = p.delay_after(50, None).as_secs_f64();
            assert!((14400.0 * 0.8..=14400.0 * 1.2).contains(&d));
        }
        // Retry-After raises the delay, but never beyond the policy's longest step.
        assert!(p.delay_after(1, Some(Duration::from_secs(120))) >= Duration::from_secs(120));
        assert_eq!(p.delay_after(1, Some(Duration::from_secs(10 * 86400))), Duration::from_secs(14400));
    }

    #[test]
    fn give_up_rules() {
        let t0 = Utc::now();
        let urgent = RetryPolicy::for_urgency(Urgency::Urgent);
        assert!(urgent.may_retry(3, t0, t0 + chrono::Duration::minutes(59)));
        assert!(!urgent.may_retry(3, t0, t0 + chrono::Duration::minutes(61)));
        let rt = RetryPolicy::for_urgency(Urgency::RealTime);
        assert!(rt.may_retry(4, t0, t0 + chrono::Duration::seconds(2)));
        assert!(!rt.may_retry(5, t0, t0 + chrono::Duration::seconds(2)));
    }
}
