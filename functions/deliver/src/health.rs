//! What a delivery says about its endpoint's health: a success ends a failure streak,
//! a 410 or a long enough streak of exhausted events disables it.

use crate::{Deliver, DeliverError};
use chrono::{DateTime, Utc};
use hookline_shared::delivery::{Endpoint, EndpointStatus, FailureState};
use hookline_shared::endpoint_update::{update_endpoint, Updated};
use hookline_shared::ports::{EndpointStore, OpsEvent, OpsSink};

/// What one delivery says about its endpoint.
#[derive(Debug)]
pub(crate) enum Health {
    /// Delivered: any failure streak ends.
    Recovered,
    /// Gone for good (410): disable it at once, for this reason.
    Gone(String),
    /// One more event exhausted: the streak grows, and may disable it.
    Exhausted,
}

impl<S: EndpointStore, Q, T, H, O: OpsSink, C> Deliver<S, Q, T, H, O, C> {
    /// Record what this delivery says about its endpoint's health on the endpoint as it
    /// is stored now, changing only the failure fields (and the status, to disable it).
    /// Nothing is recorded when the endpoint was deleted or pointed elsewhere meanwhile:
    /// an answer from an abandoned URL says nothing about the new one.
    pub(crate) async fn note_health(
        &self,
        sent: &Endpoint,
        health: Health,
        now: DateTime<Utc>,
    ) -> Result<(), DeliverError> {
        let rule = sent.disable_policy(self.policies.disable);
        let mut disabled_for = None;
        let updated = update_endpoint(&self.store, &sent.org_id, &sent.id, |ep| {
            disabled_for = None;
            if ep.url != sent.url {
                return false;
            }
            match &health {
                Health::Recovered if ep.failure == FailureState::default() => return false,
                Health::Recovered => ep.failure = FailureState::default(),
                Health::Gone(reason) => disabled_for = Some(reason.clone()),
                Health::Exhausted => {
                    ep.failure.consecutive_exhausted += 1;
                    let since = *ep.failure.failing_since.get_or_insert(now);
                    let long_enough = (now - since).to_std().unwrap_or_default() >= rule.after;
                    if long_enough && ep.failure.consecutive_exhausted >= rule.min_exhausted {
                        disabled_for = Some(format!(
                            "no successful delivery since {} and {} events exhausted in a row",
                            since.to_rfc3339(),
                            ep.failure.consecutive_exhausted
                        ));
                    }
                }
            }
            if let Some(reason) = &disabled_for {
                if !ep.is_active() {
                    // Disabled meanwhile (by hand or by another delivery): keep its reason.
                    disabled_for = None;
                    return matches!(health, Health::Exhausted);
                }
                ep.status = EndpointStatus::Disabled { disabled_reason: reason.clone(), disabled_at: now };
                ep.updated_at = now;
            }
            true
        })
        .await?;
        if matches!(updated, Updated::Written(_)) {
            self.endpoints.forget(&sent.org_id, &sent.id);
        }
        if let (Updated::Written(ep), Some(reason)) = (updated, disabled_for) {
            self.ops
                .emit(&OpsEvent {
                    kind: "endpoint.disabled".into(),
                    org_id: ep.org_id.clone(),
                    endpoint_id: ep.id.clone(),
                    event_id: None,
                    reason,
                    at: now,
                })
                .await?;
        }
        Ok(())
    }
}
