//! What a delivery carries: the event as sent (payload), the job on a deliveries queue,
//! and the two queues a job goes on.

use super::Urgency;
use crate::ids::{AttemptId, EndpointId, EventId, OrgId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The event as delivered to endpoints (and carried inside a job, so deliver reads no event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// `evt_…`; also the `webhook-id` header, so receivers can dedupe.
    pub id: EventId,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// The data.
    pub data: serde_json::Value,
    /// For a continuation: the chain it belongs to (the first event's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<String>,
    /// For a continuation: 1 for the first continuation, 2 for the next, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u64>,
}

impl Payload {
    /// A payload for a new event (not part of a chain).
    pub fn new(id: EventId, event_type: String, created_at: DateTime<Utc>, data: serde_json::Value) -> Self {
        Self { id, event_type, created_at, data, chain_id: None, iteration: None }
    }
}

/// One delivery to do: what `verify` (and replay, retries, timers) put on a deliveries queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryJob {
    /// The org.
    pub org_id: OrgId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the first attempt was made (for the give-up rule); `None` before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt_at: Option<DateTime<Utc>>,
    /// Set by a replay: a new series of attempts for an event its endpoint had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// The event's [`crate::domain::Event::hops`].
    #[serde(default, skip_serializing_if = "crate::domain::is_zero")]
    pub hops: u32,
    /// How often this attempt was put back because its endpoint had as many requests
    /// open as it may (each time it waits longer); not an attempt, so not logged.
    #[serde(default, skip_serializing_if = "crate::domain::is_zero")]
    pub deferred: u32,
    /// The send slot this attempt claimed under its endpoint's rate limit, when it was
    /// put back to wait for it (it does not claim another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_at: Option<DateTime<Utc>>,
    /// Held while its endpoint was paused (by the hold's own copy, or a resume): it
    /// may have been sent meanwhile, so its log is read before it is sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
    /// When its event expires, and the attempts logged for it with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// For an event with an ordering key: its place in the endpoint's lane for that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<super::LanePlace>,
    /// What to send.
    pub payload: Payload,
}

impl DeliveryJob {
    /// The first attempt of `payload` to an endpoint.
    pub fn first(org_id: OrgId, endpoint_id: EndpointId, expires_at: Option<DateTime<Utc>>, payload: Payload) -> Self {
        Self {
            org_id,
            endpoint_id,
            attempt: 1,
            first_attempt_at: None,
            replay: None,
            hops: 0,
            deferred: 0,
            slot_at: None,
            held: false,
            expires_at,
            lane: None,
            payload,
        }
    }

    /// How this job's request is sent.
    pub fn send(&self, urgency: Urgency, timeout: Duration, max_response_bytes: usize) -> super::SendOptions {
        super::SendOptions { urgency, timeout, max_response_bytes, hops: self.hops }
    }

    /// The id of this job's attempt: the same job always logs under the same id, so a
    /// repeat of it (a queue's redelivery, a retry after a crash) is recognised. It sorts
    /// by the event's time, so attempts are written near the end of the id index.
    pub fn attempt_id(&self) -> AttemptId {
        AttemptId::derived_at(
            self.payload.created_at,
            &[
                b"attempt",
                self.payload.id.as_str().as_bytes(),
                self.endpoint_id.as_str().as_bytes(),
                self.replay.as_deref().unwrap_or_default().as_bytes(),
                &self.attempt.to_be_bytes(),
            ],
        )
    }

    /// The job kept on a failed or exhausted attempt, for replay: a first attempt again,
    /// outside any lane (a replay is not ordered).
    pub fn for_replay(self) -> Self {
        Self { attempt: 1, first_attempt_at: None, deferred: 0, slot_at: None, held: false, lane: None, ..self }
    }

    /// The queue body of a first attempt, from a payload serialized once for every
    /// endpoint an event fans out to (serializing it per endpoint was most of routing's
    /// cost). The same JSON as serializing the job itself with `attempt: 1`.
    pub fn first_attempt_body(
        org_id: &OrgId,
        endpoint_id: &EndpointId,
        hops: u32,
        expires_at: Option<DateTime<Utc>>,
        lane: Option<&super::LanePlace>,
        payload: &serde_json::value::RawValue,
    ) -> serde_json::Result<String> {
        #[derive(Serialize)]
        struct FirstAttempt<'a> {
            org_id: &'a OrgId,
            endpoint_id: &'a EndpointId,
            attempt: u32,
            #[serde(skip_serializing_if = "crate::domain::is_zero")]
            hops: u32,
            #[serde(skip_serializing_if = "Option::is_none")]
            expires_at: Option<DateTime<Utc>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            lane: Option<&'a super::LanePlace>,
            payload: &'a serde_json::value::RawValue,
        }
        serde_json::to_string(&FirstAttempt { org_id, endpoint_id, attempt: 1, hops, expires_at, lane, payload })
    }
}

/// The two delivery queues, picked by an endpoint's urgency.
#[derive(Debug, Clone)]
pub struct Deliveries<Q> {
    /// `deliveries-urgent`.
    pub urgent: Q,
    /// `deliveries-regular`.
    pub regular: Q,
}

/// The longest delay a queue message can carry (SQS: 15 minutes); longer waits ride on a
/// timer.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(900);

/// Timers fire this long before the attempt is due; the rest rides on a queue delay,
/// so a retry lands to the second even though Scheduler fires to the minute.
pub const TIMER_LEAD: Duration = Duration::from_secs(60);

impl<Q> Deliveries<Q> {
    /// The queue for `urgency` (real-time never queues; it rides with urgent if asked).
    pub fn queue(&self, urgency: Urgency) -> &Q {
        match urgency {
            Urgency::Regular => &self.regular,
            Urgency::Urgent | Urgency::RealTime => &self.urgent,
        }
    }

    /// Both queues, each turned by `f` (e.g. into a trait object).
    pub fn map<R>(self, f: impl Fn(Q) -> R) -> Deliveries<R> {
        Deliveries { urgent: f(self.urgent), regular: f(self.regular) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_attempt_body_is_the_job_serialized() {
        let payload = Payload::new(
            EventId::new(),
            "invoice.paid".into(),
            Utc::now(),
            serde_json::json!({"amount": 12, "note": "a \"quoted\" line\n"}),
        );
        let expiries = [None, Some(Utc::now() + chrono::Duration::days(30))];
        let key = crate::delivery::OrderingKey::try_from("cus_42".to_owned()).unwrap();
        let lanes = [None, Some(crate::delivery::LanePlace::new(key, 7))];
        let cases = [0, 2].into_iter().flat_map(|h| expiries.map(|e| (h, e)));
        for ((hops, expires_at), lane) in cases.flat_map(|c| lanes.clone().map(|l| (c, l))) {
            let first = DeliveryJob::first(OrgId::new(), EndpointId::new(), expires_at, payload.clone());
            let job = DeliveryJob { hops, lane: lane.clone(), ..first };
            let raw = serde_json::value::to_raw_value(&payload).unwrap();
            let (org, ep) = (&job.org_id, &job.endpoint_id);
            let body = DeliveryJob::first_attempt_body(org, ep, hops, expires_at, lane.as_ref(), &raw).unwrap();
            assert_eq!(body, serde_json::to_string(&job).unwrap());
            assert_eq!(serde_json::from_str::<DeliveryJob>(&body).unwrap(), job);
        }
    }
}
