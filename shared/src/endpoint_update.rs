//! Changing a stored endpoint without undoing a concurrent change.
//!
//! Every writer (the API's edits, `deliver`'s failure bookkeeping) reads the endpoint,
//! applies its change and writes it back only over the version it read. When another
//! writer won in between, the change is applied again to what that writer stored, so
//! each writer changes only its own fields, and an endpoint deleted meanwhile stays
//! deleted.

use crate::delivery::Endpoint;
use crate::error::StoreError;
use crate::ids::{EndpointId, OrgId};
use crate::ports::EndpointStore;

/// How many times a change is re-applied before giving up with [`StoreError::Conflict`].
const ATTEMPTS: usize = 16;

/// What [`update_endpoint`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Updated {
    /// The endpoint does not exist (or not in this org).
    Gone,
    /// The change asked for no write; the endpoint as stored.
    Unchanged(Endpoint),
    /// The endpoint as written.
    Written(Endpoint),
}

impl Updated {
    /// The endpoint as it now stands, unless it is gone.
    pub fn endpoint(self) -> Option<Endpoint> {
        match self {
            Updated::Gone => None,
            Updated::Unchanged(ep) | Updated::Written(ep) => Some(ep),
        }
    }
}

/// Apply `change` to the stored endpoint and write it over the version it was read
/// at. `change` returns false to leave the endpoint as it is; it may run more than once
/// (once per concurrent change it loses to), so it must depend only on the endpoint it
/// is given.
pub async fn update_endpoint<S: EndpointStore + ?Sized>(
    store: &S,
    org: &OrgId,
    id: &EndpointId,
    mut change: impl FnMut(&mut Endpoint) -> bool,
) -> Result<Updated, StoreError> {
    for _ in 0..ATTEMPTS {
        let Some(mut ep) = store.get_endpoint(org, id).await? else { return Ok(Updated::Gone) };
        let read = ep.version;
        if !change(&mut ep) {
            return Ok(Updated::Unchanged(ep));
        }
        ep.version = read + 1;
        if store.put_endpoint_if(&ep, read).await? {
            return Ok(Updated::Written(ep));
        }
    }
    Err(StoreError::Conflict(format!("endpoint {id} kept changing while it was updated")))
}
