//! Listen sessions: an endpoint whose deliveries are held for a client to pull (the
//! `hookline listen` command, which forwards them to a server on the developer's own
//! machine, one a deployed stack could not reach). A session lives while its client
//! keeps polling; one left alone expires and its deliveries are dropped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a session lives after its client's last poll.
pub const LISTEN_TTL: Duration = Duration::from_secs(120);

/// A poll renews the lease only once less than this is left of it, so a client polling
/// in a loop writes the endpoint about twice a minute, not at every poll.
const RENEW_BELOW: Duration = Duration::from_secs(90);

/// The lease that makes an endpoint a listen session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenLease {
    /// When the session ends unless its client polls before.
    pub expires_at: DateTime<Utc>,
}

impl ListenLease {
    /// A lease from `now`.
    pub fn from(now: DateTime<Utc>) -> Self {
        Self { expires_at: now + chrono::Duration::from_std(LISTEN_TTL).unwrap_or_default() }
    }

    /// True once its client stopped polling long enough ago.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }

    /// True when a poll at `now` should write a renewed lease.
    pub fn wants_renewal(&self, now: DateTime<Utc>) -> bool {
        self.expires_at - now < chrono::Duration::from_std(RENEW_BELOW).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_lasts_its_ttl_and_asks_for_renewal_after_half_a_minute() {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid");
        let lease = ListenLease::from(t0);
        assert!(!lease.expired(t0 + chrono::Duration::seconds(119)));
        assert!(lease.expired(t0 + chrono::Duration::seconds(120)));
        assert!(!lease.wants_renewal(t0 + chrono::Duration::seconds(29)));
        assert!(lease.wants_renewal(t0 + chrono::Duration::seconds(31)));
    }
}
