//! Per-endpoint rate limits: deliveries go out in send slots spaced evenly, and the
//! slots are claimed from the store, so every worker shares one endpoint's budget.

use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

/// Deliveries per second an endpoint accepts, 1 to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RateLimit(u32);

impl RateLimit {
    /// The highest limit.
    pub const MAX: u32 = 10_000;

    /// A limit of `per_second` deliveries, if within 1 to [`RateLimit::MAX`].
    pub fn new(per_second: u32) -> Result<Self, String> {
        if (1..=Self::MAX).contains(&per_second) {
            Ok(Self(per_second))
        } else {
            Err(format!("{per_second} is outside 1-{} deliveries per second", Self::MAX))
        }
    }

    /// Deliveries per second.
    pub fn per_second(self) -> u32 {
        self.0
    }

    /// The time between two slots, rounded up to the microsecond (never faster than
    /// the limit).
    pub fn interval(self) -> Duration {
        Duration::from_micros(1_000_000u64.div_ceil(u64::from(self.0)))
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(u32::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The slot rule, in microseconds: an endpoint idle since its next free time (or never
/// limited) gets a slot now; a busy one gets its next free time. The next free time
/// moves one interval past the slot given.
pub fn claim(next_free: Option<i64>, now: i64, interval: i64) -> (i64, i64) {
    let slot = next_free.map_or(now, |n| n.max(now));
    (slot, slot + interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_keep_to_their_bounds_and_space_slots_evenly() {
        assert!(RateLimit::new(0).is_err() && RateLimit::new(10_001).is_err());
        assert_eq!(RateLimit::new(20).unwrap().interval(), Duration::from_millis(50));
        assert_eq!(RateLimit::new(10_000).unwrap().interval(), Duration::from_micros(100));
        assert_eq!(RateLimit::new(3).unwrap().interval(), Duration::from_micros(333_334), "rounded up");
        assert!(serde_json::from_str::<RateLimit>("0").is_err());
        assert!(serde_json::from_str::<RateLimit>("-1").is_err());
        assert!(serde_json::from_str::<RateLimit>("1.5").is_err());
        assert_eq!(serde_json::from_str::<RateLimit>("250").unwrap().per_second(), 250);
    }

    #[test]
    fn an_idle_endpoint_sends_now_and_a_busy_one_waits_its_turn() {
        assert_eq!(claim(None, 1_000, 50), (1_000, 1_050));
        assert_eq!(claim(Some(900), 1_000, 50), (1_000, 1_050), "idle since 900");
        assert_eq!(claim(Some(1_200), 1_000, 50), (1_200, 1_250), "busy until 1,200");
    }
}
