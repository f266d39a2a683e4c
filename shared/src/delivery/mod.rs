//! Outbound delivery: endpoints, the jobs and payloads that travel to them, attempts,
//! retry policies and schedules, rate limits, ordered lanes, listen sessions, continuations, and the one signed request that sends an event.

mod attempt;
mod continuation;
mod conventions;
mod endpoint;
mod job;
mod lane;
mod listen;
mod policy;
pub mod rate;
pub mod realtime;
mod retry_schedule;
mod send;
pub mod stats;

pub use attempt::{capped_body, Attempt, AttemptStatus, RESPONSE_BODY_CAP, RESPONSE_READ_CAP};
pub use continuation::Continuation;
pub use conventions::{is_reserved_header, signature_headers, validate_secret, SignatureScheme, RESERVED_HEADERS};
pub use endpoint::{
    filter_matches, parse_endpoint_url, validate_filters, Endpoint, EndpointSecret, EndpointStatus, FailureState,
    Urgency, NAME_PLACEHOLDER,
};
pub use job::{Deliveries, DeliveryJob, Payload, MAX_QUEUE_DELAY, TIMER_LEAD};
pub use lane::{ordered_group, LanePlace, OrderingKey, OrderingPointer, MAX_ORDERING_KEY};
pub use listen::{ListenLease, LISTEN_TTL};
pub use policy::{DisablePolicy, RetryPolicy};
pub use rate::RateLimit;
pub use retry_schedule::{parse_delay, RetrySchedule, MAX_RETRIES};
pub use send::{send_event, signed_request, Outcome, RetryRule, SendOptions, HOPS_HEADER};
