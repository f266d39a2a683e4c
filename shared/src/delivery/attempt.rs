//! Attempts: the log of every delivery tried, and how much of an answer is kept.

use super::{DeliveryJob, Endpoint, Payload};
use crate::ids::{AttemptId, EndpointId, EventId, OrgId};
use crate::outbound::{OutboundResponse, SendError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// 2xx.
    Delivered,
    /// Failed with no retry (disabled endpoint, 410, refused address).
    Failed,
    /// Failed; another attempt is scheduled.
    Retrying,
    /// Failed and the policy gave up.
    Exhausted,
    /// Not attempted: its endpoint is paused. Replaced by the attempt made once it
    /// resumes.
    Held,
    /// Waiting for its listen session's client to pull it; replaced by what the
    /// client's local server answered.
    Pending,
}

impl AttemptStatus {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Delivered => "delivered",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Retrying => "retrying",
            AttemptStatus::Exhausted => "exhausted",
            AttemptStatus::Held => "held",
            AttemptStatus::Pending => "pending",
        }
    }
}

/// Response bodies are kept up to this many bytes.
pub const RESPONSE_BODY_CAP: usize = 4096;
/// Response bodies are read up to this many bytes (a continuation's data may be longer
/// than what the log keeps).
pub const RESPONSE_READ_CAP: usize = 64 * 1024;

/// A response body cut to [`RESPONSE_BODY_CAP`] on a character boundary, for the log.
pub fn capped_body(mut body: String) -> String {
    if body.len() > RESPONSE_BODY_CAP {
        let mut cut = RESPONSE_BODY_CAP;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    body
}

/// One logged delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its id.
    pub id: AttemptId,
    /// The org.
    pub org_id: OrgId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// The event.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: String,
    /// Delivered, failed, retrying, exhausted.
    pub status: AttemptStatus,
    /// The endpoint's status code, if it answered.
    pub response_code: Option<u16>,
    /// The start of its response body (capped).
    pub response_body: Option<String>,
    /// How long the request took.
    pub duration_ms: u64,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the next attempt is due (for `retrying`).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the attempt was made.
    pub created_at: DateTime<Utc>,
    /// The job, kept for failed and exhausted attempts so replay can send it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<DeliveryJob>,
    /// Logged, but what follows from it (the retry, the next iteration, the endpoint's
    /// failure record) may not be done yet: a repeat of the job does it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub follow_up_pending: bool,
    /// When it is deleted: with its event (`None`: logged before retention, kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl Attempt {
    /// An attempt made `now` that has no answer yet, so counts as failed.
    fn unanswered(
        id: AttemptId,
        endpoint: (&OrgId, &EndpointId),
        payload: &Payload,
        attempt: u32,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            id,
            org_id: endpoint.0.clone(),
            endpoint_id: endpoint.1.clone(),
            event_id: payload.id.clone(),
            event_type: payload.event_type.clone(),
            status: AttemptStatus::Failed,
            response_code: None,
            response_body: None,
            duration_ms: 0,
            error: None,
            attempt,
            next_attempt_at: None,
            created_at: now,
            job: None,
            follow_up_pending: false,
            expires_at,
        }
    }

    /// The attempt of `job` made at `now`, failed until its answer says otherwise.
    pub fn of_job(job: &DeliveryJob, now: DateTime<Utc>) -> Self {
        let endpoint = (&job.org_id, &job.endpoint_id);
        Self::unanswered(job.attempt_id(), endpoint, &job.payload, job.attempt, now, job.expires_at)
    }

    /// The log of try `n` of a request sent at once (a test, a real-time call), under a
    /// new id: such a request is never repeated by a queue. It is kept as long as its
    /// org's events (`retention`).
    pub fn of_direct(
        ep: &Endpoint,
        payload: &Payload,
        n: u32,
        res: &Result<OutboundResponse, SendError>,
        now: DateTime<Utc>,
        retention: crate::Retention,
    ) -> Self {
        let expires_at = Some(retention.expires_at(now));
        let mut attempt = Self::unanswered(AttemptId::new(), (&ep.org_id, &ep.id), payload, n, now, expires_at);
        match res {
            Ok(r) => {
                attempt.response_code = Some(r.status);
                attempt.response_body = Some(capped_body(r.body.clone()));
                attempt.duration_ms = r.duration.as_millis() as u64;
                if (200..300).contains(&r.status) {
                    attempt.status = AttemptStatus::Delivered;
                } else {
                    attempt.error = Some(format!("endpoint answered {}", r.status));
                }
            }
            Err(e) => attempt.error = Some(e.to_string()),
        }
        attempt
    }
}
