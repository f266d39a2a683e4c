//! How many requests one endpoint may have open at once in this process, so an
//! endpoint that holds every request for its whole timeout (a tarpit) cannot take all
//! of the handler's slots from the other endpoints.
//!
//! Only the request itself counts, not the store writes around it: a fast endpoint
//! under load has few requests open even when many of its jobs are in flight, so the
//! cap only meets endpoints that are slow to answer.

use hookline_shared::EndpointId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The first wait of a deferred job; each further deferral of the same job doubles it.
const FIRST_DEFERRAL: Duration = Duration::from_millis(50);
/// The longest wait of a deferred job: about one request timeout, the time a held
/// request takes to free its place.
const LONGEST_DEFERRAL: Duration = Duration::from_secs(30);

/// Open requests per endpoint, bounded by a cap.
#[derive(Debug)]
pub(crate) struct EndpointGate {
    cap: usize,
    open: Arc<Mutex<HashMap<EndpointId, usize>>>,
}

/// One open request; its place is given back when this is dropped.
#[derive(Debug)]
pub(crate) struct Pass {
    endpoint: EndpointId,
    open: Arc<Mutex<HashMap<EndpointId, usize>>>,
}

impl EndpointGate {
    /// A gate letting `cap` requests (at least one) to an endpoint be open at once.
    pub(crate) fn new(cap: usize) -> Self {
        Self { cap: cap.max(1), open: Arc::default() }
    }

    /// A place for one request to `endpoint`, or `None` when it has `cap` open already.
    pub(crate) fn enter(&self, endpoint: &EndpointId) -> Option<Pass> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(endpoint.clone()).or_default();
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Pass { endpoint: endpoint.clone(), open: self.open.clone() })
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.endpoint) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.endpoint);
            }
        }
    }
}

/// How long a job waits after its `deferrals`-th deferral (1 for the first).
pub(crate) fn deferral_delay(deferrals: u32) -> Duration {
    let doublings = deferrals.saturating_sub(1).min(16);
    (FIRST_DEFERRAL * 2u32.pow(doublings)).min(LONGEST_DEFERRAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_gets_at_most_cap_places_and_a_dropped_pass_frees_one() {
        let gate = EndpointGate::new(2);
        let (a, b) = (EndpointId::new(), EndpointId::new());
        let first = gate.enter(&a).expect("first place");
        let _second = gate.enter(&a).expect("second place");
        assert!(gate.enter(&a).is_none(), "a third request waits");
        assert!(gate.enter(&b).is_some(), "another endpoint has its own places");
        drop(first);
        assert!(gate.enter(&a).is_some(), "a finished request frees its place");
    }

    #[test]
    fn deferrals_wait_longer_each_time_up_to_a_bound() {
        assert_eq!(deferral_delay(1), FIRST_DEFERRAL);
        assert_eq!(deferral_delay(2), FIRST_DEFERRAL * 2);
        assert_eq!(deferral_delay(100), LONGEST_DEFERRAL);
    }
}
