//! `hookline-shared`: the domain, the ports, the signature schemes and the two adapter
//! sets (`local`: embedded SQLite; `aws`: DynamoDB, SQS, EventBridge Scheduler and bus,
//! KMS) that every function shares.

pub mod api_key;
pub mod batch;
pub mod cache;
pub mod coalesce;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod endpoint_update;
pub mod error;
pub mod ids;
pub mod inbox;
pub mod json;
pub mod memory;
pub mod outbound;
pub mod ports;
pub mod provider;
pub mod provider_api;
pub mod rejection;
pub mod retention;
pub mod schedule;
pub mod sealing;
pub mod signature;
pub mod source_cache;
pub mod timer_payload;
pub mod web;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "local")]
pub mod local;

pub use api_key::{ApiKey, ApiKeyRecord, KeyHash, KeyScope};
pub use config::Config;
pub use domain::*;
pub use error::{MessagingError, StoreError};
pub use ids::*;
pub use inbox::*;
pub use provider::*;
pub use retention::Retention;
