//! How long events and their delivery attempts are kept.
//!
//! An event's record is also its dedupe claim, so the dedupe window is the retention:
//! it may not go below [`MIN_DAYS`], the window providers' own retries need (Stripe's
//! last retry comes three days after the first).

use chrono::{DateTime, SubsecRound as _, Utc};
use serde::Serialize;

/// The shortest retention that can be set, in days.
pub const MIN_DAYS: u32 = 7;
/// The longest retention that can be set, in days (ten years).
pub const MAX_DAYS: u32 = 3650;
/// The retention when none is configured, in days.
pub const DEFAULT_DAYS: u32 = 30;

/// How long an event, and the attempts to deliver it, are kept after it was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(chrono::Duration);

impl Retention {
    /// A retention of `days` (between [`MIN_DAYS`] and [`MAX_DAYS`]).
    pub fn days(days: u32) -> Result<Self, String> {
        if !(MIN_DAYS..=MAX_DAYS).contains(&days) {
            return Err(format!("must be a number of days between {MIN_DAYS} and {MAX_DAYS}"));
        }
        Ok(Self(chrono::Duration::days(days.into())))
    }

    /// A retention shorter than any that can be configured, so tests can watch records
    /// expire.
    pub fn shortened_for_tests(keep: std::time::Duration) -> Self {
        Self(chrono::Duration::from_std(keep).unwrap_or_default())
    }

    /// The whole days it lasts.
    pub fn whole_days(self) -> u32 {
        self.0.num_days() as u32
    }

    /// When something accepted at `at` expires: to the second, rounded up, as DynamoDB's
    /// TTL counts it.
    pub fn expires_at(self, at: DateTime<Utc>) -> DateTime<Utc> {
        whole_second_from(at + self.0)
    }

    /// The retention an org's records get: its own, else `default`.
    pub fn of_org(org: &crate::Org, default: Retention) -> Retention {
        org.retention_days.and_then(|d| Self::days(d).ok()).unwrap_or(default)
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self(chrono::Duration::days(DEFAULT_DAYS.into()))
    }
}

impl Serialize for Retention {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.whole_days())
    }
}

/// The expiry of a record made at `at` as part of something kept until `expires_at`
/// from `created_at`: as long after `at` as the original is kept (a continuation of a
/// chain is kept as long as the event that started it). `None` when the original has no
/// expiry (recorded before retention).
pub fn same_retention(
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    expires_at.map(|e| whole_second_from(at + (e - created_at)))
}

/// `t`, or the next whole second when it falls inside one.
fn whole_second_from(t: DateTime<Utc>) -> DateTime<Utc> {
    let whole = t.trunc_subsecs(0);
    if whole == t {
        t
    } else {
        whole + chrono::Duration::seconds(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_is_between_a_week_and_ten_years_and_counts_from_acceptance() {
        assert!(Retention::days(6).is_err());
        assert!(Retention::days(3651).is_err());
        let r = Retention::days(7).unwrap();
        let at: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        assert_eq!(r.expires_at(at), "2026-12-08T10:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(Retention::default().whole_days(), 30);
        let odd: DateTime<Utc> = "2026-12-01T10:00:00.250Z".parse().unwrap();
        assert_eq!(r.expires_at(odd), "2026-12-08T10:00:01Z".parse::<DateTime<Utc>>().unwrap());
    }

    #[test]
    fn an_org_of_its_own_retention_keeps_it_and_the_others_get_the_default() {
        let mut org = crate::Org {
            id: crate::OrgId::new(),
            name: "a".into(),
            plan: crate::Plan::Pro,
            created_at: Utc::now(),
            retention_days: None,
        };
        let default = Retention::days(30).unwrap();
        assert_eq!(Retention::of_org(&org, default), default);
        org.retention_days = Some(90);
        assert_eq!(Retention::of_org(&org, default).whole_days(), 90);
    }

    #[test]
    fn a_continuation_is_kept_as_long_after_it_as_its_chain_start() {
        let created: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let expires = created + chrono::Duration::days(30);
        let later = created + chrono::Duration::hours(5);
        assert_eq!(same_retention(created, Some(expires), later), Some(later + chrono::Duration::days(30)));
        assert_eq!(same_retention(created, None, later), None);
    }
}
